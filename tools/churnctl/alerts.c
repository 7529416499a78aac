/*
 * alerts.c - churnctl's commands for the retention team: `alerts watch` (the WatchAlerts
 * stream as one line per alert change or as JSON lines, resumable from the last revision
 * sequence seen, optionally kept in a file, reconnecting with capped exponential backoff when
 * the server goes away or cuts a lagging watcher), `alerts list` (ListAlerts as a table,
 * page by page or all pages), `ack` (AcknowledgeAlert, with snooze or close) and `at-risk`
 * (ListAtRiskCustomers ranked by expected revenue at risk). Filters are written in the text
 * form of docs/ALERTS.md and parsed by churn_alert_filter_parse(); calls, status reporting
 * and JSON output are rpc.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "churn/alerts.h"
#include "churn/segments.h"
#include "churn/alert_rules.h"
#include "churn/alerts_hub.h"
#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn_proto.h"
#include "ctl.h"

#define WATCH_METHOD     "/churn.v1.AlertService/WatchAlerts"
#define LIST_METHOD      "/churn.v1.AlertService/ListAlerts"
#define ACK_METHOD       "/churn.v1.AlertService/AcknowledgeAlert"
#define AT_RISK_METHOD   "/churn.v1.ScoringService/ListAtRiskCustomers"
#define PAGE_MAX         1000 /* ListAlerts and ListAtRiskCustomers page size limit */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   5000
#define ACTOR_MAX        128  /* AcknowledgeAlertRequest.actor, bytes */
#define TEXT_MAX         1024 /* note and snooze reason, bytes */
#define STORY_MAX        96   /* bytes of quoted text on a human line */
#define SEGMENT_CELLS    9    /* the risk x value matrix */
#define SEGMENT_NAME_MAX 48   /* "medium-risk/medium-value" and its NUL, with room */

/* ---- option parsing ---------------------------------------------------------------------- */

/* The value of the option at argv[*i], advancing *i; NULL (after a message) when missing. */
static const char *
opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "churnctl: %s: needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/*
 * Decimal @text in [@lo, @hi] into *out; false (after a message naming @what) otherwise. A
 * bound of INT64_MAX or more is not spelled out ("expected an integer >= 1").
 */
static bool
parse_uint(const char *what, const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    bool digits = text[0] >= '0' && text[0] <= '9';
    char *end = (char *)text;
    errno = 0;
    unsigned long long v = digits ? strtoull(text, &end, 10) : 0;
    if (digits && !*end && !errno && v >= lo && v <= hi) {
        *out = v;
        return true;
    }
    if (hi >= INT64_MAX)
        fprintf(stderr, "churnctl: %s: expected an integer >= %" PRIu64 ", got '%s'\n", what, lo,
                text);
    else
        fprintf(stderr, "churnctl: %s: expected an integer %" PRIu64 "..%" PRIu64 ", got '%s'\n",
                what, lo, hi, text);
    return false;
}

/* "45s", "30m", "2h", "3d" into milliseconds, 1 s to 90 days. */
static bool
parse_duration(const char *what, const char *text, int64_t *out_ms)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', CHURN_MS_PER_DAY}};
    bool digits = text[0] >= '0' && text[0] <= '9';
    char *end = (char *)text;
    errno = 0;
    unsigned long long v = digits ? strtoull(text, &end, 10) : 0;
    bool one_unit = digits && !errno && end[0] && !end[1];
    int64_t ms = 0;
    for (size_t i = 0; one_unit && i < sizeof(units) / sizeof(units[0]); i++)
        if (end[0] == units[i].unit)
            ms = v <= (unsigned long long)(CHURN_ALERT_MAX_SNOOZE_MS / units[i].ms)
                     ? (int64_t)v * units[i].ms
                     : CHURN_ALERT_MAX_SNOOZE_MS + 1;
    if (ms < 1000 || ms > CHURN_ALERT_MAX_SNOOZE_MS) {
        fprintf(stderr,
                "churnctl: %s: expected a duration of 1s to 90d such as 30m, 2h or 3d, got '%s'\n",
                what, text);
        return false;
    }
    *out_ms = ms;
    return true;
}

/* @text of @min to @max bytes; false (after a message naming @what) otherwise. */
static bool
check_length(const char *what, const char *text, size_t min, size_t max)
{
    size_t n = strlen(text);
    if (n >= min && n <= max)
        return true;
    fprintf(stderr, "churnctl: %s: expected %zu to %zu bytes, got %zu\n", what, min, max, n);
    return false;
}

/* ---- filters: the text form into churn.v1.AlertFilter ------------------------------------ */

/* A proto AlertFilter with the storage its repeated fields point into. */
struct filter_msg {
    Churn__V1__AlertFilter msg;
    Churn__V1__AlertCause causes[CHURN_CAUSE_COUNT];
    Churn__V1__ValueTier value_tiers[CHURN_TIER_HIGH + 1];
    Churn__V1__AlertStatus statuses[CHURN_STATUS_CLOSED + 1];
    char *segments[SEGMENT_CELLS];
    char segment_names[SEGMENT_CELLS][SEGMENT_NAME_MAX];
};

/* @text (docs/ALERTS.md's form; NULL: none) into @fm; EXIT_USAGE after the parser's message. */
static int
filter_from_text(const char *text, struct filter_msg *fm)
{
    struct churn_alert_filter f;
    char err[CHURN_ALERT_ERRMSG];
    fm->msg = (Churn__V1__AlertFilter)CHURN__V1__ALERT_FILTER__INIT;
    if (!text)
        return 0;
    if (churn_alert_filter_parse(text, &f, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s\n", err); /* "filter: 'x' is not cause:, ..." */
        return EXIT_USAGE;
    }
    Churn__V1__AlertFilter *m = &fm->msg;
    m->causes = fm->causes;
    for (int c = 1; c < CHURN_CAUSE_COUNT; c++)
        if (f.causes & (1u << c))
            m->causes[m->n_causes++] = (Churn__V1__AlertCause)c;
    m->min_risk_tier = (Churn__V1__RiskTier)f.min_risk;
    m->value_tiers = fm->value_tiers;
    m->statuses = fm->statuses;
    m->segments = fm->segments;
    for (int t = CHURN_TIER_LOW; t <= CHURN_TIER_HIGH; t++) {
        if (f.value_tiers & (1u << t))
            m->value_tiers[m->n_value_tiers++] = (Churn__V1__ValueTier)t;
        for (int v = CHURN_TIER_LOW; v <= CHURN_TIER_HIGH; v++) {
            if (!(f.segments & (1u << churn_segment_cell(t, v))))
                continue;
            char *name = fm->segment_names[m->n_segments];
            m->segments[m->n_segments++] = churn_segment_name(t, v, name, SEGMENT_NAME_MAX);
        }
    }
    for (int s = CHURN_STATUS_OPEN; s <= CHURN_STATUS_CLOSED; s++)
        if (f.statuses & (1u << s))
            m->statuses[m->n_statuses++] = (Churn__V1__AlertStatus)s;
    return 0;
}

/* ---- human output ------------------------------------------------------------------------ */

/* The name of @value in @desc without @prefix ("RISK_TIER_HIGH" → "HIGH"); "-" for 0. */
static const char *
enum_word(const ProtobufCEnumDescriptor *desc, int value, const char *prefix)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
    if (!v || value == 0)
        return "-";
    size_t n = strlen(prefix);
    return strncmp(v->name, prefix, n) == 0 ? v->name + n : v->name;
}

/* enum_word() in lower case, into @out. */
static const char *
enum_lower(const ProtobufCEnumDescriptor *desc, int value, const char *prefix, char *out,
           size_t outlen)
{
    const char *w = enum_word(desc, value, prefix);
    size_t i = 0;
    for (; w[i] && i + 1 < outlen; i++)
        out[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] - 'A' + 'a' : w[i]);
    out[i] = '\0';
    return out;
}

#define RISK_WORD(v)   enum_word(&churn__v1__risk_tier__descriptor, (int)(v), "RISK_TIER_")
#define VALUE_WORD(v)  enum_word(&churn__v1__value_tier__descriptor, (int)(v), "VALUE_TIER_")
#define CAUSE_WORD(v)  enum_word(&churn__v1__alert_cause__descriptor, (int)(v), "ALERT_CAUSE_")
#define CHANGE_WORD(v) enum_word(&churn__v1__alert_change__descriptor, (int)(v), "ALERT_CHANGE_")
#define STATUS_WORD(v) enum_word(&churn__v1__alert_status__descriptor, (int)(v), "ALERT_STATUS_")

/*
 * @text on one line: control characters become spaces, cut at @max bytes on a UTF-8
 * boundary with "..." after it.
 */
static char *
one_line(const char *text, size_t max, char *out, size_t outlen)
{
    size_t n = 0, i = 0;
    for (; text[i] && n + 4 < outlen; i++) {
        if (i >= max && ((unsigned char)text[i] & 0xC0) != 0x80)
            break;
        unsigned char c = (unsigned char)text[i];
        out[n++] = (char)(c < 0x20 || c == 0x7F ? ' ' : c);
    }
    if (text[i]) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/*
 * What an alert is about, in a few words: the customer's words, else what moved most, else
 * the top reason, else the server's summary.
 */
static const char *
alert_story(const Churn__V1__Alert *a, char *out, size_t outlen)
{
    char text[512];
    const char *s = a->summary;
    if (a->chat && a->chat->excerpt && a->chat->excerpt[0]) {
        s = a->chat->excerpt;
    } else if (a->n_what_moved) {
        const Churn__V1__FeatureMovement *m = a->what_moved[0];
        if (m->explanation && m->explanation[0])
            s = m->explanation;
        else
            s = churn_alert_moved_sentence(
                m->label[0] ? m->label : m->feature, "", m->before_missing ? NAN : m->before,
                m->after_missing ? NAN : m->after, m->contribution_delta, text, sizeof(text));
    } else if (a->score && a->score->n_reasons) {
        const Churn__V1__Reason *r = a->score->reasons[0];
        snprintf(text, sizeof(text), "top reason: %s", r->label[0] ? r->label : r->feature);
        s = text;
    }
    char line[STORY_MAX + 8];
    snprintf(out, outlen, "\"%s\"", one_line(s ? s : "", STORY_MAX, line, sizeof(line)));
    return out;
}

/* What the change did: who acknowledged, until when snoozed, how closed; else the story. */
static const char *
alert_detail(const Churn__V1__Alert *a, char *out, size_t outlen)
{
    char w[32], t[40], text[TEXT_MAX + 8], actor[ACTOR_MAX + 8];
    one_line(a->acknowledged_by, ACTOR_MAX, actor, sizeof(actor));
    switch (a->change) {
    case CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_ACKNOWLEDGED:
        snprintf(out, outlen, "by %s%s%s%s", actor, a->action_taken ? " (" : "",
                 a->action_taken ? churn_action_kind_name((enum churn_action_kind)a->action_taken)
                                 : "",
                 a->action_taken ? ")" : "");
        return out;
    case CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_SNOOZED:
        snprintf(out, outlen, "until %s: %s",
                 churn_format_time_ms(a->snoozed_until_ms, t, sizeof(t)),
                 one_line(a->snooze_reason, STORY_MAX, text, sizeof(text)));
        return out;
    case CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_CLOSED:
        snprintf(out, outlen, "%s%s%s",
                 enum_lower(&churn__v1__alert_resolution__descriptor, (int)a->resolution,
                            "ALERT_RESOLUTION_", w, sizeof(w)),
                 actor[0] ? " by " : "", actor);
        return out;
    case CHURN__V1__ALERT_CHANGE__ALERT_CHANGE_ACTION_CALLED: /* issue 15 */
        if (a->action_call)
            snprintf(out, outlen, "webhook %s: HTTP %d after %d attempt%s", a->action_call->webhook,
                     a->action_call->http_status, a->action_call->attempts,
                     a->action_call->attempts == 1 ? "" : "s");
        else
            snprintf(out, outlen, "-");
        return out;
    default:
        return alert_story(a, out, outlen);
    }
}

/* The suggested action in a word, or "holdout (control)", or "-". */
static const char *
alert_action(const Churn__V1__Alert *a)
{
    if (a->holdout)
        return "holdout (control)";
    if (a->suggested_action && a->suggested_action->kind)
        return churn_action_kind_name((enum churn_action_kind)a->suggested_action->kind);
    return "-";
}

/* One line per alert change, as `alerts watch` and `ack` print it. */
static void
print_alert_line(const Churn__V1__Alert *a)
{
    char id[24], rev[24], detail[TEXT_MAX + 256];
    snprintf(id, sizeof(id), "#%" PRIu64, a->sequence);
    snprintf(rev, sizeof(rev), "%" PRIu64, a->revision_sequence);
    printf("%-7s rev %-7s %-12s %-16s %-16s risk %-6s value %-6s prio %10.2f  %-17s %s\n", id, rev,
           CHANGE_WORD(a->change), CAUSE_WORD(a->cause), a->customer_id[0] ? a->customer_id : "-",
           RISK_WORD(a->risk_tier), VALUE_WORD(a->value_tier), a->priority, alert_action(a),
           alert_detail(a, detail, sizeof(detail)));
}

/* ---- alerts watch ------------------------------------------------------------------------ */

/*
 * Ctrl-C: the stream's receive blocks inside gRPC and cannot be woken from a signal handler,
 * so the handler only writes a byte to a pipe; a thread reading it takes the output lock
 * (so no line or resume file is left half written), flushes standard output and ends the
 * process with status 0. The main thread holds the lock while it prints and records.
 */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int stop_pipe[2] = {-1, -1};

static void
on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 's';
    if (write(stop_pipe[1], &c, 1) < 0) {
        /* nothing to do: the pipe is gone, the process is ending anyway */
    }
    errno = saved;
}

static void *
stop_thread(void *arg)
{
    (void)arg;
    for (;;) {
        char c;
        ssize_t n = read(stop_pipe[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != 1 || c != 's')
            return NULL; /* the watch ended by itself */
        pthread_mutex_lock(&out_mu);
        fflush(stdout);
        _exit(0);
    }
}

struct stop_guard {
    pthread_t thread;
    struct sigaction old_int, old_term;
    bool active;
};

static void
stop_guard_start(struct stop_guard *g)
{
    g->active = false;
    if (pipe(stop_pipe) != 0)
        return; /* then Ctrl-C keeps its default action */
    if (pthread_create(&g->thread, NULL, stop_thread, NULL) != 0) {
        close(stop_pipe[0]);
        close(stop_pipe[1]);
        return;
    }
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g->old_int);
    sigaction(SIGTERM, &sa, &g->old_term);
    g->active = true;
}

static void
stop_guard_end(struct stop_guard *g)
{
    if (!g->active)
        return;
    sigaction(SIGINT, &g->old_int, NULL);
    sigaction(SIGTERM, &g->old_term, NULL);
    char c = 'q';
    if (write(stop_pipe[1], &c, 1) == 1)
        pthread_join(g->thread, NULL);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    stop_pipe[0] = stop_pipe[1] = -1;
}

struct watch {
    struct ctl *ctl;
    const struct churn_method *m;
    Churn__V1__WatchAlertsRequest req;
    struct filter_msg filter;
    uint64_t last; /* the last revision_sequence seen: the resume position */
    uint64_t max, seen;
    const char *resume_file;
    bool json, reconnect, caught_up_shown;
};

/* The position stored in @path into *seq; 0 with *found false when there is no file. */
static int
resume_read(const char *path, uint64_t *seq, bool *found)
{
    *found = false;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "churnctl: --resume-file: cannot read %s: %s\n", path, strerror(errno));
        return EXIT_TRANSPORT;
    }
    char buf[32];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    char what[PATH_MAX + 32];
    snprintf(what, sizeof(what), "--resume-file %s", path);
    if (!parse_uint(what, buf, 0, UINT64_MAX, seq))
        return EXIT_USAGE;
    *found = true;
    return 0;
}

/* @seq into @path atomically: a temporary file beside it, renamed over it. */
static int
resume_write(const char *path, uint64_t seq)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        fprintf(stderr, "churnctl: --resume-file: path too long\n");
        return EXIT_USAGE;
    }
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%" PRIu64 "\n", seq) > 0;
    ok = f && fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "churnctl: --resume-file: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return EXIT_TRANSPORT;
    }
    return 0;
}

/* One response of the stream; *done when --max is reached. */
static int
watch_handle(struct watch *w, const Churn__V1__WatchAlertsResponse *r, bool *done)
{
    int rc = 0;
    pthread_mutex_lock(&out_mu);
    if (w->json)
        rc = churnctl_print_json(w->ctl, &r->base);
    if (r->event_case == CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_ALERT) {
        if (!w->json) {
            print_alert_line(r->alert);
            fflush(stdout);
        }
        if (r->alert->revision_sequence > w->last)
            w->last = r->alert->revision_sequence;
        if (!rc && w->resume_file)
            rc = resume_write(w->resume_file, w->last);
        *done = w->max && ++w->seen >= w->max;
    } else if (r->event_case == CHURN__V1__WATCH_ALERTS_RESPONSE__EVENT_CAUGHT_UP && !w->json &&
               !w->caught_up_shown) {
        printf("-- caught up at #%" PRIu64 " --\n", r->caught_up->head_sequence);
        fflush(stdout);
        w->caught_up_shown = true;
    }
    pthread_mutex_unlock(&out_mu);
    return rc;
}

/*
 * One WatchAlerts call from w->last until its status (into *st) or until --max; returns an
 * exit code for local failures (then *st is not filled). *got_any: a response arrived.
 */
static int
watch_once(struct watch *w, struct churn_client_status *st, bool *done, bool *got_any)
{
    w->req.after_sequence = w->last;
    size_t len = protobuf_c_message_get_packed_size(&w->req.base);
    uint8_t *buf = churn_malloc(len ? len : 1);
    struct churn_client_stream *s;
    if (!buf || churn_client_stream_open(w->ctl->client, w->m->name, 0, &s) != CHURN_OK) {
        churn_free(buf);
        fprintf(stderr, "churnctl: cannot start a call to %s\n", w->ctl->server);
        return EXIT_TRANSPORT;
    }
    protobuf_c_message_pack(&w->req.base, buf);
    /* a failed send ends the call: its status says why */
    if (churn_client_stream_send(s, buf, len) == CHURN_OK)
        churn_client_stream_close_send(s);
    churn_free(buf);
    int rc = 0;
    void *msg;
    size_t n;
    while (!rc && !*done && churn_client_stream_recv(s, &msg, &n) == CHURN_OK) {
        ProtobufCMessage *r = churnctl_unpack(w->m, msg, n);
        churn_free(msg);
        if (!r) {
            rc = EXIT_TRANSPORT;
            break;
        }
        *got_any = true;
        rc = watch_handle(w, (const Churn__V1__WatchAlertsResponse *)r, done);
        protobuf_c_message_free_unpacked(r, NULL);
    }
    churn_client_stream_finish(s, rc || *done, st);
    return rc;
}

static int
watch_run(struct watch *w)
{
    int backoff = BACKOFF_FIRST_MS;
    for (;;) {
        struct churn_client_status st = {0};
        bool done = false, got_any = false;
        int rc = watch_once(w, &st, &done, &got_any);
        if (rc || done) {
            churn_client_status_clear(&st);
            return rc;
        }
        bool retry = st.code == 14 /* UNAVAILABLE */ || st.code == 8 /* RESOURCE_EXHAUSTED */;
        if (!retry || !w->reconnect) {
            rc = churnctl_report_status(&st);
            churn_client_status_clear(&st);
            return rc;
        }
        if (got_any)
            backoff = BACKOFF_FIRST_MS; /* it worked for a while: start over */
        fprintf(stderr, "churnctl: %s: %s; reconnecting after #%" PRIu64 " in %d ms\n",
                churn_transport_status_name(st.code), st.details ? st.details : "", w->last,
                backoff);
        if (st.code == 14) {
            /* a new channel connects at once, without the old one's connection backoff */
            struct churn_client *fresh;
            if (churn_client_open_ex(w->ctl->server, &w->ctl->conn, &fresh, NULL, 0) == CHURN_OK) {
                churn_client_close(w->ctl->client);
                w->ctl->client = fresh;
            }
        }
        churn_client_status_clear(&st);
        struct timespec ts = {.tv_sec = backoff / 1000, .tv_nsec = (backoff % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

static void
watch_usage(FILE *out)
{
    fputs("usage: churnctl alerts watch [--after SEQ] [--filter TEXT] [--json] [--max N]\n"
          "                             [--resume-file FILE] [--no-reconnect]\n"
          "  --after SEQ         start after this log sequence (default 0: the whole log)\n"
          "  --filter TEXT       e.g. 'cause:churn_intent,chat_escalation risk:medium\n"
          "                      value:high segment:high-risk/high-value status:open'\n"
          "  --json              every response (alerts, heartbeats, caught_up) as a JSON line\n"
          "  --max N             exit after N alerts\n"
          "  --resume-file FILE  start after the sequence in FILE (if it exists, over --after)\n"
          "                      and rewrite it after every alert\n"
          "  --no-reconnect      end on UNAVAILABLE or RESOURCE_EXHAUSTED instead of resuming\n"
          "Runs until Ctrl-C (exit 0); --timeout does not apply.\n",
          out);
}

static int
alerts_watch(struct ctl *ctl, int argc, char **argv)
{
    struct watch w = {.ctl = ctl, .reconnect = true};
    w.req = (Churn__V1__WatchAlertsRequest)CHURN__V1__WATCH_ALERTS_REQUEST__INIT;
    const char *filter = NULL, *v;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0) {
            watch_usage(stdout);
            return 0;
        } else if (strcmp(o, "--json") == 0) {
            w.json = true;
        } else if (strcmp(o, "--no-reconnect") == 0) {
            w.reconnect = false;
        } else if (strcmp(o, "--after") == 0) {
            if (!(v = opt_value(argc, argv, &i)) || !parse_uint(o, v, 0, UINT64_MAX, &w.last))
                return EXIT_USAGE;
        } else if (strcmp(o, "--max") == 0) {
            if (!(v = opt_value(argc, argv, &i)) || !parse_uint(o, v, 1, UINT64_MAX, &w.max))
                return EXIT_USAGE;
        } else if (strcmp(o, "--filter") == 0) {
            if (!(filter = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
        } else if (strcmp(o, "--resume-file") == 0) {
            if (!(w.resume_file = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
            if (!w.resume_file[0]) {
                fprintf(stderr, "churnctl: --resume-file: empty path\n");
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "churnctl: alerts watch: unknown option '%s'\n", o);
            watch_usage(stderr);
            return EXIT_USAGE;
        }
    }
    int rc = filter_from_text(filter, &w.filter);
    if (rc)
        return rc;
    w.req.filter = &w.filter.msg;
    w.m = churnctl_find_method(ctl, WATCH_METHOD);
    if (w.resume_file) {
        bool found;
        uint64_t seq;
        if ((rc = resume_read(w.resume_file, &seq, &found)) != 0)
            return rc;
        if (found)
            w.last = seq;
        else if ((rc = resume_write(w.resume_file, w.last)) != 0)
            return rc; /* a file we cannot write is found out before the first alert */
    }
    struct stop_guard guard;
    stop_guard_start(&guard);
    rc = watch_run(&w);
    stop_guard_end(&guard);
    return rc;
}

/* ---- alerts list ------------------------------------------------------------------------- */

static void
list_header(void)
{
    printf("%-7s %-12s %-16s %-16s %-6s %-6s %10s  %-17s %-16s %s\n", "SEQ", "STATUS", "CAUSE",
           "CUSTOMER", "RISK", "VALUE", "PRIORITY", "ACTION", "OWNER", "UPDATED");
}

static void
list_row(const Churn__V1__Alert *a)
{
    char id[24], t[40];
    snprintf(id, sizeof(id), "#%" PRIu64, a->sequence);
    printf("%-7s %-12s %-16s %-16s %-6s %-6s %10.2f  %-17s %-16s %s\n", id, STATUS_WORD(a->status),
           CAUSE_WORD(a->cause), a->customer_id[0] ? a->customer_id : "-", RISK_WORD(a->risk_tier),
           VALUE_WORD(a->value_tier), a->priority, alert_action(a), a->owner[0] ? a->owner : "-",
           churn_format_time_ms(a->updated_at_ms, t, sizeof(t)));
}

static void
list_usage(FILE *out)
{
    fputs("usage: churnctl alerts list [--filter TEXT] [--order newest|oldest|priority]\n"
          "                            [--limit N] [--page-token T] [--all] [--json]\n"
          "  --filter TEXT     as for `alerts watch`\n"
          "  --order           priority (default: highest first), newest (last changed first)\n"
          "                    or oldest (by sequence)\n"
          "  --limit N         alerts per page, 1..1000 (default 50)\n"
          "  --page-token T    the page after a previous listing's token\n"
          "  --all             every page\n"
          "  --json            each page's ListAlertsResponse as one JSON line\n",
          out);
}

static int
alerts_list(struct ctl *ctl, int argc, char **argv)
{
    Churn__V1__ListAlertsRequest req = CHURN__V1__LIST_ALERTS_REQUEST__INIT;
    struct filter_msg fm;
    const char *filter = NULL, *token = "", *v;
    bool all = false, json = false;
    uint64_t limit = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0) {
            list_usage(stdout);
            return 0;
        } else if (strcmp(o, "--json") == 0) {
            json = true;
        } else if (strcmp(o, "--all") == 0) {
            all = true;
        } else if (strcmp(o, "--filter") == 0) {
            if (!(filter = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
        } else if (strcmp(o, "--page-token") == 0) {
            if (!(token = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
        } else if (strcmp(o, "--limit") == 0) {
            if (!(v = opt_value(argc, argv, &i)) || !parse_uint(o, v, 1, PAGE_MAX, &limit))
                return EXIT_USAGE;
        } else if (strcmp(o, "--order") == 0) {
            if (!(v = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
            if (strcmp(v, "priority") == 0)
                req.order = CHURN__V1__ALERT_ORDER__ALERT_ORDER_PRIORITY;
            else if (strcmp(v, "newest") == 0)
                req.order = CHURN__V1__ALERT_ORDER__ALERT_ORDER_NEWEST;
            else if (strcmp(v, "oldest") == 0)
                req.order = CHURN__V1__ALERT_ORDER__ALERT_ORDER_OLDEST;
            else {
                fprintf(stderr,
                        "churnctl: --order: expected newest, oldest or priority, got '%s'\n", v);
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "churnctl: alerts list: unknown option '%s'\n", o);
            list_usage(stderr);
            return EXIT_USAGE;
        }
    }
    int rc = filter_from_text(filter, &fm);
    if (rc)
        return rc;
    req.filter = &fm.msg;
    req.page_size = (int32_t)limit;
    size_t shown = 0;
    char *next = NULL; /* heap copy of the page token for the next request */
    req.page_token = (char *)token;
    for (;;) {
        ProtobufCMessage *out;
        if ((rc = churnctl_unary(ctl, LIST_METHOD, &req.base, &out)) != 0)
            break;
        const Churn__V1__ListAlertsResponse *r = (const Churn__V1__ListAlertsResponse *)out;
        if (json) {
            rc = churnctl_print_json(ctl, out);
        } else {
            if (shown == 0 && r->n_alerts)
                list_header();
            for (size_t i = 0; i < r->n_alerts; i++)
                list_row(r->alerts[i]);
        }
        shown += r->n_alerts;
        churn_free(next);
        next = r->next_page_token[0] ? churn_strdup(r->next_page_token) : NULL;
        if (!json && (!all || !next)) {
            if (shown == 0)
                printf("no alerts match\n");
            else
                printf("-- %zu alert%s, log head #%" PRIu64 "%s%s\n", shown, shown == 1 ? "" : "s",
                       r->head_sequence, next ? "; next page: --page-token " : "",
                       next ? next : "");
        }
        protobuf_c_message_free_unpacked(out, NULL);
        if (rc || !all || !next)
            break;
        req.page_token = next;
    }
    fflush(stdout);
    churn_free(next);
    return rc;
}

/* ---- ack --------------------------------------------------------------------------------- */

static void
ack_usage(FILE *out)
{
    fputs("usage: churnctl ack SEQ --actor NAME [--action KIND] [--note TEXT]\n"
          "                  [--snooze-for DURATION | --snooze-until UNIX_MS] [--reason TEXT]\n"
          "                  [--close saved|lost|not_actionable] [--json]\n"
          "  SEQ              the alert (its sequence, the #N of `alerts watch` and `list`)\n"
          "  --actor NAME     who is on it (1 to 128 bytes); required\n"
          "  --action KIND    coupon, email_campaign, consultation, human_handoff or\n"
          "                   feedback_call: what was done\n"
          "  --snooze-for D   also snooze for D (45s, 30m, 2h, 3d; at most 90d), or\n"
          "  --snooze-until T until unix milliseconds T; both need --reason TEXT\n"
          "  --close R        also close it as saved, lost or not_actionable\n",
          out);
}

int
churnctl_ack(struct ctl *ctl, int argc, char **argv)
{
    Churn__V1__AcknowledgeAlertRequest req = CHURN__V1__ACKNOWLEDGE_ALERT_REQUEST__INIT;
    Churn__V1__AcknowledgeAlertRequest__Snooze snooze =
        CHURN__V1__ACKNOWLEDGE_ALERT_REQUEST__SNOOZE__INIT;
    Churn__V1__AcknowledgeAlertRequest__Close close_ =
        CHURN__V1__ACKNOWLEDGE_ALERT_REQUEST__CLOSE__INIT;
    const char *seq = NULL, *actor = NULL, *reason = NULL, *snooze_opt = NULL, *v;
    bool json = false;
    int64_t snooze_until = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0) {
            ack_usage(stdout);
            return 0;
        } else if (strcmp(o, "--json") == 0) {
            json = true;
        } else if (strcmp(o, "--actor") == 0) {
            if (!(actor = opt_value(argc, argv, &i)) || !check_length(o, actor, 1, ACTOR_MAX))
                return EXIT_USAGE;
        } else if (strcmp(o, "--action") == 0) {
            enum churn_action_kind k;
            if (!(v = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
            if (churn_action_kind_parse(v, &k) != CHURN_OK || k == CHURN_ACTION_NONE) {
                fprintf(stderr,
                        "churnctl: --action: expected coupon, email_campaign, consultation, "
                        "human_handoff or feedback_call, got '%s'\n",
                        v);
                return EXIT_USAGE;
            }
            req.action_taken = (Churn__V1__ActionKind)k;
        } else if (strcmp(o, "--note") == 0) {
            if (!(v = opt_value(argc, argv, &i)) || !check_length(o, v, 0, TEXT_MAX))
                return EXIT_USAGE;
            req.note = (char *)v;
        } else if (strcmp(o, "--reason") == 0) {
            if (!(reason = opt_value(argc, argv, &i)) || !check_length(o, reason, 1, TEXT_MAX))
                return EXIT_USAGE;
        } else if (strcmp(o, "--snooze-for") == 0 || strcmp(o, "--snooze-until") == 0) {
            if (snooze_opt) {
                fprintf(stderr, "churnctl: %s: %s was given already (one snooze time)\n", o,
                        snooze_opt);
                return EXIT_USAGE;
            }
            snooze_opt = o;
            bool relative = strcmp(o, "--snooze-for") == 0;
            uint64_t until;
            int64_t ms;
            if (!(v = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
            if (relative ? !parse_duration(o, v, &ms) : !parse_uint(o, v, 1, INT64_MAX, &until))
                return EXIT_USAGE;
            snooze_until = relative ? churn_now_ms() + ms : (int64_t)until;
        } else if (strcmp(o, "--close") == 0) {
            enum churn_alert_resolution r;
            if (!(v = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
            if (churn_alert_resolution_parse(v, &r) != CHURN_OK || r == CHURN_RESOLUTION_NONE ||
                r == CHURN_RESOLUTION_AUTO_CLEARED) {
                fprintf(stderr,
                        "churnctl: --close: expected saved, lost or not_actionable, got "
                        "'%s'\n",
                        v);
                return EXIT_USAGE;
            }
            close_.resolution = (Churn__V1__AlertResolution)r;
        } else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "churnctl: ack: unknown option '%s'\n", o);
            ack_usage(stderr);
            return EXIT_USAGE;
        } else if (seq) {
            fprintf(stderr, "churnctl: ack: one alert at a time (got '%s' and '%s')\n", seq, o);
            return EXIT_USAGE;
        } else {
            seq = o;
        }
    }
    if (!seq || !actor) {
        fprintf(stderr, "churnctl: ack: %s is required\n", !seq ? "SEQ" : "--actor NAME");
        ack_usage(stderr);
        return EXIT_USAGE;
    }
    if (!parse_uint("SEQ", seq[0] == '#' ? seq + 1 : seq, 1, UINT64_MAX, &req.sequence))
        return EXIT_USAGE;
    if (snooze_opt && close_.resolution) {
        fprintf(stderr, "churnctl: ack: %s and --close exclude each other\n", snooze_opt);
        return EXIT_USAGE;
    }
    if (snooze_opt && !reason) {
        fprintf(stderr, "churnctl: ack: %s needs --reason TEXT\n", snooze_opt);
        return EXIT_USAGE;
    }
    if (reason && !snooze_opt) {
        fprintf(stderr, "churnctl: ack: --reason goes with --snooze-for or --snooze-until\n");
        return EXIT_USAGE;
    }
    req.actor = (char *)actor;
    if (snooze_opt) {
        snooze.snooze_until_ms = snooze_until;
        snooze.reason = (char *)reason;
        req.transition_case = CHURN__V1__ACKNOWLEDGE_ALERT_REQUEST__TRANSITION_SNOOZE;
        req.snooze = &snooze;
    } else if (close_.resolution) {
        req.transition_case = CHURN__V1__ACKNOWLEDGE_ALERT_REQUEST__TRANSITION_CLOSE;
        req.close = &close_;
    }
    ProtobufCMessage *out;
    int rc = churnctl_unary(ctl, ACK_METHOD, &req.base, &out);
    if (rc)
        return rc;
    const Churn__V1__AcknowledgeAlertResponse *r = (const Churn__V1__AcknowledgeAlertResponse *)out;
    if (json) {
        rc = churnctl_print_json(ctl, out);
    } else if (r->alert) {
        print_alert_line(r->alert);
        if (!r->changed)
            printf("-- unchanged: alert #%" PRIu64 " was %s already\n", r->alert->sequence,
                   STATUS_WORD(r->alert->status));
        fflush(stdout);
    }
    protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

/* ---- at-risk ----------------------------------------------------------------------------- */

/* The first reason that raises the risk (else the first), in words. */
static const char *
top_reason(const Churn__V1__Score *s, char *out, size_t outlen)
{
    if (s->previous_model) { /* listed by the model served before a promotion */
        snprintf(out, outlen, "(previous model %.64s, until the rebuild rescores it)",
                 s->model_version);
        return out;
    }
    const Churn__V1__Reason *best = s->n_reasons ? s->reasons[0] : NULL;
    for (size_t i = 0; i < s->n_reasons; i++)
        if (s->reasons[i]->contribution > 0) {
            best = s->reasons[i];
            break;
        }
    if (!best) {
        snprintf(out, outlen, "-");
        return out;
    }
    char text[STORY_MAX + 8];
    if (best->explanation[0]) /* "Logins fell from 14 to 2 in 30 days" */
        return one_line(best->explanation, STORY_MAX, out, outlen);
    snprintf(out, outlen, "%s (%+.2f)",
             one_line(best->label[0] ? best->label : best->feature, STORY_MAX, text, sizeof(text)),
             best->contribution);
    return out;
}

static void
at_risk_usage(FILE *out)
{
    fputs("usage: churnctl at-risk [--limit N] [--min-tier low|medium|high] [--json]\n"
          "  --limit N        customers to show, 1..1000 (default 50)\n"
          "  --min-tier T     lowest risk tier to include (default medium)\n"
          "  --json           the ListAtRiskCustomersResponse as one JSON line\n"
          "Customers are ranked by priority, the expected revenue at risk (probability x value).\n",
          out);
}

int
churnctl_at_risk(struct ctl *ctl, int argc, char **argv)
{
    Churn__V1__ListAtRiskCustomersRequest req = CHURN__V1__LIST_AT_RISK_CUSTOMERS_REQUEST__INIT;
    Churn__V1__AtRiskFilter filter = CHURN__V1__AT_RISK_FILTER__INIT;
    Churn__V1__RiskTier tiers[3];
    enum churn_tier min_tier = CHURN_TIER_MEDIUM;
    bool json = false;
    uint64_t limit = 0;
    const char *v;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0) {
            at_risk_usage(stdout);
            return 0;
        } else if (strcmp(o, "--json") == 0) {
            json = true;
        } else if (strcmp(o, "--limit") == 0) {
            if (!(v = opt_value(argc, argv, &i)) || !parse_uint(o, v, 1, PAGE_MAX, &limit))
                return EXIT_USAGE;
        } else if (strcmp(o, "--min-tier") == 0) {
            if (!(v = opt_value(argc, argv, &i)))
                return EXIT_USAGE;
            if (churn_tier_parse(v, &min_tier) != CHURN_OK) {
                fprintf(stderr, "churnctl: --min-tier: expected low, medium or high, got '%s'\n",
                        v);
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "churnctl: at-risk: unknown option '%s'\n", o);
            at_risk_usage(stderr);
            return EXIT_USAGE;
        }
    }
    /* the tiers at or above the minimum, spelled out (the API has no minimum tier) */
    filter.risk_tiers = tiers;
    for (int t = min_tier; t <= CHURN_TIER_HIGH; t++)
        tiers[filter.n_risk_tiers++] = (Churn__V1__RiskTier)t;
    req.filter = &filter;
    req.page_size = (int32_t)limit;
    ProtobufCMessage *out;
    int rc = churnctl_unary(ctl, AT_RISK_METHOD, &req.base, &out);
    if (rc)
        return rc;
    const Churn__V1__ListAtRiskCustomersResponse *r =
        (const Churn__V1__ListAtRiskCustomersResponse *)out;
    if (json) {
        rc = churnctl_print_json(ctl, out);
    } else {
        if (r->n_scores)
            printf("%4s  %-18s %6s  %-6s %-6s %10s  %s\n", "RANK", "CUSTOMER", "PROB", "RISK",
                   "VALUE", "PRIORITY", "TOP REASON");
        for (size_t i = 0; i < r->n_scores; i++) {
            const Churn__V1__Score *s = r->scores[i];
            char reason[STORY_MAX + 32];
            printf("%4zu  %-18s %6.3f  %-6s %-6s %10.2f  %s\n", i + 1, s->customer_id,
                   s->probability, RISK_WORD(s->risk_tier), VALUE_WORD(s->value_tier), s->priority,
                   top_reason(s, reason, sizeof(reason)));
        }
        size_t previous = 0;
        for (size_t i = 0; i < r->n_scores; i++)
            previous += r->scores[i]->previous_model;
        if (previous)
            printf("-- %zu listed by the previous model's score: a model promotion's rebuild is "
                   "under way\n",
                   previous);
        char t[40];
        printf("-- %zu of %" PRId64 " customer%s at risk (risk tier %s%s), as of %s\n", r->n_scores,
               r->total_size, r->total_size == 1 ? "" : "s", churn_tier_name(min_tier),
               min_tier < CHURN_TIER_HIGH ? " or above" : "",
               churn_format_time_ms(r->snapshot_at_ms, t, sizeof(t)));
        fflush(stdout);
    }
    protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

/* ---- alerts ------------------------------------------------------------------------------ */

int
churnctl_alerts(struct ctl *ctl, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "watch") == 0)
        return alerts_watch(ctl, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return alerts_list(ctl, argc - 1, argv + 1);
    bool help = argc >= 1 && strcmp(argv[0], "--help") == 0;
    if (!help && argc)
        fprintf(stderr, "churnctl: alerts: unknown subcommand '%s' (watch or list)\n", argv[0]);
    else if (!help)
        fprintf(stderr, "churnctl: alerts: watch or list?\n");
    watch_usage(help ? stdout : stderr);
    list_usage(help ? stdout : stderr);
    return help ? 0 : EXIT_USAGE;
}
