/*
 * test_backup.c - the store's online backup, its verification and restore, and store format
 * upgrades, on real LMDB stores in temporary directories: the manifest against the store it
 * came from, the sequences of a consistent copy, an erased customer absent from the copy's
 * bytes, a damaged file or manifest refused naming it, a newer format refused, a second backup
 * refused while one runs (made to wait deterministically on a FIFO), a full disk (a small
 * tmpfs), pruning of scheduled backups, and the format-1 fixture (tests/data/store) opened,
 * read and upgraded.
 */
#define _GNU_SOURCE /* memmem, unshare */
#include "churn/backup.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "churn/arena.h"
#include "churn/clock.h"
#include "churn/store.h"

#include "tmpdir.h"

#define DAY CHURN_MS_PER_DAY
#define NOW (20010 * DAY + DAY / 2)

static char dir[64];   /* everything of one test lives here */
static char data[128]; /* the store */
static struct churn_store *st;
static struct churn_customer rec;
static char err[1024];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-backup-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data", dir);
    cr_assert_eq(churn_store_open(data, NULL, &st), CHURN_OK, "%s", churn_store_last_error());
    err[0] = '\0';
}

static void
teardown(void)
{
    churn_store_close(st);
    st = NULL;
    umount2(dir, MNT_DETACH);
    churn_test_rm_rf(dir);
}

TestSuite(backup, .init = setup, .fini = teardown);

static const char *
path_in(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

/* @n logins for each of @ncust customers "c<i>", ids "e<i>-<j>"; returns events accepted. */
static size_t
ingest(int ncust, int n, const char *tag)
{
    static struct churn_event ev[4096];
    static char ids[4096][2][48];
    static struct churn_event_result res[4096];
    size_t k = 0, accepted = 0;
    for (int i = 0; i < ncust; i++) {
        for (int j = 0; j < n && k < 4096; j++, k++) {
            snprintf(ids[k][0], sizeof(ids[k][0]), "c%d", i);
            snprintf(ids[k][1], sizeof(ids[k][1]), "%s%d-%d", tag, i, j);
            ev[k] = (struct churn_event){.kind = CHURN_EVENT_LOGIN,
                                         .customer_id = ids[k][0],
                                         .event_id = ids[k][1],
                                         .occurred_at_ms = NOW - (j + 1) * DAY};
        }
    }
    cr_assert_eq(churn_store_apply_events(st, ev, k, NOW, res), CHURN_OK, "%s",
                 churn_store_last_error());
    for (size_t i = 0; i < k; i++)
        accepted += res[i].status == CHURN_EVENT_ACCEPTED;
    return accepted;
}

static size_t
read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t len = fread(buf, 1, cap, f);
    fclose(f);
    return len;
}

static void
flip_byte(const char *path, long at)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

Test(backup, manifest_describes_a_consistent_copy)
{
    size_t accepted = ingest(20, 5, "e");
    uint64_t seq;
    cr_assert_eq(churn_store_append_alert(st, "c1", "a", 1, &seq), CHURN_OK);
    cr_assert_eq(churn_store_append_alert(st, "c2", "b", 1, &seq), CHURN_OK);
    struct churn_backup_manifest m;
    const char *out = path_in("b1");
    cr_assert_eq(churn_backup_create(st, out, NULL, &m, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(m.event_seq, accepted);
    cr_assert_eq(m.event_seq, 100);
    cr_assert_eq(m.alert_seq, 2);
    cr_assert_eq(m.customers, 20);
    cr_assert_eq(m.store_format, CHURN_STORE_FORMAT);
    cr_assert_str_eq(m.churnd_version, CHURN_VERSION);
    cr_assert_eq(m.n_files, 1);
    cr_assert_str_eq(m.files[0].name, "data.mdb");
    cr_assert_eq(strlen(m.files[0].sha256), 64);
    cr_assert_leq(m.started_ms, m.finished_ms);

    /* what verify reads back is what create wrote; nothing partial is left beside it */
    struct churn_backup_manifest v;
    cr_assert_eq(churn_backup_verify(out, &v, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(v.event_seq, m.event_seq);
    cr_assert_eq(v.alert_seq, m.alert_seq);
    cr_assert_str_eq(v.files[0].sha256, m.files[0].sha256);
    cr_assert_eq(v.files[0].size, m.files[0].size);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -c partial", dir);
    FILE *p = popen(cmd, "r");
    int partials = -1;
    cr_assert_eq(fscanf(p, "%d", &partials), 1);
    pclose(p);
    cr_assert_eq(partials, 0);

    /* the live store moves on; the backup does not */
    ingest(20, 1, "later");
    struct churn_store_stats s;
    cr_assert_eq(churn_store_stats(st, &s), CHURN_OK);
    cr_assert_eq(s.event_seq, 120);
    cr_assert_eq(churn_backup_verify(out, &v, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(v.event_seq, 100);
}

Test(backup, refuses_bad_destinations)
{
    cr_assert_eq(churn_backup_create(st, "", NULL, NULL, err, sizeof(err)), CHURN_EINVAL);
    cr_assert_eq(churn_backup_create(st, dir, NULL, NULL, err, sizeof(err)), CHURN_EEXIST);
    cr_assert_not_null(strstr(err, "already exists"), "%s", err);
    cr_assert_eq(churn_backup_create(st, path_in("no/such/b"), NULL, NULL, err, sizeof(err)),
                 CHURN_ENOTFOUND);
    cr_assert_not_null(strstr(err, "no directory"), "%s", err);
}

Test(backup, restore_gives_the_same_store)
{
    ingest(10, 3, "e");
    uint64_t seq;
    cr_assert_eq(churn_store_append_alert(st, "c3", "alert!", 6, &seq), CHURN_OK);
    cr_assert_eq(churn_store_put_conversation(st, "c4", "conv", "state", 5), CHURN_OK);
    const char *out = path_in("b"), *to = path_in("restored");
    cr_assert_eq(churn_backup_create(st, out, NULL, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    struct churn_backup_restored r;
    cr_assert_eq(churn_backup_restore(out, to, NULL, &r, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(r.manifest.event_seq, 30);
    cr_assert_eq(r.upgraded_from, 0);

    struct churn_store *rs;
    cr_assert_eq(churn_store_open(to, NULL, &rs), CHURN_OK, "%s", churn_store_last_error());
    static struct churn_customer a;
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "c%d", i);
        cr_assert_eq(churn_store_get_customer(st, id, &rec), CHURN_OK);
        cr_assert_eq(churn_store_get_customer(rs, id, &a), CHURN_OK);
        cr_assert_eq(a.life.events, rec.life.events);
        cr_assert_eq(a.n_days, rec.n_days);
        cr_assert_eq(a.last_seen_ms, rec.last_seen_ms);
    }
    struct churn_arena arena;
    churn_arena_init(&arena, 4096);
    void *bytes;
    size_t len;
    cr_assert_eq(churn_store_get_conversation(rs, "c4", "conv", &arena, &bytes, &len), CHURN_OK);
    cr_assert_eq(len, 5);
    churn_arena_fini(&arena);
    /* replaying a backed-up event is a duplicate in the restored store */
    struct churn_event ev = {.kind = CHURN_EVENT_LOGIN,
                             .customer_id = "c2",
                             .event_id = "e2-1",
                             .occurred_at_ms = NOW - 2 * DAY};
    struct churn_event_result res;
    cr_assert_eq(churn_store_apply_events(rs, &ev, 1, NOW, &res), CHURN_OK);
    cr_assert_eq(res.status, CHURN_EVENT_DUPLICATE);
    /* the next alert continues the sequence */
    cr_assert_eq(churn_store_append_alert(rs, "c3", "next", 4, &seq), CHURN_OK);
    cr_assert_eq(seq, 2);
    churn_store_close(rs);

    /* never over an existing store */
    cr_assert_eq(churn_backup_restore(out, to, NULL, NULL, err, sizeof(err)), CHURN_EEXIST);
    cr_assert_not_null(strstr(err, "already holds a store"), "%s", err);
}

Test(backup, a_flipped_byte_is_refused_naming_the_file)
{
    ingest(10, 3, "e");
    const char *out = path_in("b"), *to = path_in("restored");
    cr_assert_eq(churn_backup_create(st, out, NULL, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    char file[300];
    snprintf(file, sizeof(file), "%s/data.mdb", out);
    flip_byte(file, 5000);
    cr_assert_eq(churn_backup_restore(out, to, NULL, NULL, err, sizeof(err)), CHURN_ECORRUPT);
    cr_assert_not_null(strstr(err, "data.mdb: damaged (SHA-256"), "%s", err);
    cr_assert_neq(access(path_in("restored/data.mdb"), F_OK), 0, "nothing restored");
    flip_byte(file, 5000);
    cr_assert_eq(churn_backup_verify(out, NULL, err, sizeof(err)), CHURN_OK, "%s", err);

    /* a byte of the manifest: a digit of a sequence, or anywhere */
    snprintf(file, sizeof(file), "%s/MANIFEST.json", out);
    static char text[1 << 16];
    size_t len = read_all(file, text, sizeof(text));
    text[len] = '\0';
    const char *at = strstr(text, "\"event_seq\": 30");
    cr_assert_not_null(at, "%s", text);
    flip_byte(file, (long)(at - text) + 14); /* "30" -> "t0": not JSON */
    cr_assert_eq(churn_backup_verify(out, NULL, err, sizeof(err)), CHURN_ECORRUPT);
    cr_assert_not_null(strstr(err, "MANIFEST.json: damaged"), "%s", err);
    flip_byte(file, (long)(at - text) + 14);
    text[at - text + 14] = '7'; /* "30" -> "70": valid JSON, wrong sum */
    FILE *f = fopen(file, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    cr_assert_eq(churn_backup_verify(out, NULL, err, sizeof(err)), CHURN_ECORRUPT);
    cr_assert_not_null(strstr(err, "MANIFEST.json: damaged (its checksum"), "%s", err);
}

/* Rewrite @out's manifest with @key set to @value, re-signed as churnd would. */
static void
resign_manifest(const char *out, const char *key, json_int_t value)
{
    char file[300], sum[65];
    snprintf(file, sizeof(file), "%s/MANIFEST.json", out);
    json_t *root = json_load_file(file, 0, NULL);
    cr_assert_not_null(root);
    json_object_set_new(root, key, json_integer(value));
    json_object_del(root, "manifest_sha256");
    char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char md[32];
    EVP_Digest(canon, strlen(canon), md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(sum + 2 * i, 3, "%02x", md[i]);
    free(canon);
    json_object_set_new(root, "manifest_sha256", json_string(sum));
    cr_assert_eq(json_dump_file(root, file, JSON_INDENT(2)), 0);
    json_decref(root);
}

Test(backup, a_newer_store_format_is_refused)
{
    ingest(2, 1, "e");
    const char *out = path_in("b");
    cr_assert_eq(churn_backup_create(st, out, NULL, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    resign_manifest(out, "event_seq", 2); /* re-signing alone changes nothing */
    cr_assert_eq(churn_backup_verify(out, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    resign_manifest(out, "store_format", CHURN_STORE_FORMAT + 1);
    cr_assert_eq(churn_backup_restore(out, path_in("r"), NULL, NULL, err, sizeof(err)),
                 CHURN_EPRECOND);
    cr_assert_not_null(strstr(err, "store format 3"), "%s", err);
    cr_assert_not_null(strstr(err, "restore it with a newer churnd"), "%s", err);
}

/* Lines of `mdb_dump -a -p` of the store @path that hold @what. */
static int
dump_hits(const char *path, const char *what)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "mdb_dump -a -p %s | grep -c -F -e '%s'", path, what);
    FILE *p = popen(cmd, "r");
    int hits = -1;
    cr_assert_eq(fscanf(p, "%d", &hits), 1);
    pclose(p);
    return hits;
}

Test(backup, no_byte_of_a_customer_erased_before_it_started)
{
    static const char secret[] = "erase-me-7f3a9c";
    ingest(30, 4, "e");
    struct churn_event ev[20];
    char ids[20][16];
    struct churn_event_result res[20];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof(ids[i]), "s%d", i);
        ev[i] = (struct churn_event){.kind = CHURN_EVENT_LOGIN,
                                     .customer_id = secret,
                                     .event_id = ids[i],
                                     .occurred_at_ms = NOW - i * DAY};
    }
    cr_assert_eq(churn_store_apply_events(st, ev, 20, NOW, res), CHURN_OK);
    cr_assert_eq(churn_store_put_conversation(st, secret, "conv", "chat", 4), CHURN_OK);
    cr_assert_eq(churn_store_delete_customer(st, secret, NULL), CHURN_OK);
    static char raw[1 << 23];
    size_t len = read_all(path_in("data/data.mdb"), raw, sizeof(raw));
    cr_assert_not_null(memmem(raw, len, secret, strlen(secret)),
                       "the live file still holds the erased id in free pages (premise)");

    const char *out = path_in("b");
    cr_assert_eq(churn_backup_create(st, out, NULL, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    len = read_all(path_in("b/data.mdb"), raw, sizeof(raw));
    cr_assert_gt(len, 0);
    cr_assert_null(memmem(raw, len, secret, strlen(secret)), "the backup holds the erased id");
    cr_assert_not_null(memmem(raw, len, "c17", 3), "other customers are in it");
    /* and mdb_dump of the restored store shows every database without it */
    cr_assert_eq(churn_backup_restore(out, path_in("r"), NULL, NULL, err, sizeof(err)), CHURN_OK,
                 "%s", err);
    cr_assert_eq(dump_hits(path_in("r"), secret), 0, "the restored store holds the erased id");
    cr_assert_eq(dump_hits(path_in("r"), "c17"), 5, "c17's record and its four event ids");
}

/* A paced copy (written through the pipe at a set rate) is the same store, its digest right. */
Test(backup, a_paced_copy_restores_the_same_store)
{
    ingest(40, 25, "e"); /* a copy of a few hundred KiB: under a second at 1 MB/s */
    const char *out = path_in("paced"), *to = path_in("restored");
    struct churn_backup_source src = {.write_bytes_per_s = 1000000};
    struct churn_backup_manifest m;
    cr_assert_eq(churn_backup_create(st, out, &src, &m, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(m.event_seq, 1000);
    cr_assert_eq(churn_backup_verify(out, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(churn_backup_restore(out, to, NULL, NULL, err, sizeof(err)), CHURN_OK, "%s", err);
    struct churn_store *rs;
    cr_assert_eq(churn_store_open(to, NULL, &rs), CHURN_OK, "%s", churn_store_last_error());
    static struct churn_customer a;
    cr_assert_eq(churn_store_get_customer(st, "c39", &rec), CHURN_OK);
    cr_assert_eq(churn_store_get_customer(rs, "c39", &a), CHURN_OK);
    cr_assert_eq(a.life.events, rec.life.events);
    churn_store_close(rs);
}

/* @ncust customers "<tag><i>" with a login on each of the last @days days (a store of MiBs). */
static void
ingest_days(int ncust, int days, const char *tag)
{
    enum { BATCH = 4096 };
    static struct churn_event ev[BATCH];
    static char ids[BATCH][2][48];
    static struct churn_event_result res[BATCH];
    size_t k = 0;
    for (int i = 0; i < ncust; i++) {
        for (int j = 0; j < days; j++) {
            snprintf(ids[k][0], sizeof(ids[k][0]), "%s%d", tag, i);
            snprintf(ids[k][1], sizeof(ids[k][1]), "%s%d-%d", tag, i, j);
            ev[k] = (struct churn_event){.kind = CHURN_EVENT_LOGIN,
                                         .customer_id = ids[k][0],
                                         .event_id = ids[k][1],
                                         .occurred_at_ms = NOW - j * DAY};
            if (++k == BATCH || (i == ncust - 1 && j == days - 1)) {
                cr_assert_eq(churn_store_apply_events(st, ev, k, NOW, res), CHURN_OK, "%s",
                             churn_store_last_error());
                k = 0;
            }
        }
    }
}

struct paced_backup {
    struct churn_backup_source src;
    struct churn_backup_manifest m;
    enum churn_err result;
    char err[512];
};

static void *
run_paced_backup(void *arg)
{
    struct paced_backup *b = arg;
    b->result = churn_backup_create(st, path_in("paced"), &b->src, &b->m, b->err, sizeof(b->err));
    return NULL;
}

struct growing_write {
    enum churn_err result;
    _Atomic bool done;
};

static void *
run_growing_write(void *arg)
{
    struct growing_write *w = arg;
    ingest_days(50, 60, "new"); /* more pages than the full map has: the map must grow */
    w->result = CHURN_OK;
    w->done = true;
    return NULL;
}

/* Bytes the partial copy of "paced" holds now (0 until it exists). */
static long
partial_bytes(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "stat -c %%s %s/paced.partial.*/data.mdb 2>/dev/null || echo 0",
             dir);
    FILE *p = popen(cmd, "r");
    long n = 0;
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%ld", &n), 1);
    pclose(p);
    return n;
}

/*
 * During a long (paced) copy, a write that needs a bigger map waits for the copy, and reads
 * go on: the map growth must not queue for the remap lock while the copy holds it, or every
 * reader would wait behind it until the copy ends (the lock prefers writers).
 */
Test(backup, reads_go_on_while_a_write_waits_to_grow_the_map_during_a_copy)
{
    ingest_days(400, 180, "c"); /* about 8 MB: longer than the pipe and LMDB's buffers */
    churn_store_close(st);
    struct churn_store_options o;
    churn_store_options_init(&o);
    o.map_size = 1 << 16; /* reopened: the map is exactly the data's size */
    cr_assert_eq(churn_store_open(data, &o, &st), CHURN_OK, "%s", churn_store_last_error());
    struct churn_store_stats before, after;
    cr_assert_eq(churn_store_stats(st, &before), CHURN_OK);

    struct paced_backup b = {.src = {.write_bytes_per_s = 2000000}};
    pthread_t bt, wt;
    cr_assert_eq(pthread_create(&bt, NULL, run_paced_backup, &b), 0);
    for (int i = 0; i < 3000 && partial_bytes() == 0; i++)
        usleep(10000);
    struct growing_write w = {.result = CHURN_EINTERNAL};
    cr_assert_eq(pthread_create(&wt, NULL, run_growing_write, &w), 0);
    usleep(300000); /* let the write reach the map growth */
    cr_assert_eq(churn_store_get_customer(st, "c7", &rec), CHURN_OK, "%s",
                 churn_store_last_error());
    long copied_at_read = partial_bytes();
    bool write_done_at_read = w.done;
    pthread_join(bt, NULL);
    pthread_join(wt, NULL);
    cr_assert_eq(b.result, CHURN_OK, "%s", b.err);
    cr_assert_eq(w.result, CHURN_OK);
    cr_assert_gt(b.m.files[0].size, 4u << 20, "a copy longer than the pipe's buffers");
    cr_assert_lt(copied_at_read, (long)b.m.files[0].size / 2,
                 "the read waited for the copy: %ld of %llu bytes were copied when it returned",
                 copied_at_read, (unsigned long long)b.m.files[0].size);
    cr_assert(!write_done_at_read, "the write needed no growth: the test proves nothing");
    cr_assert_eq(churn_store_stats(st, &after), CHURN_OK);
    cr_assert_gt(after.map_size, before.map_size);
    cr_assert_eq(churn_store_get_customer(st, "new49", &rec), CHURN_OK);
    cr_assert_eq(churn_backup_verify(path_in("paced"), NULL, err, sizeof(err)), CHURN_OK, "%s",
                 err);
}

/* A backup whose served model file is a FIFO waits on it until the test writes it. */
struct slow_backup {
    const char *out, *fifo;
    enum churn_err result;
    char err[512];
};

static void *
run_backup(void *arg)
{
    struct slow_backup *b = arg;
    struct churn_backup_source src = {.model_id = 1, .model_version = "v1", .model_path = b->fifo};
    b->result = churn_backup_create(st, b->out, &src, NULL, b->err, sizeof(b->err));
    return NULL;
}

/* Wait until a "<out>.partial.*" directory holds data.mdb (the first backup is in the model). */
static void
wait_for_partial_data(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "ls %s/first.partial.*/data.mdb >/dev/null 2>&1", dir);
    for (int i = 0; i < 3000 && system(cmd) != 0; i++)
        usleep(10000);
    cr_assert_eq(system(cmd), 0, "the first backup never got to its model file");
}

Test(backup, a_second_backup_is_refused_while_one_runs)
{
    ingest(5, 2, "e");
    const char *fifo = path_in("model.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    struct slow_backup first = {.out = path_in("first"), .fifo = fifo};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_backup, &first), 0);
    wait_for_partial_data();

    cr_assert_eq(churn_backup_create(st, path_in("second"), NULL, NULL, err, sizeof(err)),
                 CHURN_EPRECOND);
    cr_assert_not_null(strstr(err, "a backup is already running (to "), "%s", err);
    cr_assert_not_null(strstr(err, "/first, since "), "%s", err);
    cr_assert_neq(access(path_in("second"), F_OK), 0);

    /* the first one finishes once its "model" arrives, with those bytes */
    int fd = open(fifo, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "{\"model\":1}", 11), 11);
    close(fd);
    pthread_join(t, NULL);
    cr_assert_eq(first.result, CHURN_OK, "%s", first.err);
    struct churn_backup_manifest m;
    cr_assert_eq(churn_backup_verify(first.out, &m, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(m.n_files, 2);
    cr_assert_str_eq(m.files[1].name, "models/model.fifo");
    cr_assert_eq(m.files[1].size, 11);
    cr_assert_str_eq(m.model.version, "v1");
    /* and now a second one may run */
    cr_assert_eq(churn_backup_create(st, path_in("second"), NULL, NULL, err, sizeof(err)), CHURN_OK,
                 "%s", err);
}

Test(backup, a_full_disk_fails_cleanly)
{
    ingest(40, 25, "e"); /* 1,000 events: a copy of a few hundred KiB */
    const char *small = path_in("small");
    cr_assert_eq(mkdir(small, 0700), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* a 64 KiB tmpfs in a private mount namespace of this child */
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", small, "tmpfs", 0, "size=64k") != 0)
            _exit(77);
        char out[300], e[512];
        snprintf(out, sizeof(out), "%s/b", small);
        enum churn_err r = churn_backup_create(st, out, NULL, NULL, e, sizeof(e));
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", small);
        bool empty = system(cmd) == 0;
        fprintf(stderr, "full-disk child: %s\n", e);
        _exit(r == CHURN_EFULL && strstr(e, "the disk is full") && empty ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        cr_skip_test("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN)");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the backup onto a full disk did not fail cleanly (EFULL, nothing left)");
    /* the store serves and takes writes as before */
    cr_assert_eq(ingest(1, 1, "after"), 1);
    cr_assert_eq(churn_store_get_customer(st, "c39", &rec), CHURN_OK);
}

Test(backup, prune_keeps_the_newest)
{
    char name[64];
    const char *bdir = path_in("backups");
    cr_assert_eq(mkdir(bdir, 0700), 0);
    ingest(3, 1, "e");
    char paths[4][300];
    for (int i = 0; i < 4; i++) {
        churn_backup_name(NOW + i * 60000, name, sizeof(name));
        snprintf(paths[i], sizeof(paths[i]), "%s/%s", bdir, name);
        cr_assert_eq(churn_backup_create(st, paths[i], NULL, NULL, err, sizeof(err)), CHURN_OK,
                     "%s", err);
    }
    cr_assert_str_eq(name, "churnd-backup-20241014T120300000Z");
    /* an interrupted one older than the newest, and a stranger that is not ours */
    char partial[400], other[400];
    snprintf(partial, sizeof(partial), "%s.partial.abc123", paths[1]);
    snprintf(other, sizeof(other), "%s/keep-me", bdir);
    cr_assert_eq(mkdir(partial, 0700), 0);
    cr_assert_eq(mkdir(other, 0700), 0);
    unsigned removed = 0;
    cr_assert_eq(churn_backup_prune(bdir, 2, &removed, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(removed, 3);
    cr_assert_neq(access(paths[0], F_OK), 0);
    cr_assert_neq(access(paths[1], F_OK), 0);
    cr_assert_neq(access(partial, F_OK), 0);
    cr_assert_eq(access(paths[2], F_OK), 0);
    cr_assert_eq(access(paths[3], F_OK), 0);
    cr_assert_eq(access(other, F_OK), 0);
}

/* ---- the format-1 fixture -------------------------------------------------------------------- */

TestSuite(upgrade, .init = setup, .fini = teardown);

/* Load tests/data/store/format1.dump into a new directory @to, @sed applied to the dump. */
static void
load_fixture(const char *to, const char *sed)
{
    char cmd[1024];
    cr_assert_eq(mkdir(to, 0700), 0);
    snprintf(cmd, sizeof(cmd),
             "sed -e '/^db_pagesize=/d' -e '%s' %s/tests/data/store/format1.dump | mdb_load %s",
             sed, CHURN_SOURCE_ROOT, to);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static int
count_log(uint64_t seq, const char *cid, const void *d, size_t len, void *user)
{
    (void)seq;
    (void)cid;
    (void)d;
    (void)len;
    ++*(int *)user;
    return 0;
}

/* The alert log's entries (issue 15: each then looked up through its customer's index). */
struct log_entries {
    uint64_t seq[8];
    char cid[8][CHURN_ID_MAX + 1];
    int n;
    uint64_t found; /* a customer walk: the sequence looked for, 0 once seen */
};

static int
note_entry(uint64_t seq, const char *cid, const void *d, size_t len, void *user)
{
    (void)d;
    (void)len;
    struct log_entries *e = user;
    if (e->n < 8) {
        e->seq[e->n] = seq;
        snprintf(e->cid[e->n++], sizeof(e->cid[0]), "%s", cid);
    }
    return 0;
}

static int
seen_seq(uint64_t seq, const char *cid, const void *d, size_t len, void *user)
{
    (void)cid;
    (void)d;
    (void)len;
    struct log_entries *e = user;
    if (seq == e->found)
        e->found = 0;
    return 0;
}

Test(upgrade, a_format_1_store_is_read_and_upgraded)
{
    const char *f1 = path_in("f1");
    load_fixture(f1, "");
    /* read-only: readable, left as it is */
    struct churn_store *s;
    struct churn_store_options ro;
    churn_store_options_init(&ro);
    ro.read_only = true;
    cr_assert_eq(churn_store_open(f1, &ro, &s), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_get_customer(s, "fx-alice", &rec), CHURN_OK);
    churn_store_close(s);

    cr_assert_eq(churn_store_open(f1, NULL, &s), CHURN_OK, "%s", churn_store_last_error());
    struct churn_store_stats stats;
    cr_assert_eq(churn_store_stats(s, &stats), CHURN_OK);
    cr_assert_eq(stats.event_seq, 7, "the sequence starts at the records' lifetime events");
    cr_assert_eq(stats.alert_seq, 2);
    cr_assert_eq(stats.customers, 3);
    /* every kind of record */
    cr_assert_eq(churn_store_get_customer(s, "fx-alice", &rec), CHURN_OK);
    cr_assert_eq(rec.life.events, 4);
    cr_assert_eq(rec.life.orders_completed, 1);
    cr_assert_float_eq(rec.life.spend, 120.5, 1e-9);
    cr_assert_eq(rec.n_plan_changes, 1);
    cr_assert_str_eq(rec.attrs.plan, "basic");
    cr_assert_str_eq(rec.attrs.segment, "smb");
    cr_assert_eq(rec.attrs.n_num, 1);
    cr_assert_str_eq(rec.attrs.cat[0].value, "retail");
    cr_assert_eq(rec.n_days, 3, "the login 300 days ago counted in lifetime only");
    cr_assert_eq(churn_store_get_customer(s, "fx-carol", &rec), CHURN_OK);
    cr_assert_eq(rec.life.escalations, 1);
    struct churn_arena a;
    churn_arena_init(&a, 4096);
    void *d;
    size_t len;
    cr_assert_eq(churn_store_get_conversation(s, "fx-carol", "conv-1", &a, &d, &len), CHURN_OK);
    cr_assert_eq(len, 13);
    cr_assert_eq(memcmp(d, "tracker-state", 13), 0);
    cr_assert_eq(churn_store_get_alert_state(s, "fx-bob", &a, &d, &len), CHURN_OK);
    cr_assert_eq(memcmp(d, "bob-state", 9), 0);
    cr_assert_eq(churn_store_get_meta(s, "fixture.note", &a, &d, &len), CHURN_OK);
    cr_assert_eq(memcmp(d, "format 1", 8), 0);
    cr_assert_eq(churn_store_get_meta(s, "churn.format", &a, &d, &len), CHURN_OK);
    cr_assert_eq(((unsigned char *)d)[12], CHURN_STORE_FORMAT, "the marker says format 2 now");
    churn_arena_fini(&a);
    int alerts = 0, outcomes = 0;
    cr_assert_eq(churn_store_foreach_alert(s, 0, 0, count_log, &alerts), CHURN_OK);
    cr_assert_eq(churn_store_foreach_outcome(s, count_log, &outcomes), CHURN_OK);
    cr_assert_eq(alerts, 2);
    cr_assert_eq(outcomes, 1);
    /* the alert log's per-customer index did not exist in format 1: built at this open */
    struct log_entries le = {0};
    cr_assert_eq(churn_store_foreach_alert(s, 0, 0, note_entry, &le), CHURN_OK);
    cr_assert_eq(le.n, 2);
    for (int i = 0; i < le.n; i++) {
        le.found = le.seq[i];
        cr_assert_eq(churn_store_foreach_customer_alert(s, le.cid[i], 0, 0, seen_seq, &le),
                     CHURN_OK);
        cr_assert_eq(le.found, 0, "alert %llu not in %s's index", (unsigned long long)le.seq[i],
                     le.cid[i]);
    }
    /* an old event id is a duplicate; a new event continues the sequence */
    struct churn_event ev[2] = {
        {.kind = CHURN_EVENT_LOGIN,
         .customer_id = "fx-alice",
         .event_id = "e1",
         .occurred_at_ms = 1780272000000LL - 3 * DAY},
        {.kind = CHURN_EVENT_LOGIN,
         .customer_id = "fx-alice",
         .event_id = "e8",
         .occurred_at_ms = 1780272000000LL - 2 * DAY},
    };
    struct churn_event_result res[2];
    cr_assert_eq(churn_store_apply_events(s, ev, 2, 1780272000000LL, res), CHURN_OK);
    cr_assert_eq(res[0].status, CHURN_EVENT_DUPLICATE);
    cr_assert_eq(res[1].status, CHURN_EVENT_ACCEPTED);
    cr_assert_eq(churn_store_stats(s, &stats), CHURN_OK);
    cr_assert_eq(stats.event_seq, 8);
    churn_store_close(s);
    /* upgraded once: a second open keeps the sequence */
    cr_assert_eq(churn_store_open(f1, NULL, &s), CHURN_OK, "%s", churn_store_last_error());
    cr_assert_eq(churn_store_stats(s, &stats), CHURN_OK);
    cr_assert_eq(stats.event_seq, 8);
    churn_store_close(s);
}

Test(upgrade, a_newer_format_is_refused_never_misread)
{
    const char *f3 = path_in("f3");
    /* the marker's format byte 01 -> 03 ("churnd-store" is 63687572...6f7265) */
    load_fixture(f3, "s/636875726e642d73746f72650102/636875726e642d73746f72650302/");
    struct churn_store *s = NULL;
    cr_assert_eq(churn_store_open(f3, NULL, &s), CHURN_ECORRUPT);
    cr_assert_null(s);
    cr_assert_not_null(strstr(churn_store_last_error(),
                              "was written by a newer churnd (store format 3, this build knows 2)"),
                       "%s", churn_store_last_error());
}
