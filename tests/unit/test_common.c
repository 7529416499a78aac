/*
 * test_common.c - the common module: error table, allocation hook, arena, capped buffer,
 * logging lines, the clock formatting, the identifier rule (ident.c) and page tokens.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/error.h"
#include "churn/hash.h"
#include "churn/ident.h"
#include "churn/log.h"
#include "churn/page_token.h"

Test(common, error_names_and_texts_cover_every_code)
{
    for (int e = 0; e < CHURN__ERR_COUNT; e++) {
        cr_assert(strlen(churn_strerror(e)) > 0);
        cr_assert(strlen(churn_err_name(e)) > 0);
    }
    cr_assert_str_eq(churn_err_name(CHURN_EINVAL), "EINVAL");
    cr_assert_str_eq(churn_strerror(CHURN_ENOTFOUND), "not found");
    cr_assert_str_eq(churn_strerror((enum churn_err)999), "unknown error");
    cr_assert_eq(churn_err_from_errno(ENOSPC), CHURN_EFULL);
    cr_assert_eq(churn_err_from_errno(EROFS), CHURN_EPERM);
    cr_assert_eq(churn_err_from_errno(ENOENT), CHURN_ENOTFOUND);
}

Test(common, digest_tells_every_small_change)
{
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 7);
    /* every length (all the tail paths), every single-byte change, and a moved byte */
    for (size_t n = 0; n <= sizeof(buf); n += (n < 70 ? 1 : 29)) {
        uint64_t d = churn_digest64(buf, n);
        cr_assert_eq(churn_digest64(buf, n), d, "deterministic");
        if (n < sizeof(buf))
            cr_assert_neq(churn_digest64(buf, n + 1), d, "length %zu vs %zu", n, n + 1);
        for (size_t i = 0; i < n; i++) {
            buf[i] ^= 1;
            cr_assert_neq(churn_digest64(buf, n), d, "byte %zu of %zu", i, n);
            buf[i] ^= 1;
        }
    }
    unsigned char zeros[64] = {0};
    cr_assert_neq(churn_digest64(zeros, 32), churn_digest64(zeros, 64));
}

Test(common, alloc_hook_fails_the_nth_allocation)
{
    churn_alloc_fail_after(2);
    void *a = churn_malloc(8), *b = churn_malloc(8), *c = churn_malloc(8);
    churn_alloc_fail_off();
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(c);
    cr_assert_eq(churn_alloc_failures(), 1);
    churn_free(a);
    churn_free(b);
}

Test(common, arena_allocations_are_aligned_and_distinct)
{
    struct churn_arena a;
    churn_arena_init(&a, 0);
    char *prev = NULL;
    for (int i = 1; i < 2000; i++) {
        char *p = churn_arena_alloc(&a, (size_t)(i % 97) + 1);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 97) + 1);
        cr_assert_neq(p, prev);
        prev = p;
    }
    char *big = churn_arena_alloc(&a, 1 << 20);
    cr_assert_not_null(big);
    memset(big, 1, 1 << 20);
    churn_arena_fini(&a);
}

Test(common, arena_limit_refuses_and_stays_usable)
{
    struct churn_arena a;
    churn_arena_init(&a, 8192);
    cr_assert_not_null(churn_arena_alloc(&a, 4000));
    cr_assert_null(churn_arena_alloc(&a, 100000));
    cr_assert_not_null(churn_arena_alloc(&a, 16));
    cr_assert_leq(churn_arena_used(&a), 8192);
    churn_arena_fini(&a);
}

Test(common, arena_reset_reuses_memory)
{
    struct churn_arena a;
    churn_arena_init(&a, 0);
    char *first = churn_arena_alloc(&a, 100);
    for (int i = 0; i < 100; i++)
        churn_arena_alloc(&a, 1000);
    churn_arena_reset(&a);
    size_t held = churn_arena_used(&a);
    char *again = churn_arena_alloc(&a, 100);
    cr_assert_not_null(again);
    cr_assert_leq(held, 256 * 1024);
    (void)first;
    churn_arena_fini(&a);
}

Test(common, arena_strings)
{
    struct churn_arena a;
    churn_arena_init(&a, 0);
    cr_assert_str_eq(churn_arena_strdup(&a, "hello"), "hello");
    cr_assert_str_eq(churn_arena_strndup(&a, "hello", 3), "hel");
    cr_assert_str_eq(churn_arena_printf(&a, "%d-%s", 42, "x"), "42-x");
    churn_arena_fini(&a);
}

Test(common, arena_survives_allocation_failure)
{
    struct churn_arena a;
    churn_arena_init(&a, 0);
    churn_alloc_fail_after(0);
    cr_assert_null(churn_arena_alloc(&a, 10));
    churn_alloc_fail_off();
    cr_assert_not_null(churn_arena_alloc(&a, 10));
    churn_arena_fini(&a);
}

Test(common, buf_respects_its_cap)
{
    struct churn_buf b;
    churn_buf_init(&b, 10);
    cr_assert_eq(churn_buf_append_str(&b, "12345"), CHURN_OK);
    cr_assert_eq(churn_buf_append_str(&b, "67890"), CHURN_OK);
    cr_assert_eq(churn_buf_append_str(&b, "x"), CHURN_ETOOBIG);
    cr_assert_str_eq(churn_buf_str(&b), "1234567890");
    cr_assert_eq(churn_buf_printf(&b, "%d", 1), CHURN_ETOOBIG);
    churn_buf_truncate(&b, 3);
    cr_assert_eq(churn_buf_printf(&b, "<%d>", 7), CHURN_OK);
    cr_assert_str_eq(churn_buf_str(&b), "123<7>");
    churn_buf_reset(&b);
    cr_assert_str_eq(churn_buf_str(&b), "");
    churn_buf_free(&b);
    cr_assert_str_eq(churn_buf_str(&b), "");
}

Test(common, buf_reports_out_of_memory)
{
    struct churn_buf b;
    churn_buf_init(&b, 1 << 20);
    churn_alloc_fail_after(0);
    cr_assert_eq(churn_buf_append_str(&b, "abc"), CHURN_ENOMEM);
    churn_alloc_fail_off();
    cr_assert_eq(b.len, 0);
    cr_assert_eq(churn_buf_append_str(&b, "abc"), CHURN_OK);
    churn_buf_free(&b);
}

Test(common, log_text_line_quotes_values_with_spaces)
{
    char line[512];
    struct churn_log_field f[] = {CHURN_LF_STR("method", "/a.B/C"),
                                  CHURN_LF_STR("msg", "two words"), CHURN_LF_INT("n", 42),
                                  CHURN_LF_DBL("p", 0.5)};
    size_t n =
        churn_log_format_line(line, sizeof(line), CHURN_LOG_TEXT, 0, CHURN_LOG_INFO, "call", f, 4);
    line[n] = '\0';
    cr_assert_str_eq(
        line, "1970-01-01T00:00:00.000Z info call method=/a.B/C msg=\"two words\" n=42 p=0.5\n");
}

Test(common, log_json_line_parses_and_escapes)
{
    char line[512];
    struct churn_log_field f[] = {CHURN_LF_STR("msg", "quote\" back\\ nl\n ctl\x01"),
                                  CHURN_LF_INT("n", -7)};
    size_t n = churn_log_format_line(line, sizeof(line), CHURN_LOG_JSON, 1000, CHURN_LOG_WARN,
                                     "evt", f, 2);
    cr_assert_eq(line[n - 1], '\n');
    json_error_t err;
    json_t *j = json_loadb(line, n, 0, &err);
    cr_assert_not_null(j, "not JSON: %s (%s)", line, err.text);
    cr_assert_str_eq(json_string_value(json_object_get(j, "level")), "warn");
    cr_assert_str_eq(json_string_value(json_object_get(j, "event")), "evt");
    cr_assert_str_eq(json_string_value(json_object_get(j, "msg")), "quote\" back\\ nl\n ctl\x01");
    cr_assert_eq(json_integer_value(json_object_get(j, "n")), -7);
    json_decref(j);
}

Test(common, log_long_json_line_is_cut_but_stays_one_line)
{
    static char big[20000];
    memset(big, 'x', sizeof(big) - 1);
    char line[256];
    struct churn_log_field f[] = {CHURN_LF_STR("msg", big)};
    size_t n =
        churn_log_format_line(line, sizeof(line), CHURN_LOG_JSON, 0, CHURN_LOG_INFO, "e", f, 1);
    cr_assert_leq(n, sizeof(line));
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_eq(line[n - 2], '}');
    cr_assert_null(memchr(line, '\n', n - 1));
}

Test(common, log_level_and_format_parse)
{
    enum churn_log_level l;
    enum churn_log_format f;
    cr_assert(churn_log_level_parse("debug", &l));
    cr_assert_eq(l, CHURN_LOG_DEBUG);
    cr_assert_not(churn_log_level_parse("verbose", &l));
    cr_assert(churn_log_format_parse("json", &f));
    cr_assert_eq(f, CHURN_LOG_JSON);
    cr_assert_not(churn_log_format_parse("xml", &f));
}

Test(common, time_formatting)
{
    char s[40];
    cr_assert_str_eq(churn_format_time_ms(1700000000123LL, s, sizeof(s)),
                     "2023-11-14T22:13:20.123Z");
    cr_assert_str_eq(churn_format_time_ms(-1, s, sizeof(s)), "1969-12-31T23:59:59.999Z");
    cr_assert_gt(churn_now_ms(), 1700000000000LL);
    int64_t a = churn_mono_ns(), b = churn_mono_ns();
    cr_assert_geq(b, a);
}

Test(common, ident_refuses_nul_control_bad_utf8_empty_and_long_naming_field_and_byte)
{
    char why[128];
    cr_assert_eq(churn_ident_check("victim", 6, "customer_id", why, sizeof(why)), CHURN_OK);
    cr_assert_eq(churn_ident_check("kund-\xc3\xa9", 7, "customer_id", why, sizeof(why)), CHURN_OK);
    cr_assert_eq(churn_ident_check("victim\0attacker", 15, "customer_id", why, sizeof(why)),
                 CHURN_EINVAL);
    cr_assert_str_eq(why, "customer_id: NUL byte at byte 6");
    cr_assert_eq(churn_ident_check("a\tb", 3, "event_id", why, sizeof(why)), CHURN_EINVAL);
    cr_assert_str_eq(why, "event_id: control character at byte 1");
    cr_assert_eq(churn_ident_check("a\xc2\x85", 3, "alert_id", why, sizeof(why)), CHURN_EINVAL);
    cr_assert_str_eq(why, "alert_id: control character at byte 1");
    cr_assert_eq(churn_ident_check("a\xff", 2, "event_id", why, sizeof(why)), CHURN_EINVAL);
    cr_assert_str_eq(why, "event_id: invalid UTF-8 at byte 1");
    cr_assert_eq(churn_ident_check("", 0, "customer_id", why, sizeof(why)), CHURN_EINVAL);
    cr_assert_str_eq(why, "customer_id: required and must not be empty");
    cr_assert_eq(churn_ident_check_optional("", 0, "order_id", why, sizeof(why)), CHURN_OK);
    char longid[CHURN_ID_MAX + 1];
    memset(longid, 'x', sizeof(longid));
    cr_assert_eq(churn_ident_check(longid, CHURN_ID_MAX, "customer_id", why, sizeof(why)),
                 CHURN_OK);
    cr_assert_eq(churn_ident_check(longid, sizeof(longid), "customer_id", why, sizeof(why)),
                 CHURN_ETOOBIG);
    cr_assert_str_eq(why, "customer_id: longer than 128 bytes (129)");
}

Test(common, ident_text_allows_newlines_but_not_nul_and_field_names_by_suffix)
{
    char why[128];
    cr_assert_eq(churn_ident_check_text("hi\nthere", 8, 0, "text", why, sizeof(why)), CHURN_OK);
    cr_assert_eq(churn_ident_check_text("a\0b", 3, 0, "text", why, sizeof(why)), CHURN_EINVAL);
    cr_assert_str_eq(why, "text: NUL byte at byte 1");
    cr_assert_eq(churn_ident_check_text("abcd", 4, 3, "text", why, sizeof(why)), CHURN_ETOOBIG);
    cr_assert(churn_ident_field_is_id("customer_id"));
    cr_assert(churn_ident_field_is_id("customer_ids"));
    cr_assert(!churn_ident_field_is_id("_id"));
    cr_assert(!churn_ident_field_is_id("valid"));
    cr_assert(!churn_ident_field_is_id("text"));
}

/* Issue 13: a page token is read back only in the exact text the server writes. */
Test(common, page_tokens_round_trip_and_only_the_canonical_text_is_accepted)
{
    struct churn_page_token t = {CHURN_PAGE_PRIORITY, 0.1, 12}, back;
    char tok[CHURN_PAGE_TOKEN_MAX];
    const char *why;
    cr_assert_gt(churn_page_token_format(&t, tok, sizeof(tok)), 0);
    cr_assert_str_eq(tok, "p:0.10000000000000001:12");
    cr_assert_eq(churn_page_token_parse(tok, CHURN_PAGE_PRIORITY, &back, &why), CHURN_OK);
    cr_assert(back.priority == 0.1 && back.position == 12);
    cr_assert_eq(churn_page_token_parse("n:18446744073709551615", CHURN_PAGE_NEWEST, &back, &why),
                 CHURN_OK);
    cr_assert_eq(back.position, UINT64_MAX);
    cr_assert_eq(churn_page_token_parse("100", CHURN_PAGE_OFFSET, &back, &why), CHURN_OK);
    cr_assert_eq(back.position, 100);
    t.priority = NAN;
    cr_assert_eq(churn_page_token_format(&t, tok, sizeof(tok)), 0);
    cr_assert_eq(churn_page_token_format(&back, tok, 3), 0); /* "100" needs 4 bytes */
}

Test(common, page_tokens_refuse_every_loose_form_naming_why)
{
    static const struct {
        const char *tok;
        enum churn_page_kind kind;
        const char *why;
    } bad[] = {
        {"o:12", CHURN_PAGE_NEWEST, "issued for another order"},
        {"p:0.5:1", CHURN_PAGE_OLDEST, "issued for another order"},
        {"garbage", CHURN_PAGE_PRIORITY, "malformed"},
        {"p:0x1p3:1", CHURN_PAGE_PRIORITY, "malformed"},
        {"p:inf:1", CHURN_PAGE_PRIORITY, "malformed"},
        {"p:nan:1", CHURN_PAGE_PRIORITY, "malformed"},
        {"p:1e400:1", CHURN_PAGE_PRIORITY, "malformed"},
        {"p: 1:2", CHURN_PAGE_PRIORITY, "malformed"},
        {"p:0.5:", CHURN_PAGE_PRIORITY, "malformed"},
        {"n:042", CHURN_PAGE_NEWEST, "malformed"},
        {"n:+5", CHURN_PAGE_NEWEST, "malformed"},
        {"n:18446744073709551616", CHURN_PAGE_NEWEST, "malformed"},
        {"o:7x", CHURN_PAGE_OLDEST, "malformed"},
        {"o:", CHURN_PAGE_OLDEST, "malformed"},
        {"-1", CHURN_PAGE_OFFSET, "malformed"},
        {" 5", CHURN_PAGE_OFFSET, "malformed"},
        {"00", CHURN_PAGE_OFFSET, "malformed"},
        {"", CHURN_PAGE_OFFSET, "malformed"},
        {"1111111111111111111111111111111111111111111111111111111111111111111", CHURN_PAGE_OFFSET,
         "malformed"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct churn_page_token t;
        const char *why = NULL;
        cr_assert_eq(churn_page_token_parse(bad[i].tok, bad[i].kind, &t, &why), CHURN_EINVAL,
                     "accepted \"%s\"", bad[i].tok);
        cr_assert_str_eq(why, bad[i].why, "\"%s\"", bad[i].tok);
    }
}
