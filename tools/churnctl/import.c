/*
 * import.c - `churnctl import`: customers and events from CSV or JSON Lines, written straight
 * into a store directory while churnd is stopped (batches through churn_store_apply_events()
 * and churn_store_upsert_customers()), or sent to a running churnd over gRPC (RecordEvents
 * streams of --batch events, each acknowledged by its summary; UpsertCustomers in chunks of
 * at most 1000). A quote-aware splitter cuts the file into records with their physical line
 * numbers in constant memory (a record over --max-line-bytes is skipped, not buffered); the
 * project's CSV reader or jansson parses each record; one row-to-event mapping serves both
 * formats. A bad line never stops the import: it goes to the reject file with its line
 * number and the reason (from the parser, churn_event_validate(), the store or the server).
 * The store is idempotent on (customer_id, event_id), so an interrupted import is resumed by
 * running it again from the start. docs/IMPORT.md is the user's guide.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/buf.h"
#include "churn/clock.h"
#include "churn/cluster.h"
#include "churn/csv.h"
#include "churn/event.h"
#include "churn/event_codec.h"
#include "churn/ident.h"
#include "churn/store.h"
#include "churn/transport.h"
#include "churn_proto.h"
#include "ctl.h"

#define IMPORT_NATS_RETRIES     60     /* --nats: resends of a refused batch ... */
#define IMPORT_NATS_RETRY_MS    500    /* ... this far apart (30 s: a stream elects a leader) */
#define IMPORT_MOVE_RETRIES     120    /* --cluster: resends while a partition moves ... */
#define IMPORT_MOVE_RETRY_US    250000 /* ... this far apart (30 s) */
#define IMPORT_BATCH_DEFAULT    5000
#define IMPORT_BATCH_MAX        100000
#define IMPORT_CUSTOMERS_MAX    1000 /* customers per upsert (the server's limit too) */
#define IMPORT_LINE_DEFAULT     (1u << 20)
#define IMPORT_LINE_MIN         64
#define IMPORT_LINE_MAX         (256u << 20)
#define IMPORT_ORIGINAL_MAX     1024 /* bytes of a bad line copied to the reject file */
#define IMPORT_REASON_MAX       256
#define IMPORT_EXTRA_MAX        (2 * CHURN_ATTRS_MAX) /* attribute columns of a customer */
#define IMPORT_CHUNK            (256u << 10)          /* read size */
#define IMPORT_ARENA_MAX        (64u << 20) /* strings of one batch; a full arena flushes */
#define IMPORT_STDERR_REJECTS   20          /* shown on stderr without --reject-file */
#define IMPORT_PROGRESS_NS      250000000LL /* at most 4 progress updates a second */
#define IMPORT_EXIT_INTERRUPTED 130
#define IMPORT_NUM_TEXT         32
#define IMPORT_PACK_MAX         (4u << 20) /* the server's message limit */
#define METHOD_RECORD_EVENTS    "/churn.v1.IngestService/RecordEvents"
#define METHOD_UPSERT_CUSTOMERS "/churn.v1.IngestService/UpsertCustomers"
#define EVENT_TYPES_TEXT                                                                           \
    "login, session, order, listing_update, support_ticket, review, plan_change, churn, "          \
    "custom, chat_signal"

/* ---- fields ------------------------------------------------------------------------------ */

#define FE 1 /* an events column */
#define FC 2 /* a customers column */

/* X(NAME, "column", flags): every column (CSV) or key (JSON Lines) the importer knows. */
#define IMPORT_FIELDS(X)                                                                           \
    X(EVENT_ID, "event_id", FE)                                                                    \
    X(CUSTOMER_ID, "customer_id", FE | FC)                                                         \
    X(OCCURRED_AT_MS, "occurred_at_ms", FE)                                                        \
    X(OCCURRED_AT, "occurred_at", FE)                                                              \
    X(TYPE, "type", FE)                                                                            \
    X(MINUTES, "minutes", FE)                                                                      \
    X(AMOUNT, "amount", FE)                                                                        \
    X(CURRENCY, "currency", FE)                                                                    \
    X(STATUS, "status", FE)                                                                        \
    X(ORDER_ID, "order_id", FE)                                                                    \
    X(ACTIVE_LISTINGS, "active_listings", FE)                                                      \
    X(ACTION, "action", FE)                                                                        \
    X(DIRECTION, "direction", FE)                                                                  \
    X(CATEGORY, "category", FE)                                                                    \
    X(RATING, "rating", FE)                                                                        \
    X(TEXT, "text", FE)                                                                            \
    X(PLAN, "plan", FE | FC)                                                                       \
    X(MONTHLY_VALUE, "monthly_value", FE | FC)                                                     \
    X(REASON, "reason", FE)                                                                        \
    X(NAME, "name", FE)                                                                            \
    X(VALUE, "value", FE)                                                                          \
    X(DISSATISFACTION, "dissatisfaction", FE)                                                      \
    X(ESCALATED, "escalated", FE)                                                                  \
    X(CHURN_INTENT, "churn_intent", FE)                                                            \
    X(SEGMENT, "segment", FC)                                                                      \
    X(COUNTRY, "country", FC)                                                                      \
    X(SIGNUP_AT_MS, "signup_at_ms", FC)                                                            \
    X(SIGNUP_MS, "signup_ms", FC)                                                                  \
    X(SIGNUP_AT, "signup_at", FC)

enum field {
#define FIELD_ENUM(name, text, flags) F_##name,
    IMPORT_FIELDS(FIELD_ENUM)
#undef FIELD_ENUM
        F__COUNT
};

static const struct {
    const char *name;
    int flags;
} fields[F__COUNT] = {
#define FIELD_ROW(name, text, fl) [F_##name] = {text, fl},
    IMPORT_FIELDS(FIELD_ROW)
#undef FIELD_ROW
};

/* The field named @name (case-insensitive when @fold) with one of @flags, or -1. */
static int
field_find(const char *name, int flags, bool fold)
{
    for (int i = 0; i < F__COUNT; i++) {
        if (!(fields[i].flags & flags))
            continue;
        if (fold ? strcasecmp(fields[i].name, name) == 0 : strcmp(fields[i].name, name) == 0)
            return i;
    }
    return -1;
}

/*
 * struct row - one record of either format as text: known fields by enum field (NULL when
 * absent or empty) and, for customers, the other columns as attribute name/value pairs.
 * Every string is borrowed from the parser and valid until the record is done.
 */
struct row {
    const char *f[F__COUNT];
    size_t n_extra;
    const char *extra_name[IMPORT_EXTRA_MAX];
    const char *extra_value[IMPORT_EXTRA_MAX];
    char num_text[F__COUNT + IMPORT_EXTRA_MAX][IMPORT_NUM_TEXT]; /* JSON numbers as text */
    size_t n_num_text;
};

/* ---- the record splitter ----------------------------------------------------------------- */

enum split_state { SP_FIELD_START, SP_UNQUOTED, SP_QUOTED, SP_QUOTE_SEEN };

/*
 * struct src - the input file read in IMPORT_CHUNK pieces, cut into records: physical lines
 * for JSON Lines; for CSV, lines joined while a quoted field spans them (the same state
 * machine as the CSV reader, so both agree on where a record ends).
 */
struct src {
    FILE *f;
    bool csv;
    char *chunk;
    size_t len, pos;
    off_t base;         /* file offset of chunk[0] */
    off_t size;         /* -1 when unknown */
    unsigned long line; /* physical line of the next byte */
    bool prev_cr;       /* the last byte was a CR (a following LF ends no new line) */
    size_t max_line;
    struct churn_buf rec; /* the current record, cut at max_line bytes */
};

/* struct record - what src_next() found. */
struct record {
    const char *data; /* the record without its line end, cut at max_line bytes */
    size_t len;
    size_t total;        /* its full length */
    unsigned long line;  /* its first physical line */
    unsigned long lines; /* physical lines it spans */
    size_t first_len;    /* bytes of its first physical line within data */
    off_t resume_off;    /* file offset just past its first physical line (lines > 1) */
    bool resume_after_cr;
    bool too_long;  /* total > max_line */
    bool cut_short; /* a quoted field ran past the cap or the end of the file */
};

/* Read the next chunk: 1 when there are bytes, 0 at the end of the file, -1 on error. */
static int
src_fill(struct src *s)
{
    s->base += (off_t)s->len;
    s->pos = 0;
    s->len = fread(s->chunk, 1, IMPORT_CHUNK, s->f);
    if (s->len > 0)
        return 1;
    return ferror(s->f) ? -1 : 0;
}

/* Continue reading at file offset @off, physical line @line. */
static int
src_seek(struct src *s, off_t off, unsigned long line, bool after_cr)
{
    s->line = line;
    s->prev_cr = after_cr;
    if (off >= s->base && off <= s->base + (off_t)s->len) {
        s->pos = (size_t)(off - s->base);
        return 0;
    }
    if (fseeko(s->f, off, SEEK_SET) != 0)
        return -1;
    s->base = off;
    s->len = s->pos = 0;
    return 0;
}

/* Bytes consumed so far (for progress). */
static off_t
src_offset(const struct src *s)
{
    return s->base + (off_t)s->pos;
}

static void
rec_append(struct src *s, struct record *r, const char *p, size_t n)
{
    r->total += n;
    size_t room = s->max_line - s->rec.len;
    if (n > room) {
        r->too_long = true;
        n = room;
    }
    if (n)
        churn_buf_append(&s->rec, p, n); /* cannot fail: the cap is max_line + 1 */
}

/* Count a line end @c; return true when it starts a new physical line. */
static bool
count_eol(struct src *s, char c)
{
    bool counts = !(c == '\n' && s->prev_cr);
    s->prev_cr = c == '\r';
    if (counts)
        s->line++;
    return counts;
}

/*
 * src_next() - the next non-empty record. Return: 1 with *r filled, 0 at the end of the
 * file, -1 on a read error (errno set).
 */
static int
src_next(struct src *s, struct record *r)
{
    churn_buf_reset(&s->rec);
    memset(r, 0, sizeof(*r));
    r->line = s->line;
    r->lines = 1;
    enum split_state st = SP_FIELD_START;
    for (;;) {
        if (s->pos == s->len) {
            int got = src_fill(s);
            if (got < 0)
                return -1;
            if (got == 0) {
                if (r->total == 0)
                    return 0;
                if (st == SP_QUOTED && r->lines > 1)
                    r->cut_short = true;
                break;
            }
        }
        const char *p = s->chunk + s->pos, *end = s->chunk + s->len, *q = p;
        bool eol = false;
        if (!s->csv) {
            q = memchr(p, '\n', (size_t)(end - p));
            eol = q != NULL;
            if (!q)
                q = end;
        } else {
            for (; q < end; q++) {
                char c = *q;
                if (st == SP_QUOTED) {
                    if (c == '"') {
                        st = SP_QUOTE_SEEN;
                    } else if (c == '\n' || c == '\r') {
                        if (count_eol(s, c)) {
                            if (r->lines++ == 1) {
                                r->first_len = s->rec.len + (size_t)(q - p);
                                if (r->first_len > s->max_line)
                                    r->first_len = s->max_line;
                                r->resume_off = s->base + (off_t)(q - s->chunk) + 1;
                                r->resume_after_cr = c == '\r';
                            }
                        }
                        continue;
                    }
                    s->prev_cr = false;
                    continue;
                }
                if (c == '\n' || c == '\r') {
                    eol = true;
                    break;
                }
                s->prev_cr = false;
                if (st == SP_UNQUOTED)
                    st = c == ',' ? SP_FIELD_START : SP_UNQUOTED;
                else
                    st = c == '"' ? SP_QUOTED : c == ',' ? SP_FIELD_START : SP_UNQUOTED;
            }
        }
        rec_append(s, r, p, (size_t)(q - p));
        s->pos = (size_t)(q - s->chunk);
        if (eol) {
            char c = *q;
            s->pos++;
            if (s->csv)
                count_eol(s, c);
            else
                s->line++;
            if (r->total == 0) {
                r->line = s->line; /* an empty line: skip it */
                continue;
            }
            break;
        }
        if (r->too_long && r->lines > 1) {
            r->cut_short = true; /* a quoted field over the cap: likely an unclosed quote */
            break;
        }
    }
    r->data = churn_buf_str(&s->rec);
    r->len = s->rec.len;
    if (!s->csv && r->len && r->data[r->len - 1] == '\r' && !r->too_long)
        r->len--; /* CRLF in JSON Lines */
    if (r->lines == 1)
        r->first_len = r->len;
    return 1;
}

/* ---- the importer ------------------------------------------------------------------------ */

struct import_stats {
    uint64_t read, accepted, duplicates, rejected;
};

struct event_batch {
    size_t n, cap;
    struct churn_event *ev;
    struct churn_event_result *res;
    unsigned long *line;
    const char **orig; /* the original line, cut to IMPORT_ORIGINAL_MAX, in strings */
    size_t *orig_len;
    struct churn_arena strings;
};

struct customer_batch {
    size_t n, cap;
    char (*id)[CHURN_ID_MAX + 1];
    struct churn_customer_attrs *patch;  /* what the line says (empty = keep) */
    struct churn_customer_attrs *merged; /* patch over the stored attributes */
    struct churn_customer_upsert *items;
    unsigned long *line;
    char (*orig)[IMPORT_ORIGINAL_MAX];
    size_t *orig_len;
    int slot[2 * IMPORT_CUSTOMERS_MAX * 2]; /* id hash → index + 1 */
};

struct importer {
    struct ctl *ctl;
    const char *path, *store_dir, *server, *reject_path;
    const char *nats;                  /* issue 16: publish events to a cluster's JetStream */
    const char *cluster_path;          /* issue 16: customers through a cluster's proxy ... */
    struct churn_cluster_table *table; /* ... one UpsertCustomers per owning shard */
    struct ctl_publisher *publisher;
    bool customers_file, csv, json_out;
    int progress; /* 0 never, 1 auto, 2 always */
    size_t batch, max_line;

    struct src src;
    FILE *rejects;
    unsigned long rejects_shown;
    struct churn_store *store;
    struct churn_customer *stored; /* scratch for merging attributes */

    size_t ncols;
    int *col_field; /* per CSV column: enum field, or -1 for an attribute */
    char **col_name;

    struct event_batch eb;
    struct customer_batch *cb;
    uint8_t *pack;
    size_t pack_alloc;
    struct churn_arena pack_arena; /* one event's message while it is packed */

    struct import_stats ev, cu;
    int64_t t0_ns, last_progress_ns, now_ms;
    unsigned long last_line;
    bool progress_shown, warned_monthly_value;
    bool events_need_customers; /* a pending plan change of a pending customer */
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
    interrupted = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

static void
import_usage(FILE *out)
{
    fputs("usage: churnctl import (--customers FILE | --events FILE) (--store DIR | --server "
          "HOST:PORT)\n"
          "                      [--format csv|jsonl] [--reject-file FILE] [--batch N]\n"
          "                      [--progress auto|always|never] [--max-line-bytes N] [--json]\n"
          "  --customers FILE     customer attributes (CSV: customer_id, segment, plan, country,\n"
          "                       signup_at_ms, monthly_value, any other column an attribute)\n"
          "  --events FILE        events (CSV: event_id, customer_id, occurred_at_ms or\n"
          "                       occurred_at, type, kind columns); JSON Lines may mix\n"
          "                       customer and event lines in either\n"
          "  --store DIR          write straight into the store (churnd must be stopped)\n"
          "  --server HOST:PORT   stream to a running churnd (IngestService)\n"
          "  --nats URLS          publish events to a cluster's NATS JetStream, subject\n"
          "                       ingest.<customer> (docs/CLUSTER.md); events files only\n"
          "  --cluster TABLE      with --server PROXY: customers and events to a cluster,\n"
          "                       each batch split by owning shard (the partition table),\n"
          "                       one call per shard with its routing headers; a call a\n"
          "                       shard refuses (moved partition) rejects its rows with the\n"
          "                       reason; a moving partition is retried for 30 s\n"
          "  --format csv|jsonl   default: from the file name (.csv, .jsonl, .ndjson, .json)\n"
          "  --reject-file FILE   bad lines as LINE<TAB>REASON<TAB>original line\n"
          "  --batch N            events per commit or stream [5000]\n"
          "  --progress MODE      progress line on stderr [auto: when stderr is a terminal]\n"
          "  --max-line-bytes N   longer lines are rejected [1048576]\n"
          "  --json               print the summary as JSON\n"
          "Running the same import again resumes an interrupted one: events already stored\n"
          "count as duplicates. Exit: 0 read to the end (even with rejected lines), 1 the\n"
          "store or server failed, 2 usage, 130 interrupted. See docs/IMPORT.md.\n",
          out);
}

/* ---- reasons and rejects ----------------------------------------------------------------- */

static enum churn_err reasonf(char *reason, size_t rlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum churn_err
reasonf(char *reason, size_t rlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, rlen, fmt, ap);
    va_end(ap);
    return CHURN_EINVAL;
}

/* @s shortened to 40 bytes and stripped of control characters, for quoting in a reason. */
static const char *
quote_value(const char *s, char *out, size_t outlen)
{
    size_t i = 0, n = strlen(s);
    for (; i < n && i + 4 < outlen && i < 40; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (i < n && i + 4 < outlen) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Write @len bytes of @s with CR and LF shown as \r and \n (one reject per line). */
static void
put_escaped(FILE *f, const char *s, size_t len, bool tabs_too)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\t' && tabs_too)
            fputc(' ', f);
        else if (c == '\0')
            fputs("\\0", f);
        else
            fputc(c, f);
    }
}

/* The length of @s cut to @max bytes without splitting a UTF-8 sequence when it is valid. */
static size_t
cut_utf8(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && n > max - 4 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return churn_utf8_valid(s, n, NULL) ? n : max;
}

/* One bad line: count it and write it to the reject file (or stderr). 0, or -1 on a write
 * error. */
static int
reject(struct importer *im, struct import_stats *st, unsigned long line, const char *reason,
       const char *orig, size_t orig_len)
{
    st->rejected++;
    orig_len = cut_utf8(orig, orig_len, IMPORT_ORIGINAL_MAX);
    if (im->rejects) {
        fprintf(im->rejects, "%lu\t", line);
        put_escaped(im->rejects, reason, strlen(reason), true);
        fputc('\t', im->rejects);
        put_escaped(im->rejects, orig, orig_len, false);
        if (fputc('\n', im->rejects) == EOF) {
            fprintf(stderr, "churnctl: import: %s: %s\n", im->reject_path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (im->rejects_shown++ < IMPORT_STDERR_REJECTS) {
        if (im->progress_shown)
            fputc('\n', stderr);
        fprintf(stderr, "churnctl: import: %s: line %lu: ", im->path, line);
        put_escaped(stderr, reason, strlen(reason), true);
        fputc('\n', stderr);
    } else if (im->rejects_shown == IMPORT_STDERR_REJECTS + 1) {
        fprintf(stderr, "churnctl: import: more rejected lines not shown (use --reject-file)\n");
    }
    return 0;
}

/* ---- progress and summary ---------------------------------------------------------------- */

static double
elapsed_s(const struct importer *im)
{
    return (double)(churn_mono_ns() - im->t0_ns) / 1e9;
}

static uint64_t
rows_read(const struct importer *im)
{
    return im->ev.read + im->cu.read;
}

static void
format_eta(double s, char *out, size_t len)
{
    if (!(s >= 0) || s > 359999) {
        snprintf(out, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void
progress(struct importer *im, bool final)
{
    if (!im->progress)
        return;
    int64_t now = churn_mono_ns();
    if (!final && now - im->last_progress_ns < IMPORT_PROGRESS_NS)
        return;
    im->last_progress_ns = now;
    double secs = elapsed_s(im);
    uint64_t rows = rows_read(im);
    double done = (double)src_offset(&im->src) / (1024.0 * 1024.0);
    char eta[32] = "--:--", total[32] = "?";
    if (im->src.size >= 0) {
        double all = (double)im->src.size / (1024.0 * 1024.0);
        snprintf(total, sizeof(total), "%.1f", all);
        if (done > 0 && secs > 0)
            format_eta((all - done) / (done / secs), eta, sizeof(eta));
    }
    fprintf(stderr, "\rimport: %" PRIu64 " rows, %.0f rows/s, %.1f / %s MiB, ETA %s   ", rows,
            secs > 0 ? (double)rows / secs : 0.0, done, total, final ? "0:00:00" : eta);
    if (final)
        fputc('\n', stderr);
    im->progress_shown = !final;
}

static void
print_stats_json(const char *name, const struct import_stats *st, bool comma)
{
    printf("\"%s\":{\"read\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"duplicates\":%" PRIu64
           ",\"rejected\":%" PRIu64 "}%s",
           name, st->read, st->accepted, st->duplicates, st->rejected, comma ? "," : "");
}

static void
summary(struct importer *im, const char *outcome)
{
    double secs = elapsed_s(im);
    uint64_t read = rows_read(im), acc = im->ev.accepted + im->cu.accepted;
    uint64_t dup = im->ev.duplicates + im->cu.duplicates, rej = im->ev.rejected + im->cu.rejected;
    double rate = secs > 0 ? (double)read / secs : 0.0;
    if (im->json_out) {
        printf("{\"read\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"duplicates\":%" PRIu64
               ",\"rejected\":%" PRIu64 ",\"seconds\":%.3f,\"rows_per_s\":%.0f,",
               read, acc, dup, rej, secs, rate);
        print_stats_json("customers", &im->cu, true);
        print_stats_json("events", &im->ev, true);
        printf("\"outcome\":\"%s\",\"last_line\":%lu}\n", outcome, im->last_line);
    } else {
        printf("read %" PRIu64 ", accepted %" PRIu64 ", duplicates %" PRIu64 ", rejected %" PRIu64
               ", %.2f s, %.0f rows/s%s%s\n",
               read, acc, dup, rej, secs, rate, strcmp(outcome, "complete") ? " - " : "",
               strcmp(outcome, "complete") ? outcome : "");
    }
    fflush(stdout);
}

/* ---- text to values ---------------------------------------------------------------------- */

static bool
parse_f64(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s)
        return false;
    while (*end == ' ')
        end++;
    if (*end || (errno == ERANGE && isfinite(v) && v != 0))
        return false;
    *out = v;
    return true;
}

static bool
parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno == ERANGE)
        return false;
    while (*end == ' ')
        end++;
    if (*end)
        return false;
    *out = v;
    return true;
}

/* @n digits at @s as a number, or -1. */
static bool
parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")) {
        *out = true;
        return true;
    }
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no")) {
        *out = false;
        return true;
    }
    return false;
}

static enum churn_err
need(const struct row *r, enum field f, const char *type, const char **out, char *reason,
     size_t rlen)
{
    if (!r->f[f])
        return reasonf(reason, rlen, "%s: required for %s events", fields[f].name, type);
    *out = r->f[f];
    return CHURN_OK;
}

static enum churn_err
need_f64(const struct row *r, enum field f, const char *type, double *out, char *reason,
         size_t rlen)
{
    const char *s = NULL;
    char q[64];
    if (need(r, f, type, &s, reason, rlen))
        return CHURN_EINVAL;
    if (!parse_f64(s, out))
        return reasonf(reason, rlen, "%s: not a number ('%s')", fields[f].name,
                       quote_value(s, q, sizeof(q)));
    return CHURN_OK;
}

static enum churn_err
need_i64(const struct row *r, enum field f, const char *type, int64_t *out, char *reason,
         size_t rlen)
{
    const char *s = NULL;
    char q[64];
    if (need(r, f, type, &s, reason, rlen))
        return CHURN_EINVAL;
    if (!parse_i64(s, out))
        return reasonf(reason, rlen, "%s: not an integer ('%s')", fields[f].name,
                       quote_value(s, q, sizeof(q)));
    return CHURN_OK;
}

/* ---- rows to events and customers -------------------------------------------------------- */

/*
 * Fill @ev from @r with strings borrowed from @r and validate it as the server would.
 * Return: CHURN_OK, or an error with @reason naming the column.
 */
static enum churn_err
event_from_row(struct importer *im, const struct row *r, struct churn_event *ev, char *reason,
               size_t rlen)
{
    char q[64];
    memset(ev, 0, sizeof(*ev));
    const char *type = r->f[F_TYPE];
    if (!type)
        return reasonf(reason, rlen, "type: required (%s)", EVENT_TYPES_TEXT);
    if (!churn_event_kind_parse(type, &ev->kind)) {
        if (strcmp(type, "customer") == 0)
            return reasonf(reason, rlen, "type: customer rows belong in a customers file");
        return reasonf(reason, rlen, "type: unknown event type '%s' (%s)",
                       quote_value(type, q, sizeof(q)), EVENT_TYPES_TEXT);
    }
    if (ev->kind == CHURN_EVENT_CHAT && (im->server || im->nats))
        return reasonf(reason, rlen,
                       "type: chat_signal events cannot be sent over IngestService (import "
                       "them with --store)");
    ev->event_id = r->f[F_EVENT_ID];
    ev->customer_id = r->f[F_CUSTOMER_ID];
    enum churn_err err;
    if ((err = churn_id_validate(ev->event_id, "event_id", reason, rlen)) ||
        (err = churn_id_validate(ev->customer_id, "customer_id", reason, rlen)))
        return err;
    if (r->f[F_OCCURRED_AT_MS]) {
        if (!parse_i64(r->f[F_OCCURRED_AT_MS], &ev->occurred_at_ms))
            return reasonf(reason, rlen, "occurred_at_ms: not an integer ('%s')",
                           quote_value(r->f[F_OCCURRED_AT_MS], q, sizeof(q)));
    } else if (r->f[F_OCCURRED_AT]) {
        if (!churn_parse_iso8601_ms(r->f[F_OCCURRED_AT], &ev->occurred_at_ms))
            return reasonf(reason, rlen,
                           "occurred_at: not an ISO-8601 time like 2026-11-22T20:34:13Z ('%s')",
                           quote_value(r->f[F_OCCURRED_AT], q, sizeof(q)));
    } else {
        return reasonf(reason, rlen, "occurred_at_ms: required (or occurred_at, ISO-8601)");
    }
    const char *s = NULL;
    int64_t i64 = 0;
    switch (ev->kind) {
    case CHURN_EVENT_LOGIN:
        break;
    case CHURN_EVENT_SESSION:
        if ((err = need_f64(r, F_MINUTES, type, &ev->session.minutes, reason, rlen)))
            return err;
        break;
    case CHURN_EVENT_ORDER:
        if ((err = need_f64(r, F_AMOUNT, type, &ev->order.amount, reason, rlen)) ||
            (err = need(r, F_STATUS, type, &s, reason, rlen)))
            return err;
        if (!strcasecmp(s, "completed"))
            ev->order.status = CHURN_ORDER_COMPLETED;
        else if (!strcasecmp(s, "cancelled") || !strcasecmp(s, "canceled"))
            ev->order.status = CHURN_ORDER_CANCELLED;
        else if (!strcasecmp(s, "refunded"))
            ev->order.status = CHURN_ORDER_REFUNDED;
        else
            return reasonf(reason, rlen, "status: must be completed, cancelled or refunded ('%s')",
                           quote_value(s, q, sizeof(q)));
        ev->order.order_id = r->f[F_ORDER_ID];
        ev->order.currency = r->f[F_CURRENCY];
        break;
    case CHURN_EVENT_LISTING:
        if ((err = need_i64(r, F_ACTIVE_LISTINGS, type, &i64, reason, rlen)))
            return err;
        ev->listing.active_listings = i64;
        break;
    case CHURN_EVENT_TICKET:
        if ((err = need(r, F_ACTION, type, &s, reason, rlen)))
            return err;
        if (!strcasecmp(s, "opened") || !strcasecmp(s, "open"))
            ev->ticket.action = CHURN_TICKET_OPENED;
        else if (!strcasecmp(s, "resolved"))
            ev->ticket.action = CHURN_TICKET_RESOLVED;
        else
            return reasonf(reason, rlen, "action: must be opened or resolved ('%s')",
                           quote_value(s, q, sizeof(q)));
        ev->ticket.category = r->f[F_CATEGORY];
        break;
    case CHURN_EVENT_REVIEW:
        if ((err = need_i64(r, F_RATING, type, &i64, reason, rlen)))
            return err;
        if (i64 < 1 || i64 > 5)
            return reasonf(reason, rlen, "rating: must be 1..5 (got %lld)", (long long)i64);
        ev->review.rating = (int)i64;
        ev->review.text = r->f[F_TEXT];
        ev->review.sentiment = NAN;
        break;
    case CHURN_EVENT_PLAN_CHANGE:
        s = r->f[F_DIRECTION] ? r->f[F_DIRECTION] : r->f[F_ACTION];
        if (!s)
            return reasonf(reason, rlen, "direction: required for plan_change events");
        if (!strcasecmp(s, "upgrade"))
            ev->plan.action = CHURN_PLAN_UPGRADE;
        else if (!strcasecmp(s, "downgrade"))
            ev->plan.action = CHURN_PLAN_DOWNGRADE;
        else if (!strcasecmp(s, "cancel"))
            ev->plan.action = CHURN_PLAN_CANCEL;
        else
            return reasonf(reason, rlen, "%s: must be upgrade, downgrade or cancel ('%s')",
                           r->f[F_DIRECTION] ? "direction" : "action",
                           quote_value(s, q, sizeof(q)));
        ev->plan.plan = r->f[F_PLAN];
        if (ev->plan.action == CHURN_PLAN_CANCEL && !r->f[F_MONTHLY_VALUE])
            ev->plan.monthly_value = 0;
        else if ((err = need_f64(r, F_MONTHLY_VALUE, type, &ev->plan.monthly_value, reason, rlen)))
            return err;
        break;
    case CHURN_EVENT_CHURN:
        ev->churn.reason = r->f[F_REASON];
        break;
    case CHURN_EVENT_CUSTOM:
        if ((err = need(r, F_NAME, type, &ev->custom.name, reason, rlen)) ||
            (err = need_f64(r, F_VALUE, type, &ev->custom.value, reason, rlen)))
            return err;
        break;
    case CHURN_EVENT_CHAT:
        if ((err = need_f64(r, F_DISSATISFACTION, type, &ev->chat.dissatisfaction, reason, rlen)))
            return err;
        if (r->f[F_ESCALATED] && !parse_bool(r->f[F_ESCALATED], &ev->chat.escalated))
            return reasonf(reason, rlen, "escalated: must be true or false");
        if (r->f[F_CHURN_INTENT] && !parse_bool(r->f[F_CHURN_INTENT], &ev->chat.churn_intent))
            return reasonf(reason, rlen, "churn_intent: must be true or false");
        break;
    default:
        return reasonf(reason, rlen, "type: unknown event type");
    }
    return churn_event_validate(ev, im->now_ms, CHURN_EVENT_SKEW_MS, reason, rlen);
}

/* A bounded text attribute: at most CHURN_NAME_MAX bytes of UTF-8 without controls. */
static enum churn_err
check_attr_text(const char *s, const char *column, char *reason, size_t rlen)
{
    size_t len = strlen(s), bad;
    if (len > CHURN_NAME_MAX)
        return reasonf(reason, rlen, "%s: longer than %d bytes", column, CHURN_NAME_MAX);
    if (!churn_utf8_valid(s, len, &bad))
        return reasonf(reason, rlen, "%s: invalid UTF-8 at byte %zu", column, bad);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return reasonf(reason, rlen, "%s: control character at byte %zu", column, i);
    return CHURN_OK;
}

static enum churn_err
set_attr(struct churn_customer_attrs *a, const char *name, const char *value, char *reason,
         size_t rlen)
{
    double v;
    enum churn_err err;
    if (parse_f64(value, &v) && isfinite(v)) {
        err = churn_customer_attrs_set_num(a, name, v);
        if (err == CHURN_ETOOBIG)
            return reasonf(reason, rlen, "%s: more than %d numeric attributes", name,
                           CHURN_ATTRS_MAX);
    } else {
        if ((err = check_attr_text(value, name, reason, rlen)))
            return err;
        err = churn_customer_attrs_set_cat(a, name, value);
        if (err == CHURN_ETOOBIG)
            return reasonf(reason, rlen, "%s: more than %d categorical attributes", name,
                           CHURN_ATTRS_MAX);
    }
    if (err && !churn_attr_name_check(name, "attribute name", reason, rlen))
        return reasonf(reason, rlen, "%s: not a valid attribute value", name);
    return err;
}

/* Fill @patch (empty fields: keep what is stored) from a customer row. */
static enum churn_err
customer_from_row(const struct row *r, struct churn_customer_attrs *patch, char *reason,
                  size_t rlen)
{
    char q[64];
    enum churn_err err;
    churn_customer_attrs_init(patch);
    if ((err = churn_id_validate(r->f[F_CUSTOMER_ID], "customer_id", reason, rlen)))
        return err;
    struct {
        enum field f;
        char *dst;
    } text[] = {{F_SEGMENT, patch->segment}, {F_PLAN, patch->plan}, {F_COUNTRY, patch->country}};
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        const char *s = r->f[text[i].f];
        if (!s)
            continue;
        if ((err = check_attr_text(s, fields[text[i].f].name, reason, rlen)))
            return err;
        memcpy(text[i].dst, s, strlen(s) + 1);
    }
    int64_t signup = 0;
    if (r->f[F_SIGNUP_AT_MS] || r->f[F_SIGNUP_MS]) {
        enum field f = r->f[F_SIGNUP_AT_MS] ? F_SIGNUP_AT_MS : F_SIGNUP_MS;
        if (!parse_i64(r->f[f], &signup))
            return reasonf(reason, rlen, "%s: not an integer ('%s')", fields[f].name,
                           quote_value(r->f[f], q, sizeof(q)));
    } else if (r->f[F_SIGNUP_AT] && !churn_parse_iso8601_ms(r->f[F_SIGNUP_AT], &signup)) {
        return reasonf(reason, rlen, "signup_at: not an ISO-8601 time ('%s')",
                       quote_value(r->f[F_SIGNUP_AT], q, sizeof(q)));
    }
    if (signup < 0)
        return reasonf(reason, rlen, "signup_at_ms: negative");
    patch->signup_ms = signup;
    if (r->f[F_MONTHLY_VALUE]) {
        double v;
        if (!parse_f64(r->f[F_MONTHLY_VALUE], &v))
            return reasonf(reason, rlen, "monthly_value: not a number ('%s')",
                           quote_value(r->f[F_MONTHLY_VALUE], q, sizeof(q)));
        if (!(v >= 0 && v <= 1e9))
            return reasonf(reason, rlen, "monthly_value: must be in [0, 1e9]");
        patch->monthly_value = v;
    }
    for (size_t i = 0; i < r->n_extra; i++) {
        if (r->extra_value[i] &&
            (err = set_attr(patch, r->extra_name[i], r->extra_value[i], reason, rlen)))
            return err;
    }
    return CHURN_OK;
}

/* Lay the non-empty fields of @p over @base (the server's MERGE mode). */
static enum churn_err
attrs_overlay(struct churn_customer_attrs *base, const struct churn_customer_attrs *p, char *reason,
              size_t rlen)
{
    if (p->segment[0])
        memcpy(base->segment, p->segment, sizeof(base->segment));
    if (p->plan[0])
        memcpy(base->plan, p->plan, sizeof(base->plan));
    if (p->country[0])
        memcpy(base->country, p->country, sizeof(base->country));
    if (p->signup_ms)
        base->signup_ms = p->signup_ms;
    if (!isnan(p->monthly_value))
        base->monthly_value = p->monthly_value;
    for (unsigned i = 0; i < p->n_num; i++)
        if (churn_customer_attrs_set_num(base, p->num[i].name, p->num[i].value))
            return reasonf(reason, rlen, "%s: more than %d numeric attributes with the stored ones",
                           p->num[i].name, CHURN_ATTRS_MAX);
    for (unsigned i = 0; i < p->n_cat; i++)
        if (churn_customer_attrs_set_cat(base, p->cat[i].name, p->cat[i].value))
            return reasonf(reason, rlen,
                           "%s: more than %d categorical attributes with the stored ones",
                           p->cat[i].name, CHURN_ATTRS_MAX);
    return CHURN_OK;
}

static bool
attrs_equal(const struct churn_customer_attrs *a, const struct churn_customer_attrs *b)
{
    if (strcmp(a->segment, b->segment) || strcmp(a->plan, b->plan) ||
        strcmp(a->country, b->country) || a->signup_ms != b->signup_ms || a->n_num != b->n_num ||
        a->n_cat != b->n_cat)
        return false;
    if (!(a->monthly_value == b->monthly_value ||
          (isnan(a->monthly_value) && isnan(b->monthly_value))))
        return false;
    for (unsigned i = 0; i < a->n_num; i++)
        if (strcmp(a->num[i].name, b->num[i].name) || a->num[i].value != b->num[i].value)
            return false;
    for (unsigned i = 0; i < a->n_cat; i++)
        if (strcmp(a->cat[i].name, b->cat[i].name) || strcmp(a->cat[i].value, b->cat[i].value))
            return false;
    return true;
}

/* ---- events: batch, store, server -------------------------------------------------------- */

static int
event_batch_init(struct event_batch *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
    b->ev = churn_calloc(cap, sizeof(*b->ev));
    b->res = churn_calloc(cap, sizeof(*b->res));
    b->line = churn_calloc(cap, sizeof(*b->line));
    b->orig = churn_calloc(cap, sizeof(*b->orig));
    b->orig_len = churn_calloc(cap, sizeof(*b->orig_len));
    churn_arena_init(&b->strings, IMPORT_ARENA_MAX);
    return b->ev && b->res && b->line && b->orig && b->orig_len ? 0 : -1;
}

static void
event_batch_fini(struct event_batch *b)
{
    churn_free(b->ev);
    churn_free(b->res);
    churn_free(b->line);
    churn_free(b->orig);
    churn_free(b->orig_len);
    churn_arena_fini(&b->strings);
}

static int
check_pack_room(struct importer *im, size_t need_bytes)
{
    if (need_bytes <= im->pack_alloc)
        return 0;
    if (need_bytes > IMPORT_PACK_MAX) {
        fprintf(stderr, "churnctl: import: a request of %zu bytes is over %u bytes\n", need_bytes,
                IMPORT_PACK_MAX);
        return -1;
    }
    uint8_t *p = churn_realloc(im->pack, need_bytes);
    if (!p) {
        fprintf(stderr, "churnctl: import: out of memory\n");
        return -1;
    }
    im->pack = p;
    im->pack_alloc = need_bytes;
    return 0;
}

/* Serialize one domain event as a RecordEventsRequest into im->pack; its length, or 0. */
static size_t
pack_event(struct importer *im, const struct churn_event *ev)
{
    Churn__V1__RecordEventsRequest req = CHURN__V1__RECORD_EVENTS_REQUEST__INIT;
    churn_arena_reset(&im->pack_arena);
    req.event = churn__event_to_proto(ev, &im->pack_arena);
    if (!req.event)
        return 0; /* chat signals are refused before they reach a batch */
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    if (check_pack_room(im, len ? len : 1))
        return 0;
    return protobuf_c_message_pack(&req.base, im->pack);
}

static int
server_failed(const char *what, const struct churn_client_status *st)
{
    fprintf(stderr, "churnctl: import: %s: %s: %s\n", what, churn_transport_status_name(st->code),
            st->details ? st->details : "");
    return -1;
}

/* The rows of a batch not yet @sent that share the owner of row @first in @t (every row when
 * @t is NULL: one server), in order, into @idx; how many. @id_of gives row i's customer. */
static size_t
owner_group(const struct churn_cluster_table *t, const char *(*id_of)(const void *, size_t),
            const void *batch, size_t n, size_t first, bool *sent, size_t *idx)
{
    const char *id = id_of(batch, first);
    const struct churn_cluster_shard *owner = t ? churn_cluster_owner(t, id, strlen(id)) : NULL;
    size_t k = 0;
    for (size_t i = first; i < n; i++) {
        if (sent[i])
            continue;
        const char *c = id_of(batch, i);
        if (!owner || churn_cluster_owner(t, c, strlen(c)) == owner) {
            idx[k++] = i;
            sent[i] = true;
        }
    }
    return k;
}

/* The @n rows of @batch to the server through @send: in one call, or with a partition table
 * one call per owning shard (in the order of the shards' first rows). */
static int
send_by_owner(struct importer *im, const char *(*id_of)(const void *, size_t), const void *batch,
              size_t n, int (*send)(struct importer *, const size_t *, size_t))
{
    size_t *idx = churn_malloc(n * sizeof(*idx));
    bool *sent = churn_calloc(n, sizeof(*sent));
    int rc = idx && sent ? 0 : -1;
    if (rc)
        fprintf(stderr, "churnctl: import: out of memory\n");
    for (size_t first = 0; !rc && first < n; first++)
        if (!sent[first])
            rc = send(im, idx, owner_group(im->table, id_of, batch, n, first, sent, idx));
    churn_free(idx);
    churn_free(sent);
    return rc;
}

static const char *
event_customer(const void *batch, size_t i)
{
    return ((const struct event_batch *)batch)->ev[i].customer_id;
}

/* Every row of the group @idx[0..@n) rejected with the call's status @st (a refusal that
 * names why, e.g. a shard that does not own them any more): 0, or -1 on a write error. */
static int
reject_group(struct importer *im, const size_t *idx, size_t n, const struct churn_client_status *st)
{
    struct event_batch *b = &im->eb;
    char reason[1024];
    snprintf(reason, sizeof(reason), "RecordEvents: %s: %s", churn_transport_status_name(st->code),
             st->details ? st->details : "");
    for (size_t j = 0; j < n; j++)
        if (reject(im, &im->ev, b->line[idx[j]], reason, b->orig[idx[j]], b->orig_len[idx[j]]))
            return -1;
    return 0;
}

/* The summary of one RecordEvents of the rows @idx[0..@n): counted, rejections per row. */
static int
count_events_summary(struct importer *im, const size_t *idx, size_t n,
                     const Churn__V1__RecordEventsResponse *resp)
{
    struct event_batch *b = &im->eb;
    if (resp->received != (int64_t)n) {
        fprintf(stderr,
                "churnctl: import: RecordEvents: the server received %" PRId64 " of %zu events\n",
                resp->received, n);
        return -1;
    }
    im->ev.accepted += (uint64_t)resp->accepted;
    im->ev.duplicates += (uint64_t)resp->duplicates;
    for (size_t i = 0; i < resp->n_rejections; i++) {
        const Churn__V1__Rejection *rj = resp->rejections[i];
        if (rj->index < 0 || (size_t)rj->index >= n)
            continue;
        size_t k = idx[rj->index];
        if (reject(im, &im->ev, b->line[k], rj->reason, b->orig[k], b->orig_len[k]))
            return -1;
    }
    if (resp->rejected > (int64_t)resp->n_rejections) {
        uint64_t more = (uint64_t)resp->rejected - resp->n_rejections;
        im->ev.rejected += more;
        fprintf(stderr,
                "churnctl: import: the server rejected %" PRIu64 " more events of lines %lu-%lu "
                "without listing them\n",
                more, b->line[idx[0]], b->line[idx[n - 1]]);
    }
    return 0;
}

/* One RecordEvents stream of the rows @idx[0..@n); *@st gets its status. With a partition
 * table the stream carries the routing headers of its first customer (the proxy routes the
 * whole stream on them; every row has that customer's owner). 0, or -1 after a message. */
static int
send_event_group(struct importer *im, const size_t *idx, size_t n,
                 Churn__V1__RecordEventsResponse **resp, struct churn_client_status *st)
{
    struct event_batch *b = &im->eb;
    struct churn_client_stream *s;
    struct churn_client_header hdr[2];
    char part[12];
    size_t n_hdr =
        churnctl_routing_headers(im->ctl, im->table ? b->ev[idx[0]].customer_id : NULL, part, hdr);
    bool ok = churn_client_stream_open(im->ctl->client, METHOD_RECORD_EVENTS, im->ctl->timeout_ms,
                                       &s) == CHURN_OK;
    if (!ok) {
        fprintf(stderr, "churnctl: import: cannot reach %s\n", im->server);
        return -1;
    }
    for (size_t i = 0; ok && i < n_hdr; i++)
        ok = churn_client_stream_set_header(s, hdr[i].key, hdr[i].value) == CHURN_OK;
    for (size_t i = 0; ok && i < n; i++) {
        size_t len = pack_event(im, &b->ev[idx[i]]);
        ok = len != 0 && churn_client_stream_send(s, im->pack, len) == CHURN_OK;
        /* else the status says why the server ended the stream */
    }
    churn_client_stream_close_send(s);
    void *msg = NULL;
    size_t len = 0;
    bool got = churn_client_stream_recv(s, &msg, &len) == CHURN_OK;
    churn_client_stream_finish(s, false, st);
    int rc = 0;
    if (st->code == 0 &&
        (!got || !(*resp = churn__v1__record_events_response__unpack(NULL, len, msg)))) {
        fprintf(stderr, "churnctl: import: RecordEvents: no valid summary from the server\n");
        rc = -1;
    }
    churn_free(msg);
    return rc;
}

/* A group's call, retried while its partition is moving (UNAVAILABLE from a shard names the
 * move; the events are idempotent on their ids, so a resend never doubles one). */
static int
record_event_group(struct importer *im, const size_t *idx, size_t n)
{
    for (int attempt = 0;; attempt++) {
        Churn__V1__RecordEventsResponse *resp = NULL;
        struct churn_client_status st = {0};
        int rc = send_event_group(im, idx, n, &resp, &st);
        bool moving = st.code == 14 && st.details && strstr(st.details, "is moving");
        if (!rc && moving && attempt < IMPORT_MOVE_RETRIES) {
            churn_client_status_clear(&st);
            usleep(IMPORT_MOVE_RETRY_US);
            continue;
        }
        if (!rc && st.code != 0)
            rc = im->table && (st.code == 9 || st.code == 3 || moving) /* per row */
                     ? reject_group(im, idx, n, &st)
                     : server_failed("RecordEvents", &st);
        if (!rc && resp)
            rc = count_events_summary(im, idx, n, resp);
        if (resp)
            churn__v1__record_events_response__free_unpacked(resp, NULL);
        churn_client_status_clear(&st);
        return rc;
    }
}

static int
flush_events_server(struct importer *im)
{
    return send_by_owner(im, event_customer, &im->eb, im->eb.n, record_event_group);
}

static int
flush_events_store(struct importer *im)
{
    struct event_batch *b = &im->eb;
    enum churn_err err = churn_store_apply_events(im->store, b->ev, b->n, churn_now_ms(), b->res);
    if (err) {
        fprintf(stderr,
                "churnctl: import: store: %s (%s); the %zu events from line %lu on were not "
                "written: run the same import again to resume\n",
                churn_store_last_error(), churn_strerror(err), b->n, b->line[0]);
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        switch (b->res[i].status) {
        case CHURN_EVENT_ACCEPTED:
            im->ev.accepted++;
            break;
        case CHURN_EVENT_DUPLICATE:
            im->ev.duplicates++;
            break;
        case CHURN_EVENT_REJECTED:
            if (reject(im, &im->ev, b->line[i], b->res[i].reason, b->orig[i], b->orig_len[i]))
                return -1;
            break;
        }
    }
    return 0;
}

/* Publish the batch's good events (the lines that cannot be a subject are rejected on the
 * first pass); their number, or -1. */
static long
publish_batch(struct importer *im, bool first_pass)
{
    struct event_batch *b = &im->eb;
    long sent = 0;
    for (size_t i = 0; i < b->n; i++) {
        char reason[CHURN_REASON_MAX + 160];
        if (!ctl_publisher_subject_ok(b->ev[i].customer_id, reason, sizeof(reason))) {
            if (first_pass && reject(im, &im->ev, b->line[i], reason, b->orig[i], b->orig_len[i]))
                return -1;
            continue;
        }
        size_t len = pack_event(im, &b->ev[i]);
        if (len == 0 || ctl_publisher_send(im->publisher, b->ev[i].customer_id, im->pack, len))
            return -1;
        sent++;
    }
    return sent;
}

/* Publish the batch to JetStream; the events count as accepted once JetStream stored them
 * all. Refused publishes (a partition's stream electing a leader after a node died) resend
 * the batch: the shards apply an event id once. */
static int
flush_events_nats(struct importer *im)
{
    for (int attempt = 0;; attempt++) {
        long sent = publish_batch(im, attempt == 0);
        int refused = sent < 0 ? -1 : ctl_publisher_flush(im->publisher);
        if (refused == 0) {
            im->ev.accepted += (uint64_t)sent;
            return 0;
        }
        if (refused < 0 || attempt == IMPORT_NATS_RETRIES) {
            if (refused > 0)
                fprintf(stderr,
                        "churnctl: import: JetStream refused %d events of lines %lu-%lu after %d "
                        "attempts (first: %s)\n",
                        refused, im->eb.line[0], im->eb.line[im->eb.n - 1], attempt + 1,
                        ctl_publisher_first_error(im->publisher));
            return -1;
        }
        usleep(IMPORT_NATS_RETRY_MS * 1000);
    }
}

static int flush_customers(struct importer *im);
static bool customer_batch_has(struct customer_batch *b, const char *id, size_t index, bool add);

static int
flush_events(struct importer *im)
{
    if (im->eb.n == 0)
        return 0;
    /*
     * A plan change starts the customer's plan history from its stored plan: when the batch
     * holds one for a customer whose attributes are still pending, they go in first.
     */
    if (im->events_need_customers && flush_customers(im))
        return -1;
    im->events_need_customers = false;
    int rc = im->store  ? flush_events_store(im)
             : im->nats ? flush_events_nats(im)
                        : flush_events_server(im);
    im->eb.n = 0;
    churn_arena_reset(&im->eb.strings);
    progress(im, false);
    return rc;
}

static const char *
arena_copy(struct churn_arena *a, const char *s, bool *ok)
{
    if (!s)
        return NULL;
    const char *c = churn_arena_strdup(a, s);
    if (!c)
        *ok = false;
    return c;
}

/* Copy @ev's strings and the original line into the batch. false when the arena is full. */
static bool
event_batch_push(struct event_batch *b, const struct churn_event *ev, unsigned long line,
                 const char *orig, size_t orig_len)
{
    struct churn_arena *a = &b->strings;
    struct churn_event *e = &b->ev[b->n];
    bool ok = true;
    *e = *ev;
    e->event_id = arena_copy(a, ev->event_id, &ok);
    e->customer_id = arena_copy(a, ev->customer_id, &ok);
    switch (ev->kind) {
    case CHURN_EVENT_ORDER:
        e->order.order_id = arena_copy(a, ev->order.order_id, &ok);
        e->order.currency = arena_copy(a, ev->order.currency, &ok);
        break;
    case CHURN_EVENT_TICKET:
        e->ticket.category = arena_copy(a, ev->ticket.category, &ok);
        break;
    case CHURN_EVENT_REVIEW:
        e->review.text = arena_copy(a, ev->review.text, &ok);
        break;
    case CHURN_EVENT_PLAN_CHANGE:
        e->plan.plan = arena_copy(a, ev->plan.plan, &ok);
        break;
    case CHURN_EVENT_CHURN:
        e->churn.reason = arena_copy(a, ev->churn.reason, &ok);
        break;
    case CHURN_EVENT_CUSTOM:
        e->custom.name = arena_copy(a, ev->custom.name, &ok);
        break;
    default:
        break;
    }
    orig_len = cut_utf8(orig, orig_len, IMPORT_ORIGINAL_MAX);
    b->orig[b->n] = churn_arena_memdup(a, orig, orig_len ? orig_len : 1);
    b->orig_len[b->n] = orig_len;
    b->line[b->n] = line;
    if (!ok || !b->orig[b->n])
        return false;
    b->n++;
    return true;
}

static int
add_event(struct importer *im, const struct churn_event *ev, unsigned long line, const char *orig,
          size_t orig_len)
{
    if (!event_batch_push(&im->eb, ev, line, orig, orig_len)) {
        if (im->eb.n == 0) {
            fprintf(stderr, "churnctl: import: out of memory at line %lu\n", line);
            return -1;
        }
        if (flush_events(im) || !event_batch_push(&im->eb, ev, line, orig, orig_len))
            return -1;
    }
    if (ev->kind == CHURN_EVENT_PLAN_CHANGE && im->cb && im->cb->n &&
        customer_batch_has(im->cb, ev->customer_id, 0, false))
        im->events_need_customers = true;
    return im->eb.n == im->eb.cap ? flush_events(im) : 0;
}

/* ---- customers: batch, store, server ----------------------------------------------------- */

static struct customer_batch *
customer_batch_new(size_t cap)
{
    struct customer_batch *b = churn_calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->cap = cap;
    b->id = churn_calloc(cap, sizeof(*b->id));
    b->patch = churn_calloc(cap, sizeof(*b->patch));
    b->merged = churn_calloc(cap, sizeof(*b->merged));
    b->items = churn_calloc(cap, sizeof(*b->items));
    b->line = churn_calloc(cap, sizeof(*b->line));
    b->orig = churn_calloc(cap, sizeof(*b->orig));
    b->orig_len = churn_calloc(cap, sizeof(*b->orig_len));
    if (!b->id || !b->patch || !b->merged || !b->items || !b->line || !b->orig || !b->orig_len) {
        churn_free(b->id);
        churn_free(b->patch);
        churn_free(b->merged);
        churn_free(b->items);
        churn_free(b->line);
        churn_free(b->orig);
        churn_free(b->orig_len);
        churn_free(b);
        return NULL;
    }
    return b;
}

static void
customer_batch_free(struct customer_batch *b)
{
    if (!b)
        return;
    churn_free(b->id);
    churn_free(b->patch);
    churn_free(b->merged);
    churn_free(b->items);
    churn_free(b->line);
    churn_free(b->orig);
    churn_free(b->orig_len);
    churn_free(b);
}

#define CB_SLOTS (sizeof(((struct customer_batch *)0)->slot) / sizeof(int))

static size_t
id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % CB_SLOTS);
}

/* Whether @id is already in the batch; if not and @add, remember it at index @index. */
static bool
customer_batch_has(struct customer_batch *b, const char *id, size_t index, bool add)
{
    size_t h = id_hash(id);
    for (size_t probe = 0; probe < CB_SLOTS; probe++, h = (h + 1) % CB_SLOTS) {
        if (b->slot[h] == 0) {
            if (add)
                b->slot[h] = (int)index + 1;
            return false;
        }
        if (strcmp(b->id[b->slot[h] - 1], id) == 0)
            return true;
    }
    return false;
}

static int
flush_customers_store(struct importer *im)
{
    struct customer_batch *b = im->cb;
    char reason[IMPORT_REASON_MAX];
    size_t n_items = 0;
    for (size_t i = 0; i < b->n; i++) {
        enum churn_err err = churn_store_get_customer(im->store, b->id[i], im->stored);
        if (err && err != CHURN_ENOTFOUND) {
            if (err == CHURN_ECORRUPT || err == CHURN_EINVAL) {
                snprintf(reason, sizeof(reason), "stored record: %s", churn_store_last_error());
                if (reject(im, &im->cu, b->line[i], reason, b->orig[i], b->orig_len[i]))
                    return -1;
                continue;
            }
            fprintf(stderr, "churnctl: import: store: %s\n", churn_store_last_error());
            return -1;
        }
        bool found = err == CHURN_OK;
        if (found)
            b->merged[i] = im->stored->attrs;
        else
            churn_customer_attrs_init(&b->merged[i]);
        if (attrs_overlay(&b->merged[i], &b->patch[i], reason, sizeof(reason))) {
            if (reject(im, &im->cu, b->line[i], reason, b->orig[i], b->orig_len[i]))
                return -1;
            continue;
        }
        if (found && im->stored->n_plan_changes) {
            /* the store keeps the plan of plan change events over imported attributes */
            b->merged[i].monthly_value = im->stored->attrs.monthly_value;
            if (im->stored->attrs.plan[0])
                memcpy(b->merged[i].plan, im->stored->attrs.plan, sizeof(b->merged[i].plan));
        }
        if (found && attrs_equal(&im->stored->attrs, &b->merged[i])) {
            im->cu.duplicates++;
            continue;
        }
        b->items[n_items].customer_id = b->id[i];
        b->items[n_items].attrs = &b->merged[i];
        n_items++;
    }
    if (n_items == 0)
        return 0;
    enum churn_err err = churn_store_upsert_customers(im->store, b->items, n_items);
    if (err == CHURN_OK) {
        im->cu.accepted += n_items;
        return 0;
    }
    if (err != CHURN_EINVAL && err != CHURN_ETOOBIG) {
        fprintf(stderr,
                "churnctl: import: store: %s (%s); customers from line %lu on were not "
                "written: run the same import again to resume\n",
                churn_store_last_error(), churn_strerror(err), b->line[0]);
        return -1;
    }
    /* One bad item fails the whole transaction: write them one by one to find it. */
    for (size_t k = 0; k < n_items; k++) {
        size_t i = (size_t)(b->items[k].attrs - b->merged);
        err = churn_store_upsert_customers(im->store, &b->items[k], 1);
        if (err == CHURN_OK) {
            im->cu.accepted++;
        } else if (err == CHURN_EINVAL || err == CHURN_ETOOBIG) {
            if (reject(im, &im->cu, b->line[i], churn_store_last_error(), b->orig[i],
                       b->orig_len[i]))
                return -1;
        } else {
            fprintf(stderr, "churnctl: import: store: %s\n", churn_store_last_error());
            return -1;
        }
    }
    return 0;
}

/* One UpsertCustomers of the batch's customers @idx[0..@n), with x-customer-id @header when
 * not NULL (a cluster's proxy routes on it: every customer of the call has its owner). */
static int
upsert_group(struct importer *im, const size_t *idx, size_t n, const char *header)
{
    struct customer_batch *b = im->cb;
    struct churn_arena a;
    churn_arena_init(&a, 0);
    int rc = -1;
    void *resp_bytes = NULL;
    size_t resp_len = 0;
    struct churn_client_status st = {0};
    Churn__V1__UpsertCustomersResponse *resp = NULL;
    Churn__V1__UpsertCustomersRequest req = CHURN__V1__UPSERT_CUSTOMERS_REQUEST__INIT;
    req.mode = CHURN__V1__UPSERT_MODE__UPSERT_MODE_MERGE;
    req.n_customers = n;
    req.customers = churn_arena_alloc(&a, n * sizeof(*req.customers));
    if (!req.customers)
        goto out_nomem;
    for (size_t i = 0; i < n; i++) {
        const struct churn_customer_attrs *p = &b->patch[idx[i]];
        Churn__V1__Customer *c = churn_arena_alloc(&a, sizeof(*c));
        bool mv = !isnan(p->monthly_value);
        Churn__V1__Customer__NumericAttributesEntry *ne =
            churn_arena_alloc(&a, (p->n_num + 1) * sizeof(*ne));
        Churn__V1__Customer__NumericAttributesEntry **nl =
            churn_arena_alloc(&a, (p->n_num + 1) * sizeof(*nl));
        Churn__V1__Customer__CategoricalAttributesEntry *ce =
            churn_arena_alloc(&a, (p->n_cat + 1) * sizeof(*ce));
        Churn__V1__Customer__CategoricalAttributesEntry **cl =
            churn_arena_alloc(&a, (p->n_cat + 1) * sizeof(*cl));
        if (!c || !ne || !nl || !ce || !cl)
            goto out_nomem;
        churn__v1__customer__init(c);
        c->customer_id = b->id[idx[i]];
        c->segment = (char *)p->segment;
        c->plan = (char *)p->plan;
        c->country = (char *)p->country;
        c->signup_at_ms = p->signup_ms;
        for (unsigned k = 0; k < p->n_num; k++) {
            churn__v1__customer__numeric_attributes_entry__init(&ne[k]);
            ne[k].key = (char *)p->num[k].name;
            ne[k].value = p->num[k].value;
            nl[k] = &ne[k];
        }
        c->n_numeric_attributes = p->n_num;
        if (mv) {
            /* The API's Customer has no monthly value: keep it as a numeric attribute. */
            churn__v1__customer__numeric_attributes_entry__init(&ne[p->n_num]);
            ne[p->n_num].key = "monthly_value";
            ne[p->n_num].value = p->monthly_value;
            nl[c->n_numeric_attributes++] = &ne[p->n_num];
            if (!im->warned_monthly_value) {
                im->warned_monthly_value = true;
                fprintf(stderr, "churnctl: import: UpsertCustomers has no monthly_value field: "
                                "it is sent as the numeric attribute monthly_value\n");
            }
        }
        c->numeric_attributes = nl;
        for (unsigned k = 0; k < p->n_cat; k++) {
            churn__v1__customer__categorical_attributes_entry__init(&ce[k]);
            ce[k].key = (char *)p->cat[k].name;
            ce[k].value = (char *)p->cat[k].value;
            cl[k] = &ce[k];
        }
        c->n_categorical_attributes = p->n_cat;
        c->categorical_attributes = cl;
        req.customers[i] = c;
    }
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    if (check_pack_room(im, len ? len : 1))
        goto out;
    protobuf_c_message_pack(&req.base, im->pack);
    struct churn_client_header hdr[2];
    char part[12];
    size_t n_hdr = churnctl_routing_headers(im->ctl, header, part, hdr);
    if (churn_client_unary_with(im->ctl->client, METHOD_UPSERT_CUSTOMERS, hdr, n_hdr, im->pack, len,
                                im->ctl->timeout_ms, &resp_bytes, &resp_len, &st) != CHURN_OK) {
        fprintf(stderr, "churnctl: import: cannot reach %s\n", im->server);
        goto out;
    }
    if (st.code != 0) {
        server_failed("UpsertCustomers", &st);
        goto out;
    }
    resp = churn__v1__upsert_customers_response__unpack(NULL, resp_len, resp_bytes);
    if (!resp || resp->n_results != n) {
        fprintf(stderr, "churnctl: import: UpsertCustomers: not a valid answer\n");
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        const Churn__V1__UpsertCustomersResult *r = resp->results[j];
        size_t i = idx[j];
        switch (r->status) {
        case CHURN__V1__UPSERT_STATUS__UPSERT_STATUS_CREATED:
        case CHURN__V1__UPSERT_STATUS__UPSERT_STATUS_UPDATED:
            im->cu.accepted++;
            break;
        case CHURN__V1__UPSERT_STATUS__UPSERT_STATUS_UNCHANGED:
            im->cu.duplicates++;
            break;
        default:
            if (reject(im, &im->cu, b->line[i],
                       r->error && r->error->message ? r->error->message : "rejected by the server",
                       b->orig[i], b->orig_len[i]))
                goto out;
            break;
        }
    }
    rc = 0;
    goto out;
out_nomem:
    fprintf(stderr, "churnctl: import: out of memory\n");
out:
    if (resp)
        churn__v1__upsert_customers_response__free_unpacked(resp, NULL);
    churn_free(resp_bytes);
    churn_client_status_clear(&st);
    churn_arena_fini(&a);
    return rc;
}

static const char *
customer_id_at(const void *batch, size_t i)
{
    return ((const struct customer_batch *)batch)->id[i];
}

/* One UpsertCustomers of the rows @idx[0..@n), routed on the first one's owner in a cluster. */
static int
upsert_owner_group(struct importer *im, const size_t *idx, size_t n)
{
    return upsert_group(im, idx, n, im->table ? im->cb->id[idx[0]] : NULL);
}

static int
flush_customers_server(struct importer *im)
{
    return send_by_owner(im, customer_id_at, im->cb, im->cb->n, upsert_owner_group);
}

static int
flush_customers(struct importer *im)
{
    if (!im->cb || im->cb->n == 0)
        return 0;
    int rc = im->store ? flush_customers_store(im) : flush_customers_server(im);
    im->cb->n = 0;
    memset(im->cb->slot, 0, sizeof(im->cb->slot));
    progress(im, false);
    return rc;
}

static int
add_customer(struct importer *im, const char *id, const struct churn_customer_attrs *patch,
             unsigned long line, const char *orig, size_t orig_len)
{
    if (!im->cb) {
        size_t cap = im->batch < IMPORT_CUSTOMERS_MAX ? im->batch : IMPORT_CUSTOMERS_MAX;
        if (!(im->cb = customer_batch_new(cap))) {
            fprintf(stderr, "churnctl: import: out of memory\n");
            return -1;
        }
        if (im->store && !(im->stored = churn_malloc(sizeof(*im->stored)))) {
            fprintf(stderr, "churnctl: import: out of memory\n");
            return -1;
        }
    }
    struct customer_batch *b = im->cb;
    /* A customer twice in one batch: commit the first before merging the second. */
    if (customer_batch_has(b, id, 0, false) && flush_customers(im))
        return -1;
    size_t i = b->n++;
    snprintf(b->id[i], sizeof(b->id[i]), "%s", id);
    customer_batch_has(b, id, i, true);
    b->patch[i] = *patch;
    b->line[i] = line;
    b->orig_len[i] = cut_utf8(orig, orig_len, IMPORT_ORIGINAL_MAX);
    memcpy(b->orig[i], orig, b->orig_len[i]);
    return b->n == b->cap ? flush_customers(im) : 0;
}

/* ---- records to rows --------------------------------------------------------------------- */

/*
 * The CSV reader's message ("line 3: unterminated quoted field") for a record that began on
 * physical line @first: the text after the line number, with the real line when it differs.
 */
static void
csv_reason(const char *msg, unsigned long first, char *reason, size_t rlen)
{
    unsigned long rel = 1;
    const char *text = msg;
    if (strncmp(msg, "line ", 5) == 0) {
        char *end;
        rel = strtoul(msg + 5, &end, 10);
        if (end[0] == ':' && end[1] == ' ')
            text = end + 2;
    }
    if (rel > 1)
        snprintf(reason, rlen, "%s (at line %lu)", text, first + rel - 1);
    else
        snprintf(reason, rlen, "%s", text);
}

/* Parse one CSV record with the project's reader. *@csv_out must be closed by the caller. */
static enum churn_err
row_from_csv(struct importer *im, const struct record *rec, struct row *row,
             struct churn_csv **csv_out, char *reason, size_t rlen)
{
    struct churn_csv_options opts = {.max_record = im->max_line};
    struct churn_csv *csv;
    bool eof = false;
    if (churn_csv_open_mem(rec->data, rec->len, &opts, &csv) != CHURN_OK)
        return reasonf(reason, rlen, "out of memory");
    *csv_out = csv;
    enum churn_err err = churn_csv_next(csv, &eof);
    if (err) {
        csv_reason(churn_csv_error(csv), rec->line, reason, rlen);
        return err;
    }
    if (eof)
        return CHURN_ENOTFOUND; /* nothing but a byte-order mark */
    size_t n = churn_csv_nfields(csv);
    if (n != im->ncols)
        return reasonf(reason, rlen, "%zu fields, expected %zu", n, im->ncols);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = churn_csv_field(csv, i, &len);
        if (len == 0)
            continue;
        /* churn/ident.h's rule on the field's real length: a NUL byte never cuts it short */
        err = churn_ident_check_text(s, len, 0, im->col_name[i], reason, rlen);
        if (err)
            return err;
        if (im->col_field[i] >= 0) {
            row->f[im->col_field[i]] = s;
        } else {
            row->extra_name[row->n_extra] = im->col_name[i];
            row->extra_value[row->n_extra++] = s;
        }
    }
    return CHURN_OK;
}

/* JSON value → text borrowed from @v or kept in @row; NULL for null. */
static enum churn_err
json_text(struct row *row, const char *key, json_t *v, const char **out, char *reason, size_t rlen)
{
    char *slot = row->num_text[row->n_num_text];
    switch (json_typeof(v)) {
    case JSON_STRING:
        *out = json_string_length(v) ? json_string_value(v) : NULL;
        return churn_ident_check_text(json_string_value(v), json_string_length(v), 0, key, reason,
                                      rlen);
    case JSON_INTEGER:
        snprintf(slot, IMPORT_NUM_TEXT, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(slot, IMPORT_NUM_TEXT, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        *out = "true";
        return CHURN_OK;
    case JSON_FALSE:
        *out = "false";
        return CHURN_OK;
    case JSON_NULL:
        *out = NULL;
        return CHURN_OK;
    default:
        return reasonf(reason, rlen, "%.64s: must be a string, number, boolean or null", key);
    }
    row->n_num_text++;
    *out = slot;
    return CHURN_OK;
}

/* Parse one JSON Lines record into @row; *@customer says which kind of line it is. */
static enum churn_err
row_from_json(struct importer *im, const struct record *rec, struct row *row, json_t **root_out,
              bool *customer, char *reason, size_t rlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(rec->data, rec->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return reasonf(reason, rlen, "invalid JSON at column %d: %s", jerr.column, jerr.text);
    *root_out = root;
    if (!json_is_object(root))
        return reasonf(reason, rlen, "not a JSON object");
    json_t *type = json_object_get(root, "type");
    if (type && !json_is_string(type))
        return reasonf(reason, rlen, "type: must be a string");
    const char *type_s = type ? json_string_value(type) : NULL;
    *customer = type_s ? strcmp(type_s, "customer") == 0 : im->customers_file;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        int f = field_find(key, *customer ? FC : FE, false);
        if (f < 0 && (!*customer || strcmp(key, "type") == 0))
            continue; /* other keys of an event line are ignored */
        const char *text = NULL;
        enum churn_err err = json_text(row, key, v, &text, reason, rlen);
        if (err)
            return err;
        if (f >= 0) {
            row->f[f] = text;
        } else {
            if ((err = churn_attr_name_check(key, "attribute name", reason, rlen)))
                return err;
            if (row->n_extra == IMPORT_EXTRA_MAX)
                return reasonf(reason, rlen, "more than %d attributes", IMPORT_EXTRA_MAX);
            row->extra_name[row->n_extra] = key;
            row->extra_value[row->n_extra++] = text;
        }
    }
    return CHURN_OK;
}

/* ---- the main loop ----------------------------------------------------------------------- */

/* Read and check the CSV header. 0, or EXIT_USAGE after a message. */
static int
read_header(struct importer *im)
{
    struct record rec;
    int got = src_next(&im->src, &rec);
    if (got < 0) {
        fprintf(stderr, "churnctl: import: %s: %s\n", im->path, strerror(errno));
        return EXIT_STATUS;
    }
    if (got == 0) {
        fprintf(stderr, "churnctl: import: %s: empty file (a CSV file starts with a header)\n",
                im->path);
        return EXIT_USAGE;
    }
    if (rec.too_long || rec.cut_short) {
        fprintf(stderr, "churnctl: import: %s: line %lu: header longer than %zu bytes\n", im->path,
                rec.line, im->max_line);
        return EXIT_USAGE;
    }
    struct churn_csv_options opts = {.max_record = im->max_line};
    struct churn_csv *csv;
    bool eof;
    if (churn_csv_open_mem(rec.data, rec.len, &opts, &csv) != CHURN_OK)
        return EXIT_STATUS;
    int rc = 0;
    if (churn_csv_next(csv, &eof) != CHURN_OK || eof) {
        fprintf(stderr, "churnctl: import: %s: header: %s\n", im->path,
                eof ? "empty" : churn_csv_error(csv));
        rc = EXIT_USAGE;
        goto out;
    }
    im->ncols = churn_csv_nfields(csv);
    im->col_field = churn_calloc(im->ncols, sizeof(*im->col_field));
    im->col_name = churn_calloc(im->ncols, sizeof(*im->col_name));
    if (!im->col_field || !im->col_name) {
        rc = EXIT_STATUS;
        goto out;
    }
    bool seen[F__COUNT] = {0};
    size_t n_extra = 0;
    int want = im->customers_file ? FC : FE;
    for (size_t i = 0; i < im->ncols; i++) {
        const char *name = churn_csv_field(csv, i, NULL);
        if (!(im->col_name[i] = churn_strdup(name))) {
            rc = EXIT_STATUS;
            goto out;
        }
        int f = field_find(name, want, true);
        im->col_field[i] = f;
        if (f >= 0) {
            if (seen[f]) {
                fprintf(stderr, "churnctl: import: %s: line %lu: column '%s' appears twice\n",
                        im->path, rec.line, name);
                rc = EXIT_USAGE;
                goto out;
            }
            seen[f] = true;
            continue;
        }
        if (!im->customers_file) {
            fprintf(stderr,
                    "churnctl: import: %s: line %lu: unknown column '%s' (see docs/IMPORT.md for "
                    "the event columns)\n",
                    im->path, rec.line, name);
            rc = EXIT_USAGE;
            goto out;
        }
        for (size_t k = 0; k < i; k++) {
            if (im->col_field[k] < 0 && strcmp(im->col_name[k], name) == 0) {
                fprintf(stderr, "churnctl: import: %s: line %lu: column '%s' appears twice\n",
                        im->path, rec.line, name);
                rc = EXIT_USAGE;
                goto out;
            }
        }
        char why[CHURN_REASON_MAX];
        if (churn_attr_name_check(name, "attribute name", why, sizeof(why)) ||
            ++n_extra > IMPORT_EXTRA_MAX) {
            fprintf(stderr, "churnctl: import: %s: line %lu: column '%s': %s\n", im->path, rec.line,
                    name, n_extra > IMPORT_EXTRA_MAX ? "too many attribute columns" : why);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    const char *missing = NULL;
    if (!seen[F_CUSTOMER_ID])
        missing = "customer_id";
    else if (!im->customers_file && !seen[F_EVENT_ID])
        missing = "event_id";
    else if (!im->customers_file && !seen[F_TYPE])
        missing = "type";
    else if (!im->customers_file && !seen[F_OCCURRED_AT_MS] && !seen[F_OCCURRED_AT])
        missing = "occurred_at_ms (or occurred_at)";
    if (missing) {
        fprintf(stderr, "churnctl: import: %s: line %lu: the header has no column %s\n", im->path,
                rec.line, missing);
        rc = EXIT_USAGE;
    }
out:
    churn_csv_close(csv);
    return rc;
}

/* Handle one record. 0, or -1 when the import must stop (store, server or write error). */
static int
process_record(struct importer *im, const struct record *rec)
{
    char reason[IMPORT_REASON_MAX];
    struct row row_storage, *row = &row_storage;
    struct churn_csv *csv = NULL;
    json_t *root = NULL;
    bool customer = im->customers_file;
    const char *orig = rec->data;
    size_t orig_len = rec->len;
    enum churn_err err = CHURN_OK;
    int rc = 0;
    memset(row->f, 0, sizeof(row->f));
    row->n_extra = row->n_num_text = 0;
    if (rec->cut_short) {
        snprintf(reason, sizeof(reason),
                 "unterminated quoted field (or a quoted record longer than %zu bytes)",
                 im->max_line);
        err = CHURN_ECORRUPT;
    } else if (rec->too_long) {
        snprintf(reason, sizeof(reason), "line longer than %zu bytes (%zu bytes)", im->max_line,
                 rec->total);
        err = CHURN_ETOOBIG;
    } else if (im->csv) {
        err = row_from_csv(im, rec, row, &csv, reason, sizeof(reason));
        if (err == CHURN_ENOTFOUND)
            goto out; /* an empty record */
    } else {
        size_t sp = 0;
        while (sp < rec->len && rec->data[sp] && strchr(" \t\r", rec->data[sp]))
            sp++;
        if (sp == rec->len)
            goto out; /* a blank line */
        err = row_from_json(im, rec, row, &root, &customer, reason, sizeof(reason));
    }
    struct import_stats *st = customer ? &im->cu : &im->ev;
    st->read++;
    im->last_line = rec->line;
    if (err) {
        /* A broken record that spans lines: blame its first line and read on from the next. */
        bool resync = im->csv && rec->lines > 1;
        if (resync && !rec->cut_short) {
            char inner[IMPORT_REASON_MAX];
            snprintf(inner, sizeof(inner), "%s", reason);
            snprintf(reason, sizeof(reason),
                     "unterminated quoted field (lines %lu-%lu are no record: %.160s)", rec->line,
                     rec->line + rec->lines - 1, inner);
        }
        if (resync)
            orig_len = rec->first_len;
        rc = reject(im, st, rec->line, reason, orig, orig_len);
        if (!rc && resync &&
            src_seek(&im->src, rec->resume_off, rec->line + 1, rec->resume_after_cr)) {
            fprintf(stderr, "churnctl: import: %s: cannot seek: %s\n", im->path, strerror(errno));
            rc = -1;
        }
        goto out;
    }
    if (customer && im->nats) {
        rc = reject(im, st, rec->line,
                    "customer attributes are not published to NATS: import them through the "
                    "cluster's proxy with --server",
                    orig, orig_len);
    } else if (customer) {
        struct churn_customer_attrs patch;
        if (customer_from_row(row, &patch, reason, sizeof(reason)))
            rc = reject(im, st, rec->line, reason, orig, orig_len);
        else
            rc = add_customer(im, row->f[F_CUSTOMER_ID], &patch, rec->line, orig, orig_len);
    } else {
        struct churn_event ev;
        if (event_from_row(im, row, &ev, reason, sizeof(reason)))
            rc = reject(im, st, rec->line, reason, orig, orig_len);
        else
            rc = add_event(im, &ev, rec->line, orig, orig_len);
    }
out:
    churn_csv_close(csv);
    if (root)
        json_decref(root);
    return rc;
}

/* Read every record. 0 at the end, IMPORT_EXIT_INTERRUPTED, or EXIT_STATUS. */
static int
run(struct importer *im)
{
    if (im->csv) {
        int rc = read_header(im);
        if (rc)
            return rc;
    }
    struct record rec;
    unsigned n = 0;
    for (;;) {
        if (interrupted)
            break;
        int got = src_next(&im->src, &rec);
        if (got < 0) {
            fprintf(stderr, "churnctl: import: %s: line %lu: %s\n", im->path, im->src.line,
                    strerror(errno));
            return EXIT_STATUS;
        }
        if (got == 0)
            break;
        if ((++n & 1023) == 0) {
            im->now_ms = churn_now_ms();
            progress(im, false);
        }
        if (process_record(im, &rec))
            return EXIT_STATUS;
    }
    if (flush_events(im) || flush_customers(im))
        return EXIT_STATUS;
    return interrupted ? IMPORT_EXIT_INTERRUPTED : 0;
}

/* ---- options ----------------------------------------------------------------------------- */

static bool
parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = (size_t)v;
    return true;
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static int
parse_options(struct importer *im, int argc, char **argv)
{
    const char *format = NULL, *progress_mode = "auto";
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--help") == 0) {
            import_usage(stdout);
            return -1;
        }
        if (strcmp(k, "--json") == 0) {
            im->json_out = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "churnctl: import: %s needs a value (or is unknown)\n", k);
            return EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(k, "--customers") == 0 || strcmp(k, "--events") == 0) {
            if (im->path) {
                fprintf(stderr, "churnctl: import: give one of --customers or --events\n");
                return EXIT_USAGE;
            }
            im->path = v;
            im->customers_file = strcmp(k, "--customers") == 0;
        } else if (strcmp(k, "--store") == 0) {
            im->store_dir = v;
        } else if (strcmp(k, "--server") == 0) {
            im->server = v;
        } else if (strcmp(k, "--nats") == 0) {
            im->nats = v;
        } else if (strcmp(k, "--cluster") == 0) {
            im->cluster_path = v;
        } else if (strcmp(k, "--format") == 0) {
            format = v;
        } else if (strcmp(k, "--reject-file") == 0) {
            im->reject_path = v;
        } else if (strcmp(k, "--progress") == 0) {
            progress_mode = v;
        } else if (strcmp(k, "--batch") == 0) {
            if (!parse_size(v, 1, IMPORT_BATCH_MAX, &im->batch)) {
                fprintf(stderr, "churnctl: import: --batch: '%s' is not a number in 1..%d\n", v,
                        IMPORT_BATCH_MAX);
                return EXIT_USAGE;
            }
        } else if (strcmp(k, "--max-line-bytes") == 0) {
            if (!parse_size(v, IMPORT_LINE_MIN, IMPORT_LINE_MAX, &im->max_line)) {
                fprintf(stderr,
                        "churnctl: import: --max-line-bytes: '%s' is not a number in %d..%u\n", v,
                        IMPORT_LINE_MIN, IMPORT_LINE_MAX);
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "churnctl: import: unknown option '%s'\n", k);
            import_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!im->path) {
        fprintf(stderr, "churnctl: import: give --customers FILE or --events FILE\n");
        import_usage(stderr);
        return EXIT_USAGE;
    }
    if (!!im->store_dir + !!im->server + !!im->nats != 1) {
        fprintf(stderr, "churnctl: import: give exactly one of --store DIR, --server "
                        "HOST:PORT or --nats URLS\n");
        return EXIT_USAGE;
    }
    if (im->cluster_path && !im->server) {
        fprintf(stderr, "churnctl: import: --cluster TABLE sends through a cluster's proxy (or "
                        "one shard): give --server PROXY\n");
        return EXIT_USAGE;
    }
    if (im->cluster_path) {
        char err[1024];
        if (churn_cluster_table_load(im->cluster_path, &im->table, err, sizeof(err))) {
            fprintf(stderr, "churnctl: import: --cluster: %s\n", err);
            return EXIT_USAGE;
        }
        im->ctl->partitions = im->table->partitions; /* the routing hint up front */
    }
    if (im->nats && im->customers_file) {
        fprintf(stderr, "churnctl: import: --nats publishes events only: import customers "
                        "through the cluster's proxy with --server\n");
        return EXIT_USAGE;
    }
    if (!format)
        format = has_suffix(im->path, ".csv") ? "csv"
                 : has_suffix(im->path, ".jsonl") || has_suffix(im->path, ".ndjson") ||
                         has_suffix(im->path, ".json")
                     ? "jsonl"
                     : NULL;
    if (!format) {
        fprintf(stderr,
                "churnctl: import: %s: cannot tell the format from the name: give "
                "--format csv or --format jsonl\n",
                im->path);
        return EXIT_USAGE;
    }
    if (strcmp(format, "csv") && strcmp(format, "jsonl")) {
        fprintf(stderr, "churnctl: import: --format: '%s' is not csv or jsonl\n", format);
        return EXIT_USAGE;
    }
    im->csv = strcmp(format, "csv") == 0;
    if (!strcmp(progress_mode, "auto"))
        im->progress = isatty(STDERR_FILENO) ? 1 : 0;
    else if (!strcmp(progress_mode, "always"))
        im->progress = 2;
    else if (!strcmp(progress_mode, "never"))
        im->progress = 0;
    else {
        fprintf(stderr, "churnctl: import: --progress: '%s' is not auto, always or never\n",
                progress_mode);
        return EXIT_USAGE;
    }
    return 0;
}

static int
open_input(struct importer *im)
{
    struct src *s = &im->src;
    s->f = fopen(im->path, "rb");
    if (!s->f) {
        fprintf(stderr, "churnctl: import: %s: %s\n", im->path, strerror(errno));
        return EXIT_USAGE;
    }
    struct stat sb;
    s->size = fstat(fileno(s->f), &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : -1;
    if (s->size < 0) {
        fprintf(stderr, "churnctl: import: %s: not a regular file\n", im->path);
        return EXIT_USAGE;
    }
    s->csv = im->csv;
    s->line = 1;
    s->max_line = im->max_line;
    churn_buf_init(&s->rec, im->max_line + 1);
    s->chunk = churn_malloc(IMPORT_CHUNK);
    if (!s->chunk) {
        fprintf(stderr, "churnctl: import: out of memory\n");
        return EXIT_STATUS;
    }
    /* A byte-order mark before JSON Lines: skip it (the CSV reader skips its own). */
    if (!im->csv) {
        char bom[3];
        if (fread(bom, 1, 3, s->f) != 3 || memcmp(bom, "\xEF\xBB\xBF", 3) != 0)
            rewind(s->f);
        else
            s->base = 3;
    }
    return 0;
}

static int
open_sinks(struct importer *im)
{
    if (im->reject_path && !(im->rejects = fopen(im->reject_path, "w"))) {
        fprintf(stderr, "churnctl: import: %s: %s\n", im->reject_path, strerror(errno));
        return EXIT_USAGE;
    }
    if (event_batch_init(&im->eb, im->batch)) {
        fprintf(stderr, "churnctl: import: out of memory\n");
        return EXIT_STATUS;
    }
    if (im->store_dir) {
        struct churn_store_options opts;
        churn_store_options_init(&opts);
        enum churn_err err = churn_store_open(im->store_dir, &opts, &im->store);
        if (err) {
            fprintf(stderr, "churnctl: import: store %s: %s\n", im->store_dir,
                    churn_store_last_error()[0] ? churn_store_last_error() : churn_strerror(err));
            return EXIT_STATUS;
        }
        return 0;
    }
    if (im->nats)
        return ctl_publisher_open(im->nats, &im->publisher) ? EXIT_STATUS : 0;
    im->ctl->server = im->server;
    return churnctl_connect(im->ctl) ? EXIT_STATUS : 0;
}

int
churnctl_import(struct ctl *ctl, int argc, char **argv)
{
    struct importer *im = churn_calloc(1, sizeof(*im));
    if (!im) {
        fprintf(stderr, "churnctl: import: out of memory\n");
        return EXIT_STATUS;
    }
    im->ctl = ctl;
    churn_arena_init(&im->pack_arena, 0);
    im->batch = IMPORT_BATCH_DEFAULT;
    im->max_line = IMPORT_LINE_DEFAULT;
    int rc = parse_options(im, argc, argv);
    if (rc) {
        rc = rc < 0 ? 0 : rc;
        goto out;
    }
    if ((rc = open_input(im)) || (rc = open_sinks(im)))
        goto out;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    im->t0_ns = churn_mono_ns();
    im->now_ms = churn_now_ms();
    rc = run(im);
    if (rc == EXIT_USAGE)
        goto out;
    progress(im, true);
    if (im->rejects && fflush(im->rejects) != 0) {
        fprintf(stderr, "churnctl: import: %s: %s\n", im->reject_path, strerror(errno));
        rc = EXIT_STATUS;
    }
    summary(im, rc == 0 ? "complete" : rc == IMPORT_EXIT_INTERRUPTED ? "interrupted" : "failed");
    if (rc == IMPORT_EXIT_INTERRUPTED)
        fprintf(stderr,
                "churnctl: import: interrupted after line %lu: everything counted above is "
                "stored; run the same import again to finish it\n",
                im->last_line);
out:
    ctl_publisher_close(im->publisher);
    if (im->rejects)
        fclose(im->rejects);
    if (im->src.f)
        fclose(im->src.f);
    churn_free(im->src.chunk);
    churn_buf_free(&im->src.rec);
    event_batch_fini(&im->eb);
    customer_batch_free(im->cb);
    churn_cluster_table_free(im->table);
    churn_free(im->stored);
    churn_free(im->pack);
    churn_arena_fini(&im->pack_arena);
    for (size_t i = 0; i < im->ncols && im->col_name; i++)
        churn_free(im->col_name[i]);
    churn_free(im->col_name);
    churn_free(im->col_field);
    churn_store_close(im->store);
    if (ctl->client) {
        churn_client_close(ctl->client);
        ctl->client = NULL;
    }
    churn_free(im);
    return rc;
}
