/*
 * backup.c - churnctl's backup commands: `backup --out DIR` asks a running churnd for an
 * online backup (AdminService.Backup; DIR is a path on the server's machine), `backup --data
 * STORE --out DIR` takes one of a store directory from this machine (churnd running or not),
 * `backup --verify DIR` checks a backup whole, and `restore BACKUP --data DIR` verifies it and
 * makes DIR a store churnd serves at once (docs/OPERATIONS.md).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/backup.h"
#include "churn/clock.h"
#include "churn_proto.h"
#include "ctl.h"

#define BACKUP_METHOD     "/churn.v1.AdminService/Backup"
#define BACKUP_TIMEOUT_MS 3600000 /* a backup call waits this long unless --timeout is longer */

static void
backup_usage(FILE *out)
{
    fputs("usage: churnctl backup --out DIR [--json]\n"
          "         online backup by the running churnd into DIR, a new directory on the\n"
          "         server's machine (relative paths are made absolute here)\n"
          "       churnctl backup --data STORE --out DIR [--json]\n"
          "         backup of the store directory STORE on this machine (churnd may run)\n"
          "       churnctl backup --verify DIR [--json]\n"
          "         check a backup: its manifest, format and every file's SHA-256\n"
          "       churnctl restore BACKUP --data DIR [--model-dir MDIR] [--json]\n"
          "         verify BACKUP, then make DIR (new or empty) a store churnd serves at once;\n"
          "         the served model's file goes back to its recorded path, or into MDIR\n",
          out);
}

/* The manifest @m of @dir: one JSON line, or a few lines for people. */
static void
print_manifest(const char *what, const char *dir, const struct churn_backup_manifest *m, bool json)
{
    char at[40];
    churn_format_time_ms(m->started_ms, at, sizeof(at));
    if (json) {
        printf("{\"result\":\"%s\",\"dir\":\"%s\",\"started_at\":\"%s\",\"seconds\":%.3f,"
               "\"bytes\":%" PRIu64 ",\"store_format\":%u,\"event_seq\":%" PRIu64
               ",\"alert_seq\":%" PRIu64 ",\"customers\":%" PRIu64 ",\"model_version\":\"%s\"}\n",
               what, dir, at, (double)(m->finished_ms - m->started_ms) / 1000.0, m->files[0].size,
               m->store_format, m->event_seq, m->alert_seq, m->customers, m->model.version);
        return;
    }
    printf("%s: %s\n  taken %s in %.1f s by churnd %s (store format %u)\n"
           "  recovery point: %" PRIu64 " events, alert sequence %" PRIu64 ", %" PRIu64
           " customers\n",
           what, dir, at, (double)(m->finished_ms - m->started_ms) / 1000.0, m->churnd_version,
           m->store_format, m->event_seq, m->alert_seq, m->customers);
    if (m->model.registry_id)
        printf("  served model: %s (registry id %u, %s)\n", m->model.version, m->model.registry_id,
               m->model.path);
    for (size_t i = 0; i < m->n_files; i++)
        printf("  %-24s %12" PRIu64 " bytes  sha256 %s\n", m->files[i].name, m->files[i].size,
               m->files[i].sha256);
}

/* @path made absolute against the working directory (the directory itself need not exist). */
static int
absolute(const char *path, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (path[0] == '/')
        return snprintf(out, len, "%s", path) < (int)len ? 0 : -1;
    if (!getcwd(cwd, sizeof(cwd)))
        return -1;
    return snprintf(out, len, "%s/%s", cwd, path) < (int)len ? 0 : -1;
}

static int
backup_remote(struct ctl *ctl, const char *out, bool json)
{
    char dir[CHURN_BACKUP_PATH_MAX];
    if (absolute(out, dir, sizeof(dir)) != 0) {
        fprintf(stderr, "churnctl: backup: --out %s: path too long\n", out);
        return EXIT_USAGE;
    }
    if (ctl->timeout_ms < BACKUP_TIMEOUT_MS)
        ctl->timeout_ms = BACKUP_TIMEOUT_MS;
    Churn__V1__BackupRequest req = CHURN__V1__BACKUP_REQUEST__INIT;
    req.out_dir = dir;
    ProtobufCMessage *resp;
    int rc = churnctl_unary(ctl, BACKUP_METHOD, &req.base, &resp);
    if (rc)
        return rc;
    const Churn__V1__BackupResponse *r = (const void *)resp;
    struct churn_backup_manifest m = {
        .store_format = r->store_format,
        .started_ms = r->started_at_ms,
        .finished_ms = r->finished_at_ms,
        .event_seq = r->event_sequence,
        .alert_seq = r->alert_sequence,
        .customers = (uint64_t)r->customers,
    };
    snprintf(m.churnd_version, sizeof(m.churnd_version), "%s", r->churnd_version);
    snprintf(m.model.version, sizeof(m.model.version), "%s", r->model_version);
    m.model.registry_id = r->model_registry_id;
    for (size_t i = 0; i < r->n_files && i < CHURN_BACKUP_FILES_MAX; i++, m.n_files++) {
        snprintf(m.files[i].name, sizeof(m.files[i].name), "%s", r->files[i]->name);
        snprintf(m.files[i].sha256, sizeof(m.files[i].sha256), "%s", r->files[i]->sha256);
        m.files[i].size = (uint64_t)r->files[i]->size_bytes;
    }
    print_manifest("backup written", r->dir, &m, json);
    fflush(stdout);
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

static int
backup_local(const char *store_dir, const char *out, bool json)
{
    struct churn_store *s;
    struct churn_backup_manifest m;
    char err[1024];
    int rc = churnctl_open_store(store_dir, &s);
    if (rc)
        return rc;
    enum churn_err e = churn_backup_create(s, out, NULL, &m, err, sizeof(err));
    churn_store_close(s);
    if (e) {
        fprintf(stderr, "churnctl: backup: %s\n", err);
        return EXIT_TRANSPORT;
    }
    print_manifest("backup written", out, &m, json);
    return 0;
}

static int
backup_verify(const char *dir, bool json)
{
    struct churn_backup_manifest m;
    char err[1024];
    enum churn_err e = churn_backup_verify(dir, &m, err, sizeof(err));
    if (e) {
        fprintf(stderr, "churnctl: backup %s is refused: %s\n", dir, err);
        return EXIT_STATUS;
    }
    print_manifest("backup verified", dir, &m, json);
    return 0;
}

int
churnctl_backup(struct ctl *ctl, int argc, char **argv)
{
    const char *out = NULL, *data = NULL, *verify = NULL;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--verify") == 0 && i + 1 < argc) {
            verify = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            backup_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "churnctl: backup: unknown or incomplete option '%s'\n", argv[i]);
            backup_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (verify && !out && !data)
        return backup_verify(verify, json);
    if (!out || verify) {
        backup_usage(stderr);
        return EXIT_USAGE;
    }
    if (data)
        return backup_local(data, out, json);
    int rc = churnctl_connect(ctl);
    if (rc)
        return rc;
    rc = backup_remote(ctl, out, json);
    churn_client_close(ctl->client);
    return rc;
}

int
churnctl_restore(int argc, char **argv)
{
    const char *backup = NULL, *data = NULL, *model_dir = NULL;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--model-dir") == 0 && i + 1 < argc) {
            model_dir = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            backup_usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !backup) {
            backup = argv[i];
        } else {
            fprintf(stderr, "churnctl: restore: unknown or extra argument '%s'\n", argv[i]);
            backup_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!backup || !data) {
        backup_usage(stderr);
        return EXIT_USAGE;
    }
    struct churn_backup_restored *r = calloc(1, sizeof(*r));
    char err[1024];
    int64_t t0 = churn_mono_ns();
    enum churn_err e =
        r ? churn_backup_restore(backup, data, model_dir, r, err, sizeof(err)) : CHURN_ENOMEM;
    double secs = (double)(churn_mono_ns() - t0) / 1e9;
    if (e) {
        fprintf(stderr, "churnctl: restore of %s refused: %s\n", backup, r ? err : "out of memory");
        free(r);
        /* a refused backup or target: 1; this machine's I/O: 3 */
        return e == CHURN_EIO || e == CHURN_EFULL || e == CHURN_EPERM || e == CHURN_ENOMEM
                   ? EXIT_TRANSPORT
                   : EXIT_STATUS;
    }
    if (json) {
        printf("{\"result\":\"restored\",\"backup\":\"%s\",\"data\":\"%s\",\"seconds\":%.3f,"
               "\"event_seq\":%" PRIu64 ",\"alert_seq\":%" PRIu64 ",\"customers\":%" PRIu64
               ",\"model_path\":\"%s\"}\n",
               backup, data, secs, r->manifest.event_seq, r->manifest.alert_seq,
               r->manifest.customers, r->model_path);
    } else {
        print_manifest("restored from", backup, &r->manifest, false);
        printf("  into %s in %.1f s%s\n", data, secs,
               r->upgraded_from ? " (store format upgraded)" : "");
        if (*r->model_path)
            printf("  served model file: %s%s\n", r->model_path,
                   r->model_already_there ? " (already there, same bytes)" : "");
        printf("start churnd with --data %s\n", data);
    }
    free(r);
    return 0;
}
