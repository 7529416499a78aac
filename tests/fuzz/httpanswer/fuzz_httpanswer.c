/*
 * fuzz_httpanswer.c - libFuzzer target for the reader of a webhook receiver's HTTP answer
 * (churn/http_answer.h), which churnd's own HTTP/1.1 client runs on bytes from an untrusted
 * peer. The first byte picks where the rest is cut in two; the answer is read whole, in those
 * two pieces and one byte at a time, and all three readings must agree (result, status,
 * keep-alive, bytes used, body bytes); a refusal must name its reason; an accepted answer has
 * a status from 100 to 599 and used no more than it was given; the end of the input as a
 * close must then be accepted or refused with a reason, never crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "churn/http_answer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reading {
    enum churn_err rc;
    size_t used;
    struct churn_http_answer a;
};

/* Read @data in pieces of @step bytes (the first piece @first bytes) until it decides. */
static void
read_in(struct reading *r, const char *data, size_t size, size_t first, size_t step)
{
    churn_http_answer_init(&r->a);
    r->rc = CHURN_EAGAIN;
    r->used = 0;
    for (size_t pos = 0, n = first; pos < size && r->rc == CHURN_EAGAIN; pos += n, n = step) {
        size_t take = n < size - pos ? n : size - pos, used = 0;
        r->rc = churn_http_answer_feed(&r->a, data + pos, take, &used);
        if (used > take)
            __builtin_trap();
        r->used += used;
    }
}

static void
same(const struct reading *x, const struct reading *y)
{
    if (x->rc != y->rc)
        __builtin_trap();
    if (x->rc == CHURN_OK && (x->a.status != y->a.status || x->a.keep_alive != y->a.keep_alive ||
                              x->used != y->used || x->a.body_bytes != y->a.body_bytes))
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = data[0] % (size);
    const char *text = (const char *)data + 1;
    size--;
    static struct reading whole, two, bytes;
    read_in(&whole, text, size, size ? size : 1, size ? size : 1);
    read_in(&two, text, size, cut ? cut : 1, size ? size : 1);
    read_in(&bytes, text, size, 1, 1);
    same(&whole, &two);
    same(&whole, &bytes);
    if (whole.rc == CHURN_OK && (whole.a.status < 100 || whole.a.status > 599 || whole.used > size))
        __builtin_trap();
    if (whole.rc != CHURN_OK && whole.rc != CHURN_EAGAIN && !whole.a.why[0])
        __builtin_trap();
    if (whole.rc == CHURN_EAGAIN) {
        enum churn_err eof = churn_http_answer_eof(&whole.a);
        if ((eof != CHURN_OK && !whole.a.why[0]) || (eof == CHURN_OK && whole.a.keep_alive))
            __builtin_trap();
    }
    return 0;
}
