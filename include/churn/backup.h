/*
 * churn/backup.h - online backups of the store and their restore. A backup is a directory
 * holding a compacted, consistent copy of the LMDB environment (data.mdb, taken from one read
 * transaction while the store keeps serving and ingesting, with no free pages: no byte of a
 * customer erased before it started), the file of the model serving, and MANIFEST.json: the
 * store format, the churnd version, when it was taken, the event and alert sequences of the
 * copy, the served model and the registry size, and the SHA-256 of every file. Everything is
 * written under a temporary name, fsynced (files and directories) and then renamed, so an
 * interrupted backup leaves nothing a restore would accept. A restore verifies all of it
 * before writing a byte and leaves a store churnd opens at once. docs/OPERATIONS.md is the
 * operator's guide; the manifest's fields are described there.
 *
 * Threads: any thread; one backup of a given store at a time (a second one is refused with
 * the first one's destination and start time).
 */
#ifndef CHURN_BACKUP_H
#define CHURN_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "churn/error.h"

struct churn_store;

#define CHURN_BACKUP_MANIFEST  "MANIFEST.json"
#define CHURN_BACKUP_DATA      "data.mdb"
#define CHURN_BACKUP_FORMAT    1 /* the manifest's own layout */
#define CHURN_BACKUP_FILES_MAX 4 /* data.mdb and the served model's file */
#define CHURN_BACKUP_PATH_MAX  1024
#define CHURN_BACKUP_PREFIX    "churnd-backup-" /* names of scheduled backups */
/* Why a second backup is refused: the first one's directory and start time. */
#define CHURN_BACKUP_BUSY_FMT "a backup is already running (to %s, since %s); one at a time"

/* struct churn_backup_file - one file of a backup: its name inside the backup directory. */
struct churn_backup_file {
    char name[256]; /* "data.mdb" or "models/<file name>" */
    uint64_t size;
    char sha256[65]; /* lower-case hex */
};

/* struct churn_backup_model - the model serving when the backup was taken. */
struct churn_backup_model {
    uint32_t registry_id; /* 0: none served */
    char version[128];
    char path[CHURN_BACKUP_PATH_MAX]; /* where it served from (the registry's path) */
    char file[256];                   /* its copy in the backup, "models/<name>" ("": none) */
};

/* struct churn_backup_manifest - MANIFEST.json, decoded. */
struct churn_backup_manifest {
    unsigned store_format;   /* CHURN_STORE_FORMAT of the copy */
    unsigned record_version; /* customer record version the copy's writer wrote */
    char churnd_version[32];
    int64_t started_ms;  /* the backup began (before its read transaction) */
    int64_t finished_ms; /* everything written and synced */
    uint64_t event_seq;  /* events accepted in the copy: every acknowledged event up to it */
    uint64_t alert_seq;  /* the last alert sequence in the copy */
    uint64_t customers;
    uint32_t registry_models; /* entries of the model registry (kept in the copy) */
    struct churn_backup_model model;
    size_t n_files;
    struct churn_backup_file files[CHURN_BACKUP_FILES_MAX];
};

/* struct churn_backup_source - what the caller knows that the store does not. */
struct churn_backup_source {
    uint32_t model_id;         /* the registry id serving (0: none) */
    const char *model_version; /* NULL: none */
    const char *model_path;    /* its file, copied into the backup (NULL: none) */
    uint32_t registry_models;  /* entries of the registry */
    /* The copy's write rate in bytes/s (0: as fast as the disk takes it). Either way the copy
     * is pushed to disk every few MiB and dropped from the page cache as it is written. */
    uint64_t write_bytes_per_s;
};

/**
 * churn_backup_create() - back @store up into the new directory @out_dir, while it serves.
 * @out_dir: must not exist; its parent must (the backup is built beside it as
 * "@out_dir.partial.XXXXXX" and renamed when complete and synced; a failure removes it).
 * @src: the served model and registry size (NULL: none).
 * @out: OUT: the manifest written (may be NULL).
 *
 * Return: CHURN_OK; CHURN_EPRECOND when a backup of @store is already running (@err names its
 * destination and start); CHURN_EEXIST when @out_dir exists; CHURN_EINVAL for a bad path;
 * CHURN_EFULL when the disk filled up (nothing is left behind; the store is untouched);
 * CHURN_EPERM, CHURN_EIO with the file named in @err.
 */
enum churn_err churn_backup_create(struct churn_store *store, const char *out_dir,
                                   const struct churn_backup_source *src,
                                   struct churn_backup_manifest *out, char *err, size_t errlen);

/**
 * churn_backup_verify() - read @dir's manifest and check it whole: its own checksum, every
 * field, a store format this build can open (a newer one is refused), and the size and SHA-256
 * of every file it lists. @out: OUT (may be NULL).
 * Return: CHURN_OK; CHURN_ENOTFOUND (no manifest: not a backup, or an interrupted one);
 * CHURN_ECORRUPT naming the damaged file; CHURN_EPRECOND for a newer store format.
 */
enum churn_err churn_backup_verify(const char *dir, struct churn_backup_manifest *out, char *err,
                                   size_t errlen);

/* struct churn_backup_restored - what churn_backup_restore() did. */
struct churn_backup_restored {
    struct churn_backup_manifest manifest;
    char model_path[CHURN_BACKUP_PATH_MAX]; /* where the served model's file is now ("": none) */
    bool model_already_there;               /* the file was there with the same bytes */
    unsigned upgraded_from;                 /* store format upgraded from (0: none needed) */
};

/**
 * churn_backup_restore() - verify the backup @backup_dir, then make @data_dir (created if
 * missing; it must not hold a store) a store churnd opens at once: data.mdb copied (and
 * checked again as it is copied), synced and renamed into place, the directory synced; the
 * served model's file put back where the registry expects it (its recorded path), or into
 * @model_dir when given (NULL: the recorded path; an existing file there with other bytes is
 * refused). The restored store is opened (upgrading an older format) and its sequences
 * compared with the manifest's. @out: OUT (may be NULL).
 * Return: CHURN_OK; the errors of churn_backup_verify(); CHURN_EEXIST when @data_dir holds a
 * store or the model path holds other bytes; storage errors with the path.
 */
enum churn_err churn_backup_restore(const char *backup_dir, const char *data_dir,
                                    const char *model_dir, struct churn_backup_restored *out,
                                    char *err, size_t errlen);

/**
 * churn_backup_name() - the name of a scheduled backup taken at @ms:
 * "churnd-backup-YYYYMMDDTHHMMSSmmmZ" (names sort by time). Return: @out.
 */
char *churn_backup_name(int64_t ms, char *out, size_t len);

/**
 * churn_backup_prune() - in @dir, remove the scheduled backups (CHURN_BACKUP_PREFIX names)
 * beyond the newest @keep, and interrupted ones (".partial." names) of dead backups older
 * than the newest complete one. @removed: OUT, how many (may be NULL). Only names this
 * module writes are touched.
 */
enum churn_err churn_backup_prune(const char *dir, unsigned keep, unsigned *removed, char *err,
                                  size_t errlen);

#endif
