/*
 * chat.c - `churnctl chat` (interactive: each line typed is a turn of one conversation
 * streamed to churnd's AnalyzeChat; the assessment, escalation included, is printed after
 * every turn). `churnctl sentiment`, the analyzer offline, is in sentiment.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn/alloc.h"
#include "churn/clock.h"
#include "churn/pbjson.h"
#include "churn/sentiment.h"
#include "churn_proto.h"
#include "ctl.h"

#define LINE_MAX_BYTES (64 * 1024)

/* Read one line (without its newline) of at most LINE_MAX_BYTES; false at the end. */
static bool
read_line(FILE *in, char *buf, size_t cap, bool *too_long)
{
    *too_long = false;
    if (!fgets(buf, (int)cap, in))
        return false;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    } else if (n == cap - 1) {
        *too_long = true;
        int c;
        while ((c = fgetc(in)) != EOF && c != '\n') {
        }
    }
    if (n && buf[n - 1] == '\r')
        buf[n - 1] = '\0';
    return true;
}

static void
print_assessment(const Churn__V1__AnalyzeChatResponse *r)
{
    if (r->error) {
        printf("  ! %s\n", r->error->message);
        return;
    }
    if (r->sentiment)
        printf("  [%s] sentiment %+.2f", r->language, r->sentiment->compound);
    printf("  dissatisfaction %.2f", r->dissatisfaction);
    if (r->score_result_case == CHURN__V1__ANALYZE_CHAT_RESPONSE__SCORE_RESULT_SCORE)
        printf("  churn risk %.0f%%", 100 * r->score->probability);
    printf("\n");
    for (size_t i = 0; i < r->n_evidence; i++)
        printf("    %-24s %+.2f\n", r->evidence[i]->term, r->evidence[i]->contribution);
    if (r->escalation && r->escalation->escalate)
        printf("  >>> ESCALATE to a human: %s\n", r->escalation->message);
}

int
churnctl_chat(struct ctl *ctl, int argc, char **argv)
{
    const char *customer = NULL;
    char conversation[96];
    snprintf(conversation, sizeof(conversation), "churnctl-%d-%lld", (int)getpid(),
             (long long)churn_now_ms());
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--customer") == 0 && i + 1 < argc)
            customer = argv[++i];
        else if (strcmp(argv[i], "--conversation") == 0 && i + 1 < argc)
            snprintf(conversation, sizeof(conversation), "%s", argv[++i]);
        else {
            customer = NULL;
            break;
        }
    }
    if (!customer) {
        fprintf(stderr, "usage: churnctl chat --customer ID [--conversation ID] [--json]\n"
                        "  type one turn per line; 'agent: ...' or 'bot: ...' for the other "
                        "side, Ctrl-D to end\n");
        return EXIT_USAGE;
    }
    struct churn_client_stream *st;
    if (churn_client_stream_open(ctl->client, "/churn.v1.ChatService/AnalyzeChat", 0, &st) !=
        CHURN_OK) {
        fprintf(stderr, "churnctl: cannot reach %s\n", ctl->server);
        return EXIT_TRANSPORT;
    }
    churn_client_stream_set_header(st, "x-customer-id", customer); /* a cluster routes on it */
    bool tty = isatty(0);
    char *line = churn_malloc(LINE_MAX_BYTES + 2);
    uint64_t seq = 0;
    bool too_long;
    int rc = 0;
    if (tty)
        fprintf(stderr, "conversation %s with %s (Ctrl-D to end)\n", conversation, customer);
    while (line && (!tty || fputs("> ", stderr) >= 0) &&
           read_line(stdin, line, LINE_MAX_BYTES + 2, &too_long)) {
        if (too_long || !*line)
            continue;
        Churn__V1__AnalyzeChatRequest req = CHURN__V1__ANALYZE_CHAT_REQUEST__INIT;
        req.conversation_id = conversation;
        req.customer_id = (char *)customer;
        req.turn_sequence = ++seq;
        req.role = CHURN__V1__CHAT_ROLE__CHAT_ROLE_CUSTOMER;
        req.text = line;
        if (strncmp(line, "agent:", 6) == 0 || strncmp(line, "bot:", 4) == 0) {
            req.role = line[0] == 'a' ? CHURN__V1__CHAT_ROLE__CHAT_ROLE_AGENT
                                      : CHURN__V1__CHAT_ROLE__CHAT_ROLE_BOT;
            req.text = strchr(line, ':') + 1;
        }
        size_t n = protobuf_c_message_get_packed_size(&req.base);
        uint8_t *buf = churn_malloc(n ? n : 1);
        protobuf_c_message_pack(&req.base, buf);
        enum churn_err e = churn_client_stream_send(st, buf, n);
        churn_free(buf);
        void *msg;
        size_t len;
        if (e || churn_client_stream_recv(st, &msg, &len) != CHURN_OK) {
            rc = EXIT_TRANSPORT;
            break;
        }
        Churn__V1__AnalyzeChatResponse *r =
            churn__v1__analyze_chat_response__unpack(NULL, len, msg);
        churn_free(msg);
        if (!r) {
            rc = EXIT_TRANSPORT;
            break;
        }
        if (json) {
            char *s = churn_pbjson_dumps(&r->base, false);
            puts(s ? s : "{}");
            free(s);
        } else {
            print_assessment(r);
        }
        fflush(stdout);
        churn__v1__analyze_chat_response__free_unpacked(r, NULL);
    }
    churn_free(line);
    churn_client_stream_close_send(st);
    struct churn_client_status status = {0};
    churn_client_stream_finish(st, false, &status);
    if (status.code != 0) {
        fprintf(stderr, "churnctl: %s: %s\n", churn_transport_status_name(status.code),
                status.details ? status.details : "");
        rc = rc ? rc : EXIT_STATUS;
    }
    churn_client_status_clear(&status);
    return rc;
}
