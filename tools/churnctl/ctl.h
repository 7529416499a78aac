/*
 * ctl.h - what the command files of churnctl share: the global options, the exit codes and
 * one entry point per command group.
 */
#ifndef CHURNCTL_CTL_H
#define CHURNCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "churn/service.h"
#include "churn/store.h"
#include "churn/train.h"
#include "churn/transport.h"

#define EXIT_STATUS    1 /* the server answered with an error status */
#define EXIT_USAGE     2 /* bad command line or input */
#define EXIT_TRANSPORT 3 /* the server could not be reached, or a local I/O failure */

struct ctl {
    const char *server;
    int timeout_ms;
    bool pretty;
    uint32_t partitions;       /* issue 16: a cluster's P (0: unknown), for x-churn-partition */
    struct churn_services svc; /* the method table, for names and descriptors */
    struct churn_client *client;
    struct churn_client_options conn; /* TLS and token (--tls-*, --token, $CHURN_TOKEN) */
};

/* rpc.c: commands that talk to a running churnd */
int churnctl_health(struct ctl *ctl, int argc, char **argv);
int churnctl_methods(struct ctl *ctl);
int churnctl_call(struct ctl *ctl, int argc, char **argv);
int churnctl_connect(struct ctl *ctl);

/* rpc.c: what every command that calls churnd uses. Each returns an exit code (0 ok). */

/**
 * churnctl_routing_headers() - the headers a cluster routes a call about @customer on (NULL:
 * none): x-customer-id, and with --partitions x-churn-partition (its text in @part). How many
 * of @hdr were set.
 */
size_t churnctl_routing_headers(const struct ctl *ctl, const char *customer, char part[static 12],
                                struct churn_client_header hdr[static 2]);

/** churnctl_find_method() - the method @name (full, or "Service/Method"); NULL if unknown. */
const struct churn_method *churnctl_find_method(struct ctl *ctl, const char *name);

/**
 * churnctl_report_status() - 0 for OK; else "churnctl: STATUS: details" on stderr and
 * EXIT_TRANSPORT for UNAVAILABLE (unreachable), EXIT_STATUS for any other status.
 */
int churnctl_report_status(const struct churn_client_status *st);

/** churnctl_print_json() - @msg as one JSON line on stdout (indented with --pretty), flushed. */
int churnctl_print_json(struct ctl *ctl, const ProtobufCMessage *msg);

/**
 * churnctl_unpack() - the response of @m from @len bytes at @data (free it with
 * protobuf_c_message_free_unpacked); NULL, after a message on stderr, when it is not one.
 */
ProtobufCMessage *churnctl_unpack(const struct churn_method *m, const void *data, size_t len);

/**
 * churnctl_unary() - call the unary @method with @req within --timeout. On 0, *resp is the
 * unpacked response (free it with protobuf_c_message_free_unpacked); otherwise the failure
 * was reported on stderr (churnctl_report_status(), or "cannot reach") and *resp is untouched.
 */
int churnctl_unary(struct ctl *ctl, const char *method, const ProtobufCMessage *req,
                   ProtobufCMessage **resp);

/* sentiment.c: the analyzer offline; chat.c: an interactive conversation with churnd */
int churnctl_sentiment(int argc, char **argv);
int churnctl_chat(struct ctl *ctl, int argc, char **argv);

/* train.c: offline training and evaluation */
int churnctl_train(int argc, char **argv, bool cv_only);

/* The training options of train, cv, eval and backtest. */
struct train_args {
    const char *data, *label, *positive, *store, *out, *ignore, *model, *monotone;
    enum churn_train_algo algo;
    struct churn_train_options opts;
    int horizon_days, cutoffs, step_days, inactivity_days;
    int64_t as_of_ms; /* train: the store's data ends with this UTC day (0: now) */
    bool json;
};

/** churnctl_train_parse() - parse train's options into @a: 0, -1 after --help, or EXIT_USAGE
 * after a message. */
int churnctl_train_parse(int argc, char **argv, struct train_args *a);

/** churnctl_monotone() - set @a's monotone constraints for @ds from --monotone (default:
 * the catalogue's for a store set, none for a CSV): 0 and *@out (free() it after training), or
 * EXIT_USAGE after a message. */
int churnctl_monotone(struct train_args *a, const struct churn_dataset *ds, signed char **out);

/** churnctl_open_store() - open @dir read-only: 0, or EXIT_TRANSPORT after a message. */
int churnctl_open_store(const char *dir, struct churn_store **out);

/** churnctl_trainset() - the store's training set for @a as of @as_of_ms, for train and
 * backtest --train alike: the data ends with the UTC day of @as_of_ms (it stands for the last
 * millisecond of that day; 0: now, the data ending with yesterday), the newest cutoff H days
 * before. Its summary on stderr, and when @summary is not NULL its as-of and cutoffs as JSON
 * into *@summary (new reference): 0, or an exit code after a message. */
int churnctl_trainset(const struct train_args *a, struct churn_store *store, int64_t as_of_ms,
                      struct churn_dataset **ds, json_t **summary);

/** churnctl_select_json() - what the auto search ran and chose, as JSON (new reference). */
json_t *churnctl_select_json(const struct churn_select_report *r);

/** churnctl_metrics_json() - every metric as a JSON object (new reference). */
json_t *churnctl_metrics_json(const struct churn_metrics *m);

/** churnctl_print_metrics() - the metrics as a human table on stdout under @title. */
void churnctl_print_metrics(const char *title, const struct churn_metrics *m);

/* backtest.c: the prospective evaluation of a model on a store */
int churnctl_backtest(int argc, char **argv);

/* alerts.c: the retention team's commands: alerts watch|list, ack, at-risk */
int churnctl_alerts(struct ctl *ctl, int argc, char **argv);
int churnctl_ack(struct ctl *ctl, int argc, char **argv);
int churnctl_at_risk(struct ctl *ctl, int argc, char **argv);

/* models.c: the model registry of a running churnd: models list|promote|rollback, retrain */
int churnctl_models(struct ctl *ctl, int argc, char **argv);
int churnctl_retrain(struct ctl *ctl, int argc, char **argv);

/* report_trends.c (issue 15): the daily snapshots of a store, and the report period options */
int churnctl_report_trends(int argc, char **argv);

/* report_html.c (issue 15): the HTML retention report of a store */
int churnctl_report_html(int argc, char **argv);

/** churnctl_report_period() - parse @value of @flag (a date or ISO-8601 time) into its UTC
 * *@day: 0, or EXIT_USAGE after "churnctl report CMD: FLAG: 'VALUE' is not a date". */
int churnctl_report_period(const char *cmd, const char *flag, const char *value, int32_t *day);

/** churnctl_report_period_args() - when argv[*i] is --from or --to (*@matched), take its value
 * (advancing *@i) into *@from or *@to: 0, or EXIT_USAGE after a message naming the flag (a
 * missing or bad date, or --from after --to). */
int churnctl_report_period_args(const char *cmd, int argc, char **argv, int *i, int32_t *from,
                                int32_t *to, bool *matched);

/* import.c: customers and events from CSV or JSON Lines into a store or a server */
int churnctl_import(struct ctl *ctl, int argc, char **argv);

/* publish.c: the NATS JetStream sink of import (ingest.<customer>, acknowledged by JetStream) */
struct ctl_publisher;
int ctl_publisher_open(const char *urls, struct ctl_publisher **out);
bool ctl_publisher_subject_ok(const char *customer, char *reason, size_t rlen);
int ctl_publisher_send(struct ctl_publisher *p, const char *customer, const void *data, size_t len);
/* 0: every event acknowledged; > 0: that many refused (resend them); -1: failed (said) */
int ctl_publisher_flush(struct ctl_publisher *p);
const char *ctl_publisher_first_error(const struct ctl_publisher *p);
void ctl_publisher_close(struct ctl_publisher *p);

/* cluster.c: the partition table's commands and the fan-out of cross-customer reads */
int churnctl_cluster(struct ctl *ctl, int argc, char **argv);

/* report.c: reports read from a store (offline, read-only) */
int churnctl_report(int argc, char **argv);

/* backup.c: online backups through churnd or of a store directory, verification, restore */
int churnctl_backup(struct ctl *ctl, int argc, char **argv);
int churnctl_restore(int argc, char **argv);

#endif
