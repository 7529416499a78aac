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
 * A set may carry two more columns, reason and split (tests/data/support_chat_eval_ko.tsv):
 * its figures are then also given per split (tune, heldout) and the escalation recall per
 * reason (intent, human, hard). Conversations (--conversations, one turn per row: id, role,
 * text, escalate) are fed turn by turn to one tracker each, and the first escalation's turn
 * is compared with the labelled one (on time, early, late, missed, false). The analyzer is
 * opened as --language (default auto: each text in the language its script says).
 *
 *   sentiment-eval [--data FILE]... [--conversations FILE]... [--lexicons DIR]
 *                  [--language CODE] [--seconds S] [--errors FILE]
 *
 * --lines FILE measures only churn_sentiment_analyze() over the lines of FILE as they are (the
 * input of `churnctl sentiment`: tools/bench/sentiment-cli compares the two), once through,
 * and prints {"lines", "cpu_seconds", "lines_per_cpu_second"}, with the breakdown of a line's
 * CPU time ("us_per_line": splitting, the tokenizer, the rest of the analysis, the JSON line;
 * each stage timed in a pass of its own); nothing else is run.
 *
 * --errors FILE writes every misjudged row (polarity or escalation) and every conversation
 * escalated off its labelled turn to FILE, one tab-separated line each, for reading causes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "churn/alloc.h"
#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/sentiment.h"
#include "churn/sentiment_json.h"
#include "churn/sentiment_tracker.h"

#define MAX_ROWS 10000

/* --errors: where misjudged rows and conversations go (NULL: nowhere) */
static FILE *errors_fp;
#define MAX_LINE 4096

struct row {
    char *text;
    int polarity; /* 0 negative, 1 neutral, 2 positive */
    int escalate;
    char reason[16]; /* optional 4th column; "" without */
    char split[16];  /* optional 5th column; "" without */
};

#define USAGE                                                                                      \
    "usage: sentiment-eval [--data FILE]... [--conversations FILE]... [--lexicons DIR]\n"          \
    "                      [--language CODE] [--seconds S] [--errors FILE]\n"                      \
    "       sentiment-eval --lines FILE [--lexicons DIR] [--language CODE]\n"

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
        char *t3 = strchr(t2 + 1, '\t'), *t4 = t3 ? strchr(t3 + 1, '\t') : NULL;
        if (t3 && !t4) {
            fprintf(stderr, "sentiment-eval: %s:%zu: expected 3 or 5 columns\n", path, lineno);
            exit(2);
        }
        if (t3)
            *t3 = *t4 = '\0';
        int pol = parse_polarity(t1 + 1);
        int esc = strcmp(t2 + 1, "yes") == 0 ? 1 : strcmp(t2 + 1, "no") == 0 ? 0 : -1;
        snprintf(rows[n].reason, sizeof(rows[n].reason), "%s", t3 ? t3 + 1 : "");
        snprintf(rows[n].split, sizeof(rows[n].split), "%s", t4 ? t4 + 1 : "");
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

/* Does row @r belong to the split @split ("" or NULL: every row)? */
static bool
in_split(const struct row *r, const char *split)
{
    return !split || !*split || strcmp(r->split, split) == 0;
}

/* Analyze @text; exits on an error (the sets are valid text). */
static void
analyze_or_die(const struct churn_sentiment *an, struct churn_arena *arena, const char *path,
               size_t row, const char *text, struct churn_sentiment_result *r)
{
    char err[512];
    churn_arena_reset(arena);
    if (churn_sentiment_analyze(an, text, strlen(text), arena, r, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "sentiment-eval: %s: row %zu: %s\n", path, row, err);
        exit(1);
    }
}

/* Escalation recall of the rows labelled yes with @reason, as a JSON member. */
static void
print_reason_recall(const struct row *rows, size_t n, const bool *escalated, const char *split,
                    const char *reason)
{
    size_t want = 0, got = 0;
    for (size_t i = 0; i < n; i++)
        if (in_split(&rows[i], split) && rows[i].escalate && strcmp(rows[i].reason, reason) == 0) {
            want++;
            got += escalated[i];
        }
    printf("\"%s\": {\"caught\": %zu, \"of\": %zu}", reason, got, want);
}

/* Print the figures of the rows of @split (NULL: all) of one dataset as a JSON object. */
static void
eval_set(const struct churn_sentiment *an, struct churn_arena *arena, const char *path,
         const struct row *rows, size_t n, const char *split, bool last)
{
    size_t confusion[3][3] = {{0}};
    size_t tp = 0, fp = 0, fn = 0, correct = 0, m = 0;
    bool *escalated = churn_calloc(n ? n : 1, sizeof(bool));
    for (size_t i = 0; i < n; i++) {
        if (!in_split(&rows[i], split))
            continue;
        struct churn_sentiment_result r;
        analyze_or_die(an, arena, path, i + 1, rows[i].text, &r);
        int pred = r.compound >= 0.05 ? 2 : r.compound <= -0.05 ? 0 : 1;
        confusion[rows[i].polarity][pred]++;
        correct += pred == rows[i].polarity;
        m++;
        struct churn_chat_state st;
        struct churn_chat_decision d;
        churn_chat_state_init(&st);
        churn_chat_tracker_update(&st, NULL, CHURN_CHAT_ROLE_CUSTOMER, &r, NULL, 0, &d);
        escalated[i] = d.escalate;
        if (errors_fp && !split && (pred != rows[i].polarity || d.escalate != rows[i].escalate))
            fprintf(errors_fp, "%s:%zu\t%s\twant %d/%s\tgot %d/%s\tcompound %.3f\t%s\n", path,
                    i + 1, rows[i].split, rows[i].polarity, rows[i].escalate ? "yes" : "no", pred,
                    d.escalate ? "yes" : "no", r.compound, rows[i].text);
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
    printf("    {\"dataset\": \"%s%s%s\", \"n\": %zu, \"accuracy\": %.4f, \"macro_f1\": %.4f,\n",
           path, split ? "#" : "", split ? split : "", m, m ? (double)correct / (double)m : 0,
           classes ? f1sum / classes : 0);
    printf("     \"confusion\": {\"negative\": [%zu, %zu, %zu], \"neutral\": [%zu, %zu, %zu], "
           "\"positive\": [%zu, %zu, %zu]},\n",
           confusion[0][0], confusion[0][1], confusion[0][2], confusion[1][0], confusion[1][1],
           confusion[1][2], confusion[2][0], confusion[2][1], confusion[2][2]);
    if (n && rows[0].reason[0]) {
        printf("     \"by_reason\": {");
        print_reason_recall(rows, n, escalated, split, "intent");
        printf(", ");
        print_reason_recall(rows, n, escalated, split, "human");
        printf(", ");
        print_reason_recall(rows, n, escalated, split, "hard");
        printf("},\n");
    }
    churn_free(escalated);
    if (tp + fn)
        printf("     \"escalation\": {\"precision\": %.4f, \"recall\": %.4f, \"tp\": %zu, "
               "\"fp\": %zu, \"fn\": %zu}}%s\n",
               tp + fp ? (double)tp / (double)(tp + fp) : 0, (double)tp / (double)(tp + fn), tp, fp,
               fn, last ? "" : ",");
    else
        printf("     \"escalation\": null}%s\n", last ? "" : ",");
}

/* Does the set carry a split column (a row of the heldout split)? */
static bool
has_heldout(const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].split, "heldout") == 0)
            return true;
    return false;
}

struct timing {
    size_t conversations, to_escalate, on_time, early, late, missed, false_alarms;
};

static enum churn_chat_role
role_of(const char *s)
{
    return strcmp(s, "agent") == 0 ? CHURN_CHAT_ROLE_AGENT
           : strcmp(s, "bot") == 0 ? CHURN_CHAT_ROLE_BOT
                                   : CHURN_CHAT_ROLE_CUSTOMER;
}

/* One finished conversation: the labelled first escalation turn @want (0: none) against the
 * tracker's @got (0: none). */
static void
judge(struct timing *t, size_t want, size_t got)
{
    t->conversations++;
    t->to_escalate += want != 0;
    if (want && got == want)
        t->on_time++;
    else if (want && got && got < want)
        t->early++;
    else if (want && got)
        t->late++;
    else if (want)
        t->missed++;
    else if (got)
        t->false_alarms++;
}

/* judge(), and the conversation on --errors when it escalated off its labelled turn. */
static void
judge_conversation(struct timing *t, const char *conv, size_t want, size_t got)
{
    judge(t, want, got);
    if (errors_fp && want != got)
        fprintf(errors_fp, "conversation %s\twant turn %zu\tgot turn %zu\n", conv, want, got);
}

/* Escalation timing over a conversations file, as a JSON object. */
static void
eval_conversations(const struct churn_sentiment *an, struct churn_arena *arena, const char *path,
                   bool last)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "sentiment-eval: cannot open %s\n", path);
        exit(2);
    }
    char line[MAX_LINE], conv[128] = "";
    size_t lineno = 0, turn = 0, want = 0, got = 0;
    bool header = false;
    struct churn_chat_state st;
    struct timing t = {0};
    while (fgets(line, sizeof(line), fp)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0' || !header) {
            header |= line[0] != '#' && line[0] != '\0';
            continue;
        }
        char *f[4] = {line, NULL, NULL, NULL};
        for (int k = 1; k < 4; k++)
            if ((f[k] = strchr(f[k - 1], '\t')) != NULL)
                *f[k]++ = '\0';
            else {
                fprintf(stderr, "sentiment-eval: %s:%zu: expected 4 columns\n", path, lineno);
                exit(2);
            }
        if (strcmp(f[0], conv) != 0) {
            if (conv[0])
                judge_conversation(&t, conv, want, got);
            snprintf(conv, sizeof(conv), "%.120s", f[0]);
            churn_chat_state_init(&st);
            turn = want = got = 0;
        }
        turn++;
        if (strcmp(f[3], "yes") == 0 && !want)
            want = turn;
        enum churn_chat_role role = role_of(f[1]);
        struct churn_sentiment_result r;
        if (role == CHURN_CHAT_ROLE_CUSTOMER)
            analyze_or_die(an, arena, path, lineno, f[2], &r);
        struct churn_chat_decision d;
        churn_chat_tracker_update(&st, NULL, role, role == CHURN_CHAT_ROLE_CUSTOMER ? &r : NULL,
                                  NULL, 1700000000000LL + (int64_t)turn * 30000, &d);
        if (d.escalate && !got)
            got = turn;
    }
    if (conv[0])
        judge_conversation(&t, conv, want, got);
    fclose(fp);
    printf(
        "    {\"conversations\": \"%s\", \"n\": %zu, \"to_escalate\": %zu, \"on_time\": %zu, "
        "\"early\": %zu, \"late\": %zu, \"missed\": %zu, \"false_alarms\": %zu, "
        "\"timing_accuracy\": %.4f}%s\n",
        path, t.conversations, t.to_escalate, t.on_time, t.early, t.late, t.missed, t.false_alarms,
        t.conversations ? (double)(t.on_time + (t.conversations - t.to_escalate - t.false_alarms)) /
                              (double)t.conversations
                        : 0,
        last ? "" : ",");
}

/* The stages of `churnctl sentiment` that --lines times, each in its own pass over the lines:
 * splitting the lines, the tokenizer alone, the whole analysis, and the analysis followed by
 * its JSON line (what churnctl does between reading and writing). */
enum stage { STAGE_SPLIT, STAGE_TOKENIZE, STAGE_ANALYZE, STAGE_JSON, N_STAGES };

/* One pass of @stage over the @n bytes of lines in @buf; returns the thread's CPU seconds and
 * adds what the pass computed to *@checksum (so that no pass can be optimized away). */
static double
stage_pass(enum stage stage, const struct churn_sentiment *an, struct churn_arena *arena,
           const char *buf, size_t n, char *json, size_t json_cap, double *checksum)
{
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (size_t at = 0; at < n;) {
        const char *nl = memchr(buf + at, '\n', n - at);
        size_t end = nl ? (size_t)(nl - buf) : n;
        struct churn_sentiment_result r;
        struct churn_sentiment_tokens t;
        churn_arena_reset(arena);
        if (stage == STAGE_SPLIT) {
            *checksum += (double)(end - at);
        } else if (stage == STAGE_TOKENIZE) {
            if (churn_sentiment_tokenize(buf + at, end - at, arena, &t, NULL, 0) == CHURN_OK)
                *checksum += (double)t.n;
        } else if (churn_sentiment_analyze(an, buf + at, end - at, arena, &r, NULL, 0) ==
                   CHURN_OK) {
            *checksum += r.compound;
            if (stage == STAGE_JSON)
                *checksum += (double)churn_sentiment_json(buf + at, end - at, &r, json, json_cap);
        }
        at = end + 1;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    return (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
}

/* Read the whole of @path into a buffer of ours (*@len bytes); NULL on an error, said. */
static char *
read_whole(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "sentiment-eval: cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = churn_malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, fp)) > 0;) {
        n += got;
        if (n == cap) {
            char *bigger = churn_realloc(buf, cap * 2);
            if (!bigger) {
                churn_free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(fp);
    *len = n;
    return buf;
}

/* Lines per CPU second of churn_sentiment_analyze() over the lines of @path, read whole into
 * memory first (the analyzer alone, what `churnctl sentiment` does besides I/O and JSON), and
 * the breakdown of a line's CPU time in microseconds: splitting, tokenizing, the rest of the
 * analysis (stems, matching, rules, scores) and the JSON line. */
static int
measure_lines(const struct churn_sentiment *an, struct churn_arena *arena, const char *path)
{
    size_t n, lines = 0, json_cap = 1 << 20;
    char *buf = read_whole(path, &n), *json = churn_malloc(json_cap);
    if (!buf || !json) {
        churn_free(buf);
        churn_free(json);
        return 1;
    }
    for (size_t at = 0; at < n; lines++) {
        const char *nl = memchr(buf + at, '\n', n - at);
        at = nl ? (size_t)(nl - buf) + 1 : n;
    }
    double cpu[N_STAGES], checksum, sums[N_STAGES] = {0};
    for (int st = 0; st < N_STAGES; st++)
        cpu[st] = stage_pass((enum stage)st, an, arena, buf, n, json, json_cap, &sums[st]);
    checksum = sums[STAGE_ANALYZE];
    double per = lines ? 1e6 / (double)lines : 0;
    printf("{\"lines\": %zu, \"bytes\": %zu, \"cpu_seconds\": %.4f, "
           "\"lines_per_cpu_second\": %.0f, \"checksum\": %.3f, "
           "\"lines_per_cpu_second_with_json\": %.0f, \"us_per_line\": {\"split\": %.4f, "
           "\"tokenize\": %.4f, \"analyze_after_tokenize\": %.4f, \"json\": %.4f, "
           "\"analyze\": %.4f, \"analyze_and_json\": %.4f}}\n",
           lines, n, cpu[STAGE_ANALYZE],
           cpu[STAGE_ANALYZE] > 0 ? (double)lines / cpu[STAGE_ANALYZE] : 0, checksum,
           cpu[STAGE_JSON] > 0 ? (double)lines / cpu[STAGE_JSON] : 0, cpu[STAGE_SPLIT] * per,
           cpu[STAGE_TOKENIZE] * per, (cpu[STAGE_ANALYZE] - cpu[STAGE_TOKENIZE]) * per,
           (cpu[STAGE_JSON] - cpu[STAGE_ANALYZE]) * per, cpu[STAGE_ANALYZE] * per,
           cpu[STAGE_JSON] * per);
    churn_free(buf);
    churn_free(json);
    return 0;
}

/* Sentences per second of churn_sentiment_analyze() over ~15-word sentences built from
 * @rows, as a JSON object. */
static void
measure_speed(const struct churn_sentiment *an, struct churn_arena *arena, const char *path,
              const struct row *rows, size_t n, double seconds, bool last)
{
    static char sent[512][512];
    size_t lens[512];
    size_t ns = n < 512 ? n : 512, words_total = 0, bytes_total = 0;
    for (size_t i = 0; i < ns; i++) {
        size_t w;
        lens[i] = make_sentence(rows, n, i, sent[i], sizeof(sent[i]), &w);
        words_total += w;
        bytes_total += lens[i];
    }
    size_t done = 0;
    double checksum = 0;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int64_t t0 = churn_mono_ns(), t1 = t0;
    while (ns && (double)(t1 - t0) < seconds * 1e9) {
        for (size_t i = 0; i < ns; i++) {
            struct churn_sentiment_result r;
            churn_arena_reset(arena);
            if (churn_sentiment_analyze(an, sent[i], lens[i], arena, &r, NULL, 0) == CHURN_OK)
                checksum += r.compound;
        }
        done += ns;
        t1 = churn_mono_ns();
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double secs = (double)(t1 - t0) / 1e9;
    /* CPU time of this thread: the per-core rate, robust to other load on the machine */
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("    {\"dataset\": \"%s\", \"sentences\": %zu, \"seconds\": %.3f, "
           "\"cpu_seconds\": %.3f, \"avg_words\": %.1f, \"avg_bytes\": %.1f, "
           "\"sentences_per_second\": %.0f, \"sentences_per_cpu_second\": %.0f, "
           "\"checksum\": %.3f}%s\n",
           path, done, secs, cpu, ns ? (double)words_total / (double)ns : 0,
           ns ? (double)bytes_total / (double)ns : 0, secs > 0 ? (double)done / secs : 0,
           cpu > 0 ? (double)done / cpu : 0, checksum, last ? "" : ",");
}

int
main(int argc, char **argv)
{
    const char *data[8], *convs[8];
    size_t ndata = 0, nconv = 0;
    const char *lexdir = CHURN_SOURCE_ROOT "/lexicons", *language = "auto", *lines = NULL;
    double seconds = 2.0;
    if (argc % 2 == 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--data") == 0 && ndata < 8)
            data[ndata++] = argv[i + 1];
        else if (strcmp(argv[i], "--conversations") == 0 && nconv < 8)
            convs[nconv++] = argv[i + 1];
        else if (strcmp(argv[i], "--lexicons") == 0)
            lexdir = argv[i + 1];
        else if (strcmp(argv[i], "--language") == 0)
            language = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--lines") == 0)
            lines = argv[i + 1];
        else if (strcmp(argv[i], "--errors") == 0 && !errors_fp) {
            if (!(errors_fp = fopen(argv[i + 1], "w"))) {
                fprintf(stderr, "sentiment-eval: cannot open %s\n", argv[i + 1]);
                return 2;
            }
        } else {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (ndata == 0) {
        static const char *const uci[] = {
            CHURN_SOURCE_ROOT "/lexicons/vendor/datasets/uci_amazon.tsv",
            CHURN_SOURCE_ROOT "/lexicons/vendor/datasets/uci_imdb.tsv",
            CHURN_SOURCE_ROOT "/lexicons/vendor/datasets/uci_yelp.tsv",
        };
        data[ndata++] = CHURN_SOURCE_ROOT "/tests/data/support_chat_eval.tsv";
        data[ndata++] = CHURN_SOURCE_ROOT "/tests/data/support_chat_eval_ko.tsv";
        for (size_t i = 0; i < 3; i++) {
            FILE *fp = fopen(uci[i], "r");
            if (fp) {
                fclose(fp);
                data[ndata++] = uci[i];
            }
        }
        if (nconv == 0)
            convs[nconv++] = CHURN_SOURCE_ROOT "/tests/data/support_chat_conversations_ko.tsv";
    }
    char err[512];
    struct churn_sentiment *an;
    if (churn_sentiment_open(lexdir, language, NULL, &an, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "sentiment-eval: %s\n", err);
        return 1;
    }
    static struct row rows[MAX_ROWS];
    struct churn_arena arena;
    churn_arena_init(&arena, 16u * 1024 * 1024);
    if (lines) {
        int rc = measure_lines(an, &arena, lines);
        churn_arena_fini(&arena);
        churn_sentiment_close(an);
        return rc;
    }

    printf("{\n  \"analyzer\": \"churnd\",\n  \"language\": \"%s\",\n  \"datasets\": [\n",
           language);
    for (size_t d = 0; d < ndata; d++) {
        size_t n = load_rows(data[d], rows);
        bool split = has_heldout(rows, n);
        eval_set(an, &arena, data[d], rows, n, NULL, !split && d + 1 == ndata);
        if (split) {
            eval_set(an, &arena, data[d], rows, n, "tune", false);
            eval_set(an, &arena, data[d], rows, n, "heldout", d + 1 == ndata);
        }
        free_rows(rows, n);
    }
    printf("  ],\n  \"conversations\": [\n");
    for (size_t c = 0; c < nconv; c++)
        eval_conversations(an, &arena, convs[c], c + 1 == nconv);
    printf("  ],\n");

    /* speed: ~15-word sentences built from each of the first two datasets (en, ko) */
    printf("  \"speed\": [\n");
    for (size_t d = 0; d < ndata && d < 2; d++) {
        size_t n = load_rows(data[d], rows);
        measure_speed(an, &arena, data[d], rows, n, seconds, d + 1 == ndata || d == 1);
        free_rows(rows, n);
    }
    printf("  ]\n}\n");
    churn_arena_fini(&arena);
    churn_sentiment_close(an);
    if (errors_fp)
        fclose(errors_fp);
    return 0;
}
