/*
 * sentiment.c - `churnctl sentiment`: the analyzer offline, lines on stdin, one JSON analysis
 * per line on stdout, with the same lexicons and rules as the server. Built for throughput:
 * stdin is read in 1 MiB blocks and every complete line is analyzed where it lies (no copy,
 * no strlen); churn_sentiment_json() writes each answer straight into a 1 MiB output block,
 * which goes out with one write(2) when the next answer might not fit. A line over 64 KiB, or
 * one the analyzer refuses (invalid UTF-8), gets an error object naming its line number and
 * the command exits 1 at the end.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/sentiment.h"
#include "churn/sentiment_json.h"
#include "ctl.h"

#define LINE_MAX_BYTES (64 * 1024) /* a longer line is refused */
#define IN_BLOCK       (1 << 20)   /* bytes read at once (the buffer holds one more line) */
#define OUT_BLOCK      (1 << 20)   /* bytes written at once */

/* The output block: answers accumulate in buf[0, n). */
struct out {
    char *buf;
    size_t n;
    bool failed; /* a write failed (closed pipe, full disk): the rest is not written */
};

/* Write out.buf[0, n) to stdout; false (and nothing more is written) on an error. */
static bool
out_flush(struct out *o)
{
    for (size_t done = 0; done < o->n && !o->failed;) {
        ssize_t w = write(STDOUT_FILENO, o->buf + done, o->n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "churnctl: writing stdout: %s\n", strerror(errno));
            o->failed = true;
        } else {
            done += (size_t)w;
        }
    }
    o->n = 0;
    return !o->failed;
}

/* Append @n bytes, flushing first when they do not fit; @n may exceed the block. */
static void
out_put(struct out *o, const char *s, size_t n)
{
    if (o->n + n > OUT_BLOCK && !out_flush(o))
        return;
    if (n > OUT_BLOCK) { /* larger than a block: straight through */
        struct out big = {(char *)s, n, false};
        o->failed = !out_flush(&big);
        return;
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

/* The answer for line @no that could not be analyzed: {"line":N,"error":"..."}. */
static void
put_error(struct out *o, unsigned long no, const char *msg)
{
    json_t *j = json_pack("{s:i,s:s}", "line", (json_int_t)no, "error", msg);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;
    if (s) {
        out_put(o, s, strlen(s));
        out_put(o, "\n", 1);
    }
    free(s);
    json_decref(j);
}

/* The JSON of one analysis, rendered in place at the end of the output block (the block is
 * flushed and the line rendered again when it did not fit; a line larger than a whole block
 * goes through @spill, grown once and kept). */
static void
put_analysis(struct out *o, const char *text, size_t len, const struct churn_sentiment_result *r,
             char **spill, size_t *spill_cap)
{
    size_t room = OUT_BLOCK - o->n;
    size_t n = churn_sentiment_json(text, len, r, o->buf + o->n, room);
    if (n < room) {
        o->buf[o->n + n] = '\n';
        o->n += n + 1;
        return;
    }
    if (n < OUT_BLOCK) {
        if (!out_flush(o))
            return;
        churn_sentiment_json(text, len, r, o->buf, OUT_BLOCK);
        o->buf[n] = '\n';
        o->n = n + 1;
        return;
    }
    if (n + 1 > *spill_cap) {
        churn_free(*spill);
        *spill_cap = 0;
        if (!(*spill = churn_malloc(n + 1)))
            return;
        *spill_cap = n + 1;
    }
    churn_sentiment_json(text, len, r, *spill, *spill_cap);
    (*spill)[n] = '\n';
    out_put(o, *spill, n + 1);
}

struct run {
    const struct churn_sentiment *an;
    struct churn_arena arena;
    struct out out;
    char *spill;
    size_t spill_cap;
    unsigned long no; /* line number */
    int rc;
};

/* Analyze one line (without its newline; a trailing CR is dropped). */
static void
one_line(struct run *u, char *line, size_t len)
{
    char err[512];
    struct churn_sentiment_result r;
    u->no++;
    if (len > LINE_MAX_BYTES) {
        put_error(&u->out, u->no, "line over 64 KiB");
        u->rc = EXIT_STATUS;
        return;
    }
    if (len && line[len - 1] == '\r')
        len--;
    churn_arena_reset(&u->arena);
    if (churn_sentiment_analyze(u->an, line, len, &u->arena, &r, err, sizeof(err)) != CHURN_OK) {
        put_error(&u->out, u->no, err);
        u->rc = EXIT_STATUS;
        return;
    }
    put_analysis(&u->out, line, len, &r, &u->spill, &u->spill_cap);
}

/* Read stdin to its end, analyzing every line; false when reading failed. */
static bool
read_lines(struct run *u, char *in)
{
    size_t have = 0;       /* bytes of an unfinished line at the start of @in */
    bool skipping = false; /* inside a line over the limit, already answered */
    for (;;) {
        ssize_t got = read(STDIN_FILENO, in + have, IN_BLOCK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "churnctl: reading stdin: %s\n", strerror(errno));
            return false;
        }
        size_t end = have + (size_t)got, at = 0;
        for (char *nl; (nl = memchr(in + at, '\n', end - at)) != NULL; at = (size_t)(nl - in) + 1) {
            if (!skipping)
                one_line(u, in + at, (size_t)(nl - in) - at);
            skipping = false;
        }
        have = end - at;
        if (got == 0) {
            if (have && !skipping)
                one_line(u, in + at, have); /* the last line, without a newline */
            return true;
        }
        if (have > LINE_MAX_BYTES && !skipping) {
            put_error(&u->out, ++u->no, "line over 64 KiB");
            u->rc = EXIT_STATUS;
            skipping = true;
        }
        if (skipping)
            have = 0;
        else
            memmove(in, in + at, have);
        if (u->out.failed)
            return true;
    }
}

int
churnctl_sentiment(int argc, char **argv)
{
    const char *lexicons = CHURN_DEFAULT_LEXICON_DIR, *language = "auto";
    for (int i = 0; i < argc; i += 2) {
        if (i + 1 < argc && strcmp(argv[i], "--lexicons") == 0)
            lexicons = argv[i + 1];
        else if (i + 1 < argc && strcmp(argv[i], "--language") == 0)
            language = argv[i + 1];
        else {
            fprintf(stderr,
                    "usage: churnctl sentiment [--lexicons DIR] [--language en|ko|auto] < lines\n");
            return EXIT_USAGE;
        }
    }
    struct churn_sentiment *an;
    char err[512];
    if (churn_sentiment_open(lexicons, language, NULL, &an, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s\n", err);
        return EXIT_USAGE;
    }
    struct run u = {.an = an};
    churn_arena_init(&u.arena, 64 << 20);
    /* room for a block after an unfinished line of up to the limit */
    char *in = churn_malloc(IN_BLOCK + LINE_MAX_BYTES);
    u.out.buf = churn_malloc(OUT_BLOCK);
    int rc = EXIT_STATUS;
    if (in && u.out.buf && read_lines(&u, in) && out_flush(&u.out))
        rc = u.rc;
    churn_free(u.spill);
    churn_free(u.out.buf);
    churn_free(in);
    churn_arena_fini(&u.arena);
    churn_sentiment_close(an);
    return rc;
}
