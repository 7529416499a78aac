/*
 * sentiment_eval.c - quality and speed of the sentiment analyzer, as JSON on stdout. Quality:
 * polarity accuracy and macro-F1 over the labelled classes (compound >= 0.05 positive,
 * <= -0.05 negative, else neutral) and escalation precision/recall (a fresh conversation
 * tracker fed the utterance as one customer turn) on labelled TSVs: by default
 * tests/data/support_chat_eval.tsv and, when tools/fetch-lexicons has unpacked them, the public
 * UCI labelled sentences (lexicons/vendor/datasets/uci_{amazon,imdb,yelp}.tsv). Speed:
 * sentences per second of churn_sentiment_analyze() on one thread over ~15-word sentences
 * built from the same set (each utterance followed by the next ones, cut at 15 words).
 * tools/sentiment-eval/reference.js prints the same figures for the npm vader-sentiment.
 *
 *   sentiment-eval [--data FILE]... [--lexicons DIR] [--seconds S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/sentiment.h"
#include "churn/sentiment_tracker.h"

#define MAX_ROWS 10000
#define MAX_LINE 4096

struct row {
    char *text;
    int polarity; /* 0 negative, 1 neutral, 2 positive */
    int escalate;
};

static int
parse_polarity(const char *s)
{
    if (strcmp(s, "negative") == 0)
        return 0;
    if (strcmp(s, "neutral") == 0)
        return 1;
    if (strcmp(s, "positive") == 0)
        return 2;
    return -1;
}

static size_t
load_rows(const char *path, struct row *rows)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "sentiment-eval: cannot open %s\n", path);
        exit(2);
    }
    char line[MAX_LINE];
    size_t n = 0, lineno = 0;
    bool header = false;
    while (fgets(line, sizeof(line), fp) && n < MAX_ROWS) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (!header) {
            header = true;
            continue;
        }
        char *t1 = strchr(line, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) {
            fprintf(stderr, "sentiment-eval: %s:%zu: expected 3 columns\n", path, lineno);
            exit(2);
        }
        *t1 = *t2 = '\0';
        int pol = parse_polarity(t1 + 1);
        int esc = strcmp(t2 + 1, "yes") == 0 ? 1 : strcmp(t2 + 1, "no") == 0 ? 0 : -1;
        if (pol < 0 || esc < 0) {
            fprintf(stderr, "sentiment-eval: %s:%zu: bad label\n", path, lineno);
            exit(2);
        }
        rows[n].text = churn_strdup(line);
        rows[n].polarity = pol;
        rows[n].escalate = esc;
        n++;
    }
    fclose(fp);
    return n;
}

/* Sentence i: row i's text followed by the next rows' words until 15 words. */
static size_t
make_sentence(const struct row *rows, size_t n, size_t i, char *out, size_t cap, size_t *words)
{
    size_t len = 0, w = 0;
    *words = 0;
    for (size_t k = 0; k < n && w < 15; k++) {
        const char *p = rows[(i + k) % n].text;
        while (*p && w < 15) {
            while (*p == ' ')
                p++;
            const char *q = p;
            while (*q && *q != ' ')
                q++;
            if (q == p)
                break;
            if (len + (size_t)(q - p) + 2 >= cap) {
                out[len] = '\0';
                *words = w;
                return len;
            }
            if (len)
                out[len++] = ' ';
            memcpy(out + len, p, (size_t)(q - p));
            len += (size_t)(q - p);
            w++;
            p = q;
        }
    }
    out[len] = '\0';
    *words = w;
    return len;
}

static void
free_rows(struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        churn_free(rows[i].text);
}

/* Print one dataset's figures as a JSON object. */
static void
eval_set(const struct churn_sentiment *an, struct churn_arena *arena, const char *path,
         const struct row *rows, size_t n, bool last)
{
    char err[512];
    size_t confusion[3][3] = {{0}};
    size_t tp = 0, fp = 0, fn = 0, correct = 0;
    for (size_t i = 0; i < n; i++) {
        struct churn_sentiment_result r;
        churn_arena_reset(arena);
        if (churn_sentiment_analyze(an, rows[i].text, strlen(rows[i].text), arena, &r, err,
                                    sizeof(err)) != CHURN_OK) {
            fprintf(stderr, "sentiment-eval: %s: row %zu: %s\n", path, i + 1, err);
            exit(1);
        }
        int pred = r.compound >= 0.05 ? 2 : r.compound <= -0.05 ? 0 : 1;
        confusion[rows[i].polarity][pred]++;
        correct += pred == rows[i].polarity;
        struct churn_chat_state st;
        struct churn_chat_decision d;
        churn_chat_state_init(&st);
        churn_chat_tracker_update(&st, NULL, CHURN_CHAT_ROLE_CUSTOMER, &r, NULL, 0, &d);
        if (d.escalate && rows[i].escalate)
            tp++;
        else if (d.escalate)
            fp++;
        else if (rows[i].escalate)
            fn++;
    }
    double f1sum = 0;
    int classes = 0;
    for (int c = 0; c < 3; c++) {
        size_t tpc = confusion[c][c], predc = 0, truec = 0;
        for (int k = 0; k < 3; k++) {
            predc += confusion[k][c];
            truec += confusion[c][k];
        }
        if (!truec)
            continue; /* a class the set does not label (neutral in binary sets) */
        classes++;
        double p = predc ? (double)tpc / (double)predc : 0;
        double rc = (double)tpc / (double)truec;
        f1sum += p + rc > 0 ? 2 * p * rc / (p + rc) : 0;
    }
    printf("    {\"dataset\": \"%s\", \"n\": %zu, \"accuracy\": %.4f, \"macro_f1\": %.4f,\n", path,
           n, n ? (double)correct / (double)n : 0, classes ? f1sum / classes : 0);
    printf("     \"confusion\": {\"negative\": [%zu, %zu, %zu], \"neutral\": [%zu, %zu, %zu], "
           "\"positive\": [%zu, %zu, %zu]},\n",
           confusion[0][0], confusion[0][1], confusion[0][2], confusion[1][0], confusion[1][1],
           confusion[1][2], confusion[2][0], confusion[2][1], confusion[2][2]);
    if (tp + fn)
        printf("     \"escalation\": {\"precision\": %.4f, \"recall\": %.4f, \"tp\": %zu, "
               "\"fp\": %zu, \"fn\": %zu}}%s\n",
               tp + fp ? (double)tp / (double)(tp + fp) : 0, (double)tp / (double)(tp + fn), tp, fp,
               fn, last ? "" : ",");
    else
        printf("     \"escalation\": null}%s\n", last ? "" : ",");
}

int
main(int argc, char **argv)
{
    const char *data[8];
    size_t ndata = 0;
    const char *lexdir = CHURN_SOURCE_ROOT "/lexicons";
    double seconds = 2.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--data") == 0 && ndata < 8)
            data[ndata++] = argv[i + 1];
        else if (strcmp(argv[i], "--lexicons") == 0)
            lexdir = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else {
            fprintf(stderr,
                    "usage: sentiment-eval [--data FILE]... [--lexicons DIR] [--seconds S]\n");
            return 2;
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: sentiment-eval [--data FILE]... [--lexicons DIR] [--seconds S]\n");
        return 2;
    }
    if (ndata == 0) {
        static const char *const uci[] = {
            CHURN_SOURCE_ROOT "/lexicons/vendor/datasets/uci_amazon.tsv",
            CHURN_SOURCE_ROOT "/lexicons/vendor/datasets/uci_imdb.tsv",
            CHURN_SOURCE_ROOT "/lexicons/vendor/datasets/uci_yelp.tsv",
        };
        data[ndata++] = CHURN_SOURCE_ROOT "/tests/data/support_chat_eval.tsv";
        for (size_t i = 0; i < 3; i++) {
            FILE *fp = fopen(uci[i], "r");
            if (fp) {
                fclose(fp);
                data[ndata++] = uci[i];
            }
        }
    }
    char err[512];
    struct churn_sentiment *an;
    if (churn_sentiment_open(lexdir, "en", NULL, &an, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "sentiment-eval: %s\n", err);
        return 1;
    }
    static struct row rows[MAX_ROWS];
    struct churn_arena arena;
    churn_arena_init(&arena, 16u * 1024 * 1024);

    printf("{\n  \"analyzer\": \"churnd\",\n  \"datasets\": [\n");
    for (size_t d = 0; d < ndata; d++) {
        size_t n = load_rows(data[d], rows);
        eval_set(an, &arena, data[d], rows, n, d + 1 == ndata);
        free_rows(rows, n);
    }
    printf("  ],\n");

    /* speed: ~15-word sentences built from the first dataset */
    size_t n = load_rows(data[0], rows);
    static char sent[512][512];
    size_t lens[512];
    size_t ns = n < 512 ? n : 512, words_total = 0;
    for (size_t i = 0; i < ns; i++) {
        size_t w;
        lens[i] = make_sentence(rows, n, i, sent[i], sizeof(sent[i]), &w);
        words_total += w;
    }
    size_t done = 0;
    double checksum = 0;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int64_t t0 = churn_mono_ns(), t1 = t0;
    while (ns && (double)(t1 - t0) < seconds * 1e9) {
        for (size_t i = 0; i < ns; i++) {
            struct churn_sentiment_result r;
            churn_arena_reset(&arena);
            if (churn_sentiment_analyze(an, sent[i], lens[i], &arena, &r, NULL, 0) == CHURN_OK)
                checksum += r.compound;
        }
        done += ns;
        t1 = churn_mono_ns();
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double secs = (double)(t1 - t0) / 1e9;
    /* CPU time of this thread: the per-core rate, robust to other load on the machine */
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("  \"speed\": {\"sentences\": %zu, \"seconds\": %.3f, \"cpu_seconds\": %.3f, "
           "\"avg_words\": %.1f, \"sentences_per_second\": %.0f, "
           "\"sentences_per_cpu_second\": %.0f, \"checksum\": %.3f}\n}\n",
           done, secs, cpu, ns ? (double)words_total / (double)ns : 0,
           secs > 0 ? (double)done / secs : 0, cpu > 0 ? (double)done / cpu : 0, checksum);

    free_rows(rows, n);
    churn_arena_fini(&arena);
    churn_sentiment_close(an);
    return 0;
}
