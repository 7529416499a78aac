#!/usr/bin/python3
"""Generate the XGBoost fixture for tests/unit/test_model.c.

Trains a small binary:logistic model with python3-xgboost (tree_method=hist) on synthetic,
seeded data with missing values, saves it in XGBoost's JSON model format and writes held-out
inputs with xgboost's own predictions (probability and margin) to a CSV, so that the C test
can check that churnd's import predicts the same within 1e-6.

Run from this directory: /usr/bin/python3 gen_xgboost.py
"""
import numpy as np
import xgboost as xgb

rng = np.random.default_rng(20261122)
n, d = 2000, 6
X = rng.normal(size=(n, d))
X[:, 3] = rng.integers(0, 5, size=n)  # a small integer-valued column
X[:, 5] = rng.exponential(3.0, size=n)
logit = 1.2 * X[:, 0] - 0.8 * X[:, 1] * (X[:, 2] > 0) + 0.3 * X[:, 3] - 0.2 * X[:, 5]
y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
mask = rng.random(size=X.shape) < 0.08
X[mask] = np.nan
names = ["tenure", "logins_30d", "tickets_30d", "plan_level", "spend_90d", "days_idle"]
dtrain = xgb.DMatrix(X[:1500], label=y[:1500], feature_names=names)
params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4,
          "eta": 0.3, "seed": 1, "nthread": 1}
booster = xgb.train(params, dtrain, num_boost_round=20)
booster.save_model("xgb_small.json")

Xt = X[1500:1700]
dtest = xgb.DMatrix(Xt, feature_names=names)
prob = booster.predict(dtest)
margin = booster.predict(dtest, output_margin=True)
with open("xgb_small_expected.csv", "w") as f:
    f.write(",".join(names) + ",probability,margin\n")
    for row, p, m in zip(Xt, prob, margin):
        vals = ["" if np.isnan(v) else repr(float(v)) for v in row]
        f.write(",".join(vals) + ",%.9g,%.9g\n" % (p, m))
print("xgboost", xgb.__version__, "rows", len(Xt))
