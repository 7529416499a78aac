#!/usr/bin/python3
"""Side-by-side reference for model-bench: python3-xgboost (tree_method=hist) on the same data.

The input is a matrix written by `model-bench export` (features encoded exactly as churnd
encodes them, empty cells missing, then `label` and the stratified `fold` churnd uses), so
both tools see the same rows and the same splits.

  xgb-bench.py cv FILE [--trees 100] [--depth 6] [--eta 0.1] [--threads 2]
      per-fold ROC-AUC (average ranks), average precision, log loss, Brier; mean and sd
  xgb-bench.py sklearn FILE [--trees 100] [--depth 6] [--eta 0.1]
      the same folds with python3-sklearn: LogisticRegression (standardised, mean-imputed,
      C=1, lbfgs) and HistGradientBoostingClassifier (max_iter=trees, max_depth=depth)
  xgb-bench.py anchors FILE [--trees 100] [--depth 6] [--eta 0.1] [--threads 2]
      the anchors of the public-sets table on the same folds, each with its CV time:
      sklearn LogisticRegression (mean-imputed, standardised numerics, one-hot categoricals,
      C=1), sklearn HistGradientBoostingClassifier (native categoricals, max_iter=trees,
      learning_rate=eta, otherwise sklearn's defaults) and xgboost (hist, trees, depth, eta)
  xgb-bench.py table RESULT.json...
      one Markdown table from JSON lines {"set", "churnd_auto": {...}, "anchors": {...}}
      (tools/bench/model/public-sets.sh writes them), and the margin of churnd's auto over
      the best anchor per set
  xgb-bench.py speed FILE [--trees 100] [--depth 6] [--threads 2] [--seconds 1]
      training time on all rows, then single-row prediction throughput on one thread
      (inplace_predict on a 1 x F array, and predict(pred_contribs=True) on a 1-row DMatrix),
      measured in CPU time of the calling thread

cv and sklearn take --monotone NAME=+1,NAME=-1 (columns of FILE): xgboost's
monotone_constraints and HistGradientBoostingClassifier's monotonic_cst, for the side-by-side of
`model-bench cv --monotone` (the logistic regression stays unconstrained: sklearn has no
sign constraint).

Prints JSON. Run with Debian's interpreter: /usr/bin/python3.
"""
import argparse
import json
import time

import numpy as np
import xgboost as xgb


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.genfromtxt(path, delimiter=",", skip_header=1, filling_values=np.nan)
    X = data[:, :-2]
    return header[:-2], X, data[:, -2], data[:, -1].astype(int)


def categorical_mask(names):
    """Columns `model-bench export` marked categorical (name prefixed "c:")."""
    return np.array([n.startswith("c:") for n in names])


def auc(p, y):
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(len(p))
    i = 0
    while i < len(p):
        j = i
        while j < len(p) and ps[j] == ps[i]:
            j += 1
        ranks[order[i:j]] = (i + 1 + j) / 2.0
        i = j
    npos = y.sum()
    nneg = len(y) - npos
    return (ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def average_precision(p, y):
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    npos = y.sum()
    tp = fp = 0
    ap = prev = 0.0
    i = 0
    while i < len(p):
        j = i
        while j < len(p) and ps[j] == ps[i]:
            tp += ys[j]
            fp += 1 - ys[j]
            j += 1
        rec = tp / npos
        ap += (rec - prev) * tp / (tp + fp)
        prev = rec
        i = j
    return ap


def directions(names, spec):
    d = [0] * len(names)
    for item in filter(None, (spec or "").split(",")):
        name, _, v = item.partition("=")
        if name not in names or v not in ("+1", "1", "-1", "0"):
            raise SystemExit("xgb-bench: --monotone: bad item '%s'" % item)
        d[names.index(name)] = int(v)
    return d


def params(a, names=None):
    p = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": a.depth,
         "eta": a.eta, "nthread": a.threads, "max_bin": 256, "seed": 42}
    if a.monotone and names:
        p["monotone_constraints"] = "(" + ",".join(map(str, directions(names, a.monotone))) + ")"
    return p


def cmd_cv(a):
    names, X, y, fold = load(a.file)
    res = {"auc": [], "pr_auc": [], "log_loss": [], "brier": []}
    t0 = time.perf_counter()
    for k in sorted(set(fold)):
        tr, te = fold != k, fold == k
        b = xgb.train(params(a, names), xgb.DMatrix(X[tr], label=y[tr]),
                      num_boost_round=a.trees)
        p = b.predict(xgb.DMatrix(X[te]))
        q = np.clip(p, 1e-15, 1 - 1e-15)
        res["auc"].append(auc(p, y[te]))
        res["pr_auc"].append(average_precision(p, y[te]))
        res["log_loss"].append(float(-np.mean(y[te] * np.log(q) + (1 - y[te]) * np.log(1 - q))))
        res["brier"].append(float(np.mean((p - y[te]) ** 2)))
    out = {"data": a.file, "rows": len(y), "folds": int(len(set(fold))),
           "xgboost": xgb.__version__, "seconds": round(time.perf_counter() - t0, 3)}
    for k, v in res.items():
        out[k] = round(float(np.mean(v)), 4)
        out[k + "_sd"] = round(float(np.std(v, ddof=1)), 4)
    print(json.dumps(out, indent=1))


def score(name, fold, y, fit_predict, seconds):
    res = {"auc": [], "pr_auc": [], "log_loss": [], "brier": []}
    t0 = time.perf_counter()
    for k in sorted(set(fold)):
        tr, te = fold != k, fold == k
        p = fit_predict(tr, te)
        q = np.clip(p, 1e-15, 1 - 1e-15)
        res["auc"].append(auc(p, y[te]))
        res["pr_auc"].append(average_precision(p, y[te]))
        res["log_loss"].append(float(-np.mean(y[te] * np.log(q) + (1 - y[te]) * np.log(1 - q))))
        res["brier"].append(float(np.mean((p - y[te]) ** 2)))
    out = {"seconds": round(time.perf_counter() - t0, 3)}
    for k, v in res.items():
        out[k] = round(float(np.mean(v)), 4)
        out[k + "_sd"] = round(float(np.std(v, ddof=1)), 4)
    return out


def cmd_sklearn(a):
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names, X, y, fold = load(a.file)

    def lr(tr, te):
        m = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
        return m.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]

    def hgb(tr, te):
        m = HistGradientBoostingClassifier(max_iter=a.trees, max_depth=a.depth,
                                           learning_rate=a.eta, early_stopping=False,
                                           random_state=42,
                                           monotonic_cst=directions(names, a.monotone))
        return m.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]

    print(json.dumps({"data": a.file, "rows": len(y), "sklearn": sklearn.__version__,
                      "note": "categoricals as churnd's ordinal codes, no one-hot",
                      "logistic_regression": score("lr", fold, y, lr, 0),
                      "hist_gradient_boosting": score("hgb", fold, y, hgb, 0)}, indent=1))


def cmd_anchors(a):
    import sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    names, X, y, fold = load(a.file)
    cat = categorical_mask(names)
    num_idx, cat_idx = np.where(~cat)[0], np.where(cat)[0]

    def lr(tr, te):
        pre = ColumnTransformer(
            [("num", make_pipeline(SimpleImputer(), StandardScaler()), num_idx),
             ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                   OneHotEncoder(handle_unknown="ignore")), cat_idx)])
        m = make_pipeline(pre, LogisticRegression(max_iter=2000))
        return m.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]

    def hgb(tr, te):
        m = HistGradientBoostingClassifier(max_iter=a.trees, learning_rate=a.eta,
                                           categorical_features=cat if cat.any() else None,
                                           random_state=42)
        return m.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]

    def xg(tr, te):
        b = xgb.train(params(a), xgb.DMatrix(X[tr], label=y[tr]), num_boost_round=a.trees)
        return b.predict(xgb.DMatrix(X[te]))

    print(json.dumps({"data": a.file, "rows": len(y), "sklearn": sklearn.__version__,
                      "xgboost": xgb.__version__,
                      "logistic_regression": score("lr", fold, y, lr, 0),
                      "hist_gradient_boosting": score("hgb", fold, y, hgb, 0),
                      "xgboost_hist": score("xgb", fold, y, xg, 0)}))


def cmd_table(a):
    rows = []
    for path in a.results:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    anchors = [("logistic_regression", "sklearn LR"), ("hist_gradient_boosting", "sklearn HGB"),
               ("xgboost_hist", "xgboost")]
    print("| set | rows | churnd auto | " + " | ".join(n for _, n in anchors) +
          " | margin over the best anchor |")
    print("|---|---|---|" + "---|" * len(anchors) + "---|")
    out = []
    for r in rows:
        c, an = r["churnd_auto"], r["anchors"]
        best = max(an[k]["auc"] for k, _ in anchors)
        cells = ["%.4f ± %.3f (%.1f s)" % (an[k]["auc"], an[k]["auc_sd"], an[k]["seconds"])
                 for k, _ in anchors]
        print("| %s | %d | **%.4f** ± %.3f (%.1f s) | %s | %+.4f |" % (
            r["set"], c["rows"], c["auc"], c["auc_sd"], c["train_seconds"], " | ".join(cells),
            c["auc"] - best))
        out.append({"set": r["set"], "churnd_auto_auc": c["auc"], "best_anchor_auc": best,
                    "margin": round(c["auc"] - best, 4)})
    print(json.dumps(out))


def cmd_speed(a):
    names, X, y, _ = load(a.file)
    t0 = time.perf_counter()
    b = xgb.train(params(a), xgb.DMatrix(X, label=y), num_boost_round=a.trees)
    train_s = time.perf_counter() - t0
    b.set_param({"nthread": 1})
    rows = X[:5000]

    def rate(fn):
        # CPU time of this thread, like model-bench: throughput per core on a shared machine
        n = 0
        t0 = time.thread_time()
        while time.thread_time() - t0 < a.seconds:
            for i in range(200):
                fn(rows[(n + i) % len(rows)].reshape(1, -1))
            n += 200
        return n / (time.thread_time() - t0)

    plain = rate(lambda r: b.inplace_predict(r))
    contrib = rate(lambda r: b.predict(xgb.DMatrix(r), pred_contribs=True))
    print(json.dumps({"data": a.file, "train_rows": len(y), "features": X.shape[1],
                      "threads": a.threads, "xgboost": xgb.__version__,
                      "train_seconds": round(train_s, 3),
                      "single_row_predict_rows_per_s_one_thread": round(plain),
                      "single_row_contributions_rows_per_s_one_thread": round(contrib)},
                     indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["cv", "sklearn", "anchors", "table", "speed"])
    ap.add_argument("file")
    ap.add_argument("results", nargs="*")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--eta", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--monotone", default="")
    a = ap.parse_args()
    if a.cmd == "table":
        a.results = [a.file] + a.results
    {"cv": cmd_cv, "sklearn": cmd_sklearn, "anchors": cmd_anchors, "table": cmd_table,
     "speed": cmd_speed}[a.cmd](a)


if __name__ == "__main__":
    main()
