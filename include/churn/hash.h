/*
 * churn/hash.h - the project's small non-cryptographic hashes: 64-bit FNV-1a for ids
 * (open-addressing sets of customers, holdout assignment, model-version tags), whose values
 * are stable across hosts and releases, so they may be stored; and churn_digest64() for
 * telling whether a blob of a few kilobytes changed (word at a time, four lanes), whose
 * values are for comparison within one process only.
 */
#ifndef CHURN_HASH_H
#define CHURN_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CHURN_FNV64_OFFSET 0xcbf29ce484222325ULL
#define CHURN_FNV64_PRIME  0x100000001b3ULL

/** churn_fnv1a64() - continue hash @h over @n bytes at @data (start with CHURN_FNV64_OFFSET). */
static inline uint64_t
churn_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * CHURN_FNV64_PRIME;
    return h;
}

/** churn_fnv1a64_str() - the hash of NUL-terminated @s (NULL hashes as ""). */
static inline uint64_t
churn_fnv1a64_str(const char *s)
{
    uint64_t h = CHURN_FNV64_OFFSET;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        h = (h ^ *p) * CHURN_FNV64_PRIME;
    return h;
}

/** churn_id_hash() - churn_fnv1a64_str() never 0, for sets that use 0 as the empty slot. */
static inline uint64_t
churn_id_hash(const char *id)
{
    uint64_t h = churn_fnv1a64_str(id);
    return h ? h : 1;
}

static inline uint64_t
churn__digest_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/**
 * churn_digest64() - a 64-bit digest of @n bytes at @data, to tell whether a stored blob
 * changed (equal digests: the same bytes, but for a 2^-64 accident). Reads 32 bytes a step in
 * four independent lanes, about 0.1 ns a byte; not for adversarial keys.
 */
static inline uint64_t
churn_digest64(const void *data, size_t n)
{
    const unsigned char *p = data;
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t a = k ^ n, b = ~k, c = k * 3, d = k * 5;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, sizeof(w));
        a = (a ^ w[0]) * k;
        b = (b ^ w[1]) * k;
        c = (c ^ w[2]) * k;
        d = (d ^ w[3]) * k;
        a ^= a >> 29;
        b ^= b >> 29;
        c ^= c >> 29;
        d ^= d >> 29;
    }
    uint64_t tail = 0;
    for (size_t j = 0; i < n; i++, j++) {
        if (j == 8) {
            a = (a ^ tail) * k;
            tail = 0;
            j = 0;
        }
        tail |= (uint64_t)p[i] << (8 * j);
    }
    a = (a ^ tail) * k;
    return churn__digest_mix(a ^ churn__digest_mix(b) ^ churn__digest_mix(c + d * 7));
}

#endif
