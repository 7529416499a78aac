/*
 * report/outcomes.c - the playbook experiments of a store: the outcome log read once (a read
 * transaction; churnd may keep running), the latest outcome kept per customer and playbook,
 * and each playbook's treated-versus-control statistics (churn_outcomes_compute()). Used by
 * the HTML report and by `churnctl report outcomes`.
 */
#include <string.h>

#include "churn/alloc.h"
#include "churn/report.h"
#include "churn/store.h"
#include "churn/outcomes.h"

struct collect {
    struct churn_outcome_record *recs;
    size_t n, cap;
    struct churn_report_outcomes *out;
    bool nomem;
};

/* The latest outcome of a customer under a playbook replaces earlier ones (the log is in
 * order); a linear scan back is fine for the thousands of outcomes a team records. */
static struct churn_outcome_record *
slot_for(struct collect *c, const struct churn_outcome_record *r)
{
    for (size_t i = c->n; i-- > 0;)
        if (strcmp(c->recs[i].customer_id, r->customer_id) == 0 &&
            strcmp(c->recs[i].playbook_id, r->playbook_id) == 0) {
            c->out->superseded++;
            return &c->recs[i];
        }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        struct churn_outcome_record *p = churn_realloc(c->recs, cap * sizeof(*p));
        if (!p)
            return NULL;
        c->recs = p;
        c->cap = cap;
    }
    return &c->recs[c->n++];
}

static int
collect_cb(uint64_t seq, const char *customer_id, const void *data, size_t len, void *user)
{
    (void)seq;
    (void)customer_id;
    struct collect *c = user;
    struct churn_outcome_record r;
    if (churn_outcome_decode(data, len, &r) != CHURN_OK) {
        c->out->corrupt++;
        return 0;
    }
    if (!r.playbook_id[0]) {
        c->out->untied++;
        return 0;
    }
    struct churn_outcome_record *slot = slot_for(c, &r);
    if (!slot) {
        c->nomem = true;
        return 1;
    }
    *slot = r;
    return 0;
}

enum churn_err
churn_report_outcomes(struct churn_store *store, struct churn_report_outcomes *out)
{
    memset(out, 0, sizeof(*out));
    struct collect c = {.out = out};
    enum churn_err err = churn_store_foreach_outcome(store, collect_cb, &c);
    if (err == CHURN_ECANCELLED && c.nomem)
        err = CHURN_ENOMEM;
    if (!err)
        err = churn_outcomes_compute(c.recs, c.n, out->stats, CHURN_REPORT_PLAYBOOKS, &out->n);
    out->outcomes = c.n;
    churn_free(c.recs);
    return err;
}
