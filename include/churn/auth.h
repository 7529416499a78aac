/*
 * churn/auth.h - who may call what: the token file (bearer tokens stored as SHA-256 hashes,
 * and TLS client-certificate common names, each with a set of roles), the role each gRPC
 * method needs (one table), and the check every listener runs before a handler: the gRPC
 * transport's auth metadata processor and the admin HTTP listener alike. Domain code: no
 * gRPC or protobuf types; tokens are compared in constant time and never logged or copied
 * into error messages.
 *
 * Token file lines (docs/SECURITY.md): `NAME SHA256-HEX ROLE[,ROLE...]` for a bearer token,
 * `NAME cn=COMMON-NAME ROLE[,ROLE...]` for a client certificate's subject; `#` starts a
 * comment; blank lines are ignored. Roles: read, ingest, operate, admin (each stands alone:
 * admin does not imply read).
 */
#ifndef CHURN_AUTH_H
#define CHURN_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "churn/error.h"

/* A role, and (as a bit mask) a set of roles. */
enum churn_role {
    CHURN_ROLE_NONE = 0,
    CHURN_ROLE_READ = 1 << 0,    /* scores, listings, watches, customer and model info */
    CHURN_ROLE_INGEST = 1 << 1,  /* events, customers, chat */
    CHURN_ROLE_OPERATE = 1 << 2, /* acknowledge, snooze, close alerts, record outcomes */
    CHURN_ROLE_ADMIN = 1 << 3,   /* delete customers, reload and manage models */
};

/* The outcome of churn_auth_check(). */
enum churn_auth_result {
    CHURN_AUTH_OK,              /* allowed; *who says as whom */
    CHURN_AUTH_UNAUTHENTICATED, /* no credentials, or credentials nobody issued */
    CHURN_AUTH_DENIED,          /* a known identity without the role needed */
};

#define CHURN_AUTH_NAME_MAX 64 /* identity names, NUL included */

/* Who is calling: the NAME of the token file line that matched, and its roles. */
struct churn_identity {
    char name[CHURN_AUTH_NAME_MAX]; /* "" for an anonymous caller of an open method */
    unsigned roles;                 /* enum churn_role bits */
    bool by_certificate;            /* matched a cn= line rather than a token */
};

/* The token table: immutable once loaded, shared by every thread; churn_auth swaps it. */
struct churn_auth;

/**
 * churn_auth_open() - load the token file @path into a new holder *out. Errors name the file
 * and line ("tokens.txt:3: role 'writer' is not one of read, ingest, operate, admin") and
 * never quote a hash or a token. An unreadable or non-regular file is an error.
 */
enum churn_err churn_auth_open(const char *path, struct churn_auth **out, char *err, size_t errlen);

/**
 * churn_auth_reload() - re-read the file @auth was opened from (SIGHUP). On error the table
 * in force stays and @err says why. Thread-safe against concurrent checks.
 */
enum churn_err churn_auth_reload(struct churn_auth *auth, char *err, size_t errlen);

/** churn_auth_close() - free @auth (NULL is a no-op); no check may be running. */
void churn_auth_close(struct churn_auth *auth);

/** churn_auth_entries() - how many lines (tokens and certificate names) are in force. */
size_t churn_auth_entries(struct churn_auth *auth);

/**
 * churn_auth_check() - may the caller that sent @authorization (the value of the
 * `authorization` header, @len bytes, not NUL-terminated; NULL when absent) and, on a
 * mutual-TLS connection, presented a certificate with common name @cert_cn (NULL when none)
 * do something that needs role @needed? A bearer token is looked up by its SHA-256 in
 * constant time per entry; a token wins over the certificate when both are present.
 * CHURN_ROLE_NONE means the method is open: always CHURN_AUTH_OK, *who anonymous unless
 * valid credentials came along. On CHURN_AUTH_OK *who is filled; otherwise @err says what
 * is missing (naming the role for CHURN_AUTH_DENIED), without the token. Thread-safe.
 */
enum churn_auth_result churn_auth_check(struct churn_auth *auth, const char *authorization,
                                        size_t len, const char *cert_cn, enum churn_role needed,
                                        struct churn_identity *who, char *err, size_t errlen);

/**
 * churn_auth_method_role() - the role the gRPC method @path ("/churn.v1.ScoringService/
 * GetScore", @len bytes) needs: the one table of the project. Health and reflection are
 * CHURN_ROLE_NONE when @open_health_reflection, else CHURN_ROLE_READ; a method the table does
 * not name needs CHURN_ROLE_ADMIN.
 */
enum churn_role churn_auth_method_role(const char *path, size_t len, bool open_health_reflection);

/** churn_role_name() - "read", "ingest", "operate", "admin"; "none" for CHURN_ROLE_NONE. */
const char *churn_role_name(enum churn_role role);

/**
 * churn_auth_sha256_hex() - the lower-case hex SHA-256 of @len bytes at @data into @out
 * (65 bytes with the NUL), as the token file stores it (for `churnctl token hash`, tests).
 */
void churn_auth_sha256_hex(const void *data, size_t len, char out[65]);

#endif
