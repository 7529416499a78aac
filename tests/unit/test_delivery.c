/*
 * test_delivery.c - the delivery suite: the destinations parsed from churnd's option lists
 * (every accepted form and every refusal with its message), the webhook signature (RFC 4231
 * HMAC-SHA256 vectors), the URL rule that keeps churnd's own listeners out, and the one-line
 * summary a person reads in e-mail and chat. Delivery over the wire is tested end to end in
 * tests/integration/test_delivery.py.
 */
#include "churn/delivery.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

static enum churn_err
parse(struct churn_delivery_config *cfg, const char *webhooks, const char *secrets,
      const char *filters, const char *formats, const char *emails, char *err, size_t errlen)
{
    churn_delivery_config_init(cfg);
    snprintf(cfg->forbidden_hosts[0], sizeof(cfg->forbidden_hosts[0]), "0.0.0.0:50051");
    cfg->n_forbidden = 1;
    const struct churn_delivery_lists lists = {webhooks, secrets, filters, formats, emails};
    return churn_delivery_config_parse(cfg, &lists, err, errlen);
}

Test(delivery_config, every_option_form)
{
    struct churn_delivery_config cfg;
    char err[512] = "";
    cfg.smtp_url = NULL;
    churn_delivery_config_init(&cfg);
    cfg.smtp_url = strdup("smtp://127.0.0.1:2525");
    const struct churn_delivery_lists lists = {
        "ops=https://hooks.example.com/churn\nchat=http://10.0.0.7:8080/slack",
        "ops=0123456789abcdef0123", "chat=cause:churn_intent risk:high\nteam=status:open",
        "chat=slack", "team=a@example.com,b.c@mail.example.org"};
    cr_assert_eq(churn_delivery_config_parse(&cfg, &lists, err, sizeof(err)), CHURN_OK, "%s", err);
    cr_assert_eq(cfg.n_dests, 3);
    cr_assert_str_eq(cfg.dests[0].name, "ops");
    cr_assert_eq(cfg.dests[0].kind, CHURN_DELIVERY_WEBHOOK);
    cr_assert_str_eq(cfg.dests[0].secret, "0123456789abcdef0123");
    cr_assert_eq(cfg.dests[0].format, CHURN_DELIVERY_JSON);
    cr_assert_eq(cfg.dests[1].format, CHURN_DELIVERY_SLACK);
    cr_assert_null(cfg.dests[1].secret);
    cr_assert_eq(cfg.dests[1].filter.causes, 1u << CHURN_CAUSE_CHURN_INTENT);
    cr_assert_eq(cfg.dests[1].filter.min_risk, CHURN_TIER_HIGH);
    cr_assert_eq(cfg.dests[2].kind, CHURN_DELIVERY_EMAIL);
    cr_assert_str_eq(cfg.dests[2].to, "a@example.com,b.c@mail.example.org");
    cr_assert_eq(cfg.dests[2].filter.statuses, 1u << CHURN_STATUS_OPEN);
    churn_delivery_config_fini(&cfg);
}

Test(delivery_config, none_is_fine)
{
    struct churn_delivery_config cfg;
    char err[256];
    cr_assert_eq(parse(&cfg, NULL, "", NULL, "", NULL, err, sizeof(err)), CHURN_OK);
    cr_assert_eq(cfg.n_dests, 0);
    churn_delivery_config_fini(&cfg);
}

struct bad {
    const char *webhooks, *secrets, *filters, *formats, *emails, *message;
};

Test(delivery_config, refusals_name_option_and_destination)
{
    static const struct bad cases[] = {
        {"x", 0, 0, 0, 0, "--webhook 'x': expected NAME=VALUE"},
        {"=http://a.example/", 0, 0, 0, 0, "expected NAME=VALUE"},
        {"x=", 0, 0, 0, 0, "expected NAME=VALUE"},
        {"a/b=http://a.example/", 0, 0, 0, 0, "may hold only letters"},
        {"x=gopher://a.example/", 0, 0, 0, 0, "--webhook x:"},
        {"x=not a url", 0, 0, 0, 0, "--webhook x:"},
        {"x=http://0.0.0.0:50051/self", 0, 0, 0, 0, "churnd's own listener"},
        {"x=http://a.example/\nx=http://b.example/", 0, 0, 0, 0, "'x' is defined twice"},
        {"x=http://a.example/", "y=0123456789abcdef", 0, 0, 0, "--webhook-secret y: no --webhook"},
        {"x=http://a.example/", "x=tooshort", 0, 0, 0, "shorter than 16 bytes"},
        {"x=http://a.example/", "x=0123456789abcdef\nx=0123456789abcdef", 0, 0, 0, "given twice"},
        {"x=http://a.example/", 0, "x=risk:purple", 0, 0, "--webhook-filter x:"},
        {"x=http://a.example/", 0, "z=risk:high", 0, 0, "no --webhook or --email of that name"},
        {"x=http://a.example/", 0, 0, "x=xml", 0, "unknown format 'xml' (json or slack)"},
        {0, 0, 0, 0, "m=a@example.com", "e-mail needs --smtp-url"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad *c = &cases[i];
        struct churn_delivery_config cfg;
        char err[512] = "";
        cr_expect_eq(parse(&cfg, c->webhooks, c->secrets, c->filters, c->formats, c->emails, err,
                           sizeof(err)),
                     CHURN_EINVAL, "case %zu", i);
        cr_expect(strstr(err, c->message) != NULL, "case %zu: '%s' lacks '%s'", i, err, c->message);
        churn_delivery_config_fini(&cfg);
    }
}

Test(delivery_config, addresses_are_checked)
{
    static const char *const bad[] = {"m=plain",
                                      "m=@example.com",
                                      "m=a@",
                                      "m=a b@example.com",
                                      "m=a@example.com,",
                                      "m=<a@example.com>",
                                      "m=a@b@example.com",
                                      "m=a@example.com\r\nBcc: x@evil.example"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct churn_delivery_config cfg;
        churn_delivery_config_init(&cfg);
        cfg.smtp_url = strdup("smtp://127.0.0.1:25");
        char err[512] = "";
        const struct churn_delivery_lists lists = {NULL, NULL, NULL, NULL, bad[i]};
        cr_expect_eq(churn_delivery_config_parse(&cfg, &lists, err, sizeof(err)), CHURN_EINVAL,
                     "%s", bad[i]);
        cr_expect(strstr(err, "is not an e-mail address") || strstr(err, "expected NAME=VALUE"),
                  "%s: %s", bad[i], err);
        churn_delivery_config_fini(&cfg);
    }
}

Test(delivery_signature, rfc4231_vectors)
{
    char sig[80];
    churn_delivery_signature("Jefe", "what do ya want for nothing?", 28, sig, sizeof(sig));
    cr_assert_str_eq(sig,
                     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    churn_delivery_signature("0123456789abcdef", "", 0, sig, sizeof(sig));
    cr_assert_eq(strlen(sig), 7 + 64);
}

Test(delivery_summary, what_a_person_reads)
{
    struct churn_alert a;
    memset(&a, 0, sizeof(a));
    cr_assert_eq(churn_alert_init(&a, "cust-7", CHURN_CAUSE_CHURN_INTENT, 1000), CHURN_OK);
    a.change = CHURN_CHANGE_RAISED;
    struct churn_buf out;
    churn_buf_init(&out, 4096);
    cr_assert_eq(churn_delivery_summary(&a, &out), CHURN_OK);
    cr_assert_str_eq(churn_buf_str(&out), "[UNSCORED] cust-7: churn_intent raised");
    churn_buf_reset(&out);
    a.risk_tier = CHURN_TIER_HIGH;
    a.probability = 0.82;
    a.probability_before = 0.41;
    a.value = 1200;
    a.priority = 984;
    snprintf(a.playbook_id, sizeof(a.playbook_id), "call-now");
    a.action.kind = CHURN_ACTION_HUMAN_HANDOFF;
    snprintf(a.action.detail, sizeof(a.action.detail), "call within the hour");
    snprintf(a.chat_evidence, sizeof(a.chat_evidence), "cancel my plan");
    cr_assert_eq(churn_delivery_summary(&a, &out), CHURN_OK);
    cr_assert_str_eq(churn_buf_str(&out),
                     "[HIGH] cust-7: churn_intent raised, risk 82% (was 41%), value 1200.00, "
                     "revenue at risk 984.00; they said: \"cancel my plan\"; playbook call-now: "
                     "human_handoff - call within the hour");
    churn_buf_free(&out);
}
