/*
 * churn/sentiment_json.h - one analysis as one line of JSON, written by hand for speed
 * (`churnctl sentiment` prints one per input line): the same object jansson used to print
 * (text, language, scores, flags, evidence) into a caller's buffer, strings escaped to ASCII,
 * numbers in their shortest round-trip form. No allocation; safe from any thread.
 */
#ifndef CHURN_SENTIMENT_JSON_H
#define CHURN_SENTIMENT_JSON_H

#include <stddef.h>

#include "churn/sentiment.h"

/**
 * churn_json_double() - the shortest decimal text of @v that reads back as exactly @v
 * ("0.5", "-0.34123765135657719", "2", "1e-07"; "null" for NaN and infinities, which JSON
 * lacks).
 * @out: room for at least 32 bytes; NUL-terminated.
 * Returns the length written.
 */
size_t churn_json_double(double v, char *out);

/**
 * churn_json_float() - the same for a float: the shortest text that reads back (strtof) as
 * exactly @v (1.9f is "1.9", not "1.8999999761581421").
 */
size_t churn_json_float(float v, char *out);

/**
 * churn_sentiment_json() - the analysis @r of @text (@len bytes, valid UTF-8) as one JSON
 * object, no newline: {"text", "language", "compound", "positive", "negative", "neutral",
 * "churn_intent", "intent_confidence", "human_requested", "hard_trigger", "evidence": [{"term",
 * "kind", "start", "end", "valence", "contribution"}...]}. Non-ASCII characters are written
 * as \\uXXXX escapes (surrogate pairs above U+FFFF), control characters as \\n, \\t or \\u00XX.
 * @out, @cap: the buffer; at most @cap bytes are written, no NUL.
 * Returns the length of the whole object: when it is more than @cap, the buffer holds only a
 * prefix and the caller retries with that much room (6 x @len + 256 + 100 per evidence plus
 * 6 x each term's length always suffices).
 */
size_t churn_sentiment_json(const char *text, size_t len, const struct churn_sentiment_result *r,
                            char *out, size_t cap);

#endif
