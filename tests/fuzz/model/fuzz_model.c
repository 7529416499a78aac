/*
 * fuzz_model.c - libFuzzer target for the model loader (native and XGBoost JSON): any bytes
 * either compile into a model whose predictions and contributions are finite and agree, or
 * are refused with a message; never a crash, a leak or an endless loop.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "churn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct churn_model *m;
    char err[512];
    for (unsigned flags = 0; flags <= CHURN_MODEL_LOAD_NO_CHECKSUM; flags++) {
        if (churn_model_load_json((const char *)data, size, flags, &m, err, sizeof(err)) !=
            CHURN_OK)
            continue;
        size_t n = churn_model_n_features(m);
        double *x = calloc(n + 1, sizeof(double)), *c = calloc(n + 1, sizeof(double));
        for (size_t i = 0; i < n; i++)
            x[i] = (i % 3 == 0) ? NAN : (double)i;
        struct churn_model_prediction p;
        churn_model_predict(m, x, &p);
        double bias, margin = churn_model_contributions(m, x, c, &bias);
        if (!(p.probability >= 0 && p.probability <= 1) || isnan(margin))
            abort();
        free(x);
        free(c);
        churn_model_unref(m);
    }
    return 0;
}
