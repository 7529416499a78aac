/*
 * churn/csv.h - the project's streaming CSV reader (RFC 4180).
 *
 * One record at a time from a file or a memory block, in constant memory: a fixed read
 * chunk plus one record buffer whose size is capped by the caller (no input can raise it).
 * Quoted fields ("a ""b"", c"), embedded newlines in quotes, CRLF, LF or lone CR line ends,
 * a UTF-8 byte-order mark at the start, and empty lines (skipped) are handled. Every error
 * (a record longer than the cap, a wrong number of fields, a stray or unterminated quote, a
 * NUL byte) names the physical line where it happened and stops the reader.
 */
#ifndef CHURN_CSV_H
#define CHURN_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "churn/error.h"

#define CHURN_CSV_DEFAULT_MAX_RECORD (1u << 20) /* bytes of one record, quotes included */
#define CHURN_CSV_DEFAULT_MAX_FIELDS 4096u

struct churn_csv;

struct churn_csv_options {
    char delimiter;     /* 0: ',' */
    size_t max_record;  /* 0: CHURN_CSV_DEFAULT_MAX_RECORD */
    size_t max_fields;  /* 0: CHURN_CSV_DEFAULT_MAX_FIELDS */
    bool fixed_columns; /* every record must have as many fields as the first one */
};

/**
 * churn_csv_open_file() - start reading the CSV file at @path.
 * @opts: may be NULL for the defaults; copied.
 * @out: OUT: the reader, owned by the caller, released with churn_csv_close().
 *
 * Return: CHURN_OK, CHURN_ENOTFOUND / CHURN_EPERM / CHURN_EIO when the file cannot be
 * opened, CHURN_EINVAL for bad options, CHURN_ENOMEM.
 */
enum churn_err churn_csv_open_file(const char *path, const struct churn_csv_options *opts,
                                   struct churn_csv **out);

/**
 * churn_csv_open_mem() - read CSV text from @data (@len bytes). The memory is borrowed and
 * must stay valid and unchanged until churn_csv_close().
 */
enum churn_err churn_csv_open_mem(const char *data, size_t len,
                                  const struct churn_csv_options *opts, struct churn_csv **out);

/**
 * churn_csv_next() - read the next record.
 * @eof: OUT: true when there is no further record (then no record is current).
 *
 * Return: CHURN_OK (a record or end of input), CHURN_ETOOBIG (record over max_record or
 * max_fields), CHURN_ECORRUPT (bad quoting, NUL byte, wrong field count), CHURN_EIO,
 * CHURN_ENOMEM. After an error the reader stays failed: later calls return the same error,
 * and churn_csv_error() describes it with the line number.
 */
enum churn_err churn_csv_next(struct churn_csv *csv, bool *eof);

/** churn_csv_nfields() - number of fields of the current record (0 before the first). */
size_t churn_csv_nfields(const struct churn_csv *csv);

/**
 * churn_csv_field() - field @i of the current record, unquoted and NUL-terminated; its length
 * in @len when not NULL. Valid until the next churn_csv_next() or churn_csv_close(). NULL when
 * @i is out of range.
 */
const char *churn_csv_field(const struct churn_csv *csv, size_t i, size_t *len);

/** churn_csv_line() - physical line (1-based) where the current record, or the error, began. */
unsigned long churn_csv_line(const struct churn_csv *csv);

/**
 * churn_csv_error() - a message for the last error ("line 7: unterminated quoted field"),
 * or "" when there was none. Valid until churn_csv_close().
 */
const char *churn_csv_error(const struct churn_csv *csv);

/** churn_csv_close() - release the reader and close its file (NULL is a no-op). */
void churn_csv_close(struct churn_csv *csv);

#endif
