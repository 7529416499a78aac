/*
 * test_delivery.c - the delivery suite: the destinations parsed from churnd's option lists
 * (every accepted form and every refusal with its message), the webhook signature (RFC 4231
 * HMAC-SHA256 vectors), the URL rule that keeps churnd's own listeners out, and the one-line
 * summary a person reads in e-mail and chat, and the reader of a webhook receiver's HTTP answer
 * (churn/http_answer.h: framing, interim answers, keep-alive, every refusal and cap, fed whole
 * and byte by byte), and the alert log as the destinations share it (src/engine/delivery_batch.c:
 * one read and one rendered body for every destination, never a stale read for a worker the
 * doorbell woke). Delivery over the wire is tested end to end in
 * tests/integration/test_delivery.py and test_delivery_hostile.py.
 */
#include "churn/delivery.h"
#include "churn/http_answer.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../src/engine/delivery_internal.h" /* the shared batches */
#include "churn/store.h"
#include "tmpdir.h"

static enum churn_err
parse(struct churn_delivery_config *cfg, const char *webhooks, const char *secrets,
      const char *filters, const char *formats, const char *emails, char *err, size_t errlen)
{
    churn_delivery_config_init(cfg);
    snprintf(cfg->forbidden_hosts[0], sizeof(cfg->forbidden_hosts[0]), "0.0.0.0:50051");
    cfg->n_forbidden = 1;
    const struct churn_delivery_lists lists = {webhooks, secrets, filters, formats, emails};
    return churn_delivery_config_parse(cfg, &lists, err, errlen);
}

Test(delivery_config, every_option_form)
{
    struct churn_delivery_config cfg;
    char err[512] = "";
    cfg.smtp_url = NULL;
    churn_delivery_config_init(&cfg);
    cfg.smtp_url = strdup("smtp://127.0.0.1:2525");
    const struct churn_delivery_lists lists = {
        "ops=https://hooks.example.com/churn\nchat=http://10.0.0.7:8080/slack",
        "ops=0123456789abcdef0123", "chat=cause:churn_intent risk:high\nteam=status:open",
        "chat=slack", "team=a@example.com,b.c@mail.example.org"};
    cr_assert_eq(churn_delivery_config_parse(&cfg, &lists, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(cfg.n_dests, 3);
    cr_assert_str_eq(cfg.dests[0].name, "ops");
    cr_assert_eq(cfg.dests[0].kind, CHURN_DELIVERY_WEBHOOK);
    cr_assert_str_eq(cfg.dests[0].secret, "0123456789abcdef0123");
    cr_assert_eq(cfg.dests[0].format, CHURN_DELIVERY_JSON);
    cr_assert_eq(cfg.dests[1].format, CHURN_DELIVERY_SLACK);
    cr_assert_null(cfg.dests[1].secret);
    cr_assert_eq(cfg.dests[1].filter.causes, 1u << CHURN_CAUSE_CHURN_INTENT);
    cr_assert_eq(cfg.dests[1].filter.min_risk, CHURN_TIER_HIGH);
    cr_assert_eq(cfg.dests[2].kind, CHURN_DELIVERY_EMAIL);
    cr_assert_str_eq(cfg.dests[2].to, "a@example.com,b.c@mail.example.org");
    cr_assert_eq(cfg.dests[2].filter.statuses, 1u << CHURN_STATUS_OPEN);
    churn_delivery_config_fini(&cfg);
}

Test(delivery_config, none_is_fine)
{
    struct churn_delivery_config cfg;
    char err[256];
    cr_assert_eq(parse(&cfg, NULL, "", NULL, "", NULL, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(cfg.n_dests, 0);
    churn_delivery_config_fini(&cfg);
}

struct bad {
    const char *webhooks, *secrets, *filters, *formats, *emails, *message;
};

Test(delivery_config, refusals_name_option_and_destination)
{
    static const struct bad cases[] = {
        {"x", 0, 0, 0, 0, "--webhook 'x': expected NAME=VALUE"},
        {"=http://a.example/", 0, 0, 0, 0, "expected NAME=VALUE"},
        {"x=", 0, 0, 0, 0, "expected NAME=VALUE"},
        {"a/b=http://a.example/", 0, 0, 0, 0, "may hold only letters"},
        {"x=gopher://a.example/", 0, 0, 0, 0, "--webhook x:"},
        {"x=not a url", 0, 0, 0, 0, "--webhook x:"},
        {"x=http://0.0.0.0:50051/self", 0, 0, 0, 0, "churnd's own listener"},
        {"x=http://a.example/\nx=http://b.example/", 0, 0, 0, 0, "'x' is defined twice"},
        {"x=http://a.example/", "y=0123456789abcdef", 0, 0, 0, "--webhook-secret y: no --webhook"},
        {"x=http://a.example/", "x=tooshort", 0, 0, 0, "shorter than 16 bytes"},
        {"x=http://a.example/", "x=0123456789abcdef\nx=0123456789abcdef", 0, 0, 0, "given twice"},
        {"x=http://a.example/", 0, "x=risk:purple", 0, 0, "--webhook-filter x:"},
        {"x=http://a.example/", 0, "z=risk:high", 0, 0, "no --webhook or --email of that name"},
        {"x=http://a.example/", 0, 0, "x=xml", 0, "unknown format 'xml' (json or slack)"},
        {0, 0, 0, 0, "m=a@example.com", "e-mail needs --smtp-url"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad *c = &cases[i];
        struct churn_delivery_config cfg;
        char err[512] = "";
        cr_expect_eq(parse(&cfg, c->webhooks, c->secrets, c->filters, c->formats, c->emails, err,
                           sizeof(err)),
                     CHURN_EINVAL, "case %zu", i);
        cr_expect(strstr(err, c->message) != NULL, "case %zu: '%s' lacks '%s'", i, err, c->message);
        churn_delivery_config_fini(&cfg);
    }
}

Test(delivery_config, addresses_are_checked)
{
    static const char *const bad[] = {"m=plain",
                                      "m=@example.com",
                                      "m=a@",
                                      "m=a b@example.com",
                                      "m=a@example.com,",
                                      "m=<a@example.com>",
                                      "m=a@b@example.com",
                                      "m=a@example.com\r\nBcc: x@evil.example"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct churn_delivery_config cfg;
        churn_delivery_config_init(&cfg);
        cfg.smtp_url = strdup("smtp://127.0.0.1:25");
        char err[512] = "";
        const struct churn_delivery_lists lists = {NULL, NULL, NULL, NULL, bad[i]};
        cr_expect_eq(churn_delivery_config_parse(&cfg, &lists, err, sizeof(err)), CHURN_EINVAL,
                     "%s", bad[i]);
        cr_expect(strstr(err, "is not an e-mail address") || strstr(err, "expected NAME=VALUE"),
                  "%s: %s", bad[i], err);
        churn_delivery_config_fini(&cfg);
    }
}

Test(delivery_signature, rfc4231_vectors)
{
    char sig[80];
    churn_delivery_signature("Jefe", "what do ya want for nothing?", 28, sig, sizeof(sig));
    cr_assert_str_eq(sig,
                     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    churn_delivery_signature("0123456789abcdef", "", 0, sig, sizeof(sig));
    cr_assert_eq(strlen(sig), 7 + 64);
}

Test(delivery_summary, what_a_person_reads)
{
    struct churn_alert a;
    memset(&a, 0, sizeof(a));
    cr_assert_eq(churn_alert_init(&a, "cust-7", CHURN_CAUSE_CHURN_INTENT, 1000), CHURN_OK);
    a.change = CHURN_CHANGE_RAISED;
    struct churn_buf out;
    churn_buf_init(&out, 4096);
    cr_assert_eq(churn_delivery_summary(&a, &out), CHURN_OK);
    cr_assert_str_eq(churn_buf_str(&out), "[UNSCORED] cust-7: churn_intent raised");
    churn_buf_reset(&out);
    a.risk_tier = CHURN_TIER_HIGH;
    a.probability = 0.82;
    a.probability_before = 0.41;
    a.value = 1200;
    a.priority = 984;
    snprintf(a.playbook_id, sizeof(a.playbook_id), "call-now");
    a.action.kind = CHURN_ACTION_HUMAN_HANDOFF;
    snprintf(a.action.detail, sizeof(a.action.detail), "call within the hour");
    snprintf(a.chat_evidence, sizeof(a.chat_evidence), "cancel my plan");
    cr_assert_eq(churn_delivery_summary(&a, &out), CHURN_OK);
    cr_assert_str_eq(churn_buf_str(&out),
                     "[HIGH] cust-7: churn_intent raised, risk 82% (was 41%), value 1200.00, "
                     "revenue at risk 984.00; they said: \"cancel my plan\"; playbook call-now: "
                     "human_handoff - call within the hour");
    churn_buf_free(&out);
}

/* ---------------------------------------------------------------- the answer reader ---- */

/* Feed @text whole (or one byte at a time) to @a; returns the last result, @used in all. */
static enum churn_err
feed(struct churn_http_answer *a, const char *text, size_t len, bool bytewise, size_t *used)
{
    churn_http_answer_init(a);
    enum churn_err rc = CHURN_EAGAIN;
    *used = 0;
    size_t step = bytewise ? 1 : len;
    for (size_t pos = 0; pos < len && rc == CHURN_EAGAIN; pos += step) {
        size_t n = 0;
        rc = churn_http_answer_feed(a, text + pos, len - pos < step ? len - pos : step, &n);
        *used += n;
    }
    return rc;
}

/* Both ways of feeding give @want, and for CHURN_OK the same status, keep-alive and use. */
static void
expect(const char *text, enum churn_err want, int status, bool keep_alive, size_t used_want)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct churn_http_answer a;
        size_t used;
        enum churn_err rc = feed(&a, text, strlen(text), bytewise, &used);
        cr_assert_eq(rc, want, "%s (bytewise %d): got %d (%s)", text, bytewise, rc, a.why);
        if (want == CHURN_OK) {
            cr_expect_eq(a.status, status, "%s", text);
            cr_expect_eq(a.keep_alive, keep_alive, "%s", text);
            cr_expect_eq(used, used_want, "%s: used %zu", text, used);
        } else if (want != CHURN_EAGAIN) {
            cr_expect(a.why[0], "%s: a refusal names its reason", text);
        }
    }
}

Test(http_answer, framed_answers_and_keep_alive)
{
    const char *no_content = "HTTP/1.1 204 No Content\r\n\r\n";
    expect(no_content, CHURN_OK, 204, true, strlen(no_content));
    const char *len = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhelloNEXT";
    expect(len, CHURN_OK, 200, true, strlen(len) - 4); /* what follows is not this answer's */
    expect("HTTP/1.1 201\r\ncontent-length: 0\r\n\r\n", CHURN_OK, 201, true, 35);
    expect("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", CHURN_OK, 200, true, 37); /* bare LF */
    expect("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", CHURN_OK, 200, false, 38);
    expect("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", CHURN_OK, 200,
           true, 62);
    expect("HTTP/1.1 500 Oops\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n", CHURN_OK,
           500, false, 64);
    /* a 204 or 304 has no body, whatever it says */
    expect("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", CHURN_OK, 304, true, 49);
}

Test(http_answer, chunked_interim_and_until_close)
{
    const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
                          "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
    expect(chunked, CHURN_OK, 200, true, strlen(chunked));
    struct churn_http_answer a;
    size_t used;
    cr_assert_eq(feed(&a, chunked, strlen(chunked), true, &used), CHURN_OK);
    cr_expect_eq(a.body_bytes, 15, "the chunks' data only");
    const char *interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                          "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
    expect(interim, CHURN_OK, 202, true, strlen(interim));
    const char *until_close = "HTTP/1.1 200 OK\r\n\r\nsome body";
    expect(until_close, CHURN_EAGAIN, 0, false, 0);
    cr_assert_eq(feed(&a, until_close, strlen(until_close), false, &used), CHURN_EAGAIN);
    cr_expect_eq(a.body_bytes, 9);
    cr_assert_eq(churn_http_answer_eof(&a), CHURN_OK);
    cr_expect_eq(a.status, 200);
    cr_expect_not(a.keep_alive, "the close ended the body: the connection is done");
}

Test(http_answer, refusals_name_what_is_wrong)
{
    static const char *const bad[][2] = {
        {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.0 or HTTP/1.1"},
        {"ICY 200 OK\r\n\r\n", "HTTP/1.0 or HTTP/1.1"},
        {"HTTP/1.1 20\r\n\r\n", "HTTP/1.0 or HTTP/1.1"},
        {"HTTP/1.1 600 Nope\r\n\r\n", "three digits"},
        {"HTTP/1.1 099 Nope\r\n\r\n", "three digits"},
        {"HTTP/1.1 200OK\r\n\r\n", "three digits"},
        {"\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n", "control byte"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "conflicting"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "transfer coding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
         "transfer coding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         "both Transfer-Encoding and Content-Length"},
        {"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n", "folding"},
        {"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "NAME: VALUE"},
        {"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n", "NAME: VALUE"},
        {"HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "control byte"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abcdef\r\n", "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "longer than"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
         "trailer"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "101"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect(bad[i][0], CHURN_EINVAL, 0, false, 0);
        struct churn_http_answer a;
        size_t used;
        feed(&a, bad[i][0], strlen(bad[i][0]), false, &used);
        cr_expect(strstr(a.why, bad[i][1]), "%s: '%s' does not name '%s'", bad[i][0], a.why,
                  bad[i][1]);
        size_t n = 0;
        cr_expect_eq(churn_http_answer_feed(&a, "HTTP/1.1 200 OK\r\n\r\n", 19, &n), CHURN_EINVAL,
                     "a refused answer stays refused");
    }
}

Test(http_answer, caps_and_cut_short)
{
    static char text[CHURN_HTTP_HEAD_MAX * 2];
    /* one header line over the line cap */
    int n = snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(text + n, 'a', CHURN_HTTP_LINE_MAX);
    strcpy(text + n + CHURN_HTTP_LINE_MAX, "\r\n\r\n");
    expect(text, CHURN_ETOOBIG, 0, false, 0);
    /* many short headers over the head cap */
    size_t pos = (size_t)snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\n");
    while (pos + 40 < sizeof(text))
        pos += (size_t)snprintf(text + pos, sizeof(text) - pos, "X-Header-%05zu: value\r\n", pos);
    expect(text, CHURN_ETOOBIG, 0, false, 0);
    /* endless interim answers count towards the same cap */
    pos = 0;
    while (pos + 30 < sizeof(text))
        pos += (size_t)snprintf(text + pos, sizeof(text) - pos, "HTTP/1.1 100 Continue\r\n\r\n");
    expect(text, CHURN_ETOOBIG, 0, false, 0);
    /* the connection closes inside the answer, or before any of it */
    static const char *const cut[] = {
        "HTTP/1.1 200 OK\r\nContent-Len", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"};
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        struct churn_http_answer a;
        size_t used;
        cr_assert_eq(feed(&a, cut[i], strlen(cut[i]), false, &used), CHURN_EAGAIN, "%s", cut[i]);
        cr_expect(churn_http_answer_started(&a));
        cr_expect_eq(churn_http_answer_eof(&a), CHURN_EINVAL, "%s", cut[i]);
        cr_expect(strstr(a.why, "closed inside the answer"), "%s: %s", cut[i], a.why);
    }
    struct churn_http_answer a;
    churn_http_answer_init(&a);
    cr_expect_not(churn_http_answer_started(&a));
    cr_expect_eq(churn_http_answer_eof(&a), CHURN_EINVAL);
    cr_expect(strstr(a.why, "without an answer"), "%s", a.why);
}

/* ---- the alert log read once for every destination (delivery_batch.c) ---- */

struct log_fixture {
    char dir[256];
    struct churn_store *store;
    struct churn_alert_hub *hub;
    struct churn__dlog *log;
    int renders;
    int fail_next; /* renders to refuse before succeeding */
};

static enum churn_err
count_render(void *ctx, const struct churn_alert *a, enum churn_delivery_format format,
             struct churn_buf *out)
{
    struct log_fixture *f = ctx;
    f->renders++;
    if (f->fail_next > 0) {
        f->fail_next--;
        return CHURN_ENOMEM;
    }
    return churn_buf_printf(out, "{\"seq\":%llu,\"customer\":\"%s\",\"format\":%d}",
                            (unsigned long long)a->sequence, a->customer_id, (int)format);
}

static void
log_open(struct log_fixture *f, bool with_hub)
{
    memset(f, 0, sizeof(*f));
    churn_test_mkdtemp(f->dir, sizeof(f->dir), "dlog");
    cr_assert_eq(churn_store_open(f->dir, NULL, &f->store), CHURN_OK);
    if (with_hub) {
        struct churn_alert_hub_config cfg;
        churn_alert_hub_config_default(&cfg);
        cr_assert_eq(churn_alert_hub_create(&cfg, 0, &f->hub), CHURN_OK);
    }
    cr_assert_eq(churn__dlog_open(f->store, f->hub, count_render, f, &f->log), CHURN_OK);
}

static void
log_close(struct log_fixture *f)
{
    churn__dlog_close(f->log);
    churn_alert_hub_destroy(f->hub);
    churn_store_close(f->store);
    churn_test_rm_rf(f->dir);
}

/* Append alert changes for customers cust-<first>..cust-<first + n - 1>, published to the hub
 * when there is one (as the alert engine does: after the durable append). */
static void
log_append(struct log_fixture *f, int first, int n)
{
    static struct churn_alert a;
    static uint8_t buf[CHURN_ALERT_ENCODED_MAX];
    for (int i = first; i < first + n; i++) {
        char cid[32];
        snprintf(cid, sizeof(cid), "cust-%d", i);
        cr_assert_eq(churn_alert_init(&a, cid, CHURN_CAUSE_CHAT_ESCALATION, 1765000000000),
                     CHURN_OK);
        a.id = (uint64_t)i;
        size_t len = 0;
        cr_assert_eq(churn_alert_encode(&a, buf, sizeof(buf), &len), CHURN_OK);
        cr_assert_eq(churn_store_append_alert(f->store, cid, buf, len, &a.sequence), CHURN_OK);
        if (f->hub)
            cr_assert_eq(churn_alert_hub_publish(f->hub, &a), CHURN_OK);
    }
}

/* The sequences of @b's changes, "1,2,3". */
static const char *
seqs(const struct churn__dbatch *b)
{
    static char out[1024];
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < b->n && pos < sizeof(out) - 24; i++)
        pos += (size_t)snprintf(out + pos, sizeof(out) - pos, "%s%llu", i ? "," : "",
                                (unsigned long long)b->e[i]->alert.sequence);
    return out;
}

Test(delivery_batch, windows_read_once_and_shared)
{
    struct log_fixture f;
    log_open(&f, false);
    log_append(&f, 1, 70);
    const struct churn__dbatch *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    cr_assert_eq(churn__dlog_get(f.log, 0, &a), CHURN_OK);
    cr_assert_eq(a->n, CHURN__DBATCH_MAX);
    cr_assert_eq(a->first, 0);
    cr_assert_eq(a->end, 64);
    cr_assert_eq(a->last, 64, "a change past the window was seen: complete");
    for (size_t i = 0; i < a->n; i++) {
        char cid[32];
        snprintf(cid, sizeof(cid), "cust-%zu", i + 1);
        cr_assert_eq(a->e[i]->alert.sequence, i + 1);
        cr_assert_str_eq(a->e[i]->alert.customer_id, cid);
        cr_assert_not(a->e[i]->moved);
    }
    /* a destination at another cursor in the same window gets the same decoded changes */
    cr_assert_eq(churn__dlog_get(f.log, 40, &b), CHURN_OK);
    cr_assert_eq(a, b);
    /* the window at the head: without a hub it is read again at every ask; what was decoded
     * is kept, what was appended since is added */
    cr_assert_eq(churn__dlog_get(f.log, 64, &c), CHURN_OK);
    cr_assert_str_eq(seqs(c), "65,66,67,68,69,70");
    cr_assert_eq(c->last, 70, "incomplete: the cursor may pass only what was read");
    log_append(&f, 71, 1);
    cr_assert_eq(churn__dlog_get(f.log, 66, &d), CHURN_OK);
    cr_assert_neq(c, d);
    cr_assert_str_eq(seqs(d), "65,66,67,68,69,70,71");
    cr_assert_eq(d->e[0], c->e[0], "decoded once");
    cr_assert_eq(d->last, 71);
    cr_assert_eq(c->n, 6, "a window a worker holds does not change under it");
    churn__dlog_put(f.log, a), churn__dlog_put(f.log, b), churn__dlog_put(f.log, c);
    churn__dlog_put(f.log, d);
    log_close(&f);
}

Test(delivery_batch, the_head_window_is_shared_only_up_to_the_hub_head)
{
    struct log_fixture f;
    log_open(&f, true);
    log_append(&f, 1, 3);
    const struct churn__dbatch *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
    cr_assert_eq(churn__dlog_get(f.log, 0, &a), CHURN_OK);
    cr_assert_str_eq(seqs(a), "1,2,3");
    cr_assert_eq(a->last, 3);
    cr_assert_eq(churn__dlog_get(f.log, 2, &b), CHURN_OK);
    cr_assert_eq(a, b, "nothing new since the read: shared");
    log_append(&f, 4, 1); /* the doorbell rings for sequence 4 */
    cr_assert_eq(churn__dlog_get(f.log, 3, &c), CHURN_OK);
    cr_assert_neq(a, c, "a worker woken for sequence 4 must not be given the read before it");
    cr_assert_str_eq(seqs(c), "1,2,3,4");
    cr_assert_eq(c->e[2], a->e[2]);
    /* the hub's head at the window's end completes it, with no change past it in the log */
    log_append(&f, 5, 60);
    cr_assert_eq(churn__dlog_get(f.log, 4, &d), CHURN_OK);
    cr_assert_eq(d->n, 64);
    cr_assert_eq(d->last, d->end);
    /* past the end: an empty window that nobody may pass */
    cr_assert_eq(churn__dlog_get(f.log, 64, &e), CHURN_OK);
    cr_assert_eq(e->n, 0);
    cr_assert_eq(e->first, 64);
    cr_assert_eq(e->last, 64);
    churn__dlog_put(f.log, a), churn__dlog_put(f.log, b), churn__dlog_put(f.log, c);
    churn__dlog_put(f.log, d), churn__dlog_put(f.log, e);
    churn__dlog_put(f.log, NULL);
    log_close(&f);
}

Test(delivery_batch, undecodable_records_are_skipped_and_passed)
{
    struct log_fixture f;
    log_open(&f, false);
    log_append(&f, 1, 1);
    static const uint8_t junk[] = {0xff, 0x01, 0x02};
    uint64_t seq = 0;
    cr_assert_eq(churn_store_append_alert(f.store, "cust-x", junk, sizeof(junk), &seq), CHURN_OK);
    cr_assert_eq(seq, 2);
    const struct churn__dbatch *a = NULL, *b = NULL;
    cr_assert_eq(churn__dlog_get(f.log, 0, &a), CHURN_OK);
    cr_assert_str_eq(seqs(a), "1");
    cr_assert_eq(a->last, 2, "the cursor may pass the undecodable record");
    log_append(&f, 3, 1);
    cr_assert_eq(churn__dlog_get(f.log, a->last, &b), CHURN_OK);
    cr_assert_str_eq(seqs(b), "1,3");
    cr_assert_eq(b->last, 3);
    churn__dlog_put(f.log, a), churn__dlog_put(f.log, b);
    log_close(&f);
}

Test(delivery_batch, a_body_is_rendered_once_per_format)
{
    struct log_fixture f;
    log_open(&f, false);
    log_append(&f, 1, 2);
    const struct churn__dbatch *a = NULL;
    const struct churn_buf *j1 = NULL, *j2 = NULL, *s1 = NULL, *bad = NULL;
    cr_assert_eq(churn__dlog_get(f.log, 0, &a), CHURN_OK);
    cr_assert_eq(churn__dlog_body(f.log, a->e[1], CHURN_DELIVERY_JSON, &j1), CHURN_OK);
    cr_assert_eq(churn__dlog_body(f.log, a->e[1], CHURN_DELIVERY_JSON, &j2), CHURN_OK);
    cr_assert_eq(j1, j2);
    cr_assert_eq(f.renders, 1);
    cr_assert_str_eq(j1->data, "{\"seq\":2,\"customer\":\"cust-2\",\"format\":1}");
    cr_assert_eq(churn__dlog_body(f.log, a->e[1], CHURN_DELIVERY_SLACK, &s1), CHURN_OK);
    cr_assert_str_eq(s1->data, "{\"seq\":2,\"customer\":\"cust-2\",\"format\":2}");
    cr_assert_eq(f.renders, 2);
    /* a failed render is not kept: the retry renders again */
    f.fail_next = 1;
    cr_assert_eq(churn__dlog_body(f.log, a->e[0], CHURN_DELIVERY_JSON, &bad), CHURN_ENOMEM);
    cr_assert_null(bad);
    cr_assert_eq(churn__dlog_body(f.log, a->e[0], CHURN_DELIVERY_JSON, &bad), CHURN_OK);
    cr_assert_str_eq(bad->data, "{\"seq\":1,\"customer\":\"cust-1\",\"format\":1}");
    cr_assert_eq(f.renders, 4);
    /* a format that does not exist */
    cr_assert_eq(churn__dlog_body(f.log, a->e[0], (enum churn_delivery_format)0, &bad),
                 CHURN_EINVAL);
    cr_assert_eq(churn__dlog_body(f.log, a->e[0], (enum churn_delivery_format)3, &bad),
                 CHURN_EINVAL);
    churn__dlog_put(f.log, a);
    log_close(&f);
}

Test(delivery_batch, a_signature_is_shared_by_equal_secrets_only)
{
    struct log_fixture f;
    log_open(&f, false);
    log_append(&f, 1, 1);
    atomic_bool stop = false;
    struct churn__net *n1 = NULL, *n2 = NULL;
    cr_assert_eq(churn__net_open(1000, &stop, &n1), CHURN_OK);
    cr_assert_eq(churn__net_open(1000, &stop, &n2), CHURN_OK);
    const struct churn__dbatch *a = NULL;
    const struct churn_buf *body = NULL;
    cr_assert_eq(churn__dlog_get(f.log, 0, &a), CHURN_OK);
    cr_assert_eq(churn__dlog_body(f.log, a->e[0], CHURN_DELIVERY_JSON, &body), CHURN_OK);
    char s1[] = "shared-secret", s2[] = "shared-secret", other[] = "another-secret";
    char want[CHURN__SIGNATURE_MAX], want_other[CHURN__SIGNATURE_MAX];
    churn_delivery_signature(s1, body->data, body->len, want, sizeof(want));
    churn_delivery_signature(other, body->data, body->len, want_other, sizeof(want_other));
    char scratch1[CHURN__SIGNATURE_MAX], scratch2[CHURN__SIGNATURE_MAX],
        scratch3[CHURN__SIGNATURE_MAX];
    const char *first =
        churn__dlog_signature(f.log, a->e[0], CHURN_DELIVERY_JSON, s1, body, n1, scratch1);
    cr_assert_str_eq(first, want);
    /* an equal secret held by another destination (another string): the kept signature */
    memset(scratch2, 0, sizeof(scratch2));
    const char *again =
        churn__dlog_signature(f.log, a->e[0], CHURN_DELIVERY_JSON, s2, body, n2, scratch2);
    cr_assert_str_eq(again, want);
    cr_assert_neq(again, scratch2, "taken from the entry, not signed again");
    cr_assert_eq(scratch2[0], '\0');
    /* another secret: signed for that destination, the kept one unchanged */
    const char *mine =
        churn__dlog_signature(f.log, a->e[0], CHURN_DELIVERY_JSON, other, body, n2, scratch3);
    cr_assert_eq(mine, scratch3);
    cr_assert_str_eq(mine, want_other);
    cr_assert_str_eq(
        churn__dlog_signature(f.log, a->e[0], CHURN_DELIVERY_JSON, s2, body, n1, scratch1), want);
    churn__dlog_put(f.log, a);
    churn__net_close(n1);
    churn__net_close(n2);
    log_close(&f);
}
