/*
 * fuzz_config.c - libFuzzer target for the config-file parser: any bytes either apply or
 * fail with a message that names the line; never a crash, a leak or a read out of bounds.
 */
#include <stdint.h>
#include <string.h>

#include "churn/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct churn_config cfg;
    char err[512];
    if (churn_config_init(&cfg) != CHURN_OK)
        return 0;
    if (churn_config_load_text(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof(err)) !=
        CHURN_OK) {
        if (strncmp(err, "fuzz.conf:", 10) != 0)
            __builtin_trap();
    }
    churn_config_fini(&cfg);
    return 0;
}
