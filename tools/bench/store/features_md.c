/*
 * features_md.c - prints the feature catalogue (churn/features.h) as the Markdown table of
 * docs/FEATURES.md, so the document is generated from the one list the code uses:
 *
 *   features-md > /tmp/table.md
 */
#include <stdio.h>

#include "churn/features.h"

int
main(void)
{
    const struct churn_feature_info *cat = churn_features_catalogue();
    printf("| # | name | label | unit | window (days) | source | meaning |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < CHURN_FEAT__COUNT; i++) {
        const struct churn_feature_info *f = &cat[i];
        char window[16];
        if (f->window_days)
            snprintf(window, sizeof(window), "%d", f->window_days);
        else
            snprintf(window, sizeof(window), "-");
        printf("| %d | `%s` | %s | %s | %s | %s | %s |\n", i, f->name, f->label, f->unit, window,
               f->source, f->description);
    }
    return 0;
}
