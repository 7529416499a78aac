/*
 * churn/score.h - the domain score of one customer (struct churn_score) and the scorer that
 * produces it (engine/scorer.c): the served model's life cycle (load, validate against what
 * the store provides, swap under a reference count so scores in progress finish on the model
 * they started with), the tier cut-offs in force, and scoring one customer with one store
 * read. Every score the scorer computes also goes to the score index it was given
 * (churn/score_index.h). Domain types only: the service converts a score to the API's message
 * in one place.
 */
#ifndef CHURN_SCORE_H
#define CHURN_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/alerts.h" /* enum churn_tier */
#include "churn/error.h"
#include "churn/event.h"
#include "churn/features.h"
#include "churn/reasons.h"
#include "churn/segments.h"

#define CHURN_SCORE_REASONS_MAX 20u  /* top reasons a score can carry */
#define CHURN_SCORE_NAME_MAX    128u /* a model input's name or label, with its NUL */
#define CHURN_SCORE_VERSION_MAX 128u /* the model version, with its NUL */

/*
 * struct churn_score_reason - one of the inputs that raise the risk most. @explanation is
 * written only when the caller asked for explanations (a response being built).
 */
struct churn_score_reason {
    uint32_t input;   /* the model input */
    int feature;      /* its catalogue feature (enum churn_feature_id), or -1 */
    bool categorical; /* then @category says the value; else @value (NaN: missing) */
    double value;
    double contribution; /* log-odds; positive raises the risk */
    char name[CHURN_SCORE_NAME_MAX];
    char label[CHURN_SCORE_NAME_MAX]; /* the catalogue's human label, else the model's */
    char category[CHURN_NAME_MAX + 1];
    char explanation[CHURN_REASON_TEXT_MAX];
};

/*
 * struct churn_score - one customer's churn score. @contributions and @values are indexed by
 * catalogue feature (enum churn_feature_id): the model's log-odds contribution (0 for a
 * feature it does not use) and the input value (NaN when missing or unused); both are
 * filled only when @have_contributions. @generation names the served model's load and
 * @cuts_version the tier cut-offs the tiers came from (both for this process); @model_id and
 * @cuts_id name the same across restarts, for a stored score (churn/score_codec.h);
 * @record_digest the stored record's bytes the score was computed from (churn_digest64; 0: a
 * record not stored yet); @base_digest, for a score of a record with an event previewed
 * (churn_scorer_score_after), the digest of the stored record the event was applied to (else 0).
 */
struct churn_score {
    char customer_id[CHURN_ID_MAX + 1];
    char segment[CHURN_NAME_MAX + 1];
    double probability; /* calibrated P(churn) within the horizon */
    double margin;      /* log-odds before calibration */
    enum churn_tier risk_tier, value_tier;
    double value;           /* annual customer value (docs/ALERTS.md "Customer value") */
    double revenue_at_risk; /* probability x value */
    double priority;        /* the order of the at-risk listing (revenue at risk) */
    char model_version[CHURN_SCORE_VERSION_MAX];
    uint64_t generation;
    uint64_t cuts_version;
    uint64_t record_digest;
    uint64_t base_digest;
    uint64_t model_id;       /* the served model file's churn_digest64 (stable across restarts) */
    uint64_t cuts_id;        /* the tier cut-offs' digest (stable across restarts) */
    int64_t history_from_ms; /* where the store's observed history began for the features */
    bool churned;            /* the record says the customer churned (not listed) */
    bool previous_model;     /* computed by a model no longer serving (churn_scorer_previous) */
    int64_t scored_at_ms;
    int64_t horizon_ms; /* how far ahead the probability looks */
    struct churn_freshness freshness;
    uint64_t stored_check; /* served as stored: the stored bytes' checksum; computed: 0 */
    bool have_contributions;
    double contributions[CHURN_FEAT__COUNT];
    double values[CHURN_FEAT__COUNT];
    size_t n_reasons;
    struct churn_score_reason reasons[CHURN_SCORE_REASONS_MAX];
};

/*
 * struct churn_score_stamp - what a score served as stored (the model not evaluated) was read
 * from: the stored bytes' checksum, the record's digest, the served model's generation, the
 * cut-offs' version, the observed history and the scored-at time. A caller that keeps
 * something derived from such a score (the service's encoded answers) may reuse it while
 * churn_scorer_stamp_current() says that stored score is still the one served.
 */
struct churn_score_stamp {
    uint64_t stored_check; /* 0: the score was computed, nothing to reuse */
    uint64_t record_digest;
    uint64_t generation;
    uint64_t cuts_version;
    int64_t scored_at_ms;
    int64_t history_from_ms;
};

/** churn_score_stamp_of() - the stamp of score @s (stored_check 0 unless served as stored). */
void churn_score_stamp_of(const struct churn_score *s, struct churn_score_stamp *out);

/* struct churn_score_request - what a caller wants of a score. */
struct churn_score_request {
    size_t max_reasons; /* 0..CHURN_SCORE_REASONS_MAX top reasons */
    bool explain;       /* write each reason's sentence (for a response) */
    size_t explained;   /* with @explain: only the first this many get one (0: every reason) */
    bool contributions; /* fill contributions[] and values[] (for rescoring) */
    bool fresh;         /* compute it now, even when a current stored score exists */
    bool memo_only;     /* only reuse the memo: CHURN_EAGAIN when it cannot be (nothing computed) */
};

/*
 * struct churn_score_memo - one customer's last score, kept by a caller that scores the same
 * customer again and again (a chat conversation). It is reused while it is younger than
 * @reuse_ms and the stored record's bytes, the served model and the tier cuts are all
 * unchanged; the reused score keeps its own scored_at_ms. Zero-initialise. One thread.
 */
struct churn_score_memo {
    int64_t reuse_ms;
    bool have;
    struct churn_score_request req;
    struct churn_score score;
};

/*
 * struct churn_served - the model being served (read-only): its inputs bound to the record,
 * where it came from, when it was loaded, its generation (unique per load). Taken with
 * churn_scorer_acquire(), released with churn_served_release().
 */
struct churn_served {
    struct churn_model *model;
    size_t n_inputs;
    struct churn_model_inputs *inputs;
    const char *path;
    int64_t loaded_at_ms;
    uint64_t generation;
};

struct churn_scorer;
struct churn_store;
struct churn_score_index;

/** churn_scorer_create() - a scorer with no model, the default tier cuts, no store. */
enum churn_err churn_scorer_create(struct churn_scorer **out);

/** churn_scorer_destroy() - free @sc (NULL is fine); after every score finished. */
void churn_scorer_destroy(struct churn_scorer *sc);

/**
 * churn_scorer_attach() - read customers from @store (borrowed until churn_scorer_detach())
 * and keep every score in @index (borrowed; NULL: none).
 */
void churn_scorer_attach(struct churn_scorer *sc, struct churn_store *store,
                         struct churn_score_index *index);

/**
 * churn_scorer_detach() - forget the store and close the read transactions the threads kept
 * (after the threads that scored stopped).
 */
void churn_scorer_detach(struct churn_scorer *sc);

/**
 * churn_scorer_reload() - load the model file @path (empty: the file being served) and,
 * unless @dry_run, swap it in. @old_version receives the version serving before; @loaded,
 * when not NULL, one reference to the model loaded (churn_served_release()). A refused file
 * changes nothing; @err says why.
 */
enum churn_err churn_scorer_reload(struct churn_scorer *sc, const char *path, bool dry_run,
                                   char *old_version, size_t old_len, struct churn_served **loaded,
                                   char *err, size_t errlen);

/** churn_scorer_acquire() - one reference to the model serving (NULL: none). */
struct churn_served *churn_scorer_acquire(struct churn_scorer *sc);

/** churn_served_release() - drop a reference (NULL is fine). */
void churn_served_release(struct churn_served *m);

/** churn_served_horizon_ms() - how far ahead @m's probabilities look (its training horizon). */
int64_t churn_served_horizon_ms(const struct churn_served *m);

/** churn_scorer_has_model() - whether a model is being served. */
bool churn_scorer_has_model(struct churn_scorer *sc);

/** churn_scorer_path() - the path of the model file serving ("" if none) into @out. */
void churn_scorer_path(struct churn_scorer *sc, char *out, size_t len);

/** churn_scorer_model() - one reference to the model serving (churn_model_unref()), or NULL. */
struct churn_model *churn_scorer_model(struct churn_scorer *sc);

/**
 * churn_scorer_set_segments() - the tier cut-offs scores use from now on (copied), with a
 * new cuts version. Scores in progress finish with the previous ones.
 */
enum churn_err churn_scorer_set_segments(struct churn_scorer *sc,
                                         const struct churn_segments *cuts);

/** churn_scorer_segments() - the cut-offs in force (and their version, when @version). */
void churn_scorer_segments(struct churn_scorer *sc, struct churn_segments *out, uint64_t *version);

/**
 * churn_scorer_score() - score @customer_id now with @m (NULL: the model serving) as @req
 * asks, into @out; or take the score in @memo (NULL: always score) when it may be reused,
 * and keep the new one there. The score goes to the index too (a churned customer leaves
 * it). Errors with @msg: CHURN_EINVAL (bad id), CHURN_ENOTFOUND (unknown customer),
 * CHURN_EPRECOND (no model), CHURN_EUNAVAIL (no store, or no reader for this thread),
 * CHURN_EAGAIN (@req's memo_only and @memo cannot be reused: nothing was scored).
 */
enum churn_err churn_scorer_score(struct churn_scorer *sc, struct churn_served *m,
                                  const char *customer_id, const struct churn_score_request *req,
                                  struct churn_score_memo *memo, struct churn_score *out, char *msg,
                                  size_t msglen);

/**
 * churn_scorer_score_after() - churn_scorer_score() with the model serving, no memo, of the
 * stored record with @ev (the customer's own, NULL: none) applied in memory first, as its
 * commit will apply it: a caller that is about to write @ev gets the score it makes. The
 * index keeps that score. CHURN_EINVAL (with @msg) for an event the store would refuse.
 */
enum churn_err churn_scorer_score_after(struct churn_scorer *sc, const char *customer_id,
                                        const struct churn_event *ev,
                                        const struct churn_score_request *req,
                                        struct churn_score *out, char *msg, size_t msglen);

/**
 * churn_scorer_score_record() - the score of decoded record @rec now with @m (for a caller
 * already walking records), without reasons; kept in the index too.
 */
void churn_scorer_score_record(struct churn_scorer *sc, struct churn_served *m,
                               const struct churn_customer *rec, struct churn_score *out);

struct churn_score_keeper;

/**
 * churn_scorer_keep() - store every score computed from a stored record through @keeper
 * (borrowed; NULL: none, and stored scores are neither read nor written), and serve a stored
 * score that is current (same model file, cut-offs, record bytes, day and observed history)
 * without evaluating the model. Set before scores are computed, or after they stopped.
 */
void churn_scorer_keep(struct churn_scorer *sc, struct churn_score_keeper *keeper);

/**
 * churn_scorer_refresh() - for the index build: @customer_id's current score with @m (no
 * reasons), the stored one when current, else computed and stored (waiting for the keeper
 * when it is behind); kept in the index either way. *@evaluated says whether the model was
 * evaluated. Errors as churn_scorer_score().
 */
enum churn_err churn_scorer_refresh(struct churn_scorer *sc, struct churn_served *m,
                                    const char *customer_id, struct churn_score *out,
                                    bool *evaluated);

/**
 * churn_scorer_stamp_current() - whether churn_scorer_score() with @m would now serve
 * @customer_id the very stored score @st was taken from (churn_score_stamp_of() of a score it
 * served as stored): @m's generation, the cuts version, the record's bytes, the stored bytes,
 * the observed history and the day all unchanged. One store read; neither the record nor the
 * score is decoded when they are unchanged. False for a stamp of a computed score, without
 * a store, a reader or stored scores, for an unknown customer, and for anything changed.
 */
bool churn_scorer_stamp_current(struct churn_scorer *sc, const struct churn_served *m,
                                const char *customer_id, const struct churn_score_stamp *st);

/**
 * churn_scorer_previous() - for a listing during a rebuild: @customer_id's stored score when
 * it was computed by a model other than @m (one served before a promotion, which the rebuild
 * has not replaced yet), decoded into @out with previous_model set, its model_version that
 * model's and no reasons (their names belong to a model no longer loaded); nothing is
 * evaluated. CHURN_ENOTFOUND when no such score is stored (none, stored scores off, or already
 * @m's), CHURN_EUNAVAIL without a store or reader, CHURN_ECORRUPT for undecodable bytes.
 */
enum churn_err churn_scorer_previous(struct churn_scorer *sc, const struct churn_served *m,
                                     const char *customer_id, struct churn_score *out);

/**
 * churn_scorer_evaluations() - how many times a model was evaluated so far (scores computed,
 * memo reuses not counted), for tests and metrics.
 */
uint64_t churn_scorer_evaluations(struct churn_scorer *sc);

/**
 * churn_score_copy() - *@dst = *@src, but only the @src->n_reasons reasons it carries (a
 * score is 12 KiB, most of it room for reasons: the chat path copies a few per turn).
 * Reasons past n_reasons are left as they were in @dst.
 */
void churn_score_copy(struct churn_score *dst, const struct churn_score *src);

/*
 * struct churn_score_builder - the background build of the score index (engine/score_build.c):
 * every customer scored once a model serves, and again after each change of the served
 * model's generation or of the tier cuts.
 */
struct churn_score_builder;

/**
 * churn_score_builder_start() - start building @index from @store's customers with @scorer's
 * model (all borrowed until churn_score_builder_stop()). CHURN_ENOMEM.
 */
enum churn_err churn_score_builder_start(struct churn_scorer *scorer, struct churn_store *store,
                                         struct churn_score_index *index,
                                         struct churn_score_builder **out);

/**
 * churn_score_builder_poke() - look now whether the served model's generation or the cuts
 * changed, and (re)build if so: the builder waits for this between builds (the housekeeping
 * timer pokes it every CHURN_SCORE_BUILDER_POKE_MS). NULL: no-op.
 */
void churn_score_builder_poke(struct churn_score_builder *b);
#define CHURN_SCORE_BUILDER_POKE_MS 200

/**
 * churn_score_builder_pace() - refresh at most @per_s customers a second in the rebuilds that
 * follow a change of model or cuts (0: as fast as it goes, the default), so that a rebuild
 * leaves CPU to the calls being served; the first build after a start is never paced (listings
 * wait for it). Takes effect from the next customer.
 */
void churn_score_builder_pace(struct churn_score_builder *b, int64_t per_s);

/** churn_score_builder_stop() - stop (a build in progress is abandoned) and free. NULL: no-op. */
void churn_score_builder_stop(struct churn_score_builder *b);

/**
 * churn_score_builder_complete() - whether a build has completed since start: the index then
 * holds every listable customer (later changes reach it through the scores computed for them).
 */
bool churn_score_builder_complete(const struct churn_score_builder *b);

/** churn_score_builder_status() - a build running now, builds completed, the last one's ms. */
void churn_score_builder_status(const struct churn_score_builder *b, bool *running,
                                uint64_t *builds, int64_t *last_ms);

#endif
