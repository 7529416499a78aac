/*
 * churn/outcomes.h - holdouts and outcomes: the stable hash that puts a customer in a
 * playbook's control group, recorded outcomes with their versioned encoding, and the
 * retention statistics (rates with Wilson intervals, lift over the holdout). Pure C: no I/O.
 */
#ifndef CHURN_OUTCOMES_H
#define CHURN_OUTCOMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/error.h"

/* ======================================================================================
 * Holdouts and outcomes
 * ====================================================================================== */

/**
 * churn_holdout_hash() - 64-bit FNV-1a over the customer id bytes, one 0x00 byte and the
 * playbook id bytes, followed by the splitmix64 finaliser (FNV-1a alone mixes short,
 * similar keys poorly in its high bits). Depends on nothing else: stable across restarts,
 * hosts and releases.
 */
uint64_t churn_holdout_hash(const char *customer_id, const char *playbook_id);

/**
 * churn_holdout_assign() - true when @customer_id falls in the control group of playbook
 * @playbook_id with holdout share @share: (hash >> 11) / 2^53 < share. A share <= 0 holds
 * out nobody.
 */
bool churn_holdout_assign(const char *customer_id, const char *playbook_id, double share);

/* struct churn_outcome_record - one recorded outcome of one alerted customer. */
struct churn_outcome_record {
    char customer_id[CHURN_ALERT_ID_MAX];
    char playbook_id[CHURN_ALERT_NAME_MAX];
    bool holdout;
    enum churn_outcome outcome;
    double value; /* the customer's value (for revenue retained) */
    int64_t recorded_ms;
};

/*
 * struct churn_outcome_stats - one playbook's experiment. Rates are retained / decided,
 * UNKNOWN outcomes are excluded. diff = treatment rate - control rate with a 95% confidence
 * interval by Newcombe's hybrid score method (method 10, from two Wilson intervals);
 * NaN where a group has no decided outcome. revenue_retained = diff x treated decided x
 * mean value of the treated customers (0 when diff is NaN).
 */
struct churn_outcome_stats {
    char playbook_id[CHURN_ALERT_NAME_MAX];
    uint64_t treated, treated_retained, treated_unknown;
    uint64_t control, control_retained, control_unknown;
    double treated_rate, control_rate;
    double diff, diff_low, diff_high;
    double treated_mean_value;
    double revenue_retained;
};

/**
 * churn_wilson_interval() - the 95% Wilson score interval of @successes out of @n (n > 0)
 * into *@low, *@high. CHURN_EINVAL for n == 0 or successes > n.
 */
enum churn_err churn_wilson_interval(uint64_t successes, uint64_t n, double *low, double *high);

/**
 * churn_outcomes_compute() - per playbook (in order of first appearance in @records),
 * statistics into @out (caller array of @out_cap). Records with an empty playbook id are
 * skipped. Sets *@n_out. CHURN_ETOOBIG when more than @out_cap playbooks appear,
 * CHURN_EINVAL for a bad outcome value or a negative or non-finite value. Pure: borrows
 * @records.
 */
enum churn_err churn_outcomes_compute(const struct churn_outcome_record *records, size_t n,
                                      struct churn_outcome_stats *out, size_t out_cap,
                                      size_t *n_out);

/** churn_outcome_encode() - versioned encoding (at most 256 bytes) into @out. */
enum churn_err churn_outcome_encode(const struct churn_outcome_record *rec, uint8_t *out,
                                    size_t cap, size_t *len);

/** churn_outcome_decode() - CHURN_ECORRUPT for bad input; @rec untouched then. */
enum churn_err churn_outcome_decode(const uint8_t *data, size_t len,
                                    struct churn_outcome_record *rec);

#endif
