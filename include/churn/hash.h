/*
 * churn/hash.h - 64-bit FNV-1a, the one small non-cryptographic hash the project uses for
 * ids (open-addressing sets of customers, holdout assignment, model-version tags). Its
 * values are stable across hosts and releases, so they may be stored.
 */
#ifndef CHURN_HASH_H
#define CHURN_HASH_H

#include <stddef.h>
#include <stdint.h>

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

#endif
