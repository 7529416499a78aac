/*
 * internal.h - helpers shared by the files of the alerts module only: a bounded little-endian
 * writer and reader for the versioned record encodings, and bounded string copies. Nothing
 * here is public API.
 */
#ifndef CHURN_ALERTS_INTERNAL_H
#define CHURN_ALERTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

struct churn__wr {
    uint8_t *p;
    size_t cap;
    size_t len;
    bool overflow;
};

struct churn__rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool bad;
};

void churn__wr_u8(struct churn__wr *w, uint8_t v);
void churn__wr_u32(struct churn__wr *w, uint32_t v);
void churn__wr_u64(struct churn__wr *w, uint64_t v);
void churn__wr_i64(struct churn__wr *w, int64_t v);
void churn__wr_f64(struct churn__wr *w, double v);
/* u16 length + bytes of a NUL-terminated string held in a field of @field_size bytes */
void churn__wr_str(struct churn__wr *w, const char *s);

uint8_t churn__rd_u8(struct churn__rd *r);
uint32_t churn__rd_u32(struct churn__rd *r);
uint64_t churn__rd_u64(struct churn__rd *r);
int64_t churn__rd_i64(struct churn__rd *r);
/* finite doubles only; NaN or infinity marks the reader bad */
double churn__rd_f64(struct churn__rd *r);
/* any double, NaN allowed (snapshot values may be missing) */
double churn__rd_f64_any(struct churn__rd *r);
/* a string that must fit @size bytes with its NUL and contain no NUL */
void churn__rd_str(struct churn__rd *r, char *out, size_t size);

/* copy @s into @out[@size]; CHURN_ETOOBIG when it does not fit (out then unchanged) */
enum churn_err churn__copy(char *out, size_t size, const char *s);
/* true when @s (a fixed field of @size bytes) is NUL-terminated within it */
bool churn__terminated(const char *s, size_t size);

#endif
