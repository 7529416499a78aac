/*
 * sentiment/language.c - the language table: a language is a code, a stemmer (a Snowball
 * algorithm, or our Korean reducer) and an ordered list of lexicon files under the lexicon
 * directory. churn_sentiment_open() reads those files (each capped in size) and hands them to
 * the compiler. Adding a language is one row here plus its lexicon files. The code "auto"
 * opens every language and picks one per text by script (churn_sentiment_detect()).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/sentiment.h"
#include "churn/sentiment_ko.h"
#include "internal.h"

#define MAX_FILES 12

struct lexicon_file {
    const char *path; /* relative to the lexicon directory */
    enum churn_sentiment_lexicon_format format;
    bool vendor; /* installed by tools/fetch-lexicons */
};

struct language {
    const char *code;
    const char *snowball;
    struct lexicon_file files[MAX_FILES];
};

/* Files in precedence order: later files override the valence of earlier ones. */
static const struct language languages[] = {
    {"en",
     "english",
     {
         {"vendor/vader_lexicon.txt", CHURN_LEX_FORMAT_VADER, true},
         {"en/emoji.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"en/idioms.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"en/support.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"en/intent.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"en/negators.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"en/boosters.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"en/dampeners.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"en/contrast.lex", CHURN_LEX_FORMAT_CHURN, false},
     }},
    /* Korean: VADER and our emoji for the emoticons, emoji and English words of Korean chat,
     * then ours */
    {"ko",
     CHURN_SENTIMENT_KO_REDUCER,
     {
         {"vendor/vader_lexicon.txt", CHURN_LEX_FORMAT_VADER, true},
         {"en/emoji.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/general.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/chat.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/support.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/intent.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/negators.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/boosters.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/dampeners.lex", CHURN_LEX_FORMAT_CHURN, false},
         {"ko/contrast.lex", CHURN_LEX_FORMAT_CHURN, false},
     }},
};

#define N_LANGUAGES (sizeof(languages) / sizeof(languages[0]))

const char *
churn_sentiment_supported_languages(void)
{
    return "en, ko, auto";
}

const char *
churn_sentiment_detect(const char *text, size_t len)
{
    struct churn__text_info info;
    churn__text_scan(text, len, &info);
    return churn__detect_counts(&info);
}

static enum churn_err
read_file(const char *path, char **data, size_t *len, char *errbuf, size_t errlen, const char *name,
          bool vendor)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        if (vendor)
            churn_errf(errbuf, errlen,
                       "%s: %s; the vendored VADER lexicon is installed by tools/setup "
                       "(tools/fetch-lexicons): run it first",
                       path, strerror(e));
        else
            churn_errf(errbuf, errlen, "%s: %s", path, strerror(e));
        return CHURN_EIO;
    }
    size_t cap = CHURN_SENTIMENT_MAX_LEXICON_FILE + 1, n = 0, alloc = 64 * 1024;
    char *buf = churn_malloc(alloc);
    enum churn_err err = 0;
    if (!buf) {
        err = CHURN_ENOMEM;
        goto out_close;
    }
    for (;;) {
        if (n == alloc) {
            if (alloc >= cap) {
                churn_errf(errbuf, errlen, "%s: larger than %d bytes", name,
                           CHURN_SENTIMENT_MAX_LEXICON_FILE);
                err = CHURN_ETOOBIG;
                goto out_free;
            }
            size_t want = alloc * 2 > cap ? cap : alloc * 2;
            char *nb = churn_realloc(buf, want);
            if (!nb) {
                err = CHURN_ENOMEM;
                goto out_free;
            }
            buf = nb;
            alloc = want;
        }
        size_t r = fread(buf + n, 1, alloc - n, fp);
        n += r;
        if (r == 0) {
            if (ferror(fp)) {
                churn_errf(errbuf, errlen, "%s: read error", path);
                err = CHURN_EIO;
                goto out_free;
            }
            break;
        }
    }
    fclose(fp);
    *data = buf;
    *len = n;
    return 0;

out_free:
    churn_free(buf);
out_close:
    fclose(fp);
    return err;
}

/* "auto": every language of the table, picked per text. */
static enum churn_err
open_auto(const char *lexicon_dir, const struct churn_sentiment_options *opts,
          struct churn_sentiment **out, char *errbuf, size_t errlen)
{
    struct churn_sentiment *peers[CHURN__MAX_PEERS] = {0};
    enum churn_err err = 0;
    for (size_t i = 0; i < N_LANGUAGES && !err; i++)
        err = churn_sentiment_open(lexicon_dir, languages[i].code, opts, &peers[i], errbuf, errlen);
    if (!err)
        err = churn__sentiment_open_auto(peers, N_LANGUAGES, out, errbuf, errlen);
    if (err)
        for (size_t i = 0; i < N_LANGUAGES; i++)
            churn_sentiment_close(peers[i]);
    return err;
}

enum churn_err
churn_sentiment_open(const char *lexicon_dir, const char *language,
                     const struct churn_sentiment_options *opts, struct churn_sentiment **out,
                     char *errbuf, size_t errlen)
{
    const struct language *lang = NULL;
    for (size_t i = 0; language && i < N_LANGUAGES; i++)
        if (strcmp(languages[i].code, language) == 0)
            lang = &languages[i];
    bool is_auto = language && (strcmp(language, "auto") == 0 || language[0] == '\0');
    if (!lang && !is_auto) {
        churn_errf(errbuf, errlen, "unsupported language '%.32s' (supported: %s)",
                   language ? language : "", churn_sentiment_supported_languages());
        return CHURN_EINVAL;
    }
    if (!lexicon_dir || !out) {
        churn_errf(errbuf, errlen, "no lexicon directory");
        return CHURN_EINVAL;
    }
    if (is_auto)
        return open_auto(lexicon_dir, opts, out, errbuf, errlen);
    struct churn_sentiment_source src[MAX_FILES];
    char *data[MAX_FILES] = {0};
    char names[MAX_FILES][64];
    size_t n = 0;
    enum churn_err err = 0;
    for (; n < MAX_FILES && lang->files[n].path; n++) {
        char path[4096];
        int w = snprintf(path, sizeof(path), "%s/%s", lexicon_dir, lang->files[n].path);
        if (w < 0 || (size_t)w >= sizeof(path)) {
            churn_errf(errbuf, errlen, "lexicon directory path too long");
            err = CHURN_EINVAL;
            goto out_free;
        }
        snprintf(names[n], sizeof(names[n]), "%s", lang->files[n].path);
        size_t len = 0;
        err = read_file(path, &data[n], &len, errbuf, errlen, names[n], lang->files[n].vendor);
        if (err)
            goto out_free;
        src[n].name = names[n];
        src[n].data = data[n];
        src[n].len = len;
        src[n].format = lang->files[n].format;
    }
    err =
        churn_sentiment_open_sources(src, n, lang->code, lang->snowball, opts, out, errbuf, errlen);
out_free:
    for (size_t i = 0; i < MAX_FILES; i++)
        churn_free(data[i]);
    return err;
}
