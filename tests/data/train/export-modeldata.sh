#!/bin/sh
# Re-create the public training sets from Debian's r-cran-modeldata (1.1.0-1; MIT, see
# /usr/share/doc/r-cran-modeldata/copyright: the package and its data may be redistributed):
#   apt-get install -y r-cran-modeldata && sh export-modeldata.sh
# mlc_churn: 5,000 telecom customers (the MLC++ "churn" set), label "churn" (yes/no).
# wa_churn: 7,043 telecom customers (IBM Watson Analytics telco sample), label "churn"
# (Yes/No); total_charges is NA for 11 customers with zero tenure.
# attrition: 1,470 employees (IBM Watson Analytics HR attrition sample, a fictional set made
# by IBM data scientists), label "Attrition" (Yes/No): who leaves; survey answers as text.
# credit_data: 4,454 credit applicants (L. Belanche's credit scoring data via G. Sanchez's
# CreditScoring repository), label "Status" (bad/good; "bad" is the positive class); some NA
# in Home, Marital, Job, Income, Assets, Debt.
set -e
cd "$(dirname "$0")"
Rscript -e 'library(modeldata);
  data(mlc_churn); data(wa_churn); data(attrition); data(credit_data);
  write.csv(mlc_churn, "mlc_churn.csv", row.names = FALSE);
  write.csv(wa_churn, "wa_churn.csv", row.names = FALSE);
  write.csv(attrition, "attrition.csv", row.names = FALSE);
  write.csv(credit_data, "credit_data.csv", row.names = FALSE)'
