#!/bin/sh
# Re-create mlc_churn.csv and wa_churn.csv from Debian's r-cran-modeldata (1.1.0-1, MIT):
#   apt-get install -y r-cran-modeldata && sh export-modeldata.sh
# mlc_churn: 5,000 telecom customers (the MLC++ "churn" set), label "churn" (yes/no).
# wa_churn: 7,043 telecom customers (IBM Watson Analytics telco sample), label "churn"
# (Yes/No); total_charges is NA for 11 customers with zero tenure.
set -e
cd "$(dirname "$0")"
Rscript -e 'library(modeldata); data(mlc_churn); data(wa_churn);
  write.csv(mlc_churn, "mlc_churn.csv", row.names = FALSE);
  write.csv(wa_churn, "wa_churn.csv", row.names = FALSE)'
