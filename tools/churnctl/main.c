/*
 * main.c - churnctl, the command-line client and admin tool: global options and dispatch
 * to the command files (rpc.c talks to a running churnd; alerts.c has the retention team's
 * alert and at-risk commands; train.c trains and evaluates models offline, from a CSV file
 * or straight from a store directory).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "churn/cluster.h"
#include "ctl.h"

static void
usage(FILE *out)
{
    fputs("usage: churnctl [--server HOST:PORT] [--timeout MS] [--pretty] [--token TOKEN]\n"
          "                [--tls-ca PEM [--tls-cert PEM --tls-key PEM] [--tls-server-name N]]\n"
          "                [--partitions P]  (a cluster's P: each call about a customer\n"
          "                                   carries its partition in x-churn-partition)\n"
          "                COMMAND [ARGS]\n"
          "\n"
          "talk to a running churnd:\n"
          "  health [SERVICE] [--watch]   serving status (overall, or of one service)\n"
          "  methods                      every RPC of the churn.v1 API, with its shape\n"
          "  call METHOD [JSON|-]         call any RPC; the request is JSON (JSON lines on\n"
          "                               stdin for client and bidi streams); responses are\n"
          "                               printed as JSON lines\n"
          "  chat --customer ID           type a support conversation turn by turn and see\n"
          "                               each assessment and escalation\n"
          "retention alerts (`churnctl alerts --help`, `ack --help`, `at-risk --help`):\n"
          "  alerts watch [--after SEQ] [--filter TEXT] [--resume-file FILE] [--max N]\n"
          "                               follow alert changes live, resumably\n"
          "  alerts list [--filter TEXT] [--order newest|oldest|priority] [--all]\n"
          "                               the current alerts, a page at a time\n"
          "  ack SEQ --actor NAME [--snooze-for 2h --reason TEXT | --close saved|lost|...]\n"
          "                               acknowledge an alert, and snooze or close it\n"
          "  at-risk [--limit N] [--min-tier low|medium|high]\n"
          "                               customers ranked by expected revenue at risk\n"
          "the model registry (`churnctl models --help`):\n"
          "  models list | promote ID|VERSION | rollback [ID]\n"
          "                               registered models, serve one, serve the previous\n"
          "  retrain                      start a retraining run in churnd now\n"
          "backups (`churnctl backup --help`, docs/OPERATIONS.md):\n"
          "  backup --out DIR             online backup by churnd into DIR (a new directory)\n"
          "  backup --verify DIR          check a backup's manifest and checksums\n"
          "  restore BACKUP --data DIR    verify, then make DIR a store churnd serves at once\n"
          "offline:\n"
          "  sentiment [--lexicons DIR] [--language en|ko|auto]  lines -> one JSON analysis each\n"
          "  train (--data FILE.csv --label COL | --store DIR) --out MODEL.json [options]\n"
          "  cv    (--data FILE.csv --label COL | --store DIR) [options]\n"
          "  eval  --model MODEL.json (--data FILE.csv --label COL | --store DIR)\n"
          "                               train, or only cross-validate; `churnctl train\n"
          "                               --help` lists the options\n"
          "  backtest --store DIR --as-of T (--model MODEL.json | --train) [--horizon-days H]\n"
          "                               score as of T, compare with churn after T\n"
          "  import (--customers|--events) FILE (--store DIR | --server HOST:PORT) [options]\n"
          "                               load CSV or JSON Lines; `churnctl import --help`\n"
          "a cluster's partition table (`churnctl cluster --help`):\n"
          "  cluster validate|balance|plan|generate|owner|at-risk TABLE ...\n"
          "  report outcomes --store DIR [--json]\n"
          "                               per playbook: retention of treated customers vs\n"
          "                               the control group, 95% CI, revenue retained\n"
          "  report trends --store DIR [--from DATE] [--to DATE] [--json]\n"
          "                               the daily snapshots: at risk, revenue at risk, churn\n"
          "  report html --store DIR --out FILE [--from DATE] [--to DATE]\n"
          "                               the retention report: one HTML file with charts\n"
          "\n"
          "METHOD is a full name (/churn.v1.ScoringService/GetScore) or a short one\n"
          "(ScoringService/GetScore or ScoringService.GetScore).\n"
          "The server defaults to $CHURN_SERVER or 127.0.0.1:50051; the token to\n"
          "$CHURN_TOKEN (sent as 'authorization: Bearer TOKEN'). --tls-ca turns on TLS\n"
          "(docs/SECURITY.md).\n"
          "Exit status: 0 ok, 1 error status from the server, 2 usage, 3 unreachable.\n",
          out);
}

/* The connection options (issue 14): true if argv[*i] was one (its value consumed). */
static bool
connection_option(struct ctl *ctl, int argc, char **argv, int *i)
{
    static const struct {
        const char *flag;
        size_t offset;
    } opts[] = {
        {"--tls-ca", offsetof(struct churn_client_options, tls_ca)},
        {"--tls-cert", offsetof(struct churn_client_options, tls_cert)},
        {"--tls-key", offsetof(struct churn_client_options, tls_key)},
        {"--tls-server-name", offsetof(struct churn_client_options, tls_server_name)},
        {"--token", offsetof(struct churn_client_options, token)},
    };
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
        if (strcmp(argv[*i], opts[k].flag) == 0 && *i + 1 < argc) {
            *(const char **)((char *)&ctl->conn + opts[k].offset) = argv[++*i];
            return true;
        }
    }
    return false;
}

int
main(int argc, char **argv)
{
    struct ctl ctl = {.server = getenv("CHURN_SERVER"), .timeout_ms = 10000};
    if (!ctl.server || !*ctl.server)
        ctl.server = "127.0.0.1:50051";
    ctl.conn.token = getenv("CHURN_TOKEN");
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (connection_option(&ctl, argc, argv, &i)) {
            continue;
        } else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
            ctl.server = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 0 || t > 86400000) {
                fprintf(stderr, "churnctl: --timeout: '%s' is not milliseconds\n", argv[i]);
                return EXIT_USAGE;
            }
            ctl.timeout_ms = (int)t;
        } else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 1 || p > CHURN_CLUSTER_PARTITIONS_MAX) {
                fprintf(stderr, "churnctl: --partitions: '%s' is not 1 to %d\n", argv[i],
                        CHURN_CLUSTER_PARTITIONS_MAX);
                return EXIT_USAGE;
            }
            ctl.partitions = (uint32_t)p;
        } else if (strcmp(argv[i], "--pretty") == 0) {
            ctl.pretty = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "churnctl: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[i++];
    if (strcmp(cmd, "train") == 0 || strcmp(cmd, "cv") == 0)
        return churnctl_train(argc - i, argv + i, strcmp(cmd, "cv") == 0);
    if (strcmp(cmd, "import") == 0)
        return churnctl_import(&ctl, argc - i, argv + i);
    if (strcmp(cmd, "backtest") == 0)
        return churnctl_backtest(argc - i, argv + i);
    if (strcmp(cmd, "eval") == 0) {
        /* eval is train's data loading with --model instead of --out */
        bool has_model = false;
        for (int k = i; k < argc; k++)
            has_model |= strcmp(argv[k], "--model") == 0;
        if (!has_model) {
            fputs("usage: churnctl eval --model MODEL.json (--data FILE.csv --label COL | "
                  "--store DIR) [--json]\n",
                  stderr);
            return EXIT_USAGE;
        }
        return churnctl_train(argc - i, argv + i, false);
    }
    if (strcmp(cmd, "report") == 0)
        return churnctl_report(argc - i, argv + i);
    if (strcmp(cmd, "restore") == 0)
        return churnctl_restore(argc - i, argv + i);
    if (strcmp(cmd, "cluster") == 0)
        return churnctl_cluster(&ctl, argc - i, argv + i);
    if (strcmp(cmd, "sentiment") == 0)
        return churnctl_sentiment(argc - i, argv + i);
    bool known = strcmp(cmd, "methods") == 0 || strcmp(cmd, "health") == 0 ||
                 strcmp(cmd, "call") == 0 || strcmp(cmd, "chat") == 0 ||
                 strcmp(cmd, "alerts") == 0 || strcmp(cmd, "ack") == 0 ||
                 strcmp(cmd, "at-risk") == 0 || strcmp(cmd, "models") == 0 ||
                 strcmp(cmd, "retrain") == 0 || strcmp(cmd, "backup") == 0;
    if (!known) {
        fprintf(stderr, "churnctl: unknown command '%s'\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[512];
    if (churn_services_init(&ctl.svc, err, sizeof(err)) != CHURN_OK) {
        fprintf(stderr, "churnctl: %s\n", err);
        return EXIT_TRANSPORT;
    }
    int rc;
    if (strcmp(cmd, "methods") == 0) {
        rc = churnctl_methods(&ctl);
    } else if (strcmp(cmd, "backup") == 0) {
        rc = churnctl_backup(&ctl, argc - i, argv + i);
    } else if ((rc = churnctl_connect(&ctl)) == 0) {
        if (strcmp(cmd, "health") == 0)
            rc = churnctl_health(&ctl, argc - i, argv + i);
        else if (strcmp(cmd, "chat") == 0)
            rc = churnctl_chat(&ctl, argc - i, argv + i);
        else if (strcmp(cmd, "alerts") == 0)
            rc = churnctl_alerts(&ctl, argc - i, argv + i);
        else if (strcmp(cmd, "ack") == 0)
            rc = churnctl_ack(&ctl, argc - i, argv + i);
        else if (strcmp(cmd, "at-risk") == 0)
            rc = churnctl_at_risk(&ctl, argc - i, argv + i);
        else if (strcmp(cmd, "models") == 0)
            rc = churnctl_models(&ctl, argc - i, argv + i);
        else if (strcmp(cmd, "retrain") == 0)
            rc = churnctl_retrain(&ctl, argc - i, argv + i);
        else
            rc = churnctl_call(&ctl, argc - i, argv + i);
        churn_client_close(ctl.client);
    }
    churn_services_fini(&ctl.svc);
    return rc;
}
