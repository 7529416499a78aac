/*
 * ctl.h - what the command files of churnctl share: the global options, the exit codes and
 * one entry point per command group.
 */
#ifndef CHURNCTL_CTL_H
#define CHURNCTL_CTL_H

#include <stdbool.h>

#include "churn/service.h"
#include "churn/transport.h"

#define EXIT_STATUS    1 /* the server answered with an error status */
#define EXIT_USAGE     2 /* bad command line or input */
#define EXIT_TRANSPORT 3 /* the server could not be reached, or a local I/O failure */

struct ctl {
    const char *server;
    int timeout_ms;
    bool pretty;
    struct churn_services svc; /* the method table, for names and descriptors */
    struct churn_client *client;
};

/* rpc.c: commands that talk to a running churnd */
int churnctl_health(struct ctl *ctl, int argc, char **argv);
int churnctl_methods(struct ctl *ctl);
int churnctl_call(struct ctl *ctl, int argc, char **argv);
int churnctl_connect(struct ctl *ctl);

/* chat.c: the analyzer offline, and an interactive conversation with churnd */
int churnctl_sentiment(int argc, char **argv);
int churnctl_chat(struct ctl *ctl, int argc, char **argv);

/* train.c: offline training and evaluation */
int churnctl_train(int argc, char **argv, bool cv_only);

/* import.c: customers and events from CSV or JSON Lines into a store or a server */
int churnctl_import(struct ctl *ctl, int argc, char **argv);

/* report.c: reports read from a store (offline, read-only) */
int churnctl_report(int argc, char **argv);

#endif
