/*
 * test_store.c - the store suite: event validation (every bad-input rule), opening (fresh,
 * reopen, not a store, read-only directory), applying events (idempotency within and across
 * batches, out-of-order day buckets, the horizon, rejections that leave the rest intact),
 * reading an older record encoding, map growth and its cap, stale reader slots, the privacy
 * erase checked with mdb_dump, conversations, alerts, meta, iteration, pruning and the
 * group-commit writer under concurrent producers.
 */
#define _GNU_SOURCE /* memmem */
#include "churn/store.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/event.h"

#include "tmpdir.h"

#define DAY CHURN_MS_PER_DAY
/* A fixed "now" (2024-10-14 12:00 UTC) so that days and horizons are deterministic. */
#define NOW (20010 * DAY + DAY / 2)

static char dir[64];
static struct churn_store *st;
static struct churn_customer rec; /* big: keep it off the stack */

static void
make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void
setup(void)
{
    make_dir();
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
}

static void
teardown(void)
{
    churn_store_close(st);
    st = NULL;
    umount2(dir, MNT_DETACH); /* the full-disk test's tmpfs, if it failed half-way */
    churn_test_rm_rf(dir);
}

static struct churn_event
login(const char *cid, const char *eid, int64_t t)
{
    return (struct churn_event){
        .kind = CHURN_EVENT_LOGIN, .event_id = eid, .customer_id = cid, .occurred_at_ms = t};
}

static struct churn_event
order(const char *cid, const char *eid, int64_t t, double amount, enum churn_order_status s)
{
    struct churn_event e = {
        .kind = CHURN_EVENT_ORDER, .event_id = eid, .customer_id = cid, .occurred_at_ms = t};
    e.order.amount = amount;
    e.order.status = s;
    e.order.currency = "EUR";
    return e;
}

static const struct churn_day *
find_day(const struct churn_customer *c, int32_t day)
{
    for (unsigned i = 0; i < c->n_days; i++) {
        if (c->days[i].day == day)
            return &c->days[i];
    }
    return NULL;
}

/* Run a shell command, return its stdout (static buffer, up to 1 MiB). */
static const char *
run(const char *cmd)
{
    static char out[1 << 20];
    size_t len = 0;
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n;
    while (len < sizeof(out) - 1 && (n = fread(out + len, 1, sizeof(out) - 1 - len, p)) > 0)
        len += n;
    out[len] = '\0';
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "command failed: %s", cmd);
    return out;
}

/* Load one raw key/value (hex) into database @db of the closed store, with mdb_load. */
static void
mdb_load_hex(const char *db, const char *key_hex, const char *val_hex)
{
    char path[128], cmd[256];
    snprintf(path, sizeof(path), "%s/load.txt", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n %s\n %s\nDATA=END\n", key_hex,
            val_hex);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "mdb_load -s %s -f %s %s", db, path, dir);
    run(cmd);
    remove(path);
}

static void
hex_of(const char *s, char *out)
{
    for (; *s; s++, out += 2)
        snprintf(out, 3, "%02x", (unsigned char)*s);
    *out = '\0';
}

/* ---- validation ---------------------------------------------------------------------------- */

static enum churn_err
check(const struct churn_event *e, char *reason)
{
    return churn_event_validate(e, NOW, CHURN_EVENT_SKEW_MS, reason, CHURN_REASON_MAX);
}

Test(store, validate_accepts_good_events)
{
    char reason[CHURN_REASON_MAX];
    struct churn_event e = order("c1", "e1", NOW - DAY, 10.5, CHURN_ORDER_COMPLETED);
    cr_assert_eq(check(&e, reason), CHURN_OK, "%s", reason);
    e = login("ü-ñ-客户", "e2", NOW + CHURN_EVENT_SKEW_MS - 1);
    cr_assert_eq(check(&e, reason), CHURN_OK, "%s", reason);
    struct churn_event r = {
        .kind = CHURN_EVENT_REVIEW, .event_id = "r", .customer_id = "c", .occurred_at_ms = NOW};
    r.review.rating = 5;
    r.review.sentiment = NAN;
    cr_assert_eq(check(&r, reason), CHURN_OK, "%s", reason);
}

Test(store, validate_rejects_bad_ids_with_the_field_named)
{
    char reason[CHURN_REASON_MAX];
    char long_id[CHURN_ID_MAX + 2];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';

    struct churn_event e = login(NULL, "e1", NOW);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "customer_id") && strstr(reason, "required"), "%s", reason);
    e = login("c", "", NOW);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "event_id"), "%s", reason);
    e = login(long_id, "e", NOW);
    cr_assert_eq(check(&e, reason), CHURN_ETOOBIG);
    cr_assert(strstr(reason, "customer_id: longer than 128"), "%s", reason);
    long_id[CHURN_ID_MAX] = '\0'; /* exactly the limit */
    e = login(long_id, "e", NOW);
    cr_assert_eq(check(&e, reason), CHURN_OK, "%s", reason);
    e = login("ab\xc3(", "e", NOW);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "customer_id: invalid UTF-8 at byte 2"), "%s", reason);
    e = login("c", "\xed\xa0\x80", NOW); /* a UTF-16 surrogate */
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "event_id: invalid UTF-8"), "%s", reason);
    e = login("c", "\xc0\xaf", NOW); /* overlong '/' */
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    e = login("c\n1", "e", NOW);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "control character"), "%s", reason);
}

Test(store, validate_rejects_bad_values)
{
    char reason[CHURN_REASON_MAX];
    struct churn_event e = order("c", "e", NOW, NAN, CHURN_ORDER_COMPLETED);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "order.amount: is NaN"), "%s", reason);
    e = order("c", "e", NOW, -0.01, CHURN_ORDER_COMPLETED);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "order.amount: is negative"), "%s", reason);
    e = order("c", "e", NOW, INFINITY, CHURN_ORDER_COMPLETED);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    e = order("c", "e", NOW, 1, CHURN_ORDER_UNSPECIFIED);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "order.status"), "%s", reason);
    e = order("c", "e", NOW, 1, CHURN_ORDER_COMPLETED);
    e.order.currency = "eur";
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "order.currency"), "%s", reason);

    struct churn_event r = {
        .kind = CHURN_EVENT_REVIEW, .event_id = "r", .customer_id = "c", .occurred_at_ms = NOW};
    r.review.sentiment = NAN;
    int bad_ratings[] = {0, 6, -1, 1000};
    for (size_t i = 0; i < sizeof(bad_ratings) / sizeof(bad_ratings[0]); i++) {
        r.review.rating = bad_ratings[i];
        cr_assert_eq(check(&r, reason), CHURN_ERANGE);
        cr_assert(strstr(reason, "review.rating: must be 1..5"), "%s", reason);
    }
    r.review.rating = 3;
    r.review.sentiment = 1.5;
    cr_assert_eq(check(&r, reason), CHURN_ERANGE);

    struct churn_event s = {
        .kind = CHURN_EVENT_SESSION, .event_id = "s", .customer_id = "c", .occurred_at_ms = NOW};
    s.session.minutes = -3;
    cr_assert_eq(check(&s, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "session.minutes"), "%s", reason);

    struct churn_event u = {
        .kind = CHURN_EVENT_CUSTOM, .event_id = "u", .customer_id = "c", .occurred_at_ms = NOW};
    u.custom.name = "bad name!";
    u.custom.value = 1;
    cr_assert_eq(check(&u, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "custom.name"), "%s", reason);
    u.custom.name = "nps";
    u.custom.value = NAN;
    cr_assert_eq(check(&u, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "custom.value"), "%s", reason);

    struct churn_event c = {
        .kind = CHURN_EVENT_CHAT, .event_id = "h", .customer_id = "c", .occurred_at_ms = NOW};
    c.chat.dissatisfaction = 1.2;
    cr_assert_eq(check(&c, reason), CHURN_ERANGE);
}

Test(store, validate_rejects_unknown_kinds_and_bad_times)
{
    char reason[CHURN_REASON_MAX];
    struct churn_event e = login("c", "e", NOW);
    e.kind = CHURN_EVENT_UNSPECIFIED;
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "kind: unknown event kind"), "%s", reason);
    e.kind = (enum churn_event_kind)999;
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    e = login("c", "e", NOW + CHURN_EVENT_SKEW_MS + 1);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "occurred_at_ms") && strstr(reason, "future"), "%s", reason);
    e = login("c", "e", 0);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    e = login("c", "e", -5);
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert_eq(churn_event_validate(NULL, NOW, 0, reason, sizeof(reason)), CHURN_EINVAL);

    enum churn_event_kind k;
    cr_assert(churn_event_kind_parse("support_ticket", &k));
    cr_assert_eq(k, CHURN_EVENT_TICKET);
    cr_assert_str_eq(churn_event_kind_name(CHURN_EVENT_PLAN_CHANGE), "plan_change");
    cr_assert_not(churn_event_kind_parse("teleport", &k));
    cr_assert_not(churn_event_kind_parse("unspecified", &k));
}

/* One rule for attribute and custom event names, whichever way they come in. */
Test(store, one_attribute_name_rule)
{
    char reason[CHURN_REASON_MAX], longest[CHURN_NAME_MAX + 2];
    memset(longest, 'a', CHURN_NAME_MAX);
    longest[CHURN_NAME_MAX] = '\0';
    const char *good[] = {"seats", "a_1", "nps_2024", "_", longest};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert_eq(churn_attr_name_check(good[i], "f", reason, sizeof(reason)), CHURN_OK, "%s",
                     good[i]);
    const char *bad[] = {"Seats", "plan.tier", "a-b", "bad name", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(churn_attr_name_check(bad[i], "numeric_attributes", reason, sizeof(reason)),
                     CHURN_EINVAL, "%s", bad[i]);
        cr_assert(strstr(reason, "numeric_attributes: '") == reason, "%s", reason);
        cr_assert(strstr(reason, "1..64 bytes of [a-z0-9_]"), "%s", reason);
    }
    cr_assert_eq(churn_attr_name_check("", "f", reason, sizeof(reason)), CHURN_EINVAL);
    cr_assert(strstr(reason, "f: required"), "%s", reason);
    cr_assert_eq(churn_attr_name_check(NULL, "f", reason, sizeof(reason)), CHURN_EINVAL);
    longest[CHURN_NAME_MAX] = 'a';
    longest[CHURN_NAME_MAX + 1] = '\0';
    cr_assert_eq(churn_attr_name_check(longest, "f", reason, sizeof(reason)), CHURN_ETOOBIG);
    /* the attribute setters and custom events follow it */
    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    cr_assert_eq(churn_customer_attrs_set_num(&a, "plan.tier", 1), CHURN_EINVAL);
    cr_assert_eq(churn_customer_attrs_set_cat(&a, "Industry", "retail"), CHURN_EINVAL);
    cr_assert_eq(churn_customer_attrs_set_num(&a, "plan_tier", 1), CHURN_OK);
    struct churn_event e = {
        .kind = CHURN_EVENT_CUSTOM, .event_id = "e", .customer_id = "c", .occurred_at_ms = NOW};
    e.custom.name = "api-calls";
    e.custom.value = 1;
    cr_assert_eq(check(&e, reason), CHURN_EINVAL);
    cr_assert(strstr(reason, "custom.name: 'api-calls' must be 1..64 bytes of [a-z0-9_]"), "%s",
              reason);
}

Test(store, review_text_is_bounded)
{
    char reason[CHURN_REASON_MAX];
    char *text = malloc(CHURN_REVIEW_TEXT_MAX + 2);
    memset(text, 'a', CHURN_REVIEW_TEXT_MAX + 1);
    text[CHURN_REVIEW_TEXT_MAX + 1] = '\0';
    struct churn_event r = {
        .kind = CHURN_EVENT_REVIEW, .event_id = "r", .customer_id = "c", .occurred_at_ms = NOW};
    r.review.rating = 2;
    r.review.sentiment = NAN;
    r.review.text = text;
    cr_assert_eq(check(&r, reason), CHURN_ETOOBIG);
    cr_assert(strstr(reason, "review.text"), "%s", reason);
    free(text);
}

/* ---- open ---------------------------------------------------------------------------------- */

Test(store, open_creates_and_reopens, .init = setup, .fini = teardown)
{
    struct churn_event e = login("c1", "e1", NOW);
    struct churn_event_result res;
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    churn_store_close(st);
    st = NULL;
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_get_customer(st, "c1", &rec), CHURN_OK);
    cr_assert_eq(rec.life.logins, 1);
}

Test(store, open_refuses_what_is_not_a_store)
{
    struct churn_store *s = NULL;
    make_dir();
    char path[128];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 8192; i++)
        fputc("garbage!"[i % 8], f);
    fclose(f);
    cr_assert_eq(churn_store_open(dir, NULL, &s), CHURN_ECORRUPT);
    cr_assert(strstr(churn_store_last_error(), "not a churnd store"), "%s",
              churn_store_last_error());
    cr_assert_null(s);
    churn_test_rm_rf(dir);

    /* A regular file where the directory should be. */
    cr_assert_eq(churn_store_open("/etc/hostname", NULL, &s), CHURN_EINVAL);
    cr_assert(strstr(churn_store_last_error(), "not a directory"), "%s", churn_store_last_error());
    /* A read-only open of a store that does not exist. */
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.read_only = true;
    cr_assert_eq(churn_store_open("/tmp/churn-no-such-store-dir", &o, &s), CHURN_ENOTFOUND);
    o.read_only = false;
    o.horizon_days = CHURN_HORIZON_DAYS_MAX + 1;
    cr_assert_eq(churn_store_open("/tmp/churn-no-such-store-dir", &o, &s), CHURN_EINVAL);
    cr_assert(strstr(churn_store_last_error(), "horizon_days"));
}

Test(store, open_reports_a_read_only_directory)
{
    struct churn_store *s = NULL;
    const char *ro;
    make_dir();
    if (geteuid() == 0) {
        /* root ignores permission bits: use a directory where nobody can create files. */
        ro = "/proc/1";
    } else {
        chmod(dir, 0555);
        ro = dir;
    }
    enum churn_err err = churn_store_open(ro, NULL, &s);
    cr_assert_eq(err, CHURN_EPERM, "got %s: %s", churn_err_name(err), churn_store_last_error());
    cr_assert(strstr(churn_store_last_error(), ro), "%s", churn_store_last_error());
    chmod(dir, 0700);
    churn_test_rm_rf(dir);
}

/* ---- events -------------------------------------------------------------------------------- */

Test(store, apply_counts_and_results, .init = setup, .fini = teardown)
{
    struct churn_event ev[4] = {
        login("alice", "a1", NOW - 2 * DAY),
        order("alice", "a2", NOW - DAY, 30, CHURN_ORDER_COMPLETED),
        order("bob", "b1", NOW, -5, CHURN_ORDER_COMPLETED), /* rejected */
        order("alice", "a3", NOW, 10, CHURN_ORDER_REFUNDED),
    };
    struct churn_event_result res[4];
    cr_assert_eq(churn_store_apply_events(st, ev, 4, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(res[1].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(res[2].status, CHURN_EVENT_REJECTED);
    cr_assert_eq(res[2].err, CHURN_EINVAL);
    cr_assert(strstr(res[2].reason, "order.amount: is negative"), "%s", res[2].reason);
    cr_assert_eq(res[3].status, CHURN_EVENT_ACCEPTED);

    cr_assert_eq(churn_store_get_customer(st, "bob", &rec), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_get_customer(st, "alice", &rec), CHURN_OK);
    cr_assert_str_eq(rec.id, "alice");
    cr_assert_eq(rec.life.events, 3);
    cr_assert_eq(rec.life.orders_completed, 1);
    cr_assert_eq(rec.life.orders_refunded, 1);
    cr_assert_float_eq(rec.life.spend, 20.0, 1e-9);
    cr_assert_eq(rec.first_seen_ms, NOW - 2 * DAY);
    cr_assert_eq(rec.last_seen_ms, NOW);
    cr_assert_eq(rec.last_order_ms, NOW - DAY);
    cr_assert_eq(rec.n_days, 3);
    cr_assert_float_eq(find_day(&rec, churn_day_of_ms(NOW))->spend, -10.0, 1e-9);
}

Test(store, idempotent_within_and_across_batches, .init = setup, .fini = teardown)
{
    struct churn_event ev[3] = {login("c", "e1", NOW), login("c", "e2", NOW),
                                login("c", "e1", NOW)};
    struct churn_event_result res[3];
    cr_assert_eq(churn_store_apply_events(st, ev, 3, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(res[1].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(res[2].status, CHURN_EVENT_DUPLICATE);
    /* The same events again, in another batch (a client retrying after a lost summary). */
    cr_assert_eq(churn_store_apply_events(st, ev, 3, NOW + 1000, res), CHURN_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(res[i].status, CHURN_EVENT_DUPLICATE, "event %d", i);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.life.logins, 2);
    cr_assert_eq(find_day(&rec, churn_day_of_ms(NOW))->logins, 2);
    /* The same event id for another customer is another event. */
    struct churn_event other = login("d", "e1", NOW);
    cr_assert_eq(churn_store_apply_events(st, &other, 1, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_ACCEPTED);
}

Test(store, out_of_order_events_land_in_their_day, .init = setup, .fini = teardown)
{
    int offsets[] = {5, 10, 5, 0, 170, 10, 1};
    struct churn_event_result res;
    char ids[8][8];
    for (int i = 0; i < 7; i++) {
        snprintf(ids[i], sizeof(ids[i]), "e%d", i);
        struct churn_event e = login("c", ids[i], NOW - offsets[i] * DAY);
        cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
        cr_assert_eq(res.status, CHURN_EVENT_ACCEPTED);
    }
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.n_days, 5);
    for (unsigned i = 1; i < rec.n_days; i++)
        cr_assert_lt(rec.days[i - 1].day, rec.days[i].day);
    int32_t today = churn_day_of_ms(NOW);
    cr_assert_eq(find_day(&rec, today - 5)->logins, 2);
    cr_assert_eq(find_day(&rec, today - 10)->logins, 2);
    cr_assert_eq(find_day(&rec, today - 170)->logins, 1);
    cr_assert_eq(find_day(&rec, today)->logins, 1);
    cr_assert_eq(rec.first_seen_ms, NOW - 170 * DAY);
    cr_assert_eq(rec.last_seen_ms, NOW);
}

Test(store, events_before_the_horizon_update_lifetime_only, .init = setup, .fini = teardown)
{
    struct churn_event ev[2] = {
        order("c", "old", NOW - 200 * DAY, 99, CHURN_ORDER_COMPLETED),
        login("c", "new", NOW),
    };
    struct churn_event_result res[2];
    cr_assert_eq(churn_store_apply_events(st, ev, 2, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.n_days, 1, "only today's bucket");
    cr_assert_eq(rec.life.orders_completed, 1);
    cr_assert_float_eq(rec.life.spend, 99.0, 1e-9);
    cr_assert_eq(rec.first_seen_ms, NOW - 200 * DAY);
    /* Time passes: the old day bucket falls out of the horizon at the next write. */
    struct churn_event later = login("c", "later", NOW + 179 * DAY);
    cr_assert_eq(churn_store_apply_events(st, &later, 1, NOW + 179 * DAY, res), CHURN_OK);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.n_days, 2);
    struct churn_event later2 = login("c", "later2", NOW + 180 * DAY);
    cr_assert_eq(churn_store_apply_events(st, &later2, 1, NOW + 180 * DAY, res), CHURN_OK);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.n_days, 2, "today's bucket dropped after 180 days");
    cr_assert_eq(rec.days[0].day, churn_day_of_ms(NOW + 179 * DAY));
    cr_assert_eq(rec.life.logins, 3);
}

Test(store, future_events_are_rejected_and_the_rest_applied, .init = setup, .fini = teardown)
{
    struct churn_event ev[2] = {login("c", "f", NOW + DAY), login("c", "ok", NOW)};
    struct churn_event_result res[2];
    cr_assert_eq(churn_store_apply_events(st, ev, 2, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_REJECTED);
    cr_assert(strstr(res[0].reason, "future"), "%s", res[0].reason);
    cr_assert_eq(res[1].status, CHURN_EVENT_ACCEPTED);
    /* A rejected event does not burn its id: corrected, it is accepted. */
    ev[0].occurred_at_ms = NOW;
    cr_assert_eq(churn_store_apply_events(st, ev, 1, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_ACCEPTED);
}

Test(store, every_kind_updates_the_record, .init = setup, .fini = teardown)
{
    struct churn_event ev[10];
    memset(ev, 0, sizeof(ev));
    const char *ids[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"};
    for (int i = 0; i < 10; i++) {
        ev[i].event_id = ids[i];
        ev[i].customer_id = "c";
        ev[i].occurred_at_ms = NOW - DAY + i;
    }
    ev[0].kind = CHURN_EVENT_SESSION;
    ev[0].session.minutes = 12.5;
    ev[1].kind = CHURN_EVENT_LISTING;
    ev[1].listing.active_listings = 40;
    ev[2].kind = CHURN_EVENT_TICKET;
    ev[2].ticket.action = CHURN_TICKET_OPENED;
    ev[3].kind = CHURN_EVENT_TICKET;
    ev[3].ticket.action = CHURN_TICKET_OPENED;
    ev[4].kind = CHURN_EVENT_TICKET;
    ev[4].ticket.action = CHURN_TICKET_RESOLVED;
    ev[5].kind = CHURN_EVENT_REVIEW;
    ev[5].review.rating = 4;
    ev[5].review.sentiment = -0.8; /* negative text despite 4 stars */
    ev[6].kind = CHURN_EVENT_PLAN_CHANGE;
    ev[6].plan.action = CHURN_PLAN_DOWNGRADE;
    ev[6].plan.plan = "basic";
    ev[6].plan.monthly_value = 9;
    ev[7].kind = CHURN_EVENT_CHURN;
    ev[7].churn.reason = "price";
    ev[8].kind = CHURN_EVENT_CUSTOM;
    ev[8].custom.name = "nps";
    ev[8].custom.value = -20;
    ev[9].kind = CHURN_EVENT_CHAT;
    ev[9].chat.dissatisfaction = 0.7;
    ev[9].chat.escalated = true;
    ev[9].chat.churn_intent = true;
    struct churn_event_result res[10];
    cr_assert_eq(churn_store_apply_events(st, ev, 10, NOW, res), CHURN_OK);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(res[i].status, CHURN_EVENT_ACCEPTED, "%d: %s", i, res[i].reason);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    const struct churn_day *d = find_day(&rec, churn_day_of_ms(NOW - DAY));
    cr_assert_not_null(d);
    cr_assert_float_eq(d->session_minutes, 12.5, 1e-6);
    cr_assert_eq(d->listings, 40);
    cr_assert_eq(rec.active_listings, 40);
    cr_assert_eq(d->tickets_opened, 2);
    cr_assert_eq(d->tickets_resolved, 1);
    cr_assert_eq(rec.open_tickets, 1);
    cr_assert_eq(d->reviews, 1);
    cr_assert_eq(d->reviews_negative, 1);
    cr_assert_eq(d->rating_sum, 4);
    cr_assert_eq(rec.n_plan_changes, 1);
    cr_assert_str_eq(rec.attrs.plan, "basic");
    cr_assert_float_eq(rec.attrs.monthly_value, 9.0, 1e-9);
    cr_assert_eq(rec.churned_at_ms, NOW - DAY + 7);
    cr_assert_str_eq(rec.churn_reason, "price");
    cr_assert_eq(rec.attrs.n_num, 1);
    cr_assert_str_eq(rec.attrs.num[0].name, "nps");
    cr_assert_float_eq(d->chat_dissatisfaction, 0.7, 1e-6);
    cr_assert_eq(d->escalations, 1);
    cr_assert_eq(d->churn_intents, 1);
    cr_assert_eq(rec.life.escalations, 1);
}

Test(store, custom_attributes_are_capped, .init = setup, .fini = teardown)
{
    struct churn_event_result res;
    char names[CHURN_ATTRS_MAX + 1][16], eids[CHURN_ATTRS_MAX + 1][16];
    for (int i = 0; i <= CHURN_ATTRS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "m%d", i);
        snprintf(eids[i], sizeof(eids[i]), "e%d", i);
        struct churn_event e = {.kind = CHURN_EVENT_CUSTOM,
                                .event_id = eids[i],
                                .customer_id = "c",
                                .occurred_at_ms = NOW};
        e.custom.name = names[i];
        e.custom.value = i;
        cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
        if (i < CHURN_ATTRS_MAX)
            cr_assert_eq(res.status, CHURN_EVENT_ACCEPTED);
        else
            cr_assert_eq(res.status, CHURN_EVENT_REJECTED);
    }
    cr_assert(strstr(res.reason, "custom.name"), "%s", res.reason);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.attrs.n_num, CHURN_ATTRS_MAX);
}

Test(store, bad_ids_on_reads_are_errors, .init = setup, .fini = teardown)
{
    char long_id[300];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    cr_assert_eq(churn_store_get_customer(st, long_id, &rec), CHURN_ETOOBIG);
    cr_assert_eq(churn_store_get_customer(st, "", &rec), CHURN_EINVAL);
    cr_assert_eq(churn_store_get_customer(st, "\xff", &rec), CHURN_EINVAL);
    cr_assert_eq(churn_store_delete_customer(st, NULL, NULL), CHURN_EINVAL);
}

/* ---- upserts ------------------------------------------------------------------------------- */

Test(store, upsert_keeps_events_and_plan_changes_win, .init = setup, .fini = teardown)
{
    struct churn_event_result res;
    struct churn_event e = login("c", "e", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);

    struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    snprintf(a.segment, sizeof(a.segment), "enterprise");
    snprintf(a.plan, sizeof(a.plan), "gold");
    a.monthly_value = 500;
    a.signup_ms = NOW - 400 * DAY;
    cr_assert_eq(churn_customer_attrs_set_num(&a, "seats", 50), CHURN_OK);
    cr_assert_eq(churn_customer_attrs_set_cat(&a, "industry", "retail"), CHURN_OK);
    cr_assert_eq(churn_customer_attrs_set_num(&a, "bad name", 1), CHURN_EINVAL);
    struct churn_customer_upsert u[2] = {{"c", &a}, {"new", &a}};
    cr_assert_eq(churn_store_upsert_customers(st, u, 2), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_str_eq(rec.attrs.segment, "enterprise");
    cr_assert_eq(rec.life.logins, 1);
    cr_assert_eq(rec.attrs.n_cat, 1);
    cr_assert_str_eq(rec.attrs.cat[0].value, "retail");
    cr_assert_eq(churn_store_get_customer(st, "new", &rec), CHURN_OK);
    cr_assert_eq(rec.life.events, 0);

    struct churn_event p = {.kind = CHURN_EVENT_PLAN_CHANGE,
                            .event_id = "p",
                            .customer_id = "c",
                            .occurred_at_ms = NOW};
    p.plan.action = CHURN_PLAN_DOWNGRADE;
    p.plan.plan = "silver";
    p.plan.monthly_value = 200;
    cr_assert_eq(churn_store_apply_events(st, &p, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(churn_store_upsert_customers(st, u, 1), CHURN_OK);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_str_eq(rec.attrs.plan, "silver");
    cr_assert_float_eq(rec.attrs.monthly_value, 200.0, 1e-9);

    /* All or nothing: one bad item refuses the batch. */
    struct churn_customer_upsert bad[2] = {{"fine", &a}, {"", &a}};
    cr_assert_eq(churn_store_upsert_customers(st, bad, 2), CHURN_EINVAL);
    cr_assert(strstr(churn_store_last_error(), "customers[1]"), "%s", churn_store_last_error());
    cr_assert_eq(churn_store_get_customer(st, "fine", &rec), CHURN_ENOTFOUND);
}

/* ---- versions ------------------------------------------------------------------------------ */

/*
 * A customer record in encoding version 1 (the format before chat aggregates, listings and
 * plan history), written by the generator of docs/STORAGE.md: customer "legacy-1", segment
 * smb, plan pro, country DE, signup day 19000, monthly value 49.5, attribute seats = 12 and
 * industry = retail, one open ticket, 5 events: day 20000 one login and one 120.25 order,
 * day 20010 two logins and a ticket.
 */
static const char v1_record_hex[] =
    "01806e0a559201000000f5c0889201000000f5c08892010000806e0a559201000000000000000000"
    "0000f5c088920100000003736d620370726f0244450020fc367e0100000000000000c04840010573"
    "6561747300000000000028400108696e6475737472790672657461696c0100000005000000000000"
    "00030000000000000001000000000000000000000001000000000000000000000000000000000000"
    "000000000000000000000000000000000000105e400200204e00004900010001000000000000105e"
    "402a4e0000810002000100";

Test(store, reads_a_version_1_record_and_upgrades_it, .init = setup, .fini = teardown)
{
    char key_hex[64];
    churn_store_close(st);
    st = NULL;
    hex_of("legacy-1", key_hex);
    mdb_load_hex("customers", key_hex, v1_record_hex);
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());

    cr_assert_eq(churn_store_get_customer(st, "legacy-1", &rec), CHURN_OK, "%s",
                 churn_store_last_error());
    cr_assert_str_eq(rec.attrs.segment, "smb");
    cr_assert_str_eq(rec.attrs.plan, "pro");
    cr_assert_str_eq(rec.attrs.country, "DE");
    cr_assert_float_eq(rec.attrs.monthly_value, 49.5, 1e-9);
    cr_assert_eq(rec.attrs.signup_ms, 19000 * DAY);
    cr_assert_str_eq(rec.attrs.num[0].name, "seats");
    cr_assert_str_eq(rec.attrs.cat[0].value, "retail");
    cr_assert_eq(rec.open_tickets, 1);
    cr_assert_eq(rec.life.events, 5);
    cr_assert_eq(rec.life.logins, 3);
    cr_assert_float_eq(rec.life.spend, 120.25, 1e-9);
    cr_assert_eq(rec.n_days, 2);
    cr_assert_eq(find_day(&rec, 20000)->orders_completed, 1);
    cr_assert_eq(find_day(&rec, 20010)->logins, 2);
    cr_assert_eq(find_day(&rec, 20010)->tickets_opened, 1);
    cr_assert(isnan(find_day(&rec, 20010)->chat_dissatisfaction));
    cr_assert_eq(find_day(&rec, 20010)->listings, -1);
    cr_assert_eq(rec.active_listings, -1);
    cr_assert_eq(rec.n_plan_changes, 0);

    /* A write re-encodes it in the current version without losing anything. */
    struct churn_event c = {.kind = CHURN_EVENT_CHAT,
                            .event_id = "chat-1",
                            .customer_id = "legacy-1",
                            .occurred_at_ms = NOW};
    c.chat.dissatisfaction = 0.5;
    struct churn_event_result res;
    cr_assert_eq(churn_store_apply_events(st, &c, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(res.status, CHURN_EVENT_ACCEPTED);
    churn_store_close(st);
    st = NULL;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "mdb_dump -s customers %s", dir);
    const char *dump = run(cmd);
    cr_assert(strstr(dump, "\n 02"), "record rewritten as version 2:\n%s", dump);
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK);
    cr_assert_eq(churn_store_get_customer(st, "legacy-1", &rec), CHURN_OK);
    cr_assert_eq(rec.life.events, 6);
    cr_assert_eq(rec.life.logins, 3);
    cr_assert_eq(find_day(&rec, 20010)->logins, 2);
    cr_assert_float_eq(find_day(&rec, 20010)->chat_dissatisfaction, 0.5, 1e-6);
}

static int
count(const struct churn_customer *c, void *user)
{
    (void)c;
    ++*(size_t *)user;
    return 0;
}

Test(store, corrupt_records_are_errors_not_crashes, .init = setup, .fini = teardown)
{
    char key_hex[64];
    churn_store_close(st);
    st = NULL;
    hex_of("broken", key_hex);
    /* A version 1 record cut in the middle of its day buckets. */
    char truncated[sizeof(v1_record_hex)];
    memcpy(truncated, v1_record_hex, sizeof(v1_record_hex));
    truncated[sizeof(v1_record_hex) - 11] = '\0';
    mdb_load_hex("customers", key_hex, truncated);
    hex_of("future", key_hex);
    mdb_load_hex("customers", key_hex, "09aabbcc");
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK);

    cr_assert_eq(churn_store_get_customer(st, "broken", &rec), CHURN_ECORRUPT);
    cr_assert(strstr(churn_store_last_error(), "truncated"), "%s", churn_store_last_error());
    cr_assert_eq(churn_store_get_customer(st, "future", &rec), CHURN_ECORRUPT);
    cr_assert(strstr(churn_store_last_error(), "format version 9"), "%s", churn_store_last_error());

    struct churn_event ev[2] = {login("broken", "x", NOW), login("fine", "y", NOW)};
    struct churn_event_result res[2];
    cr_assert_eq(churn_store_apply_events(st, ev, 2, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_REJECTED);
    cr_assert_eq(res[0].err, CHURN_ECORRUPT);
    cr_assert_eq(res[1].status, CHURN_EVENT_ACCEPTED);

    /* Iteration skips the bad records and still visits the good one. */
    size_t seen = 0;
    cr_assert_eq(churn_store_foreach_customer(st, count, &seen), CHURN_OK);
    cr_assert_eq(seen, 1);
}

/* ---- map growth ---------------------------------------------------------------------------- */

/* Customers [from, to), three events each, 40 customers per durable transaction. */
static void
write_customers(int from, int to, enum churn_err *last_err)
{
    enum { PER_TXN = 40 };
    static char cids[PER_TXN][32], eids[PER_TXN][32];
    static struct churn_event ev[PER_TXN * 3];
    static struct churn_event_result res[PER_TXN * 3];
    for (int i = from; i < to;) {
        int n = 0;
        for (; n < PER_TXN && i < to; n++, i++) {
            snprintf(cids[n], sizeof(cids[n]), "customer-%06d", i);
            snprintf(eids[n], sizeof(eids[n]), "event-%06d", i);
            ev[3 * n] = login(cids[n], eids[n], NOW - (i % 90) * DAY);
            ev[3 * n + 1] = order(cids[n], "o", NOW - (i % 30) * DAY, i, CHURN_ORDER_COMPLETED);
            ev[3 * n + 2] = login(cids[n], "l2", NOW - (i % 170) * DAY);
        }
        *last_err = churn_store_apply_events(st, ev, (size_t)n * 3, NOW, res);
        if (*last_err)
            return;
        for (int k = 0; k < n * 3; k++)
            cr_assert_eq(res[k].status, CHURN_EVENT_ACCEPTED);
    }
}

Test(store, map_grows_when_full, .fini = teardown)
{
    struct churn_store_options o;
    struct churn_store_stats stats;
    enum churn_err err = CHURN_OK;
    make_dir();
    churn_store_options_init(&o);
    o.map_size = 1 << 16; /* 64 KiB: full after a few hundred customers */
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_stats(st, &stats), CHURN_OK);
    size_t initial = stats.map_size;
    write_customers(0, 3000, &err);
    cr_assert_eq(err, CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_stats(st, &stats), CHURN_OK);
    cr_assert_gt(stats.map_size, initial * 8, "map grew from %zu to %zu", initial, stats.map_size);
    cr_assert_eq(stats.customers, 3000);
    cr_assert_eq(stats.event_ids, 9000);
    cr_assert_eq(churn_store_get_customer(st, "customer-002999", &rec), CHURN_OK);
    cr_assert_float_eq(rec.life.spend, 2999.0, 1e-9);
}

Test(store, map_growth_stops_at_the_cap, .fini = teardown)
{
    struct churn_store_options o;
    enum churn_err err = CHURN_OK;
    make_dir();
    churn_store_options_init(&o);
    o.map_size = 1 << 16;
    o.map_size_max = 1 << 18;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK);
    write_customers(0, 5000, &err);
    cr_assert_eq(err, CHURN_EFULL);
    cr_assert(strstr(churn_store_last_error(), "cap"), "%s", churn_store_last_error());
    /* What was committed stays readable, and the store keeps answering. */
    cr_assert_eq(churn_store_get_customer(st, "customer-000000", &rec), CHURN_OK);
    churn_store_close(st);
    st = NULL;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_get_customer(st, "customer-000001", &rec), CHURN_OK);
}

/* ---- readers ------------------------------------------------------------------------------- */

Test(store, reader_reuses_one_transaction, .init = setup, .fini = teardown)
{
    struct churn_store_reader *r;
    struct churn_event_result res;
    cr_assert_eq(churn_store_reader_open(st, &r), CHURN_OK);
    cr_assert_eq(churn_store_reader_get_customer(r, "c", &rec), CHURN_ENOTFOUND);
    struct churn_event e = login("c", "1", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    /* A renewed read sees the commit that happened since the last use. */
    cr_assert_eq(churn_store_reader_get_customer(r, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.life.logins, 1);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(churn_store_reader_get_customer(r, "c", &rec), CHURN_OK);
    cr_assert_eq(churn_store_reader_get_customer(r, "", &rec), CHURN_EINVAL);
    churn_store_reader_close(r);
}

/* The reader's digest lookup as a caller uses it: known = the digest from last time. */
static enum churn_err
get_if_changed(struct churn_store_reader *r, const char *id, uint64_t *digest, bool *changed,
               struct churn_customer *out)
{
    uint64_t known = *digest;
    return churn_store_reader_get_customer_digest(r, id, &known, digest, changed, out);
}

Test(store, reader_decodes_only_a_changed_record, .init = setup, .fini = teardown)
{
    struct churn_store_reader *r;
    struct churn_event_result res;
    uint64_t digest = 0;
    bool changed = false;
    cr_assert_eq(churn_store_reader_open(st, &r), CHURN_OK);
    cr_assert_eq(get_if_changed(r, "c", &digest, &changed, &rec), CHURN_ENOTFOUND);
    struct churn_event e = login("c", "1", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(get_if_changed(r, "c", &digest, &changed, &rec), CHURN_OK);
    cr_assert(changed);
    cr_assert_eq(rec.life.logins, 1);
    uint64_t first = digest;
    /* unchanged bytes: nothing decoded (the buffer keeps what was put there) */
    rec.life.logins = 99;
    cr_assert_eq(get_if_changed(r, "c", &digest, &changed, &rec), CHURN_OK);
    cr_assert_not(changed);
    cr_assert_eq(digest, first);
    cr_assert_eq(rec.life.logins, 99);
    /* another customer's event leaves it alone; its own event changes it */
    e = login("d", "2", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(get_if_changed(r, "c", &digest, &changed, &rec), CHURN_OK);
    cr_assert_not(changed);
    e = login("c", "3", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(get_if_changed(r, "c", &digest, &changed, &rec), CHURN_OK);
    cr_assert(changed);
    cr_assert_neq(digest, first);
    cr_assert_eq(rec.life.logins, 2);
    /* no known digest: always decoded */
    rec.life.logins = 99;
    cr_assert_eq(churn_store_reader_get_customer_digest(r, "c", NULL, &digest, &changed, &rec),
                 CHURN_OK);
    cr_assert(changed);
    cr_assert_eq(rec.life.logins, 2);
    cr_assert_eq(get_if_changed(r, "", &digest, &changed, &rec), CHURN_EINVAL);
    churn_store_reader_close(r);
}

Test(store, stale_reader_slots_are_cleared, .init = setup, .fini = teardown)
{
    struct churn_event_result res;
    struct churn_event e = login("c", "1", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* A process that takes a reader slot and dies without releasing it. */
        struct churn_store *s2;
        struct churn_store_reader *r;
        static struct churn_customer c2;
        if (churn_store_open(dir, NULL, &s2) || churn_store_reader_open(s2, &r) ||
            churn_store_reader_get_customer(r, "c", &c2))
            _exit(1);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct churn_store_maintenance m;
    cr_assert_eq(churn_store_maintain(st, NOW, 0, &m), CHURN_OK);
    cr_assert_eq(m.stale_readers_cleared, 1);
    cr_assert_eq(churn_store_maintain(st, NOW, 0, &m), CHURN_OK);
    cr_assert_eq(m.stale_readers_cleared, 0);
}

/* ---- the alert log's per-customer index ------------------------------------------------------ */

struct picked {
    uint64_t seqs[16];
    char data[16][8];
    int n;
    int stop_after; /* stop the walk after this many (0: never) */
};

static int
pick(uint64_t seq, const char *cid, const void *d, size_t len, void *user)
{
    struct picked *p = user;
    cr_assert_str_eq(cid, "ann", "another customer's alert in ann's walk");
    p->seqs[p->n] = seq;
    snprintf(p->data[p->n], sizeof(p->data[0]), "%.*s", (int)len, (const char *)d);
    return ++p->n == p->stop_after;
}

Test(store, customer_alerts_newest_first_and_only_theirs, .init = setup, .fini = teardown)
{
    const char *who[] = {"ann", "bob", "ann", "ann", "bob", "ann"};
    uint64_t seq;
    for (int i = 0; i < 6; i++) {
        char d[8];
        snprintf(d, sizeof(d), "r%d", i + 1);
        cr_assert_eq(churn_store_append_alert(st, who[i], d, strlen(d), &seq), CHURN_OK);
    }
    struct picked p = {0};
    cr_assert_eq(churn_store_foreach_customer_alert(st, "ann", 0, 0, pick, &p), CHURN_OK);
    cr_assert_eq(p.n, 4);
    uint64_t want[] = {6, 4, 3, 1};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(p.seqs[i], want[i], "entry %d: %llu", i, (unsigned long long)p.seqs[i]);
    cr_assert_str_eq(p.data[0], "r6");
    cr_assert_str_eq(p.data[3], "r1");
    /* a page: below 4, at most 1 */
    memset(&p, 0, sizeof(p));
    cr_assert_eq(churn_store_foreach_customer_alert(st, "ann", 4, 1, pick, &p), CHURN_OK);
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.seqs[0], 3);
    /* the callback stops the walk */
    memset(&p, 0, sizeof(p));
    p.stop_after = 3;
    cr_assert_eq(churn_store_foreach_customer_alert(st, "ann", 0, 0, pick, &p), CHURN_ECANCELLED);
    cr_assert_eq(p.n, 3);
    /* nobody, and bad ids */
    memset(&p, 0, sizeof(p));
    cr_assert_eq(churn_store_foreach_customer_alert(st, "an", 0, 0, pick, &p), CHURN_OK);
    cr_assert_eq(p.n, 0, "a prefix of a customer id is another customer");
    cr_assert_eq(churn_store_foreach_customer_alert(st, "", 0, 0, pick, &p), CHURN_EINVAL);
    cr_assert_eq(churn_store_foreach_customer_alert(st, NULL, 0, 0, pick, &p), CHURN_EINVAL);
    /* a replaced record is read as it is now, under the same sequence */
    cr_assert_eq(churn_store_replace_alert(st, 6, "r6b", 3), CHURN_OK);
    memset(&p, 0, sizeof(p));
    cr_assert_eq(churn_store_foreach_customer_alert(st, "ann", 0, 1, pick, &p), CHURN_OK);
    cr_assert_str_eq(p.data[0], "r6b");
    /* the erase takes ann's entries with her; bob's stay; a reopen finds the index whole */
    cr_assert_eq(churn_store_delete_customer(st, "ann", NULL), CHURN_OK);
    memset(&p, 0, sizeof(p));
    cr_assert_eq(churn_store_foreach_customer_alert(st, "ann", 0, 0, pick, &p), CHURN_OK);
    cr_assert_eq(p.n, 0);
    churn_store_close(st);
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_append_alert(st, "ann", "r7", 2, &seq), CHURN_OK);
    cr_assert_eq(churn_store_foreach_customer_alert(st, "ann", 0, 0, pick, &p), CHURN_OK);
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.seqs[0], 7);
}

/* ---- privacy erase ------------------------------------------------------------------------- */

Test(store, delete_erases_every_trace, .init = setup, .fini = teardown)
{
    const char *secret = "alice-7f3e9d";
    struct churn_event ev[4] = {login(secret, "ev-1", NOW), login(secret, "ev-2", NOW - DAY),
                                order(secret, "ev-3", NOW, 5, CHURN_ORDER_COMPLETED),
                                login("bob-4c21", "ev-1", NOW)};
    struct churn_event_result res[4];
    uint64_t seq;
    cr_assert_eq(churn_store_apply_events(st, ev, 4, NOW, res), CHURN_OK);
    cr_assert_eq(churn_store_put_conversation(st, secret, "conv-1", "state", 5), CHURN_OK);
    cr_assert_eq(churn_store_put_conversation(st, "bob-4c21", "conv-1", "bob!", 4), CHURN_OK);
    cr_assert_eq(churn_store_put_alert_state(st, secret, "cool", 4), CHURN_OK);
    cr_assert_eq(churn_store_append_alert(st, secret, "alert-a", 7, &seq), CHURN_OK);
    cr_assert_eq(churn_store_append_alert(st, "bob-4c21", "alert-b", 7, &seq), CHURN_OK);
    cr_assert_eq(churn_store_append_alert(st, secret, "alert-c", 7, &seq), CHURN_OK);
    cr_assert_eq(churn_store_append_outcome(st, secret, "saved", 5, &seq), CHURN_OK);
    cr_assert_eq(churn_store_append_outcome(st, "bob-4c21", "lost", 4, &seq), CHURN_OK);
    cr_assert_eq(churn_store_append_outcome(st, secret, "again", 5, &seq), CHURN_OK);

    struct churn_store_erase_report rep;
    cr_assert_eq(churn_store_delete_customer(st, secret, &rep), CHURN_OK, "%s",
                 churn_store_last_error());
    cr_assert(rep.record && rep.alert_states);
    cr_assert_eq(rep.event_ids, 3);
    cr_assert_eq(rep.conversations, 1);
    cr_assert_eq(rep.alerts, 2);
    cr_assert_eq(rep.outcomes, 2);
    struct churn_store_stats stats;
    cr_assert_eq(churn_store_stats(st, &stats), CHURN_OK);
    cr_assert_eq(stats.outcomes, 1, "only bob's outcome is left");
    cr_assert_eq(churn_store_get_customer(st, secret, &rec), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_delete_customer(st, secret, NULL), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_get_customer(st, "bob-4c21", &rec), CHURN_OK);

    char cmd[128], hex[64];
    snprintf(cmd, sizeof(cmd), "mdb_dump -a -p %s", dir);
    const char *dump = run(cmd);
    cr_assert_null(strstr(dump, secret), "printable dump still holds the id");
    cr_assert_not_null(strstr(dump, "bob-4c21"), "the dump does show other customers");
    snprintf(cmd, sizeof(cmd), "mdb_dump -a %s", dir);
    dump = run(cmd);
    hex_of(secret, hex);
    cr_assert_null(strstr(dump, hex), "hex dump still holds the id");
    hex_of("bob-4c21", hex);
    cr_assert_not_null(strstr(dump, hex));

    /* A compacted copy holds no byte of the customer anywhere in the file, free pages
     * included. */
    char copy[96], file[128];
    snprintf(copy, sizeof(copy), "%s/compact", dir);
    cr_assert_eq(mkdir(copy, 0700), 0);
    cr_assert_eq(churn_store_copy_compact(st, copy), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_copy_compact(st, copy), CHURN_EEXIST);
    snprintf(file, sizeof(file), "%s/data.mdb", copy);
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f);
    static char raw[1 << 22];
    size_t len = fread(raw, 1, sizeof(raw), f);
    fclose(f);
    cr_assert_gt(len, 0);
    cr_assert_null(memmem(raw, len, secret, strlen(secret)), "the compacted file holds the id");
    cr_assert_not_null(memmem(raw, len, "bob-4c21", 8));
    struct churn_store *copied;
    cr_assert_eq(churn_store_open(copy, NULL, &copied), CHURN_OK, "%s", churn_store_last_error());
    static struct churn_customer bob;
    cr_assert_eq(churn_store_get_customer(copied, "bob-4c21", &bob), CHURN_OK);
    churn_store_close(copied);

    /* The alert log keeps counting: sequences are never reused. */
    cr_assert_eq(churn_store_append_alert(st, "bob-4c21", "alert-d", 7, &seq), CHURN_OK);
    cr_assert_eq(seq, 4);
    /* After the erase the customer's event ids are free again: a new life starts clean. */
    cr_assert_eq(churn_store_apply_events(st, ev, 1, NOW, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_ACCEPTED);
}

/*
 * A store reopened with a small configured map gets a map exactly as large as its data
 * (LMDB's rule), so the erase's first copy-on-write page does not fit: the erase must grow
 * the map and retry like every other write (it once swallowed MDB_MAP_FULL and failed later
 * with MDB_BAD_TXN on a 2,000-customer demo store).
 */
Test(store, delete_grows_a_full_map, .fini = teardown)
{
    enum { N = 3000 };
    static char eids[N][16];
    static struct churn_event ev[N];
    static struct churn_event_result res[N];
    struct churn_store_options o;
    struct churn_store_stats before, after;
    make_dir();
    churn_store_options_init(&o);
    o.map_size = 1 << 16;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    for (int i = 0; i < N; i++) {
        snprintf(eids[i], sizeof(eids[i]), "ev-%05d", i);
        ev[i] = login(i % 2 ? "erased-1" : "kept-2", eids[i], NOW - (i % 170) * DAY);
    }
    cr_assert_eq(churn_store_apply_events(st, ev, N, NOW, res), CHURN_OK, "%s",
                 churn_store_last_error());
    churn_store_close(st);
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_stats(st, &before), CHURN_OK);

    struct churn_store_erase_report rep;
    cr_assert_eq(churn_store_delete_customer(st, "erased-1", &rep), CHURN_OK, "%s",
                 churn_store_last_error());
    cr_assert(rep.record);
    cr_assert_eq(rep.event_ids, N / 2);
    cr_assert_eq(churn_store_stats(st, &after), CHURN_OK);
    cr_assert_gt(after.map_size, before.map_size, "the erase grew the map");
    cr_assert_eq(after.customers, 1);
    cr_assert_eq(after.event_ids, N / 2);
    cr_assert_eq(churn_store_get_customer(st, "erased-1", &rec), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_get_customer(st, "kept-2", &rec), CHURN_OK);
    cr_assert_eq(rec.life.logins, N / 2);
}

/* ---- values -------------------------------------------------------------------------------- */

Test(store, customer_ids_are_listed_in_resumable_pages, .init = setup, .fini = teardown)
{
    struct churn_event ev[25];
    struct churn_event_result res[25];
    char cids[25][16], eids[25][16];
    for (int i = 0; i < 25; i++) {
        snprintf(cids[i], sizeof(cids[i]), "c-%03d", (i * 7) % 25); /* out of order */
        snprintf(eids[i], sizeof(eids[i]), "e-%d", i);
        ev[i] = login(cids[i], eids[i], NOW);
    }
    cr_assert_eq(churn_store_apply_events(st, ev, 25, NOW, res), CHURN_OK);
    static char ids[10][CHURN_ID_MAX + 1];
    char after[CHURN_ID_MAX + 1] = "";
    size_t n, total = 0, pages = 0;
    do {
        cr_assert_eq(churn_store_list_customer_ids(st, after, ids, 10, &n), CHURN_OK);
        for (size_t i = 0; i < n; i++) {
            char want[16];
            snprintf(want, sizeof(want), "c-%03zu", total + i);
            cr_assert_str_eq(ids[i], want, "page %zu item %zu", pages, i);
        }
        if (n)
            snprintf(after, sizeof(after), "%s", ids[n - 1]);
        total += n;
        pages++;
    } while (n == 10);
    cr_assert_eq(total, 25);
    cr_assert_eq(pages, 3);
    /* resuming after an id that no longer exists (or never did) continues after it */
    cr_assert_eq(churn_store_list_customer_ids(st, "c-0105", ids, 10, &n), CHURN_OK);
    cr_assert_eq(n, 10);
    cr_assert_str_eq(ids[0], "c-011");
    cr_assert_eq(churn_store_list_customer_ids(st, "zzz", ids, 10, &n), CHURN_OK);
    cr_assert_eq(n, 0);
}

struct fill_args {
    int calls;
    bool fail;
    char alert[32], state[32];
};

static enum churn_err
fill_alert(uint64_t seq, void *user, const void **alert, size_t *alert_len, const void **state,
           size_t *state_len)
{
    struct fill_args *f = user;
    f->calls++;
    if (f->fail)
        return CHURN_EINVAL;
    *alert_len =
        (size_t)snprintf(f->alert, sizeof(f->alert), "alert#%llu", (unsigned long long)seq);
    *state_len =
        (size_t)snprintf(f->state, sizeof(f->state), "state@%llu", (unsigned long long)seq);
    *alert = f->alert;
    *state = f->state;
    return CHURN_OK;
}

static int
last_alert_cb(uint64_t seq, const char *cid, const void *data, size_t len, void *user)
{
    (void)seq;
    (void)cid;
    snprintf(user, 32, "%.*s", (int)len, (const char *)data);
    return 0;
}

Test(store, an_alert_and_its_state_in_one_transaction, .init = setup, .fini = teardown)
{
    uint64_t seq = 0;
    cr_assert_eq(churn_store_append_alert(st, "cust-x", "first", 5, &seq), CHURN_OK);
    struct fill_args f = {0};
    cr_assert_eq(churn_store_append_alert_with_state(st, "cust-a", fill_alert, &f, &seq), CHURN_OK,
                 "%s", churn_store_last_error());
    cr_assert_eq(seq, 2);
    char got[32] = "";
    cr_assert_eq(churn_store_foreach_alert(st, 1, 0, last_alert_cb, got), CHURN_OK);
    cr_assert_str_eq(got, "alert#2", "the fill saw the sequence the log assigned");
    struct churn_arena a;
    churn_arena_init(&a, 4096);
    void *data;
    size_t len;
    cr_assert_eq(churn_store_get_alert_state(st, "cust-a", &a, &data, &len), CHURN_OK);
    cr_assert_eq(len, 7);
    cr_assert_eq(memcmp(data, "state@2", 7), 0);
    /* a failing fill writes nothing: no alert, no state, no sequence used */
    struct fill_args bad = {.fail = true};
    cr_assert_eq(churn_store_append_alert_with_state(st, "cust-b", fill_alert, &bad, &seq),
                 CHURN_EINVAL);
    cr_assert_eq(churn_store_get_alert_state(st, "cust-b", &a, &data, &len), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_append_alert(st, "cust-x", "next", 4, &seq), CHURN_OK);
    cr_assert_eq(seq, 3);
    cr_assert_eq(churn_store_append_alert_with_state(st, "", fill_alert, &f, &seq), CHURN_EINVAL);
    churn_arena_fini(&a);
}

/* Batch fill: item i of the array of fill_args; fails for the item whose fail flag is set. */
static enum churn_err
fill_batch(size_t i, uint64_t seq, void *user, const void **alert, size_t *alert_len,
           const void **state, size_t *state_len)
{
    struct fill_args *f = user;
    return fill_alert(seq, &f[i], alert, alert_len, state, state_len);
}

static int
count_alerts_cb(uint64_t seq, const char *cid, const void *data, size_t len, void *user)
{
    (void)seq;
    (void)cid;
    (void)data;
    (void)len;
    ++*(int *)user;
    return 0;
}

Test(store, alerts_and_their_states_in_one_batch, .init = setup, .fini = teardown)
{
    const char *ids[3] = {"cust-a", "cust-b", "cust-c"};
    struct fill_args f[3] = {{0}};
    uint64_t seqs[3] = {0};
    cr_assert_eq(churn_store_append_alerts_with_states(st, 3, ids, fill_batch, f, seqs), CHURN_OK,
                 "%s", churn_store_last_error());
    cr_assert(seqs[0] == 1 && seqs[1] == 2 && seqs[2] == 3, "consecutive, in item order");
    struct churn_arena a;
    churn_arena_init(&a, 4096);
    void *data;
    size_t len;
    cr_assert_eq(churn_store_get_alert_state(st, "cust-c", &a, &data, &len), CHURN_OK);
    cr_assert_eq(memcmp(data, "state@3", 7), 0);
    /* one failing item: nothing of the batch is written, no sequence is used */
    const char *more[3] = {"cust-d", "cust-e", "cust-f"};
    struct fill_args g[3] = {{0}};
    g[1].fail = true;
    cr_assert_eq(churn_store_append_alerts_with_states(st, 3, more, fill_batch, g, seqs),
                 CHURN_EINVAL);
    cr_assert_eq(churn_store_get_alert_state(st, "cust-d", &a, &data, &len), CHURN_ENOTFOUND);
    int count = 0;
    cr_assert_eq(churn_store_foreach_alert(st, 0, 0, count_alerts_cb, &count), CHURN_OK);
    cr_assert_eq(count, 3);
    /* a bad id anywhere refuses the batch before anything runs */
    const char *bad[2] = {"cust-g", ""};
    cr_assert_eq(churn_store_append_alerts_with_states(st, 2, bad, fill_batch, f, seqs),
                 CHURN_EINVAL);
    g[1].fail = false;
    cr_assert_eq(churn_store_append_alerts_with_states(st, 3, more, fill_batch, g, seqs), CHURN_OK);
    cr_assert_eq(seqs[0], 4);
    churn_arena_fini(&a);
}

static int
state_walk_cb(const char *cid, const void *data, size_t len, void *user)
{
    char *seen = user;
    size_t n = strlen(seen);
    snprintf(seen + n, 64 - n, "%s=%.*s;", cid, (int)len, (const char *)data);
    return 0;
}

Test(store, alert_states_in_one_batch, .init = setup, .fini = teardown)
{
    struct churn_alert_state_put items[3] = {
        {"cust-a", "one", 3}, {"cust-b", "two", 3}, {"cust-a", "three", 5}};
    cr_assert_eq(churn_store_put_alert_states(st, items, 3), CHURN_OK, "%s",
                 churn_store_last_error());
    struct churn_arena a;
    churn_arena_init(&a, 4096);
    void *data;
    size_t len;
    cr_assert_eq(churn_store_get_alert_state(st, "cust-a", &a, &data, &len), CHURN_OK);
    cr_assert_eq(len, 5, "the later item wins");
    cr_assert_eq(memcmp(data, "three", 5), 0);
    cr_assert_eq(churn_store_get_alert_state(st, "cust-b", &a, &data, &len), CHURN_OK);
    cr_assert_eq(memcmp(data, "two", 3), 0);
    /* all or nothing: a bad id anywhere writes nothing, and the message names the item */
    struct churn_alert_state_put bad[2] = {{"cust-c", "x", 1}, {"", "y", 1}};
    cr_assert_eq(churn_store_put_alert_states(st, bad, 2), CHURN_EINVAL);
    cr_assert_not_null(strstr(churn_store_last_error(), "alert state 1"), "%s",
                       churn_store_last_error());
    cr_assert_eq(churn_store_get_alert_state(st, "cust-c", &a, &data, &len), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_put_alert_states(st, NULL, 0), CHURN_OK);
    /* the start-up walk sees every state, in customer order */
    char seen[64] = "";
    cr_assert_eq(churn_store_foreach_alert_state(st, state_walk_cb, seen), CHURN_OK);
    cr_assert_str_eq(seen, "cust-a=three;cust-b=two;");
    churn_arena_fini(&a);
}

struct outcome_seen {
    int n;
    uint64_t seqs[8];
    char ids[8][16];
};

static int
outcome_cb(uint64_t seq, const char *cid, const void *data, size_t len, void *user)
{
    struct outcome_seen *o = user;
    (void)data;
    (void)len;
    o->seqs[o->n] = seq;
    snprintf(o->ids[o->n], sizeof(o->ids[0]), "%s", cid);
    return ++o->n == 8;
}

Test(store, outcome_log_appends_and_survives_reopen, .init = setup, .fini = teardown)
{
    uint64_t seq = 0;
    cr_assert_eq(churn_store_append_outcome(st, "cust-1", "r1", 2, &seq), CHURN_OK);
    cr_assert_eq(seq, 1);
    cr_assert_eq(churn_store_append_outcome(st, "cust-2", "r2", 2, &seq), CHURN_OK);
    cr_assert_eq(seq, 2);
    cr_assert_eq(churn_store_append_outcome(st, "", "r", 1, &seq), CHURN_EINVAL);
    cr_assert_eq(churn_store_append_outcome(st, "cust-1", "", 0, &seq), CHURN_ETOOBIG);
    churn_store_close(st);
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.read_only = true;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    struct outcome_seen seen = {0};
    cr_assert_eq(churn_store_foreach_outcome(st, outcome_cb, &seen), CHURN_OK);
    cr_assert_eq(seen.n, 2);
    cr_assert_eq(seen.seqs[1], 2);
    cr_assert_str_eq(seen.ids[1], "cust-2");
    cr_assert_neq(churn_store_append_outcome(st, "cust-1", "r3", 2, &seq), CHURN_OK);
}

Test(store, a_store_without_the_outcome_log_gets_one, .init = setup, .fini = teardown)
{
    /* a store of an earlier release: the six databases it had, copied with lmdb-utils */
    churn_store_close(st);
    st = NULL;
    char cmd[640];
    snprintf(cmd, sizeof(cmd),
             "set -e; cd %s; mkdir old; for db in customers event_ids conversations alerts "
             "alert_state meta; do mdb_dump -s $db . | mdb_load -s $db old; done; "
             "rm data.mdb lock.mdb; mv old/data.mdb .; rmdir old 2>/dev/null || rm -r old",
             dir);
    run(cmd);
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.read_only = true;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    struct outcome_seen seen = {0};
    cr_assert_eq(churn_store_foreach_outcome(st, outcome_cb, &seen), CHURN_OK);
    cr_assert_eq(seen.n, 0);
    struct churn_store_stats stats;
    cr_assert_eq(churn_store_stats(st, &stats), CHURN_OK);
    churn_store_close(st);
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    uint64_t seq;
    cr_assert_eq(churn_store_append_outcome(st, "cust-1", "r1", 2, &seq), CHURN_OK);
    cr_assert_eq(seq, 1);
}

Test(store, conversations_alert_state_and_meta, .init = setup, .fini = teardown)
{
    struct churn_arena arena;
    void *data;
    size_t len;
    churn_arena_init(&arena, 1 << 20);
    cr_assert_eq(churn_store_get_conversation(st, "c", "k", &arena, &data, &len), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_put_conversation(st, "c", "k", "hello", 5), CHURN_OK);
    cr_assert_eq(churn_store_put_conversation(st, "c", "k", "hello again", 11), CHURN_OK);
    cr_assert_eq(churn_store_get_conversation(st, "c", "k", &arena, &data, &len), CHURN_OK);
    cr_assert_eq(len, 11);
    cr_assert_eq(memcmp(data, "hello again", 11), 0);
    /* "c" + "k" must not collide with "ck" + "" or "c\0k" tricks. */
    cr_assert_eq(churn_store_get_conversation(st, "ck", "k", &arena, &data, &len), CHURN_ENOTFOUND);
    cr_assert_eq(churn_store_delete_conversation(st, "c", "k"), CHURN_OK);
    cr_assert_eq(churn_store_delete_conversation(st, "c", "k"), CHURN_ENOTFOUND);

    char *big = calloc(1, CHURN_STORE_VALUE_MAX + 1);
    cr_assert_eq(churn_store_put_conversation(st, "c", "k", big, CHURN_STORE_VALUE_MAX + 1),
                 CHURN_ETOOBIG);
    free(big);
    cr_assert_eq(churn_store_put_conversation(st, "c", "", "x", 1), CHURN_EINVAL);

    cr_assert_eq(churn_store_put_alert_state(st, "c", "\x01\x02", 2), CHURN_OK);
    cr_assert_eq(churn_store_get_alert_state(st, "c", &arena, &data, &len), CHURN_OK);
    cr_assert_eq(len, 2);

    cr_assert_eq(churn_store_put_meta(st, "model.active", "v3", 2), CHURN_OK);
    cr_assert_eq(churn_store_get_meta(st, "model.active", &arena, &data, &len), CHURN_OK);
    cr_assert_eq(memcmp(data, "v3", 2), 0);
    cr_assert_eq(churn_store_put_meta(st, "churn.format", "x", 1), CHURN_EPERM);

    /* An arena too small for the value: an error, not an overflow. */
    struct churn_arena tiny;
    churn_arena_init(&tiny, 16);
    char payload[4096] = {0};
    cr_assert_eq(churn_store_put_conversation(st, "c", "big", payload, sizeof(payload)), CHURN_OK);
    cr_assert_eq(churn_store_get_conversation(st, "c", "big", &tiny, &data, &len), CHURN_ENOMEM);
    churn_arena_fini(&tiny);
    churn_arena_fini(&arena);
}

/* Several values in one commit: all written, or none when one item is refused. */
Test(store, meta_values_in_one_commit, .init = setup, .fini = teardown)
{
    struct churn_arena arena;
    void *data;
    size_t len;
    churn_arena_init(&arena, 1 << 16);
    uint64_t a = 7, b = 9;
    const struct churn_store_meta_put two[] = {{"delivery.a", &a, 8}, {"delivery.b", &b, 8}};
    cr_assert_eq(churn_store_put_metas(st, two, 2), CHURN_OK);
    cr_assert_eq(churn_store_get_meta(st, "delivery.b", &arena, &data, &len), CHURN_OK);
    cr_assert_eq(len, 8);
    cr_assert_eq(*(uint64_t *)data, 9);
    uint64_t c = 11;
    const struct churn_store_meta_put bad[] = {{"delivery.a", &c, 8}, {"churn.format", &c, 8}};
    cr_assert_eq(churn_store_put_metas(st, bad, 2), CHURN_EPERM);
    const struct churn_store_meta_put empty[] = {{"delivery.a", &c, 8}, {"", &c, 8}};
    cr_assert_eq(churn_store_put_metas(st, empty, 2), CHURN_EINVAL);
    const struct churn_store_meta_put none[] = {{"delivery.a", &c, 8}, {"delivery.c", NULL, 8}};
    cr_assert_eq(churn_store_put_metas(st, none, 2), CHURN_EINVAL);
    cr_assert_eq(churn_store_get_meta(st, "delivery.a", &arena, &data, &len), CHURN_OK);
    cr_assert_eq(*(uint64_t *)data, 7, "a refused batch wrote its first item");
    cr_assert_eq(churn_store_put_metas(st, two, 0), CHURN_OK);
    churn_arena_fini(&arena);
}

struct alert_seen {
    uint64_t seqs[8];
    char last[32];
    int n;
};

static int
collect_alert(uint64_t seq, const char *cid, const void *data, size_t len, void *user)
{
    struct alert_seen *s = user;
    s->seqs[s->n++] = seq;
    snprintf(s->last, sizeof(s->last), "%s:%.*s", cid, (int)len, (const char *)data);
    return 0;
}

Test(store, alert_log, .init = setup, .fini = teardown)
{
    uint64_t seq;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(churn_store_append_alert(st, "c", "open", 4, &seq), CHURN_OK);
    cr_assert_eq(seq, 3);
    cr_assert_eq(churn_store_replace_alert(st, 2, "acked", 5), CHURN_OK);
    cr_assert_eq(churn_store_replace_alert(st, 9, "x", 1), CHURN_ENOTFOUND);
    struct alert_seen s = {0};
    cr_assert_eq(churn_store_foreach_alert(st, 1, 1, collect_alert, &s), CHURN_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.seqs[0], 2);
    cr_assert_str_eq(s.last, "c:acked");
    memset(&s, 0, sizeof(s));
    cr_assert_eq(churn_store_foreach_alert(st, 0, 0, collect_alert, &s), CHURN_OK);
    cr_assert_eq(s.n, 3);
    memset(&s, 0, sizeof(s));
    cr_assert_eq(churn_store_foreach_alert(st, 3, 0, collect_alert, &s), CHURN_OK);
    cr_assert_eq(s.n, 0);
}

/* ---- iteration and maintenance ------------------------------------------------------------- */

struct walk {
    int n;
    int stop_after;
    char first[CHURN_ID_MAX + 1];
};

static int
walk_fn(const struct churn_customer *c, void *user)
{
    struct walk *w = user;
    if (w->n == 0)
        snprintf(w->first, sizeof(w->first), "%s", c->id);
    /* Writing from inside the callback is allowed (no transaction is held). */
    if (w->n == 0) {
        struct churn_event e = login("zzz-added", "during-walk", NOW);
        struct churn_event_result res;
        churn_store_apply_events(st, &e, 1, NOW, &res);
    }
    return ++w->n == w->stop_after;
}

Test(store, foreach_visits_every_customer_in_order, .init = setup, .fini = teardown)
{
    enum churn_err err = CHURN_OK;
    write_customers(0, 50, &err);
    cr_assert_eq(err, CHURN_OK);
    struct walk w = {0};
    cr_assert_eq(churn_store_foreach_customer(st, walk_fn, &w), CHURN_OK);
    cr_assert_eq(w.n, 51, "50 customers and the one added while walking");
    cr_assert_str_eq(w.first, "customer-000000");
    struct walk w2 = {.stop_after = 7};
    cr_assert_eq(churn_store_foreach_customer(st, walk_fn, &w2), CHURN_ECANCELLED);
    cr_assert_eq(w2.n, 7);
}

Test(store, maintain_prunes_event_ids_past_the_horizon, .init = setup, .fini = teardown)
{
    enum churn_err err = CHURN_OK;
    struct churn_store_maintenance m;
    struct churn_store_stats stats;
    write_customers(0, 100, &err);
    cr_assert_eq(err, CHURN_OK);
    cr_assert_eq(churn_store_maintain(st, NOW + 100 * DAY, 0, &m), CHURN_OK);
    cr_assert_eq(m.event_ids_pruned, 0, "inside the horizon nothing goes");
    cr_assert_eq(m.event_ids_scanned, 300);
    /* In slices of 64 ids per call, as the daemon's timer would. */
    size_t pruned = 0;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(churn_store_maintain(st, NOW + 181 * DAY, 64, &m), CHURN_OK);
        cr_assert_leq(m.event_ids_scanned, 64);
        pruned += m.event_ids_pruned;
    }
    cr_assert_eq(pruned, 300);
    cr_assert_eq(churn_store_stats(st, &stats), CHURN_OK);
    cr_assert_eq(stats.event_ids, 0);
    cr_assert_eq(stats.customers, 100);
}

/* ---- group commit -------------------------------------------------------------------------- */

#define PRODUCERS 4
#define BATCHES   50
#define PER_BATCH 40

struct producer {
    struct churn_store_writer *w;
    int id;
    char cids[BATCHES][PER_BATCH][24];
    char eids[BATCHES][PER_BATCH][24];
    struct churn_event ev[BATCHES][PER_BATCH];
    struct churn_event_result res[BATCHES][PER_BATCH];
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done_batches, accepted, duplicates;

static void
on_done(void *user, enum churn_err err, const struct churn_event_result *r, size_t n)
{
    (void)user;
    pthread_mutex_lock(&done_lock);
    for (size_t i = 0; i < n && !err; i++) {
        accepted += r[i].status == CHURN_EVENT_ACCEPTED;
        duplicates += r[i].status == CHURN_EVENT_DUPLICATE;
    }
    done_batches++;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

static void *
produce(void *arg)
{
    struct producer *p = arg;
    int64_t now = churn_now_ms();
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < PER_BATCH; i++) {
            /* Every producer sends the same 10 customers; event ids repeat across batches. */
            snprintf(p->cids[b][i], 24, "cust-%d", i % 10);
            snprintf(p->eids[b][i], 24, "p%d-e%d", p->id, (b * PER_BATCH + i) % 1000);
            p->ev[b][i] = login(p->cids[b][i], p->eids[b][i], now);
        }
        enum churn_err err;
        while ((err = churn_store_writer_submit(p->w, p->ev[b], PER_BATCH, p->res[b], on_done,
                                                NULL)) == CHURN_EAGAIN)
            usleep(100);
        if (err)
            return (void *)1;
    }
    return NULL;
}

Test(store, group_commit_from_many_threads, .init = setup, .fini = teardown)
{
    struct churn_store_writer *w;
    struct churn_store_writer_options o;
    churn_store_writer_options_init(&o);
    o.queue_batches = 16; /* small, so producers meet back-pressure */
    cr_assert_eq(churn_store_writer_start(st, &o, &w), CHURN_OK);
    struct churn_event_result r;
    struct churn_event e = login("c", "e", NOW);
    cr_assert_eq(churn_store_writer_submit(w, &e, 0, &r, on_done, NULL), CHURN_EINVAL);

    static struct producer prod[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i].w = w;
        prod[i].id = i;
        pthread_create(&th[i], NULL, produce, &prod[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_assert_null(ret);
    }
    /* a flush returns once every batch submitted before it has run its callback */
    churn_store_writer_flush(w);
    cr_assert_eq(done_batches, PRODUCERS * BATCHES);
    churn_store_writer_flush(w); /* nothing queued: returns at once */
    churn_store_writer_stop(w);  /* commits whatever is still queued */
    cr_assert_eq(done_batches, PRODUCERS * BATCHES);
    /* Each producer has 1000 distinct ids and sends 2000 events. */
    cr_assert_eq(accepted, PRODUCERS * 1000);
    cr_assert_eq(duplicates, PRODUCERS * 1000);
    uint64_t logins = 0;
    for (int i = 0; i < 10; i++) {
        char cid[24];
        snprintf(cid, sizeof(cid), "cust-%d", i);
        cr_assert_eq(churn_store_get_customer(st, cid, &rec), CHURN_OK);
        logins += rec.life.logins;
    }
    cr_assert_eq(logins, PRODUCERS * 1000);
}

/* ---- fault injection ----------------------------------------------------------------------- */

Test(store, every_allocation_failure_unwinds_cleanly, .fini = teardown)
{
    make_dir();
    enum churn_err err = CHURN_ENOMEM;
    long n;
    for (n = 0; n < 100; n++) {
        churn_alloc_fail_after(n);
        err = churn_store_open(dir, NULL, &st);
        churn_alloc_fail_off();
        if (err == CHURN_OK)
            break;
        cr_assert_eq(err, CHURN_ENOMEM, "allocation %ld: %s", n, churn_store_last_error());
        cr_assert_null(st);
    }
    cr_assert_eq(err, CHURN_OK, "open never succeeded");
    cr_assert_gt(n, 0, "open allocates, so the first failure must show");

    struct churn_event ev[2] = {login("c", "1", NOW), login("c", "2", NOW)};
    struct churn_event_result res[2];
    for (n = 0; n < 100; n++) {
        churn_alloc_fail_after(n);
        err = churn_store_apply_events(st, ev, 2, NOW, res);
        churn_alloc_fail_off();
        if (err == CHURN_OK)
            break;
        cr_assert_eq(err, CHURN_ENOMEM);
        /* Nothing half-written. */
        cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_ENOTFOUND);
    }
    cr_assert_eq(err, CHURN_OK);
    cr_assert_eq(res[1].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.life.logins, 2);
}

/* A callback that parks the writer thread until the test lets it go. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static bool parked, released;
static int park_done;

static void
on_park(void *user, enum churn_err err, const struct churn_event_result *r, size_t n)
{
    (void)user;
    (void)r;
    (void)n;
    pthread_mutex_lock(&park_lock);
    if (err == CHURN_OK)
        park_done++;
    if (!parked) {
        parked = true;
        pthread_cond_broadcast(&park_cond);
        while (!released)
            pthread_cond_wait(&park_cond, &park_lock);
    }
    pthread_mutex_unlock(&park_lock);
}

Test(store, writer_queue_is_bounded_and_stop_drains_it, .init = setup, .fini = teardown)
{
    struct churn_store_writer *w;
    struct churn_store_writer_options o;
    churn_store_writer_options_init(&o);
    o.queue_batches = 3;
    cr_assert_eq(churn_store_writer_start(st, &o, &w), CHURN_OK);

    static char eids[5][8];
    static struct churn_event ev[5];
    static struct churn_event_result res[5];
    for (int i = 0; i < 5; i++) {
        snprintf(eids[i], sizeof(eids[i]), "q%d", i);
        ev[i] = login("c", eids[i], churn_now_ms());
    }
    /* The first batch's callback holds the writer thread... */
    cr_assert_eq(churn_store_writer_submit(w, &ev[0], 1, &res[0], on_park, NULL), CHURN_OK);
    pthread_mutex_lock(&park_lock);
    while (!parked)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    /* ... so three more fill the queue and the next is refused, without blocking. */
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(churn_store_writer_submit(w, &ev[i], 1, &res[i], on_park, NULL), CHURN_OK);
    cr_assert_eq(churn_store_writer_submit(w, &ev[4], 1, &res[4], on_park, NULL), CHURN_EAGAIN);
    cr_assert(strstr(churn_store_last_error(), "queue full"), "%s", churn_store_last_error());

    pthread_mutex_lock(&park_lock);
    released = true;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    churn_store_writer_stop(w);
    cr_assert_eq(park_done, 4, "every accepted submission completed before stop returned");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(res[i].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    cr_assert_eq(rec.life.logins, 4);
}

Test(store, the_largest_record_round_trips, .fini = teardown)
{
    struct churn_store_options o;
    make_dir();
    churn_store_options_init(&o);
    o.horizon_days = CHURN_HORIZON_DAYS_MAX;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK);

    static struct churn_customer_attrs a;
    churn_customer_attrs_init(&a);
    memset(a.segment, 's', CHURN_NAME_MAX);
    memset(a.plan, 'p', CHURN_NAME_MAX);
    memset(a.country, 'c', CHURN_NAME_MAX);
    for (int i = 0; i < CHURN_ATTRS_MAX; i++) {
        char name[CHURN_NAME_MAX + 1], value[CHURN_NAME_MAX + 1];
        memset(name, 'n', CHURN_NAME_MAX);
        name[CHURN_NAME_MAX] = '\0';
        name[0] = (char)('a' + i / 10);
        name[1] = (char)('a' + i % 10);
        memset(value, 'v', CHURN_NAME_MAX);
        value[CHURN_NAME_MAX] = '\0';
        cr_assert_eq(churn_customer_attrs_set_num(&a, name, i), CHURN_OK);
        cr_assert_eq(churn_customer_attrs_set_cat(&a, name, value), CHURN_OK);
    }
    struct churn_customer_upsert u = {"big", &a};
    cr_assert_eq(churn_store_upsert_customers(st, &u, 1), CHURN_OK, "%s", churn_store_last_error());

    /* Every day of the horizon with every kind of event, and more plan changes than kept. */
    static struct churn_event ev[(CHURN_HORIZON_DAYS_MAX + 1) * 7];
    static struct churn_event_result res[(CHURN_HORIZON_DAYS_MAX + 1) * 7];
    static char ids[(CHURN_HORIZON_DAYS_MAX + 1) * 7][16];
    size_t n = 0;
    for (int d = 0; d <= CHURN_HORIZON_DAYS_MAX; d++) {
        for (int k = 0; k < 7; k++, n++) {
            snprintf(ids[n], sizeof(ids[n]), "%d-%d", d, k);
            struct churn_event *e = &ev[n];
            *e = (struct churn_event){
                .event_id = ids[n], .customer_id = "big", .occurred_at_ms = NOW - d * DAY};
            switch (k) {
            case 0:
                e->kind = CHURN_EVENT_SESSION;
                e->session.minutes = 10;
                break;
            case 1:
                *e = order("big", ids[n], NOW - d * DAY, 9.5, CHURN_ORDER_COMPLETED);
                break;
            case 2:
                *e = order("big", ids[n], NOW - d * DAY, 1,
                           d % 2 ? CHURN_ORDER_CANCELLED : CHURN_ORDER_REFUNDED);
                break;
            case 3:
                e->kind = CHURN_EVENT_TICKET;
                e->ticket.action = d % 2 ? CHURN_TICKET_OPENED : CHURN_TICKET_RESOLVED;
                break;
            case 4:
                e->kind = CHURN_EVENT_REVIEW;
                e->review.rating = 1 + d % 5;
                e->review.sentiment = NAN;
                break;
            case 5:
                e->kind = CHURN_EVENT_CHAT;
                e->chat.dissatisfaction = 0.5;
                e->chat.escalated = e->chat.churn_intent = true;
                break;
            default:
                if (d % 10) {
                    e->kind = CHURN_EVENT_LISTING;
                    e->listing.active_listings = d;
                } else {
                    e->kind = CHURN_EVENT_PLAN_CHANGE;
                    e->plan.action = CHURN_PLAN_UPGRADE;
                    e->plan.monthly_value = d;
                }
                break;
            }
        }
    }
    cr_assert_eq(churn_store_apply_events(st, ev, n, NOW, res), CHURN_OK, "%s",
                 churn_store_last_error());
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(res[i].status, CHURN_EVENT_ACCEPTED, "%zu: %s", i, res[i].reason);
    cr_assert_eq(churn_store_get_customer(st, "big", &rec), CHURN_OK, "%s",
                 churn_store_last_error());
    cr_assert_eq(rec.n_days, CHURN_HORIZON_DAYS_MAX, "the oldest day is past the horizon");
    cr_assert_eq(rec.n_plan_changes, CHURN_PLAN_HISTORY_MAX);
    cr_assert_float_eq(rec.attrs.monthly_value, 0, 1e-9, "the newest plan change (today)");
    cr_assert_eq(rec.attrs.n_num, CHURN_ATTRS_MAX);
    cr_assert_eq(rec.attrs.n_cat, CHURN_ATTRS_MAX);
    cr_assert_eq(strlen(rec.attrs.cat[31].value), CHURN_NAME_MAX);
    cr_assert_eq(rec.life.events, n);
    const struct churn_day *d = find_day(&rec, churn_day_of_ms(NOW) - 7);
    cr_assert_eq(d->orders_completed, 1);
    cr_assert_eq(d->orders_cancelled, 1);
    cr_assert_eq(d->listings, 7);
    cr_assert_float_eq(d->chat_dissatisfaction, 0.5, 1e-6);
}

Test(store, a_full_disk_is_a_clear_error, .fini = teardown)
{
    /* A 1 MiB tmpfs in a private mount namespace; skipped where that is not allowed. */
    make_dir();
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0)
        cr_skip_test("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN)");
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.map_size = 16u << 20; /* the map allows far more than the disk holds */
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    enum churn_err err = CHURN_OK;
    write_customers(0, 20000, &err);
    cr_assert_eq(err, CHURN_EFULL, "got %s: %s", churn_err_name(err), churn_store_last_error());
    cr_assert(strstr(churn_store_last_error(), "disk"), "%s", churn_store_last_error());
    /* What was committed before stays readable. */
    cr_assert_eq(churn_store_get_customer(st, "customer-000000", &rec), CHURN_OK);
    churn_store_close(st);
    st = NULL;
}

/* Hex of the value of customer @cid, read back with mdb_dump (the store must be closed). */
static void
dump_value_hex(const char *cid, char *out, size_t cap)
{
    char cmd[160], key_hex[64];
    snprintf(cmd, sizeof(cmd), "mdb_dump -s customers %s", dir);
    const char *dump = run(cmd);
    hex_of(cid, key_hex);
    char needle[80];
    snprintf(needle, sizeof(needle), "\n %s\n ", key_hex);
    const char *p = strstr(dump, needle);
    cr_assert_not_null(p, "no record for %s in the dump", cid);
    p += strlen(needle);
    size_t n = strcspn(p, "\n");
    cr_assert_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void
put_mutant(FILE *f, int i, const char *value_hex)
{
    char cid[16], key_hex[40];
    snprintf(cid, sizeof(cid), "m%06x", i);
    hex_of(cid, key_hex);
    fprintf(f, " %s\n %s\n", key_hex, value_hex);
}

Test(store, mutated_records_never_crash_the_decoder, .init = setup, .fini = teardown)
{
    /* A rich current-version record to mutate, next to the version 1 fixture. */
    struct churn_event ev[4] = {login("seed", "1", NOW - 3 * DAY),
                                order("seed", "2", NOW - DAY, 12, CHURN_ORDER_COMPLETED),
                                login("seed", "3", NOW)};
    ev[3] = (struct churn_event){
        .kind = CHURN_EVENT_CHAT, .event_id = "4", .customer_id = "seed", .occurred_at_ms = NOW};
    ev[3].chat.dissatisfaction = 0.3;
    struct churn_event_result res[4];
    cr_assert_eq(churn_store_apply_events(st, ev, 4, NOW, res), CHURN_OK);
    churn_store_close(st);
    st = NULL;
    static char v2_hex[8192];
    dump_value_hex("seed", v2_hex, sizeof(v2_hex));

    /* Every truncation and a pseudo-random set of byte changes of both records, loaded in one
     * mdb_load run. */
    char path[128], cmd[256];
    snprintf(path, sizeof(path), "%s/mutants.txt", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n");
    const char *sources[2] = {v1_record_hex, v2_hex};
    int mutants = 0;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int s = 0; s < 2; s++) {
        size_t len = strlen(sources[s]) / 2;
        static char buf[8192];
        for (size_t cut = 1; cut < len; cut++, mutants++) {
            memcpy(buf, sources[s], cut * 2);
            buf[cut * 2] = '\0';
            put_mutant(f, mutants, buf);
        }
        for (int k = 0; k < 400; k++, mutants++) {
            memcpy(buf, sources[s], len * 2 + 1);
            for (int flips = 0; flips < 1 + k % 3; flips++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t at = (size_t)(x % len);
                static const char hexd[] = "0123456789abcdef";
                buf[at * 2] = hexd[(x >> 20) & 15];
                buf[at * 2 + 1] = hexd[(x >> 24) & 15];
            }
            if (k % 4 == 0)
                buf[1] = sources[s][1]; /* keep the version byte often, to reach deep fields */
            put_mutant(f, mutants, buf);
        }
    }
    fprintf(f, "DATA=END\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd), "mdb_load -s customers -f %s %s", path, dir);
    run(cmd);

    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK);
    int ok = 0, corrupt = 0;
    for (int i = 0; i < mutants; i++) {
        char cid[16];
        snprintf(cid, sizeof(cid), "m%06x", i);
        enum churn_err err = churn_store_get_customer(st, cid, &rec);
        cr_assert(err == CHURN_OK || err == CHURN_ECORRUPT, "%s: %s", cid, churn_err_name(err));
        if (err == CHURN_OK) {
            ok++;
            cr_assert_leq(rec.n_days, CHURN_DAYS_MAX);
            cr_assert_leq(rec.attrs.n_num, CHURN_ATTRS_MAX);
            cr_assert_leq(rec.n_plan_changes, CHURN_PLAN_HISTORY_MAX);
            cr_assert_leq(strlen(rec.attrs.segment), CHURN_NAME_MAX);
        } else {
            corrupt++;
            cr_assert_neq(churn_store_last_error()[0], '\0');
        }
        /* An event for a mutant customer is applied or rejected, never a crash. */
        struct churn_event e = login(cid, "after", NOW);
        cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, res), CHURN_OK);
    }
    cr_assert_gt(corrupt, 100, "truncations must be refused");
    cr_assert_gt(ok, 10, "flips of counter bytes still decode");
}

Test(store, read_only_open_reads_and_refuses_writes, .init = setup, .fini = teardown)
{
    struct churn_event_result res;
    struct churn_event e = login("c", "1", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    churn_store_close(st);
    st = NULL;
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.read_only = true;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_get_customer(st, "c", &rec), CHURN_OK);
    size_t seen = 0;
    cr_assert_eq(churn_store_foreach_customer(st, count, &seen), CHURN_OK);
    cr_assert_eq(seen, 1);
    struct churn_store_reader *r;
    cr_assert_eq(churn_store_reader_open(st, &r), CHURN_OK);
    cr_assert_eq(churn_store_reader_get_customer(r, "c", &rec), CHURN_OK);
    churn_store_reader_close(r);
    struct churn_event e2 = login("c", "2", NOW);
    cr_assert_eq(churn_store_apply_events(st, &e2, 1, NOW, &res), CHURN_EPERM);
    cr_assert(strstr(churn_store_last_error(), "read-only"), "%s", churn_store_last_error());
    cr_assert_eq(churn_store_delete_customer(st, "c", NULL), CHURN_EPERM);
    struct churn_store_maintenance m;
    cr_assert_eq(churn_store_maintain(st, NOW, 0, &m), CHURN_OK);
}

/* ---- how far back the store observes history ----------------------------------------------- */

Test(store, history_starts_at_the_first_bucketed_day_and_survives_reopen, .init = setup,
     .fini = teardown)
{
    struct churn_event_result res[2];
    cr_assert_eq(churn_store_history_from_ms(st, NOW), 0, "nothing bucketed yet");
    struct churn_event a[2] = {login("c1", "e1", NOW - 10 * DAY), login("c2", "e2", NOW - DAY)};
    cr_assert_eq(churn_store_apply_events(st, a, 2, NOW, res), CHURN_OK);
    const int64_t d10 = (int64_t)churn_day_of_ms(NOW - 10 * DAY) * DAY;
    cr_assert_eq(churn_store_history_from_ms(st, NOW), d10);
    /* an older event moves the start back; one older than the retention counts for lifetime
     * totals only and does not */
    struct churn_event b[2] = {login("c3", "e3", NOW - 40 * DAY),
                               login("c3", "e4", NOW - 500 * DAY)};
    cr_assert_eq(churn_store_apply_events(st, b, 2, NOW, res), CHURN_OK);
    cr_assert(res[1].lifetime_only);
    const int64_t d40 = (int64_t)churn_day_of_ms(NOW - 40 * DAY) * DAY;
    cr_assert_eq(churn_store_history_from_ms(st, NOW), d40);
    /* seen from a later day, the retention limit (180 days) is what bounds it */
    const int64_t later = NOW + 200 * DAY;
    cr_assert_eq(churn_store_history_from_ms(st, later),
                 ((int64_t)churn_day_of_ms(later) - 179) * DAY);
    churn_store_close(st);
    st = NULL;
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.read_only = true;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_history_from_ms(st, NOW), d40, "kept in the store");
}

Test(store, the_retention_horizon_is_kept_in_the_store, .fini = teardown)
{
    make_dir();
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.horizon_days = 365;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    struct churn_event_result res;
    struct churn_event e = login("c1", "e1", NOW - 300 * DAY);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    cr_assert_not(res.lifetime_only, "300 days back is inside a 365-day horizon");
    churn_store_close(st);
    /* opened with the defaults (what churnd and churnctl do), the store keeps its own */
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_history_from_ms(st, NOW),
                 (int64_t)churn_day_of_ms(NOW - 300 * DAY) * DAY);
    e = login("c1", "e2", NOW - 200 * DAY);
    cr_assert_eq(churn_store_apply_events(st, &e, 1, NOW, &res), CHURN_OK);
    cr_assert_not(res.lifetime_only);
    cr_assert_eq(churn_store_get_customer(st, "c1", &rec), CHURN_OK);
    cr_assert_eq(rec.days[0].day, churn_day_of_ms(NOW - 300 * DAY), "nothing pruned at 180");
    churn_store_close(st);
    /* an explicit horizon replaces it */
    o.horizon_days = 30;
    cr_assert_eq(churn_store_open(dir, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    churn_store_close(st);
    cr_assert_eq(churn_store_open(dir, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_history_from_ms(st, NOW), ((int64_t)churn_day_of_ms(NOW) - 29) * DAY);
}

/* ---- customer bundles (issue 16: a customer's own keys moved with its partition) ----------- */

/* A second store for the other shard; closed and removed by the caller with its dir. */
static struct churn_store *
open_second(char *path, size_t len)
{
    snprintf(path, len, "/tmp/churn-store-XXXXXX");
    cr_assert_not_null(mkdtemp(path));
    struct churn_store *s;
    cr_assert_eq(churn_store_open(path, NULL, &s), CHURN_OK, "%s", churn_store_last_error());
    return s;
}

/* alice with events, a conversation and an alert state, bob with an event; alice's bundle. */
static void
alice_bundle(struct churn_buf *b)
{
    struct churn_event ev[3] = {login("alice", "a1", NOW - 2 * DAY),
                                order("alice", "a2", NOW - DAY, 30, CHURN_ORDER_COMPLETED),
                                login("bob", "b1", NOW)};
    struct churn_event_result res[3];
    cr_assert_eq(churn_store_apply_events(st, ev, 3, NOW, res), CHURN_OK);
    cr_assert_eq(churn_store_put_conversation(st, "alice", "conv-1", "tracker", 7), CHURN_OK);
    cr_assert_eq(churn_store_put_alert_state(st, "alice", "cooldowns", 9), CHURN_OK);
    churn_buf_init(b, 1 << 20);
    cr_assert_eq(churn_store_export_customer(st, "alice", b), CHURN_OK, "%s",
                 churn_store_last_error());
}

Test(store, bundle_moves_a_customers_own_keys, .init = setup, .fini = teardown)
{
    struct churn_buf b;
    alice_bundle(&b);
    char other[64], reason[512];
    struct churn_store *s2 = open_second(other, sizeof(other));
    cr_assert_eq(churn_store_import_customer(s2, "alice", b.data, b.len, reason, sizeof(reason)),
                 CHURN_OK, "%s", reason);
    cr_assert_eq(churn_store_get_customer(s2, "alice", &rec), CHURN_OK);
    cr_assert_eq(rec.life.events, 2);
    cr_assert_float_eq(rec.life.spend, 30.0, 1e-9);
    cr_assert_eq(churn_store_get_customer(s2, "bob", &rec), CHURN_ENOTFOUND); /* only alice */
    struct churn_arena a;
    churn_arena_init(&a, 0);
    void *data;
    size_t len;
    cr_assert_eq(churn_store_get_conversation(s2, "alice", "conv-1", &a, &data, &len), CHURN_OK);
    cr_assert(len == 7 && memcmp(data, "tracker", 7) == 0);
    cr_assert_eq(churn_store_get_alert_state(s2, "alice", &a, &data, &len), CHURN_OK);
    cr_assert(len == 9 && memcmp(data, "cooldowns", 9) == 0);
    churn_arena_fini(&a);
    /* the event ids came along: the same events again are duplicates, applied once */
    struct churn_event again = login("alice", "a1", NOW - 2 * DAY);
    struct churn_event_result res;
    cr_assert_eq(churn_store_apply_events(s2, &again, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(res.status, CHURN_EVENT_DUPLICATE);
    /* an import replaces: an older bundle brings back exactly what it holds */
    struct churn_event more = login("alice", "a9", NOW);
    cr_assert_eq(churn_store_apply_events(s2, &more, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(churn_store_import_customer(s2, "alice", b.data, b.len, reason, sizeof(reason)),
                 CHURN_OK, "%s", reason);
    cr_assert_eq(churn_store_get_customer(s2, "alice", &rec), CHURN_OK);
    cr_assert_eq(rec.life.events, 2);
    cr_assert_eq(churn_store_export_customer(st, "nobody", &b), CHURN_ENOTFOUND);
    churn_buf_free(&b);
    churn_store_close(s2);
    churn_test_rm_rf(other);
}

Test(store, bundle_truncated_or_for_another_customer_writes_nothing, .init = setup,
     .fini = teardown)
{
    struct churn_buf b;
    alice_bundle(&b);
    char other[64], reason[512];
    struct churn_store *s2 = open_second(other, sizeof(other));
    /* a prefix that ends between two entries is a smaller bundle and imports; every other cut
     * (inside the version byte or an entry) is refused */
    bool boundary[1 << 12] = {false};
    cr_assert_lt(b.len, sizeof(boundary));
    const unsigned char *p = (const unsigned char *)b.data;
    for (size_t pos = 1; pos < b.len;) {
        boundary[pos] = pos > 1; /* the version byte alone holds nothing: refused */
        size_t klen = p[pos + 1] | p[pos + 2] << 8 | (size_t)p[pos + 3] << 16;
        size_t v = pos + 5 + klen;
        size_t vlen = p[v] | p[v + 1] << 8 | (size_t)p[v + 2] << 16;
        pos = v + 4 + vlen;
    }
    for (size_t n = 0; n < b.len; n++) {
        enum churn_err e =
            churn_store_import_customer(s2, "alice", b.data, n, reason, sizeof(reason));
        cr_assert_eq(e, boundary[n] ? CHURN_OK : CHURN_EINVAL, "prefix %zu: %s", n, reason);
    }
    /* alice's keys under bob's name: refused, bob untouched */
    cr_assert_eq(churn_store_import_customer(s2, "bob", b.data, b.len, reason, sizeof(reason)),
                 CHURN_EINVAL);
    cr_assert(strstr(reason, "its key is not customer bob's"), "%s", reason);
    cr_assert_eq(churn_store_get_customer(s2, "bob", &rec), CHURN_ENOTFOUND);
    churn_buf_free(&b);
    churn_store_close(s2);
    churn_test_rm_rf(other);
}
