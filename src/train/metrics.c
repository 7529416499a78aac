/*
 * metrics.c - evaluation of predicted probabilities against 0/1 labels: ROC-AUC from average
 * ranks (ties count one half), average precision over distinct thresholds, log loss, Brier
 * score, confusion matrices at a given and at the best-F1 threshold, lift and capture by
 * decile and a ten-bin calibration table; the mean and standard deviation of per-fold metrics;
 * DeLong's placements and the standard error of the difference of two AUCs on the same rows.
 * Definitions are in docs/MODELS.md.
 */
#include "churn/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "churn/alloc.h"

struct scored {
    double p;
    double y;
    size_t idx;
};

static int
cmp_desc(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void
confusion_at(const struct scored *s, size_t n, double t, struct churn_confusion *c)
{
    memset(c, 0, sizeof(*c));
    c->threshold = t;
    for (size_t i = 0; i < n; i++) {
        bool pred = s[i].p >= t;
        bool pos = s[i].y > 0;
        if (pred && pos)
            c->tp++;
        else if (pred)
            c->fp++;
        else if (pos)
            c->fn++;
        else
            c->tn++;
    }
}

static void
confusion_rates(struct churn_confusion *c)
{
    double tp = (double)c->tp, fp = (double)c->fp, fn = (double)c->fn, tn = (double)c->tn;
    c->accuracy = (tp + tn) / (tp + tn + fp + fn);
    c->precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    c->recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    c->f1 = c->precision + c->recall > 0 ? 2 * c->precision * c->recall / (c->precision + c->recall)
                                         : 0;
}

enum churn_err
churn_metrics_compute(const double *p, const double *y, size_t n, double threshold,
                      struct churn_metrics *out)
{
    if (n == 0)
        return CHURN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!(p[i] >= 0 && p[i] <= 1) || (y[i] != 0 && y[i] != 1))
            return CHURN_EINVAL;
    }
    struct scored *s = churn_malloc(n * sizeof(*s));
    if (!s)
        return CHURN_ENOMEM;
    struct churn_metrics m;
    memset(&m, 0, sizeof(m));
    m.n = n;
    double ll = 0, brier = 0;
    for (size_t i = 0; i < n; i++) {
        s[i] = (struct scored){p[i], y[i], i};
        m.n_positive += y[i] > 0;
        double q = p[i] < 1e-15 ? 1e-15 : p[i] > 1 - 1e-15 ? 1 - 1e-15 : p[i];
        ll -= y[i] > 0 ? log(q) : log(1 - q);
        brier += (p[i] - y[i]) * (p[i] - y[i]);
    }
    m.log_loss = ll / (double)n;
    m.brier = brier / (double)n;
    qsort(s, n, sizeof(*s), cmp_desc);
    size_t npos = m.n_positive, nneg = n - npos;

    /* AUC by average ranks: ranks ascending, so rank of s[i] (descending order) is n - i */
    if (npos && nneg) {
        double rank_sum = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && s[j].p == s[i].p)
                j++;
            /* descending positions i..j-1 have ascending ranks n-j+1 .. n-i */
            double avg = ((double)(n - j + 1) + (double)(n - i)) / 2.0;
            for (size_t k = i; k < j; k++)
                if (s[k].y > 0)
                    rank_sum += avg;
            i = j;
        }
        m.auc =
            (rank_sum - (double)npos * ((double)npos + 1) / 2.0) / ((double)npos * (double)nneg);
    } else {
        m.auc = NAN;
    }

    /* average precision and the best-F1 threshold, over distinct thresholds (ties grouped) */
    m.pr_auc = npos ? 0 : NAN;
    double best_f1 = -1, best_t = 1;
    size_t tp = 0, fp = 0;
    double prev_recall = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j].p == s[i].p) {
            if (s[j].y > 0)
                tp++;
            else
                fp++;
            j++;
        }
        double prec = (double)tp / (double)(tp + fp);
        double rec = npos ? (double)tp / (double)npos : 0;
        if (npos)
            m.pr_auc += (rec - prev_recall) * prec;
        prev_recall = rec;
        double f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
        if (f1 > best_f1) {
            best_f1 = f1;
            best_t = s[i].p;
        }
        i = j;
    }
    confusion_at(s, n, threshold, &m.at_threshold);
    confusion_rates(&m.at_threshold);
    confusion_at(s, n, best_t, &m.best_f1);
    confusion_rates(&m.best_f1);

    /* deciles of the ranking (highest scores first; ties in input order) */
    double base = (double)npos / (double)n;
    size_t cum = 0;
    for (int d = 0; d < 10; d++) {
        size_t a = (size_t)d * n / 10, b = (size_t)(d + 1) * n / 10;
        size_t pos = 0;
        for (size_t i = a; i < b; i++)
            pos += s[i].y > 0;
        cum += pos;
        m.decile_rate[d] = b > a ? (double)pos / (double)(b - a) : NAN;
        m.decile_lift[d] = b > a && base > 0 ? m.decile_rate[d] / base : NAN;
        m.decile_capture[d] = npos ? (double)cum / (double)npos : NAN;
    }

    /* calibration: ten equal-width bins of predicted probability */
    double sum_p[10] = {0}, sum_y[10] = {0};
    for (int b = 0; b < 10; b++) {
        m.calibration[b].lo = b / 10.0;
        m.calibration[b].hi = (b + 1) / 10.0;
    }
    for (size_t i = 0; i < n; i++) {
        int b = (int)(p[i] * 10);
        if (b > 9)
            b = 9;
        m.calibration[b].count++;
        sum_p[b] += p[i];
        sum_y[b] += y[i];
    }
    for (int b = 0; b < 10; b++) {
        size_t c = m.calibration[b].count;
        m.calibration[b].mean_pred = c ? sum_p[b] / (double)c : NAN;
        m.calibration[b].frac_pos = c ? sum_y[b] / (double)c : NAN;
    }
    churn_free(s);
    *out = m;
    return CHURN_OK;
}

static void
mean_sd(const struct churn_metrics *m, unsigned k, size_t off, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (unsigned i = 0; i < k; i++)
        s += *(const double *)((const char *)&m[i] + off);
    *mean = s / k;
    for (unsigned i = 0; i < k; i++) {
        double v = *(const double *)((const char *)&m[i] + off) - *mean;
        q += v * v;
    }
    *sd = k > 1 ? sqrt(q / (k - 1)) : 0;
}

void
churn_cv_summarise(struct churn_cv_result *res)
{
    const struct churn_metrics *m = res->fold;
    unsigned k = res->folds;
    mean_sd(m, k, offsetof(struct churn_metrics, auc), &res->auc_mean, &res->auc_sd);
    mean_sd(m, k, offsetof(struct churn_metrics, pr_auc), &res->pr_auc_mean, &res->pr_auc_sd);
    mean_sd(m, k, offsetof(struct churn_metrics, log_loss), &res->log_loss_mean, &res->log_loss_sd);
    mean_sd(m, k, offsetof(struct churn_metrics, brier), &res->brier_mean, &res->brier_sd);
}

enum churn_err
churn_metrics_auc_placements(const double *score, const double *y, size_t n, double *out)
{
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(score[i]) || (y[i] != 0 && y[i] != 1))
            return CHURN_EINVAL;
        npos += y[i] > 0;
    }
    size_t nneg = n - npos;
    if (!npos || !nneg)
        return CHURN_EINVAL;
    struct scored *s = churn_malloc(n * sizeof(*s));
    if (!s)
        return CHURN_ENOMEM;
    for (size_t i = 0; i < n; i++)
        s[i] = (struct scored){score[i], y[i], i};
    qsort(s, n, sizeof(*s), cmp_desc);
    size_t pos_above = 0, neg_above = 0; /* strictly higher scores than the current tie group */
    for (size_t i = 0; i < n;) {
        size_t j = i, pos = 0;
        while (j < n && s[j].p == s[i].p)
            pos += s[j++].y > 0;
        size_t neg = j - i - pos;
        for (size_t k = i; k < j; k++)
            out[s[k].idx] =
                s[k].y > 0 ? ((double)(nneg - neg_above - neg) + 0.5 * (double)neg) / (double)nneg
                           : ((double)pos_above + 0.5 * (double)pos) / (double)npos;
        pos_above += pos;
        neg_above += neg;
        i = j;
    }
    churn_free(s);
    return CHURN_OK;
}

double
churn_metrics_auc_diff_se(const double *pa, const double *pb, const double *y, size_t n)
{
    double sum[2] = {0}, sq[2] = {0}, cnt[2] = {0}; /* [0] negatives, [1] positives */
    for (size_t i = 0; i < n; i++) {
        int c = y[i] > 0;
        double d = pa[i] - pb[i];
        sum[c] += d;
        sq[c] += d * d;
        cnt[c] += 1;
    }
    if (cnt[0] < 2 || cnt[1] < 2)
        return NAN;
    double var = 0;
    for (int c = 0; c < 2; c++) {
        double mean = sum[c] / cnt[c];
        double v = (sq[c] - cnt[c] * mean * mean) / (cnt[c] - 1);
        var += (v > 0 ? v : 0) / cnt[c];
    }
    return sqrt(var);
}
