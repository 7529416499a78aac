/*
 * churn/registry.h - the model registry: every model churnd ever served (or trained and
 * refused), with the file's identity (its own checksum and a hash of its bytes), where it came
 * from, its training window, its backtest figures, when it was registered and promoted, which
 * one serves now and the order they served in (for rollback), plus the last retraining
 * decisions. It lives in the store's `meta` database as one versioned record, so the served
 * model survives restarts, and every change is one durable write.
 *
 * The registry is engine code: domain types only. A registry object is shared by threads; each
 * call takes its lock, so a reader never sees half a change.
 */
#ifndef CHURN_REGISTRY_H
#define CHURN_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

struct churn_store;
struct churn_registry;

#define CHURN_REGISTRY_MAX_MODELS    200 /* entries kept; the oldest never-served go first */
#define CHURN_REGISTRY_MAX_HISTORY   64  /* served ids remembered for rollback */
#define CHURN_REGISTRY_MAX_DECISIONS 16  /* retrain decisions remembered */
#define CHURN_REGISTRY_PATH_MAX      1024
#define CHURN_REGISTRY_TEXT_MAX      256
#define CHURN_REGISTRY_META_NAME     "model_registry"
#define CHURN_REGISTRY_FORMAT        1

/* Where a registered model came from. */
enum churn_model_origin {
    CHURN_ORIGIN_UNSPECIFIED = 0,
    CHURN_ORIGIN_FLAG = 1,    /* churnd --model at start-up */
    CHURN_ORIGIN_RELOAD = 2,  /* ReloadModel or SIGHUP */
    CHURN_ORIGIN_RETRAIN = 3, /* trained by churnd's retraining */
};

/* What a backtest said about a model: scores as of @as_of_ms, truth in (as_of, +horizon]. */
struct churn_backtest_figures {
    bool present; /* false: never backtested */
    int64_t as_of_ms;
    int32_t horizon_days;
    uint64_t customers;
    double auc, pr_auc;
    double mean_predicted, realised_rate;
};

/* The identity of a model file's bytes, and what its training metadata says. */
struct churn_model_file_id {
    char checksum[80];  /* the file's own "checksum" member ("fnv1a64:<16 hex>") */
    uint64_t file_hash; /* FNV-1a 64 of the file's bytes */
    uint64_t size;
    int kind; /* enum churn_model_kind */
    char version[128];
    int64_t trained_at_ms;
    int64_t train_from_ms, train_until_ms; /* training window; 0: not known */
    uint64_t training_rows;
};

struct churn_registry_entry {
    uint32_t id; /* 1, 2, ...: never reused */
    char path[CHURN_REGISTRY_PATH_MAX];
    struct churn_model_file_id file;
    enum churn_model_origin origin;
    struct churn_backtest_figures backtest;
    int64_t registered_at_ms;
    int64_t promoted_at_ms;                /* last time it started serving; 0: never served */
    int64_t retired_at_ms;                 /* last time it stopped serving; 0: never */
    char refused[CHURN_REGISTRY_TEXT_MAX]; /* why it was last refused at start-up; "" if not */
};

enum churn_retrain_outcome {
    CHURN_RETRAIN_UNSPECIFIED = 0,
    CHURN_RETRAIN_RUNNING = 1,
    CHURN_RETRAIN_PROMOTED = 2,      /* the challenger beat the champion by the margin */
    CHURN_RETRAIN_KEPT_CHAMPION = 3, /* trained and backtested, not better: nothing changed */
    CHURN_RETRAIN_FAILED = 4,        /* an error (one class, no data, I/O): nothing changed */
    CHURN_RETRAIN_CANCELLED = 5,     /* stopped by shutdown: nothing changed */
};

/* One retraining run and what was decided. */
struct churn_retrain_decision {
    uint64_t run_id;
    int64_t started_ms, finished_ms;
    enum churn_retrain_outcome outcome;
    char trigger[32];      /* "schedule" or "rpc" */
    uint32_t candidate_id; /* registry id of the challenger (0: none registered) */
    uint32_t champion_id;  /* registry id serving when the run decided (0: none) */
    struct churn_backtest_figures candidate, champion;
    uint64_t training_rows, positives;
    double margin; /* AUC margin required */
    char reason[CHURN_REGISTRY_TEXT_MAX];
};

/* A copy of the whole registry (churn_registry_snapshot()). */
struct churn_registry_view {
    uint32_t served_id; /* 0: none */
    size_t n_models;
    struct churn_registry_entry models[CHURN_REGISTRY_MAX_MODELS]; /* by id, ascending */
    size_t n_history;
    uint32_t history[CHURN_REGISTRY_MAX_HISTORY]; /* served ids, oldest first; last = served */
    size_t n_decisions;
    struct churn_retrain_decision decisions[CHURN_REGISTRY_MAX_DECISIONS]; /* newest last */
    uint64_t next_run_id;
};

/**
 * churn_registry_open() - the registry kept in @store (borrowed; outlives the registry), or an
 * empty one. CHURN_ECORRUPT (with @err) when the stored record cannot be decoded.
 * @out: OUT: owned by the caller, churn_registry_close().
 */
enum churn_err churn_registry_open(struct churn_store *store, struct churn_registry **out,
                                   char *err, size_t errlen);

/** churn_registry_close() - free (NULL is a no-op). */
void churn_registry_close(struct churn_registry *reg);

/**
 * churn_model_file_identify() - read the model file at @path and fill @out: the hash and size of
 * its bytes and, from the parsed model, its checksum, kind, version and training metadata
 * (the window from "train_from_ms"/"train_until_ms" in its parameters when present).
 * Errors (with @err): CHURN_ENOTFOUND, CHURN_EIO, CHURN_ECORRUPT (not a valid model).
 */
enum churn_err churn_model_file_identify(const char *path, struct churn_model_file_id *out,
                                         char *err, size_t errlen);

/**
 * churn_registry_verify() - whether the file of @entry is still the one registered: it exists
 * and its bytes hash and size match. Otherwise @err says what changed ("gone", "altered").
 */
enum churn_err churn_registry_verify(const struct churn_registry_entry *entry, char *err,
                                     size_t errlen);

/**
 * churn_registry_add() - register @path with identity @id (origin @origin, at @now_ms, with the
 * backtest figures @fig, or none when NULL) in one durable write; an entry with the same path
 * and bytes is reused (its id returned, its figures unchanged). @id_out: OUT.
 * CHURN_ETOOBIG for a path over CHURN_REGISTRY_PATH_MAX - 1 bytes; CHURN_EFULL when every entry
 * is in the served history.
 */
enum churn_err churn_registry_add(struct churn_registry *reg, const char *path,
                                  const struct churn_model_file_id *id,
                                  enum churn_model_origin origin, int64_t now_ms,
                                  const struct churn_backtest_figures *fig, uint32_t *id_out);

/**
 * churn_registry_find_file() - the id of the entry with @path and file hash @file_hash; 0 if
 * none.
 */
uint32_t churn_registry_find_file(struct churn_registry *reg, const char *path, uint64_t file_hash);

/**
 * churn_registry_promote() - entry @id serves from @now_ms: it is pushed on the served history
 * (the one serving before is retired). Durable on return. CHURN_ENOTFOUND for an unknown id.
 */
enum churn_err churn_registry_promote(struct churn_registry *reg, uint32_t id, int64_t now_ms);

/**
 * churn_registry_rollback_target() - the entry a rollback would serve: @id when not 0 (it must
 * exist: CHURN_ENOTFOUND; and have served before and not be serving now: CHURN_EPRECOND), else
 * the one that served before the current one (CHURN_EPRECOND when there is none). @err says
 * which. @out: OUT: a copy.
 */
enum churn_err churn_registry_rollback_target(struct churn_registry *reg, uint32_t id,
                                              struct churn_registry_entry *out, char *err,
                                              size_t errlen);

/**
 * churn_registry_rollback() - entry @id serves again: the history is cut back to its last
 * appearance (or it is pushed when it is not in the history). Durable on return.
 */
enum churn_err churn_registry_rollback(struct churn_registry *reg, uint32_t id, int64_t now_ms);

/** churn_registry_refuse() - remember why entry @id was refused (file gone or altered). */
enum churn_err churn_registry_refuse(struct churn_registry *reg, uint32_t id, const char *why);

/**
 * churn_registry_relocate() - entry @id's file now lives at @path (a restore onto another
 * machine, a moved model directory): verified to be the registered file (same size and
 * hash), then recorded, and the entry's refusal cleared. CHURN_ENOTFOUND / CHURN_ECORRUPT with
 * @err when @path is missing or holds other bytes; nothing changes then.
 */
enum churn_err churn_registry_relocate(struct churn_registry *reg, uint32_t id, const char *path,
                                       char *err, size_t errlen);

/** churn_registry_set_backtest() - record @fig as entry @id's backtest. */
enum churn_err churn_registry_set_backtest(struct churn_registry *reg, uint32_t id,
                                           const struct churn_backtest_figures *fig);

/**
 * churn_registry_record_decision() - add or replace (same run id) decision @d; the oldest are
 * dropped past CHURN_REGISTRY_MAX_DECISIONS. Durable on return.
 */
enum churn_err churn_registry_record_decision(struct churn_registry *reg,
                                              const struct churn_retrain_decision *d);

/** churn_registry_next_run_id() - a new run id (never reused; durable with the next write). */
uint64_t churn_registry_next_run_id(struct churn_registry *reg);

/** churn_registry_get() - a copy of entry @id; CHURN_ENOTFOUND. */
enum churn_err churn_registry_get(struct churn_registry *reg, uint32_t id,
                                  struct churn_registry_entry *out);

/** churn_registry_served_id() - the id serving now (0: none). */
uint32_t churn_registry_served_id(struct churn_registry *reg);

/**
 * churn_registry_snapshot() - a consistent copy of everything (about 300 KB: allocate it).
 */
void churn_registry_snapshot(struct churn_registry *reg, struct churn_registry_view *out);

/**
 * churn_registry_start_candidates() - the ids to try serving at start-up, best first: the
 * served one, then the earlier served ones newest first (each once). Returns how many (at
 * most @max) were written to @ids.
 */
size_t churn_registry_start_candidates(struct churn_registry *reg, uint32_t *ids, size_t max);

/*
 * The record codec, exposed for tests: encode @v (CHURN_ETOOBIG over @cap; @len: OUT) and
 * decode (CHURN_ECORRUPT for anything malformed or of an unknown format version).
 */
size_t churn_registry_encoded_size_max(void);
enum churn_err churn_registry_encode(const struct churn_registry_view *v, uint8_t *out, size_t cap,
                                     size_t *len);
enum churn_err churn_registry_decode(const uint8_t *data, size_t len,
                                     struct churn_registry_view *v);

/** churn_retrain_outcome_name() - "promoted", "kept_champion", ... */
const char *churn_retrain_outcome_name(enum churn_retrain_outcome o);

/** churn_model_origin_name() - "flag", "reload", "retrain" or "unspecified". */
const char *churn_model_origin_name(enum churn_model_origin o);

#endif
