/*
 * fuzz_csv.c - libFuzzer target for the import path's CSV reader and identifier rule: any
 * bytes are read record by record, each field put through churn_ident_check() as the
 * importer does; a failure names the field and the reader's error names the line. Never a
 * crash, a leak or a read out of bounds (issue 13 item 6).
 */
#include <stdint.h>
#include <string.h>

#include "churn/csv.h"
#include "churn/ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_field(const char *s, size_t len)
{
    char why[160];
    if (churn_ident_check(s, len, "customer_id", why, sizeof(why)) != CHURN_OK &&
        strncmp(why, "customer_id: ", 13) != 0)
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct churn_csv_options opts = {.delimiter = size && data[0] == '\t' ? '\t' : ',',
                                     .max_record = 4096,
                                     .max_fields = 64,
                                     .fixed_columns = size > 1 && data[1] == '#'};
    struct churn_csv *csv;
    if (churn_csv_open_mem((const char *)data, size, &opts, &csv) != CHURN_OK)
        return 0;
    bool eof = false;
    while (!eof) {
        if (churn_csv_next(csv, &eof) != CHURN_OK) {
            const char *e = churn_csv_error(csv);
            if (!e || !*e)
                __builtin_trap();
            break;
        }
        for (size_t i = 0; !eof && i < churn_csv_nfields(csv); i++) {
            size_t len;
            const char *f = churn_csv_field(csv, i, &len);
            check_field(f, len);
        }
    }
    churn_csv_close(csv);
    return 0;
}
