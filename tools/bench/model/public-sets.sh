#!/bin/sh
# The public-sets CV AUC table (docs/BENCHMARKS.md "Public sets"): for each set in
# tests/data/train, churnd's `--algo auto` (model-bench auto: the whole search, calibration and
# final fit on four folds, scored on the fifth) beside sklearn LogisticRegression,
# HistGradientBoosting and xgboost (xgb-bench.py anchors) on the same five folds, with training
# time; one JSON line per set into OUT (default /tmp/public-sets.jsonl), then the table.
#   tools/bench/model/public-sets.sh [BUILD_DIR] [OUT]
# Needs Debian's python3-sklearn and python3-xgboost; run from the repository root.
set -eu
build=${1:-build}
out=${2:-/tmp/public-sets.jsonl}
bench="$build/tools/bench/model/model-bench"
py=/usr/bin/python3
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$out"
while read -r set label positive; do
    data=tests/data/train/$set.csv
    rows=$(($(wc -l <"$data") - 1))
    "$bench" auto --data "$data" --label "$label" --positive "$positive" >"$tmp/auto.json"
    "$bench" export --data "$data" --label "$label" --positive "$positive" --rows "$rows" \
        --out "$tmp/matrix.csv"
    "$py" "$here/xgb-bench.py" anchors "$tmp/matrix.csv" >"$tmp/anchors.json"
    "$py" -c 'import json, sys
print(json.dumps({"set": sys.argv[1], "churnd_auto": json.load(open(sys.argv[2])),
                  "anchors": json.load(open(sys.argv[3]))}))' \
        "$set" "$tmp/auto.json" "$tmp/anchors.json" >>"$out"
done <<SETS
mlc_churn churn yes
wa_churn churn Yes
attrition Attrition Yes
credit_data Status bad
SETS
"$py" "$here/xgb-bench.py" table "$out"
