/*
 * csv.c - streaming RFC 4180 reader. Bytes come from a 64 KiB read chunk (or a borrowed
 * memory block) through one small state machine; the unquoted fields of the current record
 * are stored back to back, NUL-terminated, in one capped buffer, so memory stays constant
 * whatever the file size and a hostile record is refused as soon as it passes the cap.
 */
#include "churn/csv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "churn/alloc.h"
#include "churn/buf.h"

#define CSV_CHUNK      65536
#define CSV_EOF        (-1)
#define CSV_IOERR      (-2)
#define CSV_ERRMSG_MAX 256

struct churn_csv {
    FILE *file;           /* NULL when reading memory */
    const char *mem;      /* chunk being consumed (file chunk or the caller's block) */
    size_t mem_len;       /* bytes in mem */
    size_t pos;           /* next byte in mem */
    char *chunk;          /* file read buffer */
    struct churn_buf rec; /* unquoted fields, each NUL-terminated */
    size_t *offsets;      /* start of each field in rec */
    size_t nfields;
    size_t offsets_alloc;
    size_t expect_fields; /* 0 until the first record when fixed_columns */
    struct churn_csv_options opts;
    unsigned long line;        /* physical line of the next byte */
    unsigned long record_line; /* where the current record began */
    enum churn_err failed;
    char errmsg[CSV_ERRMSG_MAX];
    int pushback; /* one byte of look-ahead, or CSV_EOF - 1 when empty */
};

#define NO_PUSHBACK (CSV_EOF - 10)

static enum churn_err
csv_new(const struct churn_csv_options *opts, struct churn_csv **out)
{
    struct churn_csv_options o = {0};
    if (opts)
        o = *opts;
    if (!o.delimiter)
        o.delimiter = ',';
    if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r')
        return CHURN_EINVAL;
    if (!o.max_record)
        o.max_record = CHURN_CSV_DEFAULT_MAX_RECORD;
    if (!o.max_fields)
        o.max_fields = CHURN_CSV_DEFAULT_MAX_FIELDS;
    struct churn_csv *csv = churn_calloc(1, sizeof(*csv));
    if (!csv)
        return CHURN_ENOMEM;
    csv->opts = o;
    csv->line = 1;
    csv->pushback = NO_PUSHBACK;
    /* unquoted content is never longer than the raw record; one NUL per field on top */
    churn_buf_init(&csv->rec, o.max_record + o.max_fields + 1);
    *out = csv;
    return CHURN_OK;
}

static void
skip_bom(struct churn_csv *csv)
{
    if (csv->mem_len >= 3 && memcmp(csv->mem, "\xEF\xBB\xBF", 3) == 0)
        csv->pos = 3;
}

static int
fill(struct churn_csv *csv)
{
    if (!csv->file)
        return CSV_EOF;
    size_t n = fread(csv->chunk, 1, CSV_CHUNK, csv->file);
    if (n == 0)
        return ferror(csv->file) ? CSV_IOERR : CSV_EOF;
    csv->mem = csv->chunk;
    csv->mem_len = n;
    csv->pos = 0;
    return 0;
}

enum churn_err
churn_csv_open_file(const char *path, const struct churn_csv_options *opts, struct churn_csv **out)
{
    struct churn_csv *csv;
    enum churn_err err = csv_new(opts, &csv);
    if (err)
        return err;
    csv->chunk = churn_malloc(CSV_CHUNK);
    if (!csv->chunk) {
        err = CHURN_ENOMEM;
        goto out_free;
    }
    csv->file = fopen(path, "rb");
    if (!csv->file) {
        err = churn_err_from_errno(errno);
        goto out_free;
    }
    if (fill(csv) == CSV_IOERR) {
        err = CHURN_EIO;
        goto out_free;
    }
    skip_bom(csv);
    *out = csv;
    return CHURN_OK;
out_free:
    churn_csv_close(csv);
    return err;
}

enum churn_err
churn_csv_open_mem(const char *data, size_t len, const struct churn_csv_options *opts,
                   struct churn_csv **out)
{
    struct churn_csv *csv;
    enum churn_err err = csv_new(opts, &csv);
    if (err)
        return err;
    csv->mem = data;
    csv->mem_len = data ? len : 0;
    skip_bom(csv);
    *out = csv;
    return CHURN_OK;
}

static int
get(struct churn_csv *csv)
{
    if (csv->pushback != NO_PUSHBACK) {
        int c = csv->pushback;
        csv->pushback = NO_PUSHBACK;
        return c;
    }
    if (csv->pos >= csv->mem_len) {
        int r = fill(csv);
        if (r)
            return r;
    }
    return (unsigned char)csv->mem[csv->pos++];
}

static enum churn_err
fail(struct churn_csv *csv, enum churn_err err, unsigned long line, const char *what)
{
    csv->failed = err;
    csv->record_line = line;
    snprintf(csv->errmsg, sizeof(csv->errmsg), "line %lu: %s", line, what);
    return err;
}

/* Close the field that began at *start: terminate it, record it, start the next one. */
static enum churn_err
end_field(struct churn_csv *csv, size_t *start)
{
    if (csv->nfields >= csv->opts.max_fields) {
        char what[96];
        snprintf(what, sizeof(what), "more than %zu fields", csv->opts.max_fields);
        return fail(csv, CHURN_ETOOBIG, csv->record_line, what);
    }
    if (csv->nfields == csv->offsets_alloc) {
        size_t n = csv->offsets_alloc ? csv->offsets_alloc * 2 : 16;
        if (n > csv->opts.max_fields)
            n = csv->opts.max_fields;
        size_t *p = churn_realloc(csv->offsets, n * sizeof(*p));
        if (!p)
            return fail(csv, CHURN_ENOMEM, csv->record_line, "out of memory");
        csv->offsets = p;
        csv->offsets_alloc = n;
    }
    if (churn_buf_append(&csv->rec, "", 1))
        return fail(csv, CHURN_ENOMEM, csv->record_line, "out of memory");
    csv->offsets[csv->nfields++] = *start;
    *start = csv->rec.len;
    return CHURN_OK;
}

enum state { FIELD_START, UNQUOTED, QUOTED, QUOTE_SEEN };

static enum churn_err
finish_record(struct churn_csv *csv)
{
    if (csv->opts.fixed_columns) {
        if (!csv->expect_fields) {
            csv->expect_fields = csv->nfields;
        } else if (csv->nfields != csv->expect_fields) {
            char what[96];
            snprintf(what, sizeof(what), "%zu fields, expected %zu", csv->nfields,
                     csv->expect_fields);
            return fail(csv, CHURN_ECORRUPT, csv->record_line, what);
        }
    }
    return CHURN_OK;
}

enum churn_err
churn_csv_next(struct churn_csv *csv, bool *eof)
{
    if (csv->failed)
        return csv->failed;
    churn_buf_reset(&csv->rec);
    csv->nfields = 0;
    csv->record_line = csv->line;
    enum state st = FIELD_START;
    size_t raw = 0;
    size_t field_start = 0;
    char delim = csv->opts.delimiter;

    for (;;) {
        int c = get(csv);
        if (c == CSV_IOERR)
            return fail(csv, CHURN_EIO, csv->line, "read error");
        if (c == 0)
            return fail(csv, CHURN_ECORRUPT, csv->line, "NUL byte in input");
        bool eol = c == '\n' || c == '\r' || c == CSV_EOF;
        if (!eol || st == QUOTED) {
            if (++raw > csv->opts.max_record) {
                char what[96];
                snprintf(what, sizeof(what), "record longer than %zu bytes", csv->opts.max_record);
                return fail(csv, CHURN_ETOOBIG, csv->record_line, what);
            }
        }
        if (eol && st != QUOTED) {
            if (c == '\r') {
                int d = get(csv);
                if (d != '\n')
                    csv->pushback = d;
            }
            if (c != CSV_EOF)
                csv->line++;
            if (st == FIELD_START && csv->nfields == 0 && raw == 0) {
                if (c == CSV_EOF) {
                    *eof = true;
                    return CHURN_OK;
                }
                csv->record_line = csv->line; /* empty line: skip it */
                continue;
            }
            enum churn_err err = end_field(csv, &field_start);
            if (err)
                return err;
            err = finish_record(csv);
            if (err)
                return err;
            *eof = false;
            return CHURN_OK;
        }
        switch (st) {
        case FIELD_START:
            if (c == '"') {
                st = QUOTED;
                break;
            }
            if (c == delim) {
                enum churn_err err = end_field(csv, &field_start);
                if (err)
                    return err;
                break;
            }
            st = UNQUOTED;
            /* fall through */
        case UNQUOTED:
            if (c == delim) {
                enum churn_err err = end_field(csv, &field_start);
                if (err)
                    return err;
                st = FIELD_START;
                break;
            }
            if (c == '"')
                return fail(csv, CHURN_ECORRUPT, csv->line, "quote inside an unquoted field");
            goto append;
        case QUOTED:
            if (c == CSV_EOF)
                return fail(csv, CHURN_ECORRUPT, csv->record_line, "unterminated quoted field");
            if (c == '"') {
                st = QUOTE_SEEN;
                break;
            }
            if (c == '\n')
                csv->line++;
            goto append;
        case QUOTE_SEEN:
            if (c == '"') {
                st = QUOTED;
                goto append;
            }
            if (c == delim) {
                enum churn_err err = end_field(csv, &field_start);
                if (err)
                    return err;
                st = FIELD_START;
                break;
            }
            return fail(csv, CHURN_ECORRUPT, csv->line,
                        "unexpected character after a closing quote");
        }
        continue;
    append : {
        char ch = (char)c;
        if (churn_buf_append(&csv->rec, &ch, 1))
            return fail(csv, CHURN_ENOMEM, csv->record_line, "out of memory");
    }
    }
}

size_t
churn_csv_nfields(const struct churn_csv *csv)
{
    return csv->nfields;
}

const char *
churn_csv_field(const struct churn_csv *csv, size_t i, size_t *len)
{
    if (i >= csv->nfields)
        return NULL;
    const char *s = csv->rec.data + csv->offsets[i];
    if (len) {
        size_t end = i + 1 < csv->nfields ? csv->offsets[i + 1] - 1 : csv->rec.len - 1;
        *len = end - csv->offsets[i];
    }
    return s;
}

unsigned long
churn_csv_line(const struct churn_csv *csv)
{
    return csv->record_line;
}

const char *
churn_csv_error(const struct churn_csv *csv)
{
    return csv->failed ? csv->errmsg : "";
}

void
churn_csv_close(struct churn_csv *csv)
{
    if (!csv)
        return;
    if (csv->file)
        fclose(csv->file);
    churn_free(csv->chunk);
    churn_free(csv->offsets);
    churn_buf_free(&csv->rec);
    churn_free(csv);
}
