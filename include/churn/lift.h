/*
 * churn/lift.h - the lift and gains of the served model (issue 15, the dashboard's model
 * panel), computed over the store: a prospective backtest (churn/trainset.h) scores every
 * customer as of T (the end of the UTC day a day before now - H; H: the model's own horizon)
 * from events up to T only, exactly as churnd served them then, and compares with who churned
 * in the H days after; customers are ranked by probability and cut into ten equal groups
 * (highest first), each with its churn rate, lift over the base rate and the cumulative share
 * of all churners captured (the gains curve). Domain types only.
 */
#ifndef CHURN_LIFT_H
#define CHURN_LIFT_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "churn/error.h"

struct churn_store;
struct churn_served;

struct churn_lift_decile {
    size_t customers; /* in this tenth of the ranking */
    size_t churned;   /* of them, churned within the horizon */
    double rate;      /* churned / customers */
    double lift;      /* rate / the base rate */
    double capture;   /* cumulative share of all churners in tenths 1..this (gains) */
    double share;     /* cumulative share of customers in tenths 1..this */
};

struct churn_lift {
    uint64_t generation; /* of the model it was computed for */
    int64_t as_of_ms;    /* T: the end of the UTC day scored as of */
    int horizon_days;    /* H */
    int64_t computed_at_ms;
    size_t customers, churned;
    double base_rate; /* churned / customers */
    double auc;       /* the backtest's ROC-AUC (NaN with one class) */
    struct churn_lift_decile deciles[10];
};

/**
 * churn_lift_compute() - the lift of served model @m over @store as of the end of the UTC day
 * of @now_ms - (H + 1) days, H being @m's training horizon (or @default_horizon_days when the model
 * does not say), truth in the H days after, into @out (OUT, untouched on error). Return: CHURN_OK;
 * the backtest's refusals (CHURN_EINVAL: too little history before T, no customer, no churner in
 * the window; CHURN_EPRECOND: an input the store lacks) with @err naming the rule; storage errors;
 * CHURN_ECANCELLED as soon as *@stop (may be NULL) becomes true.
 */
enum churn_err churn_lift_compute(struct churn_store *store, const struct churn_served *m,
                                  int64_t now_ms, int default_horizon_days, const atomic_bool *stop,
                                  struct churn_lift *out, char *err, size_t errlen);

#endif
