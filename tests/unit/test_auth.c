/*
 * test_auth.c - the token table and role check (churn/auth.h) and the safe file reads it and
 * the model loader use (churn/file.h): tokens by hash, certificate names, each result of the
 * check with its message (never the token), the method → role table, token file errors with
 * file:line, reload keeping the old table on error; FIFOs, directories, devices, symbolic
 * links and ".." refused by rule without blocking.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/auth.h"
#include "churn/file.h"

static char dir[64];
static char err[512];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/churn-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    err[0] = '\0';
}

static void
teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(auth, .init = setup, .fini = teardown);

/* Write @text to dir/@name; the path goes to @path. */
static void
write_file(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* A token line for @token with @roles. */
static void
line_for(const char *name, const char *token, const char *roles, char *out, size_t len)
{
    char hex[65];
    churn_auth_sha256_hex(token, strlen(token), hex);
    snprintf(out, len, "%s %s %s\n", name, hex, roles);
}

static struct churn_auth *
open_table(void)
{
    char a[200], b[200], text[600], path[128];
    line_for("reader", "tok-r", "read", a, sizeof(a));
    line_for("ops", "tok-o", "operate,read", b, sizeof(b));
    snprintf(text, sizeof(text), "# tokens\n\n%s   %s# a comment\ncert1 cn=client1 ingest\n", a, b);
    write_file("tokens", text, path, sizeof(path));
    struct churn_auth *auth = NULL;
    cr_assert_eq(churn_auth_open(path, &auth, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(churn_auth_entries(auth), 3);
    return auth;
}

static enum churn_auth_result
check(struct churn_auth *a, const char *header, const char *cn, enum churn_role role,
      struct churn_identity *who)
{
    err[0] = '\0';
    return churn_auth_check(a, header, header ? strlen(header) : 0, cn, role, who, err,
                            sizeof(err));
}

Test(auth, sha256_of_a_known_string)
{
    char hex[65];
    churn_auth_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(auth, tokens_roles_and_messages)
{
    struct churn_auth *a = open_table();
    struct churn_identity who;
    cr_assert_eq(check(a, "Bearer tok-r", NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_OK);
    cr_assert_str_eq(who.name, "reader");
    cr_assert(!who.by_certificate);
    cr_assert_eq(check(a, "bearer tok-o", NULL, CHURN_ROLE_OPERATE, &who), CHURN_AUTH_OK);
    cr_assert_str_eq(who.name, "ops");
    cr_assert_eq(check(a, "Bearer tok-r", NULL, CHURN_ROLE_ADMIN, &who), CHURN_AUTH_DENIED);
    cr_assert(strstr(err, "'admin'") && strstr(err, "reader"), "%s", err);
    cr_assert_eq(check(a, "Bearer tok-x", NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_UNAUTHENTICATED);
    cr_assert(strstr(err, "unknown token") && !strstr(err, "tok-x"), "%s", err);
    cr_assert_eq(check(a, NULL, NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_UNAUTHENTICATED);
    cr_assert(strstr(err, "no credentials"), "%s", err);
    cr_assert_eq(check(a, "Basic abc", NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_UNAUTHENTICATED);
    cr_assert_eq(check(a, "Bearer ", NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_UNAUTHENTICATED);
    /* an open method: anonymous without credentials, the identity with them */
    cr_assert_eq(check(a, NULL, NULL, CHURN_ROLE_NONE, &who), CHURN_AUTH_OK);
    cr_assert_str_eq(who.name, "");
    cr_assert_eq(check(a, "Bearer tok-r", NULL, CHURN_ROLE_NONE, &who), CHURN_AUTH_OK);
    cr_assert_str_eq(who.name, "reader");
    churn_auth_close(a);
}

Test(auth, huge_token_refused_by_size)
{
    struct churn_auth *a = open_table();
    struct churn_identity who;
    size_t n = 100000;
    char *h = churn_malloc(n + 1);
    memcpy(h, "Bearer ", 7);
    memset(h + 7, 'x', n - 7);
    h[n] = '\0';
    cr_assert_eq(check(a, h, NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_UNAUTHENTICATED);
    cr_assert(strstr(err, "over 4096 bytes"), "%s", err);
    churn_free(h);
    churn_auth_close(a);
}

Test(auth, certificate_names)
{
    struct churn_auth *a = open_table();
    struct churn_identity who;
    cr_assert_eq(check(a, NULL, "client1", CHURN_ROLE_INGEST, &who), CHURN_AUTH_OK);
    cr_assert(who.by_certificate);
    cr_assert_str_eq(who.name, "cert1");
    cr_assert_eq(check(a, NULL, "client1", CHURN_ROLE_READ, &who), CHURN_AUTH_DENIED);
    cr_assert_eq(check(a, NULL, "client2", CHURN_ROLE_READ, &who), CHURN_AUTH_UNAUTHENTICATED);
    cr_assert(strstr(err, "client2"), "%s", err);
    /* a token on the connection wins over the certificate */
    cr_assert_eq(check(a, "Bearer tok-r", "client1", CHURN_ROLE_READ, &who), CHURN_AUTH_OK);
    cr_assert_str_eq(who.name, "reader");
    churn_auth_close(a);
}

Test(auth, method_table)
{
    static const struct {
        const char *path;
        enum churn_role role;
    } rows[] = {
        {"/churn.v1.ScoringService/GetScore", CHURN_ROLE_READ},
        {"/churn.v1.IngestService/GetCustomer", CHURN_ROLE_READ},
        {"/churn.v1.IngestService/RecordEvents", CHURN_ROLE_INGEST},
        {"/churn.v1.IngestService/DeleteCustomer", CHURN_ROLE_ADMIN},
        {"/churn.v1.ChatService/AnalyzeChat", CHURN_ROLE_INGEST},
        {"/churn.v1.AlertService/WatchAlerts", CHURN_ROLE_READ},
        {"/churn.v1.AlertService/AcknowledgeAlert", CHURN_ROLE_OPERATE},
        {"/churn.v1.ModelService/GetModelInfo", CHURN_ROLE_READ},
        {"/churn.v1.ModelService/ReloadModel", CHURN_ROLE_ADMIN},
        {"/churn.v1.NewService/Anything", CHURN_ROLE_ADMIN},
        {"/churn.v1.IngestService/GetCustomerX", CHURN_ROLE_INGEST},
        {"/grpc.health.v1.Health/Check", CHURN_ROLE_NONE},
        {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", CHURN_ROLE_NONE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cr_assert_eq(churn_auth_method_role(rows[i].path, strlen(rows[i].path), true), rows[i].role,
                     "%s", rows[i].path);
    const char *h = "/grpc.health.v1.Health/Check";
    cr_assert_eq(churn_auth_method_role(h, strlen(h), false), CHURN_ROLE_READ);
    cr_assert_str_eq(churn_role_name(CHURN_ROLE_OPERATE), "operate");
}

/* The error of opening a token file with @text; the text goes to @out. */
static enum churn_err
open_error(const char *text)
{
    char path[128];
    write_file("bad", text, path, sizeof(path));
    struct churn_auth *a = NULL;
    err[0] = '\0';
    enum churn_err e = churn_auth_open(path, &a, err, sizeof(err));
    cr_assert_null(a);
    return e;
}

Test(auth, token_file_errors_name_file_and_line)
{
    char good[200], text[800];
    line_for("a", "t", "read", good, sizeof(good));
    cr_assert_neq(open_error("a b\n"), CHURN_OK);
    cr_assert(strstr(err, "/bad:1: expected 3 fields"), "%s", err);
    snprintf(text, sizeof(text), "%s# x\nb 00 read\n", good);
    cr_assert_neq(open_error(text), CHURN_OK);
    cr_assert(strstr(err, "/bad:3:") && strstr(err, "64 hex digits"), "%s", err);
    snprintf(text, sizeof(text), "%s%s", good, good);
    cr_assert_neq(open_error(text), CHURN_OK);
    cr_assert(strstr(err, "/bad:2:") && strstr(err, "twice"), "%s", err);
    line_for("c", "t2", "read,root", text, sizeof(text));
    cr_assert_neq(open_error(text), CHURN_OK);
    cr_assert(strstr(err, "role 'root'") && !strstr(err, good + 2), "%s", err);
    cr_assert_neq(open_error("x cn=client read extra\n"), CHURN_OK);
    cr_assert(strstr(err, "found 4"), "%s", err);
}

Test(auth, reload_keeps_the_old_table_on_error)
{
    struct churn_auth *a = open_table();
    struct churn_identity who;
    char path[128], line[200];
    snprintf(path, sizeof(path), "%s/tokens", dir);
    FILE *f = fopen(path, "w");
    fputs("nonsense\n", f);
    fclose(f);
    cr_assert_neq(churn_auth_reload(a, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(check(a, "Bearer tok-r", NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_OK);
    line_for("new", "tok-n", "admin", line, sizeof(line));
    write_file("tokens", line, path, sizeof(path));
    cr_assert_eq(churn_auth_reload(a, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(check(a, "Bearer tok-r", NULL, CHURN_ROLE_READ, &who), CHURN_AUTH_UNAUTHENTICATED);
    cr_assert_eq(check(a, "Bearer tok-n", NULL, CHURN_ROLE_ADMIN, &who), CHURN_AUTH_OK);
    churn_auth_close(a);
}

/* ---- churn/file.h ---------------------------------------------------------------------- */

static enum churn_err
read_path(const char *path, bool nofollow)
{
    char *text = NULL;
    size_t len = 0;
    err[0] = '\0';
    enum churn_err e =
        churn_file_read_regular(path, 1 << 20, nofollow, &text, &len, err, sizeof(err));
    churn_free(text);
    return e;
}

Test(auth, file_reads_refuse_what_is_not_a_regular_file)
{
    char path[128], fifo[128], link[160];
    write_file("m.json", "{}", path, sizeof(path));
    cr_assert_eq(read_path(path, true), CHURN_OK);
    snprintf(fifo, sizeof(fifo), "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(read_path(fifo, false), CHURN_EPERM); /* returns at once: no writer needed */
    cr_assert(strstr(err, "is a FIFO"), "%s", err);
    cr_assert_eq(read_path(dir, false), CHURN_EPERM);
    cr_assert(strstr(err, "is a directory"), "%s", err);
    cr_assert_eq(read_path("/dev/zero", false), CHURN_EPERM);
    cr_assert(strstr(err, "is a device"), "%s", err);
    snprintf(link, sizeof(link), "%s/link", dir);
    cr_assert_eq(symlink(path, link), 0);
    cr_assert_eq(read_path(link, true), CHURN_EPERM);
    cr_assert(strstr(err, "symbolic link"), "%s", err);
    cr_assert_eq(read_path(link, false), CHURN_OK);
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(churn_file_read_regular(path, 1, false, &text, &len, err, sizeof(err)),
                 CHURN_ETOOBIG);
}

Test(auth, inside_dir_rules)
{
    char path[128], sub[128], out[PATH_MAX], link[160], outside[160], other[192];
    write_file("m.json", "{}", path, sizeof(path));
    snprintf(sub, sizeof(sub), "%s/models", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    char inside[192];
    snprintf(inside, sizeof(inside), "%s/a.json", sub);
    FILE *f = fopen(inside, "w");
    fclose(f);
    cr_assert_eq(churn_file_inside_dir(sub, "a.json", out, sizeof(out), err, sizeof(err)), CHURN_OK,
                 "%s", err);
    cr_assert(strstr(out, "/models/a.json"));
    cr_assert_eq(churn_file_inside_dir(sub, inside, out, sizeof(out), err, sizeof(err)), CHURN_OK);
    cr_assert_eq(churn_file_inside_dir(sub, "../m.json", out, sizeof(out), err, sizeof(err)),
                 CHURN_EPERM);
    cr_assert(strstr(err, "'..'"), "%s", err);
    cr_assert_eq(churn_file_inside_dir(sub, path, out, sizeof(out), err, sizeof(err)), CHURN_EPERM);
    cr_assert(strstr(err, "outside"), "%s", err);
    snprintf(link, sizeof(link), "%s/escape.json", sub);
    cr_assert_eq(symlink(path, link), 0);
    cr_assert_eq(churn_file_inside_dir(sub, "escape.json", out, sizeof(out), err, sizeof(err)),
                 CHURN_EPERM);
    snprintf(outside, sizeof(outside), "%s/modelsX", dir); /* a name prefix is not inside */
    cr_assert_eq(mkdir(outside, 0700), 0);
    snprintf(other, sizeof(other), "%s/b.json", outside);
    fclose(fopen(other, "w"));
    cr_assert_eq(churn_file_inside_dir(sub, other, out, sizeof(out), err, sizeof(err)),
                 CHURN_EPERM);
    cr_assert(strstr(err, "outside"), "%s", err);
    cr_assert_eq(churn_file_inside_dir(sub, "none.json", out, sizeof(out), err, sizeof(err)),
                 CHURN_ENOTFOUND);
    cr_assert_eq(churn_file_inside_dir(sub, "", out, sizeof(out), err, sizeof(err)), CHURN_EINVAL);
    cr_assert_eq(churn_file_inside_dir("/nonexistent-dir", "a", out, sizeof(out), err, sizeof(err)),
                 CHURN_EPRECOND);
}
