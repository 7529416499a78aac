/*
 * backup.c - online backups of the store and their restore (churn/backup.h): LMDB's compacting
 * copy from one read transaction into a temporary directory beside the destination, the facts
 * of that copy read back from it (format, event and alert sequences, customers), the served
 * model's file, a self-checksummed MANIFEST.json with the SHA-256 of every file, fsync of
 * every file and directory, then one rename. The copy goes through a pipe to a paced writer
 * that hashes it on the way, holds its write rate and keeps at most a few MiB of it dirty in
 * the page cache, so that serving and the store's own commits keep their latency; the verification
 * of a backup, its restore into a new data directory, and the naming and pruning of scheduled
 * backups. One backup per store at a time (a small table of running backups).
 */
#define _GNU_SOURCE /* mkdtemp, O_DIRECTORY, pipe2, F_SETPIPE_SZ, sync_file_range */
#include "churn/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <openssl/evp.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/log.h"
#include "churn/store.h"
#include "store_internal.h"
#include "store_lmdb.h"

#define MANIFEST_MAX  (1 << 20)
#define MANIFEST_KIND "churnd-backup"
#define SELF_SUM_KEY  "manifest_sha256"
#define IO_CHUNK      (1 << 20)
#define RUNNING_MAX   8
#define SYNC_WINDOW   (8 << 20) /* bytes of a copy pushed to disk at a time */
#define PIPE_BYTES    (1 << 20) /* the pipe between LMDB's copy and our writer */

/* ---- one backup per store ------------------------------------------------------------------ */

static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const struct churn_store *store;
    char dir[CHURN_BACKUP_PATH_MAX];
    int64_t since_ms;
} running[RUNNING_MAX];

static enum churn_err
claim(const struct churn_store *s, const char *dir, char *err, size_t errlen)
{
    enum churn_err e = CHURN_OK;
    int free_slot = -1;
    pthread_mutex_lock(&running_mu);
    for (int i = 0; i < RUNNING_MAX && !e; i++) {
        if (running[i].store == s) {
            char at[40];
            e = churn_fail(err, errlen, CHURN_EPRECOND, CHURN_BACKUP_BUSY_FMT, running[i].dir,
                           churn_format_time_ms(running[i].since_ms, at, 40));
        } else if (!running[i].store && free_slot < 0) {
            free_slot = i;
        }
    }
    if (!e && free_slot < 0)
        e = churn_fail(err, errlen, CHURN_EPRECOND, "too many backups running in this process");
    if (!e) {
        running[free_slot].store = s;
        snprintf(running[free_slot].dir, sizeof(running[free_slot].dir), "%s", dir);
        running[free_slot].since_ms = churn_now_ms();
    }
    pthread_mutex_unlock(&running_mu);
    return e;
}

static void
release(const struct churn_store *s)
{
    pthread_mutex_lock(&running_mu);
    for (int i = 0; i < RUNNING_MAX; i++)
        if (running[i].store == s)
            running[i].store = NULL;
    pthread_mutex_unlock(&running_mu);
}

/* ---- files --------------------------------------------------------------------------------- */

/* The error of a failed file operation @what on @path, from errno. */
static enum churn_err
io_fail(char *err, size_t errlen, const char *what, const char *path)
{
    int e = errno;
    if (e == ENOSPC || e == EDQUOT)
        return churn_fail(err, errlen, CHURN_EFULL, "%s %s: the disk is full", what, path);
    enum churn_err ce = churn_err_from_errno(e);
    return churn_fail(err, errlen, ce == CHURN_EINTERNAL ? CHURN_EIO : ce, "%s %s: %s", what, path,
                      strerror(e));
}

static enum churn_err
join(char *out, size_t len, const char *a, const char *b, char *err, size_t errlen)
{
    if ((size_t)snprintf(out, len, "%s/%s", a, b) >= len)
        return churn_fail(err, errlen, CHURN_ETOOBIG, "path %s/%s: too long", a, b);
    return CHURN_OK;
}

/* fsync the directory @path (so the names in it are durable). */
static enum churn_err
sync_dir(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        enum churn_err e = io_fail(err, errlen, "syncing directory", path);
        if (fd >= 0)
            close(fd);
        return e;
    }
    close(fd);
    return CHURN_OK;
}

static void
hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    hex(md, 32, out);
}

/*
 * struct pace - how a copy is written: at most @bytes_per_s (0: as fast as the disk takes it),
 * its bytes pushed to disk every SYNC_WINDOW and then dropped from the page cache, so the copy
 * never piles up dirty pages that the store's own commits (fdatasync) would wait behind, nor
 * evicts the pages serving reads.
 */
struct pace {
    uint64_t bytes_per_s;
    int64_t t0_ns;
    uint64_t queued; /* bytes whose write-out has been started */
    uint64_t synced; /* bytes on disk and dropped from the cache */
};

/* After @written bytes of @out: start the write-out of the last window, wait for the one
 * before and drop it from the cache, then sleep until the rate allows the next bytes. */
static enum churn_err
pace_after(struct pace *p, int out, const char *out_path, uint64_t written, char *err,
           size_t errlen)
{
    if (written - p->queued >= SYNC_WINDOW) {
        unsigned wait =
            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
        if (sync_file_range(out, (off_t)p->queued, (off_t)(written - p->queued),
                            SYNC_FILE_RANGE_WRITE) != 0 ||
            (p->queued > p->synced &&
             sync_file_range(out, (off_t)p->synced, (off_t)(p->queued - p->synced), wait) != 0))
            return io_fail(err, errlen, "writing", out_path);
        posix_fadvise(out, (off_t)p->synced, (off_t)(p->queued - p->synced), POSIX_FADV_DONTNEED);
        p->synced = p->queued;
        p->queued = written;
    }
    if (p->bytes_per_s) {
        int64_t due = p->t0_ns + (int64_t)((double)written * 1e9 / (double)p->bytes_per_s);
        int64_t now = churn_mono_ns();
        if (due > now) {
            struct timespec ts = {(time_t)((due - now) / 1000000000),
                                  (long)((due - now) % 1000000000)};
            nanosleep(&ts, NULL);
        }
    }
    return CHURN_OK;
}

/*
 * Read @in (from its start) to the end, hashing it; with @out >= 0 also write every byte
 * there, paced by @pace (NULL: unpaced). @f gets the size and digest. @in_path/@out_path name
 * the files in messages.
 */
static enum churn_err
stream_file(int in, const char *in_path, int out, const char *out_path, struct pace *pace,
            struct churn_backup_file *f, char *err, size_t errlen)
{
    enum churn_err e = CHURN_OK;
    unsigned char *buf = churn_malloc(IO_CHUNK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        e = churn_fail(err, errlen, CHURN_ENOMEM, "out of memory hashing %s", in_path);
        goto out;
    }
    f->size = 0;
    for (;;) {
        ssize_t n = read(in, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = io_fail(err, errlen, "reading", in_path);
            goto out;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        f->size += (uint64_t)n;
        for (ssize_t off = 0; out >= 0 && off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                e = io_fail(err, errlen, "writing", out_path);
                goto out;
            }
            off += w;
        }
        if (pace && (e = pace_after(pace, out, out_path, f->size, err, errlen)))
            goto out;
    }
    unsigned char d[32];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, d, &dlen);
    hex(d, 32, f->sha256);
out:
    EVP_MD_CTX_free(md);
    churn_free(buf);
    return e;
}

/* Size and SHA-256 of the file at @path. */
static enum churn_err
hash_file(const char *path, struct churn_backup_file *f, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, errlen, "opening", path);
    enum churn_err e = stream_file(fd, path, -1, NULL, NULL, f, err, errlen);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return e;
}

/*
 * Copy @from to @to (created, must not exist) with its digest into @f, then fsync it. On
 * failure the partial file is removed.
 */
static enum churn_err
copy_file(const char *from, const char *to, struct churn_backup_file *f, char *err, size_t errlen)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return io_fail(err, errlen, "opening", from);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (out < 0) {
        enum churn_err e = io_fail(err, errlen, "creating", to);
        close(in);
        return e;
    }
    enum churn_err e = stream_file(in, from, out, to, NULL, f, err, errlen);
    if (!e && fsync(out) != 0)
        e = io_fail(err, errlen, "syncing", to);
    posix_fadvise(in, 0, 0, POSIX_FADV_DONTNEED);
    posix_fadvise(out, 0, 0, POSIX_FADV_DONTNEED);
    close(in);
    if (close(out) != 0 && !e)
        e = io_fail(err, errlen, "closing", to);
    if (e)
        unlink(to);
    return e;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove the directory tree @path (one of ours: a backup or a partial one). */
static void
rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the copy ------------------------------------------------------------------------------ */

/* struct copier - LMDB's compacting copy of a store into the write end of a pipe. */
struct copier {
    struct churn_store *s;
    int fd; /* closed by the copier when done */
    int rc; /* mdb_env_copyfd2's */
};

static void *
copier_main(void *arg)
{
    struct copier *c = arg;
    /* the copy's read transaction must not see a remap */
    churn__store_copy_begin(c->s);
    c->rc = mdb_env_copyfd2(c->s->env, c->fd, MDB_CP_COMPACT);
    churn__store_copy_end(c->s);
    close(c->fd);
    return NULL;
}

/* Read the pipe to its end (after a failure: the copier must finish to let go of the store). */
static void
drain(int fd)
{
    char buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR)
        errno = 0;
}

/*
 * LMDB's compacting copy of @s into the new file @path, written at most @bytes_per_s (0:
 * unpaced) by this thread from a pipe, hashed on the way into @f, synced.
 */
static enum churn_err
copy_store(struct churn_store *s, const char *path, uint64_t bytes_per_s,
           struct churn_backup_file *f, char *err, size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return io_fail(err, errlen, "creating a pipe for", path);
    fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES); /* fewer wake-ups; the default works too */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    struct copier c = {s, fds[1], 0};
    pthread_t t;
    enum churn_err e = CHURN_OK;
    if (fd < 0)
        e = io_fail(err, errlen, "creating", path);
    else if ((errno = pthread_create(&t, NULL, copier_main, &c)) != 0)
        e = io_fail(err, errlen, "starting the copy of", path);
    if (e) {
        close(fds[1]);
        goto out;
    }
    struct pace pace = {.bytes_per_s = bytes_per_s, .t0_ns = churn_mono_ns()};
    e = stream_file(fds[0], "the store's copy", fd, path, &pace, f, err, errlen);
    if (e)
        drain(fds[0]);
    pthread_join(t, NULL);
    if (!e && c.rc)
        e = churn_fail(err, errlen, c.rc > 0 ? churn_err_from_errno(c.rc) : CHURN_EIO,
                       "copying the store to %s: %s", path, mdb_strerror(c.rc));
    if (!e && fsync(fd) != 0)
        e = io_fail(err, errlen, "syncing", path);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
out:
    if (fd >= 0 && close(fd) != 0 && !e)
        e = io_fail(err, errlen, "closing", path);
    close(fds[0]);
    return e;
}

/* The format, sequences and customer count of the copy @path (opened read-only, no lock). */
static enum churn_err
read_copy(const char *path, struct churn_backup_manifest *m, char *err, size_t errlen)
{
    MDB_env *env;
    MDB_txn *txn = NULL;
    struct churn_store probe = {0};
    MDB_stat st;
    int rc = mdb_env_create(&env);
    if (rc)
        return churn_fail(err, errlen, CHURN_ENOMEM, "reading the copy: %s", mdb_strerror(rc));
    mdb_env_set_maxdbs(env, CHURN__DB_COUNT + 2);
    rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR, 0640);
    if (!rc)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "meta", 0, &probe.dbi[CHURN__DB_META]);
    MDB_dbi cust;
    if (!rc)
        rc = mdb_dbi_open(txn, "customers", 0, &cust);
    if (!rc)
        rc = mdb_stat(txn, cust, &st);
    enum churn_err e = CHURN_OK;
    if (rc) {
        e = churn_fail(err, errlen, CHURN_ECORRUPT, "the copy %s does not open: %s", path,
                       mdb_strerror(rc));
        goto out;
    }
    int format = churn__store_read_format(txn, probe.dbi[CHURN__DB_META], &m->record_version);
    if (format < 0) {
        e = churn_fail(err, errlen, CHURN_ECORRUPT, "the copy %s has no format marker", path);
        goto out;
    }
    m->store_format = (unsigned)format;
    m->customers = st.ms_entries;
    if (churn__store_read_seqs(&probe, txn, &m->event_seq, &m->alert_seq))
        e = churn_fail(err, errlen, CHURN_ECORRUPT, "the copy %s: %s", path,
                       churn_store_last_error());
out:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return e;
}

/* ---- the manifest -------------------------------------------------------------------------- */

static json_t *
manifest_json(const struct churn_backup_manifest *m)
{
    json_t *files = json_array();
    for (size_t i = 0; i < m->n_files; i++)
        json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", m->files[i].name, "size",
                                               (json_int_t)m->files[i].size, "sha256",
                                               m->files[i].sha256));
    json_t *model = json_null();
    if (m->model.registry_id)
        model =
            json_pack("{s:I, s:s, s:s, s:s}", "registry_id", (json_int_t)m->model.registry_id,
                      "version", m->model.version, "path", m->model.path, "file", m->model.file);
    char started[40], finished[40];
    return json_pack(
        "{s:s, s:i, s:i, s:i, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "kind",
        MANIFEST_KIND, "manifest_format", CHURN_BACKUP_FORMAT, "store_format", (int)m->store_format,
        "record_version", (int)m->record_version, "churnd_version", m->churnd_version, "started_at",
        churn_format_time_ms(m->started_ms, started, 40), "started_at_ms",
        (json_int_t)m->started_ms, "finished_at",
        churn_format_time_ms(m->finished_ms, finished, 40), "finished_at_ms",
        (json_int_t)m->finished_ms, "event_seq", (json_int_t)m->event_seq, "alert_seq",
        (json_int_t)m->alert_seq, "customers", (json_int_t)m->customers, "registry_models",
        (json_int_t)m->registry_models, "model", model, "files", files);
}

/* The checksum of @root without its own checksum member: canonical compact text, sorted. */
static bool
self_sum(json_t *root, char out[65])
{
    json_t *copy = json_deep_copy(root);
    if (!copy)
        return false;
    json_object_del(copy, SELF_SUM_KEY);
    char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    if (!text)
        return false;
    sha256_hex(text, strlen(text), out);
    free(text); /* allocated by jansson */
    return true;
}

/* Write MANIFEST.json into @dir, synced. */
static enum churn_err
write_manifest(const char *dir, const struct churn_backup_manifest *m, char *err, size_t errlen)
{
    char path[CHURN_BACKUP_PATH_MAX + 32], sum[65];
    enum churn_err e = join(path, sizeof(path), dir, CHURN_BACKUP_MANIFEST, err, errlen);
    if (e)
        return e;
    json_t *root = manifest_json(m);
    char *text = NULL;
    if (root && self_sum(root, sum) &&
        json_object_set_new(root, SELF_SUM_KEY, json_string(sum)) == 0)
        text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory writing the manifest");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    size_t len = strlen(text), off = 0;
    while (fd >= 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno != EINTR)
            break;
        off += w > 0 ? (size_t)w : 0;
    }
    free(text); /* allocated by jansson */
    if (fd < 0 || off < len || fsync(fd) != 0)
        e = io_fail(err, errlen, "writing", path);
    if (fd >= 0 && close(fd) != 0 && !e)
        e = io_fail(err, errlen, "closing", path);
    return e;
}

/* ---- create -------------------------------------------------------------------------------- */

/* The served model's file into @tmp/models/, listed in @m. */
static enum churn_err
add_model(const char *tmp, const struct churn_backup_source *src, struct churn_backup_manifest *m,
          char *err, size_t errlen)
{
    char dir[CHURN_BACKUP_PATH_MAX + 16], to[CHURN_BACKUP_PATH_MAX + 300];
    const char *base = strrchr(src->model_path, '/');
    base = base ? base + 1 : src->model_path;
    enum churn_err e = join(dir, sizeof(dir), tmp, "models", err, errlen);
    if (e || (e = join(to, sizeof(to), dir, base, err, errlen)))
        return e;
    if (strlen(base) + 8 > sizeof(m->files[0].name) || !*base)
        return churn_fail(err, errlen, CHURN_ETOOBIG, "model file name %s: too long", base);
    if (mkdir(dir, 0750) != 0)
        return io_fail(err, errlen, "creating", dir);
    struct churn_backup_file *f = &m->files[m->n_files];
    if ((e = copy_file(src->model_path, to, f, err, errlen)) || (e = sync_dir(dir, err, errlen)))
        return e;
    snprintf(f->name, sizeof(f->name), "models/%s", base);
    m->n_files++;
    m->model.registry_id = src->model_id;
    snprintf(m->model.version, sizeof(m->model.version), "%s",
             src->model_version ? src->model_version : "");
    snprintf(m->model.path, sizeof(m->model.path), "%s", src->model_path);
    snprintf(m->model.file, sizeof(m->model.file), "%s", f->name);
    return CHURN_OK;
}

/* Everything of a backup into the fresh directory @tmp. */
static enum churn_err
fill_backup(struct churn_store *s, const char *tmp, const struct churn_backup_source *src,
            struct churn_backup_manifest *m, char *err, size_t errlen)
{
    char path[CHURN_BACKUP_PATH_MAX + 32];
    enum churn_err e = join(path, sizeof(path), tmp, CHURN_BACKUP_DATA, err, errlen);
    struct churn_backup_file *f = &m->files[m->n_files++];
    snprintf(f->name, sizeof(f->name), "%s", CHURN_BACKUP_DATA);
    uint64_t rate = src ? src->write_bytes_per_s : 0;
    if (e || (e = copy_store(s, path, rate, f, err, errlen)) ||
        (e = read_copy(path, m, err, errlen)))
        return e;
    if (src && src->model_path && *src->model_path && (e = add_model(tmp, src, m, err, errlen)))
        return e;
    m->registry_models = src ? src->registry_models : 0;
    m->finished_ms = churn_now_ms();
    if ((e = write_manifest(tmp, m, err, errlen)))
        return e;
    return sync_dir(tmp, err, errlen);
}

/* The parent directory of @path into @out ("." when none). */
static void
parent_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

enum churn_err
churn_backup_create(struct churn_store *s, const char *out_dir,
                    const struct churn_backup_source *src, struct churn_backup_manifest *out,
                    char *err, size_t errlen)
{
    char tmp[CHURN_BACKUP_PATH_MAX + 32], parent[CHURN_BACKUP_PATH_MAX];
    struct stat st;
    if (!out_dir || !*out_dir || strlen(out_dir) >= CHURN_BACKUP_PATH_MAX)
        return churn_fail(err, errlen, CHURN_EINVAL, "backup directory: 1..%d bytes",
                          CHURN_BACKUP_PATH_MAX - 1);
    if (lstat(out_dir, &st) == 0)
        return churn_fail(err, errlen, CHURN_EEXIST,
                          "%s already exists: a backup goes into a new directory", out_dir);
    parent_of(out_dir, parent, sizeof(parent));
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return churn_fail(err, errlen, CHURN_ENOTFOUND, "backup directory %s: no directory %s",
                          out_dir, parent);
    enum churn_err e = claim(s, out_dir, err, errlen);
    if (e)
        return e;
    struct churn_backup_manifest *m = churn_calloc(1, sizeof(*m));
    snprintf(tmp, sizeof(tmp), "%s.partial.XXXXXX", out_dir);
    if (!m) {
        e = churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
        goto out;
    }
    m->started_ms = churn_now_ms();
    snprintf(m->churnd_version, sizeof(m->churnd_version), "%s", CHURN_VERSION);
    if (!mkdtemp(tmp)) {
        e = io_fail(err, errlen, "creating", tmp);
        goto out;
    }
    e = fill_backup(s, tmp, src, m, err, errlen);
    if (!e && rename(tmp, out_dir) != 0)
        e = io_fail(err, errlen, "renaming the backup to", out_dir);
    if (e)
        rm_tree(tmp);
    else
        e = sync_dir(parent, err, errlen);
    if (!e && out)
        *out = *m;
    if (!e)
        churn_log(CHURN_LOG_INFO, "backup_written", CHURN_LF_STR("dir", out_dir),
                  CHURN_LF_INT("bytes", (long long)m->files[0].size),
                  CHURN_LF_INT("ms", m->finished_ms - m->started_ms),
                  CHURN_LF_INT("event_seq", (long long)m->event_seq),
                  CHURN_LF_INT("alert_seq", (long long)m->alert_seq));
out:
    churn_free(m);
    release(s);
    return e;
}

/* ---- verify -------------------------------------------------------------------------------- */

/* Unsigned integer member @key of @o into *@v; false (with @err) when missing or not one. */
static bool
get_u64(json_t *o, const char *key, uint64_t *v, char *err, size_t errlen)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_integer(j) || json_integer_value(j) < 0) {
        churn_errf(err, errlen, "%s: \"%s\" is missing or not a non-negative integer",
                   CHURN_BACKUP_MANIFEST, key);
        return false;
    }
    *v = (uint64_t)json_integer_value(j);
    return true;
}

/* String member @key of @o into @out (capacity @cap); false (with @err) when missing. */
static bool
get_str(json_t *o, const char *key, char *out, size_t cap, char *err, size_t errlen)
{
    json_t *j = json_object_get(o, key);
    if (!json_is_string(j) || json_string_length(j) >= cap) {
        churn_errf(err, errlen, "%s: \"%s\" is missing, not a string or longer than %zu bytes",
                   CHURN_BACKUP_MANIFEST, key, cap - 1);
        return false;
    }
    memcpy(out, json_string_value(j), json_string_length(j) + 1);
    return true;
}

/* A file name inside a backup: "data.mdb" or "models/<name>", nothing that leaves it. */
static bool
safe_name(const char *name)
{
    if (strcmp(name, CHURN_BACKUP_DATA) == 0)
        return true;
    if (strncmp(name, "models/", 7) != 0 || !name[7] || strchr(name + 7, '/'))
        return false;
    return strcmp(name + 7, ".") != 0 && strcmp(name + 7, "..") != 0;
}

static enum churn_err
decode_files(json_t *root, struct churn_backup_manifest *m, char *err, size_t errlen)
{
    json_t *files = json_object_get(root, "files"), *f;
    size_t i;
    bool has_data = false;
    if (!json_is_array(files) || json_array_size(files) > CHURN_BACKUP_FILES_MAX)
        return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: \"files\" is not a list of 1..%d",
                          CHURN_BACKUP_MANIFEST, CHURN_BACKUP_FILES_MAX);
    json_array_foreach(files, i, f)
    {
        struct churn_backup_file *bf = &m->files[i];
        if (!get_str(f, "name", bf->name, sizeof(bf->name), err, errlen) ||
            !get_u64(f, "size", &bf->size, err, errlen) ||
            !get_str(f, "sha256", bf->sha256, sizeof(bf->sha256), err, errlen))
            return CHURN_ECORRUPT;
        if (!safe_name(bf->name))
            return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: file name \"%s\" is not allowed",
                              CHURN_BACKUP_MANIFEST, bf->name);
        has_data |= strcmp(bf->name, CHURN_BACKUP_DATA) == 0;
    }
    m->n_files = i;
    if (!has_data)
        return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: %s is not listed",
                          CHURN_BACKUP_MANIFEST, CHURN_BACKUP_DATA);
    return CHURN_OK;
}

static enum churn_err
decode_model(json_t *root, struct churn_backup_manifest *m, char *err, size_t errlen)
{
    json_t *model = json_object_get(root, "model");
    uint64_t id;
    if (json_is_null(model))
        return CHURN_OK;
    if (!json_is_object(model) || !get_u64(model, "registry_id", &id, err, errlen) ||
        !get_str(model, "version", m->model.version, sizeof(m->model.version), err, errlen) ||
        !get_str(model, "path", m->model.path, sizeof(m->model.path), err, errlen) ||
        !get_str(model, "file", m->model.file, sizeof(m->model.file), err, errlen))
        return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: \"model\" is malformed",
                          CHURN_BACKUP_MANIFEST);
    m->model.registry_id = (uint32_t)id;
    for (size_t i = 0; i < m->n_files; i++)
        if (strcmp(m->files[i].name, m->model.file) == 0)
            return CHURN_OK;
    return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: the model file %s is not listed",
                      CHURN_BACKUP_MANIFEST, m->model.file);
}

/* Every field of the manifest @root into @m (the self checksum already checked). */
static enum churn_err
decode_manifest(json_t *root, struct churn_backup_manifest *m, char *err, size_t errlen)
{
    uint64_t mf, sf, rv, started, finished, models;
    char kind[32];
    if (!get_str(root, "kind", kind, sizeof(kind), err, errlen) || strcmp(kind, MANIFEST_KIND))
        return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: not a churnd backup manifest",
                          CHURN_BACKUP_MANIFEST);
    if (!get_u64(root, "manifest_format", &mf, err, errlen) ||
        !get_u64(root, "store_format", &sf, err, errlen) ||
        !get_u64(root, "record_version", &rv, err, errlen) ||
        !get_str(root, "churnd_version", m->churnd_version, sizeof(m->churnd_version), err,
                 errlen) ||
        !get_u64(root, "started_at_ms", &started, err, errlen) ||
        !get_u64(root, "finished_at_ms", &finished, err, errlen) ||
        !get_u64(root, "event_seq", &m->event_seq, err, errlen) ||
        !get_u64(root, "alert_seq", &m->alert_seq, err, errlen) ||
        !get_u64(root, "customers", &m->customers, err, errlen) ||
        !get_u64(root, "registry_models", &models, err, errlen))
        return CHURN_ECORRUPT;
    if (mf > CHURN_BACKUP_FORMAT || sf > CHURN_STORE_FORMAT)
        return churn_fail(err, errlen, CHURN_EPRECOND,
                          "the backup was made by churnd %s with store format %" PRIu64
                          " (manifest format %" PRIu64 "); this churnd (%s) reads store formats "
                          "up to %d: restore it with a newer churnd",
                          m->churnd_version, sf, mf, CHURN_VERSION, CHURN_STORE_FORMAT);
    m->store_format = (unsigned)sf;
    m->record_version = (unsigned)rv;
    m->started_ms = (int64_t)started;
    m->finished_ms = (int64_t)finished;
    m->registry_models = (uint32_t)models;
    enum churn_err e = decode_files(root, m, err, errlen);
    return e ? e : decode_model(root, m, err, errlen);
}

/* Read and parse @dir/MANIFEST.json, checking its own checksum. */
static enum churn_err
load_manifest(const char *dir, json_t **out, char *err, size_t errlen)
{
    char path[CHURN_BACKUP_PATH_MAX + 32], sum[65];
    struct stat st;
    enum churn_err e = join(path, sizeof(path), dir, CHURN_BACKUP_MANIFEST, err, errlen);
    if (e)
        return e;
    if (stat(path, &st) != 0)
        return churn_fail(err, errlen, CHURN_ENOTFOUND,
                          "%s: no %s: not a backup, or an interrupted one", dir,
                          CHURN_BACKUP_MANIFEST);
    if (st.st_size > MANIFEST_MAX)
        return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: over %d bytes", path, MANIFEST_MAX);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return churn_fail(err, errlen, CHURN_ECORRUPT, "%s: damaged (line %d: %s)", path, je.line,
                          je.text);
    json_t *stored = json_object_get(root, SELF_SUM_KEY);
    if (!json_is_object(root) || !json_is_string(stored) || !self_sum(root, sum) ||
        strcmp(sum, json_string_value(stored)) != 0) {
        json_decref(root);
        return churn_fail(err, errlen, CHURN_ECORRUPT,
                          "%s: damaged (its checksum does not match its contents)", path);
    }
    *out = root;
    return CHURN_OK;
}

/* Each listed file exists with its size and SHA-256. */
static enum churn_err
check_files(const char *dir, const struct churn_backup_manifest *m, char *err, size_t errlen)
{
    char path[CHURN_BACKUP_PATH_MAX + 300];
    for (size_t i = 0; i < m->n_files; i++) {
        const struct churn_backup_file *want = &m->files[i];
        struct churn_backup_file got;
        enum churn_err e = join(path, sizeof(path), dir, want->name, err, errlen);
        if (e || (e = hash_file(path, &got, err, errlen)))
            return e == CHURN_ENOTFOUND ? churn_fail(err, errlen, CHURN_ECORRUPT,
                                                     "%s: missing from the backup", path)
                                        : e;
        if (got.size != want->size)
            return churn_fail(err, errlen, CHURN_ECORRUPT,
                              "%s: damaged (%" PRIu64 " bytes, the manifest says %" PRIu64 ")",
                              path, got.size, want->size);
        if (strcmp(got.sha256, want->sha256) != 0)
            return churn_fail(err, errlen, CHURN_ECORRUPT,
                              "%s: damaged (SHA-256 %s, the manifest says %s)", path, got.sha256,
                              want->sha256);
    }
    return CHURN_OK;
}

enum churn_err
churn_backup_verify(const char *dir, struct churn_backup_manifest *out, char *err, size_t errlen)
{
    json_t *root;
    if (!dir || !*dir)
        return churn_fail(err, errlen, CHURN_EINVAL, "no backup directory");
    enum churn_err e = load_manifest(dir, &root, err, errlen);
    if (e)
        return e;
    struct churn_backup_manifest *m = churn_calloc(1, sizeof(*m));
    if (!m)
        e = churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    if (!e)
        e = decode_manifest(root, m, err, errlen);
    json_decref(root);
    if (!e)
        e = check_files(dir, m, err, errlen);
    if (!e && out)
        *out = *m;
    churn_free(m);
    return e;
}

/* ---- restore ------------------------------------------------------------------------------- */

/* mkdir -p for @path (mode 0750). */
static enum churn_err
make_dirs(const char *path, char *err, size_t errlen)
{
    char buf[CHURN_BACKUP_PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return churn_fail(err, errlen, CHURN_ETOOBIG, "path %s: too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return io_fail(err, errlen, "creating", buf);
        if (!c)
            return CHURN_OK;
        *p = c;
    }
}

/* Copy the verified file @f of @backup to @to through "@to.partial", checked against @f. */
static enum churn_err
restore_file(const char *backup, const struct churn_backup_file *f, const char *to, char *err,
             size_t errlen)
{
    char from[CHURN_BACKUP_PATH_MAX + 300], part[CHURN_BACKUP_PATH_MAX + 16], parent[1024];
    struct churn_backup_file got;
    enum churn_err e = join(from, sizeof(from), backup, f->name, err, errlen);
    if (e)
        return e;
    if (snprintf(part, sizeof(part), "%s.partial", to) >= (int)sizeof(part))
        return churn_fail(err, errlen, CHURN_ETOOBIG, "path %s: too long", to);
    unlink(part); /* left by an interrupted restore */
    if ((e = copy_file(from, part, &got, err, errlen)))
        return e;
    if (strcmp(got.sha256, f->sha256) != 0) {
        unlink(part);
        return churn_fail(err, errlen, CHURN_ECORRUPT, "%s changed while it was restored", from);
    }
    if (rename(part, to) != 0) {
        e = io_fail(err, errlen, "renaming into", to);
        unlink(part);
        return e;
    }
    parent_of(to, parent, sizeof(parent));
    return sync_dir(parent, err, errlen);
}

/* The served model's file back where the registry expects it (or into @model_dir). */
static enum churn_err
restore_model(const char *backup, const char *model_dir, struct churn_backup_restored *r, char *err,
              size_t errlen)
{
    const struct churn_backup_manifest *m = &r->manifest;
    const struct churn_backup_file *f = NULL;
    char parent[CHURN_BACKUP_PATH_MAX];
    for (size_t i = 0; i < m->n_files; i++)
        if (strcmp(m->files[i].name, m->model.file) == 0)
            f = &m->files[i];
    if (!f)
        return CHURN_OK;
    if (model_dir)
        snprintf(r->model_path, sizeof(r->model_path), "%s/%s", model_dir, f->name + 7);
    else
        snprintf(r->model_path, sizeof(r->model_path), "%s", m->model.path);
    struct churn_backup_file have;
    if (access(r->model_path, F_OK) == 0) {
        enum churn_err e = hash_file(r->model_path, &have, err, errlen);
        if (e)
            return e;
        if (strcmp(have.sha256, f->sha256) != 0)
            return churn_fail(err, errlen, CHURN_EEXIST,
                              "%s exists with other bytes than the backup's model; move it "
                              "away or restore the model elsewhere (--model-dir)",
                              r->model_path);
        r->model_already_there = true;
        return CHURN_OK;
    }
    parent_of(r->model_path, parent, sizeof(parent));
    enum churn_err e = make_dirs(parent, err, errlen);
    return e ? e : restore_file(backup, f, r->model_path, err, errlen);
}

/* Open the restored store (upgrading it if older) and compare its sequences. */
static enum churn_err
check_restored(const char *data_dir, struct churn_backup_restored *r, char *err, size_t errlen)
{
    struct churn_store *s;
    struct churn_store_stats st;
    enum churn_err e = churn_store_open(data_dir, NULL, &s);
    if (e)
        return churn_fail(err, errlen, e, "the restored store does not open: %s",
                          churn_store_last_error());
    r->upgraded_from = s->upgraded_from;
    e = churn_store_stats(s, &st);
    churn_store_close(s);
    if (e)
        return churn_fail(err, errlen, e, "the restored store: %s", churn_store_last_error());
    if (st.alert_seq != r->manifest.alert_seq ||
        (!r->upgraded_from && st.event_seq != r->manifest.event_seq))
        return churn_fail(err, errlen, CHURN_ECORRUPT,
                          "the restored store's sequences (events %" PRIu64 ", alerts %" PRIu64
                          ") differ from the manifest's (%" PRIu64 ", %" PRIu64 ")",
                          st.event_seq, st.alert_seq, r->manifest.event_seq, r->manifest.alert_seq);
    return CHURN_OK;
}

enum churn_err
churn_backup_restore(const char *backup_dir, const char *data_dir, const char *model_dir,
                     struct churn_backup_restored *out, char *err, size_t errlen)
{
    char target[CHURN_BACKUP_PATH_MAX + 32];
    if (!data_dir || !*data_dir)
        return churn_fail(err, errlen, CHURN_EINVAL, "no data directory to restore into");
    struct churn_backup_restored *r = churn_calloc(1, sizeof(*r));
    if (!r)
        return churn_fail(err, errlen, CHURN_ENOMEM, "out of memory");
    enum churn_err e = churn_backup_verify(backup_dir, &r->manifest, err, errlen);
    if (!e)
        e = join(target, sizeof(target), data_dir, CHURN_BACKUP_DATA, err, errlen);
    if (!e && access(target, F_OK) == 0)
        e = churn_fail(err, errlen, CHURN_EEXIST,
                       "%s already holds a store; restore into a new or empty directory", data_dir);
    if (!e)
        e = make_dirs(data_dir, err, errlen);
    for (size_t i = 0; !e && i < r->manifest.n_files; i++)
        if (strcmp(r->manifest.files[i].name, CHURN_BACKUP_DATA) == 0)
            e = restore_file(backup_dir, &r->manifest.files[i], target, err, errlen);
    if (!e)
        e = restore_model(backup_dir, model_dir, r, err, errlen);
    if (!e)
        e = check_restored(data_dir, r, err, errlen);
    if (!e && out)
        *out = *r;
    churn_free(r);
    return e;
}

/* ---- scheduled backups --------------------------------------------------------------------- */

char *
churn_backup_name(int64_t ms, char *out, size_t len)
{
    char iso[40];
    churn_format_time_ms(ms, iso, sizeof(iso)); /* 2026-11-22T20:34:13.123Z */
    char compact[24];
    size_t k = 0;
    for (const char *p = iso; *p && k < sizeof(compact) - 1; p++)
        if (*p != '-' && *p != ':' && *p != '.')
            compact[k++] = *p;
    compact[k] = '\0';
    snprintf(out, len, "%s%s", CHURN_BACKUP_PREFIX, compact);
    return out;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in @dir starting with the prefix, sorted; *n of them. Free each and the array. */
static char **
list_backups(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    if (!d)
        return NULL;
    for (struct dirent *de; (de = readdir(d));) {
        if (strncmp(de->d_name, CHURN_BACKUP_PREFIX, strlen(CHURN_BACKUP_PREFIX)) != 0)
            continue;
        if (*n == cap) {
            char **more = churn_realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));
            if (!more)
                break;
            names = more;
        }
        if (!(names[*n] = churn_strdup(de->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    if (names)
        qsort(names, *n, sizeof(*names), by_name);
    return names;
}

enum churn_err
churn_backup_prune(const char *dir, unsigned keep, unsigned *removed, char *err, size_t errlen)
{
    size_t n;
    unsigned gone = 0;
    char path[CHURN_BACKUP_PATH_MAX + 300];
    char **names = list_backups(dir, &n);
    if (!names && n == 0 && access(dir, R_OK | X_OK) != 0)
        return io_fail(err, errlen, "reading", dir);
    const char *newest = NULL;
    for (size_t i = n; i-- > 0;)
        if (!newest && !strstr(names[i], ".partial."))
            newest = names[i];
    size_t seen = 0;
    for (size_t i = n; i-- > 0;) {
        bool partial = strstr(names[i], ".partial.") != NULL;
        /* complete ones beyond the newest @keep; partial ones older than the newest complete */
        bool drop = partial ? newest && strcmp(names[i], newest) < 0 : ++seen > keep;
        if (drop && join(path, sizeof(path), dir, names[i], NULL, 0) == CHURN_OK) {
            rm_tree(path);
            gone++;
            churn_log(CHURN_LOG_INFO, "backup_removed", CHURN_LF_STR("dir", path),
                      CHURN_LF_STR("why", partial ? "interrupted" : "beyond --backup-keep"));
        }
    }
    for (size_t i = 0; i < n; i++)
        churn_free(names[i]);
    churn_free(names);
    if (removed)
        *removed = gone;
    return CHURN_OK;
}
