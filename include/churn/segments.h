/*
 * churn/segments.h - segments of the early-warning domain: risk tiers (by probability
 * threshold or top share) and value tiers, their cut-offs computed from a score distribution
 * and encoded for the store, a customer's priority and its cell of the risk x value matrix.
 * Pure C: no I/O.
 */
#ifndef CHURN_SEGMENTS_H
#define CHURN_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h"
#include "churn/error.h"

/* ======================================================================================
 * Segments
 * ====================================================================================== */

enum churn_risk_mode {
    CHURN_RISK_BY_THRESHOLD = 1, /* fixed probability cut-offs */
    CHURN_RISK_BY_TOP_SHARE = 2, /* the top k% of a score distribution */
};

struct churn_segment_config {
    enum churn_risk_mode risk_mode;
    enum churn_risk_mode value_mode; /* THRESHOLD or TOP_SHARE, like risk_mode (0: TOP_SHARE) */
    double value_high_min;           /* THRESHOLD: value >= this is high */
    double value_medium_min;         /* THRESHOLD: value >= this is medium */
    double risk_high_min;      /* THRESHOLD: P >= this is high (0 < medium_min <= high_min < 1) */
    double risk_medium_min;    /* THRESHOLD: P >= this is medium */
    double risk_high_share;    /* TOP_SHARE: the top share of scores is high (e.g. 0.10) */
    double risk_medium_share;  /* TOP_SHARE: the next share is medium (e.g. 0.20) */
    double value_high_share;   /* the top share of values is high (default 0.20) */
    double value_medium_share; /* the next share is medium (default 0.30) */
};

/*
 * struct churn_segments - computed cut-offs. A probability p is HIGH when p >= risk_high_cut,
 * MEDIUM when p >= risk_medium_cut, else LOW; a value likewise with the value cuts.
 */
struct churn_segments {
    double risk_high_cut;
    double risk_medium_cut;
    double value_high_cut;
    double value_medium_cut;
    uint32_t risk_sample_size;  /* how many scores the risk cuts came from (0: thresholds) */
    uint32_t value_sample_size; /* how many values the value cuts came from */
};

/**
 * churn_segment_config_default() - thresholds 0.6 / 0.3, top-share 10% / 20% (unused in
 * threshold mode), value tiers top 20% high and next 30% medium.
 */
void churn_segment_config_default(struct churn_segment_config *cfg);

/**
 * churn_segment_config_parse() - set the risk (@risk, may be NULL: unchanged) and value
 * (@value, may be NULL) tiering of @cfg from text: "threshold:HIGH,MEDIUM" (a probability,
 * or a customer value in currency units, at or above which a tier starts) or
 * "top:HIGH_SHARE,MEDIUM_SHARE" (the top share is high, the next share medium; shares in
 * (0, 1), summing below 1). CHURN_EINVAL with a message naming the spec and what is wrong;
 * @cfg untouched on error.
 */
enum churn_err churn_segment_config_parse(struct churn_segment_config *cfg, const char *risk,
                                          const char *value, char *errbuf, size_t errlen);

/**
 * churn_segments_initial() - cut-offs usable before any sample exists: the thresholds of a
 * threshold mode, else @fallback's cuts for that dimension. Sample sizes are 0.
 */
void churn_segments_initial(const struct churn_segment_config *cfg,
                            const struct churn_segments *fallback, struct churn_segments *out);

/**
 * churn_segments_compute() - cut-offs from @cfg and samples of current probabilities
 * (@probs, @n_probs; only read in TOP_SHARE mode) and customer values (@values, @n_values).
 * The samples are borrowed and not modified (the function sorts private copies). A share
 * cut is the sample value at rank ceil(n * (1 - share)) of the ascending order, so about
 * that share of the sample is at or above it (ties at a cut go to the higher tier).
 * Errors: CHURN_EINVAL for a bad config
 * (shares outside (0,1), shares summing to 1 or more, thresholds out of order), an empty
 * sample where one is needed or a NaN/negative value in a sample (@errbuf says which);
 * CHURN_ETOOBIG over 10 million samples; CHURN_ENOMEM. @out untouched on error.
 */
enum churn_err churn_segments_compute(const struct churn_segment_config *cfg, const double *probs,
                                      size_t n_probs, const double *values, size_t n_values,
                                      struct churn_segments *out, char *errbuf, size_t errlen);

/** churn_segments_risk_tier() - the risk tier of probability @p (NaN is LOW). */
enum churn_tier churn_segments_risk_tier(const struct churn_segments *seg, double p);

/** churn_segments_value_tier() - the value tier of customer value @value (NaN is LOW). */
enum churn_tier churn_segments_value_tier(const struct churn_segments *seg, double value);

/**
 * churn_priority() - expected revenue at risk, P(churn) x value. Non-finite or negative
 * inputs count as 0; @p is clamped to [0, 1].
 */
double churn_priority(double p, double value);

/**
 * churn_segment_cell() - the risk x value matrix cell as an index 0..8
 * ((risk - 1) * 3 + (value - 1)), or -1 when either tier is unspecified.
 */
int churn_segment_cell(enum churn_tier risk, enum churn_tier value);

/**
 * churn_segment_name() - "<risk>-risk/<value>-value" ("high-risk/high-value") into @out
 * (at least 32 bytes). Returns @out.
 */
char *churn_segment_name(enum churn_tier risk, enum churn_tier value, char *out, size_t outlen);

/** churn_segments_encode() - versioned encoding of computed cut-offs (41 bytes). */
enum churn_err churn_segments_encode(const struct churn_segments *seg, uint8_t *out, size_t cap,
                                     size_t *len);

/** churn_segments_decode() - CHURN_ECORRUPT for bad input (also cuts out of order). */
enum churn_err churn_segments_decode(const uint8_t *data, size_t len, struct churn_segments *seg);

#endif
