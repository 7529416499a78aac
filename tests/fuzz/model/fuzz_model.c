/*
 * fuzz_model.c - libFuzzer target for the model loader (native and XGBoost JSON): any bytes
 * either compile into a model whose predictions and contributions are finite and agree, or
 * are refused with a message; never a crash, a leak or an endless loop.
 * Speed (issue 13: it ran at 64 exec/s): nearly all of an execution is jansson parsing the
 * document (one allocation per JSON value, each costly under ASan), so the time is linear in
 * the input's size and was doubled by loading every input twice. Now each input is loaded
 * once, held to its checksum when it names one (strict) and loaded as the trainers do
 * otherwise (the strict load's only other branch, "checksum: missing", is reached by a
 * document that names "checksum" anywhere but at the top); and inputs over MODEL_INPUT_MAX are
 * refused (-1: never kept in the corpus): a tree or a category list covers the same code in
 * a 2-tree model as in a 20-tree one, which the seed corpus holds instead.
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "churn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODEL_INPUT_MAX 12288

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct churn_model *m;
    char err[512];
    if (size > MODEL_INPUT_MAX)
        return -1;
    unsigned flags = memmem(data, size, "\"checksum\"", 10) ? 0 : CHURN_MODEL_LOAD_NO_CHECKSUM;
    if (churn_model_load_json((const char *)data, size, flags, &m, err, sizeof(err)) != CHURN_OK) {
        if (!err[0])
            abort(); /* refused without a reason */
        return 0;
    }
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
    return 0;
}
