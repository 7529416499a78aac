/*
 * fuzz_reflection.c - libFuzzer target for what reflection requests reach (issue 13 item 6):
 * with a first byte of 0 the rest is indexed as a descriptor set (malformed: CHURN_ECORRUPT
 * with a message); otherwise the rest is a file name and a symbol looked up in churnd's own
 * set, and a file found has a closure that starts with it and names files of the set. Never
 * a crash, a leak or a read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "churn/reflection.h"
#include "churn/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_closure(const struct churn_reflection *r, int idx)
{
    int out[64];
    size_t n = churn_reflection_closure(r, idx, out, 64);
    if (n == 0 || out[0] != idx)
        __builtin_trap();
    for (size_t i = 0; i < n && i < 64; i++)
        if (out[i] < 0 || (size_t)out[i] >= churn_reflection_file_count(r) ||
            !churn_reflection_file_name(r, out[i]))
            __builtin_trap();
}

static void
lookups(const uint8_t *data, size_t size)
{
    static struct churn_reflection *r;
    char err[256];
    if (!r && churn_reflection_open(churn_descriptor_set, churn_descriptor_set_len, &r, err,
                                    sizeof(err)) != CHURN_OK)
        abort();
    char *name = malloc(size + 1);
    if (!name)
        return;
    memcpy(name, data, size);
    name[size] = '\0';
    int f = churn_reflection_find_file(r, name);
    if (f >= 0)
        check_closure(r, f);
    int s = churn_reflection_find_symbol(r, name);
    if (s >= 0)
        check_closure(r, s);
    free(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] != 0) {
        lookups(data + 1, size - 1);
        return 0;
    }
    struct churn_reflection *r = NULL;
    char err[256] = "";
    enum churn_err e = churn_reflection_open(data + 1, size - 1, &r, err, sizeof(err));
    if (e == CHURN_OK) {
        for (size_t i = 0; i < churn_reflection_file_count(r); i++)
            check_closure(r, (int)i);
        churn_reflection_close(r);
    } else if (e != CHURN_ENOMEM && !err[0]) {
        __builtin_trap();
    }
    return 0;
}
