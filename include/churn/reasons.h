/*
 * churn/reasons.h - the reasons behind a score in words a retention manager understands.
 * A model explains a score as numbers (per-feature contributions to its margin); these pure
 * functions turn one reason into a sentence with units and directions in words, from the
 * feature vector at as_of and the customer record: "Logins fell from 14 to 2 in 30 days",
 * "No activity for 23 days", "3 support tickets in the last 30 days (none the 30 days
 * before)", "Average rating 1.5 stars over the last 90 days", "On the basic plan (49.00 a
 * month)". A feature with a paired window (logins, orders, tickets, negative reviews) and its
 * decline feature are told as the pair. Missing values are said in words ("No orders yet"),
 * never "nan"; counts agree in number ("1 login", "2 logins"); currency has two decimals;
 * no sentence mentions the model's internal units (log-odds): those stay in numeric fields.
 * Every function writes at most @outlen bytes (NUL included; longer text is cut) and returns
 * @out. No allocation, no I/O, no clock.
 */
#ifndef CHURN_REASONS_H
#define CHURN_REASONS_H

#include <stddef.h>

#include "churn/features.h"
#include "churn/store.h"

/* A buffer this big always holds a whole reason sentence. */
#define CHURN_REASON_TEXT_MAX 192u

/**
 * churn_reason_feature_text() - the sentence for catalogue feature @feature (enum
 * churn_feature) of @vec, computed from @rec at vec->as_of_ms.
 * @rec: the customer (for the plan's name at as_of); borrowed.
 * @sign: the sign of the feature's contribution: > 0 it raises the risk, < 0 it lowers it,
 *        0 unknown. It only picks a word where the value alone does not say which way it
 *        points (a short tenure is "only" 45 days when it raises the risk).
 * An out-of-range @feature gives "Unknown feature". Returns @out.
 */
char *churn_reason_feature_text(int feature, const struct churn_feature_vector *vec,
                                const struct churn_customer *rec, int sign, char *out,
                                size_t outlen);

/**
 * churn_reason_category_text() - the sentence for a categorical input @name with @value:
 * "On the basic plan", "In the smb segment", "Based in DE"; another category (an imported
 * "attr.<name>") is "<label>: <value>". An empty or NULL @value is unknown in words ("Plan
 * unknown", "<label> unknown"). @label may be NULL (then @name is used). Returns @out.
 */
char *churn_reason_category_text(const char *name, const char *label, const char *value, char *out,
                                 size_t outlen);

/**
 * churn_reason_number_text() - the sentence for a numeric input that is not in the catalogue
 * (an imported attribute): "<label>: <value>" with up to 4 significant digits, or
 * "<label>: no data" for NaN. Returns @out.
 */
char *churn_reason_number_text(const char *label, double value, char *out, size_t outlen);

/**
 * churn_reason_moved_text() - what moved between two scores for catalogue feature @feature:
 * "<label> fell|rose from <before> to <after>", "<label> unchanged at <v>", or, for a value
 * not known at one of the two scores (NaN: missing data, or a feature the score did not
 * record), "<label> is now <after>", "<label> was <before>", "<label>: no value to compare".
 * Values are written in the feature's unit (currency with 2 decimals, ratios as
 * percentages, counts and days whole). Returns @out.
 */
char *churn_reason_moved_text(int feature, double before, double after, char *out, size_t outlen);

#endif
