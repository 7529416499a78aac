#!/usr/bin/python3
"""tools/bench/backtest-ref/backtest_ref.py: an independent reference for churnd's prospective
backtest, in Python with Debian's python3-sklearn. It reads a platform as the JSON Lines that
`tools/synth/synth --jsonl FILE` writes (a customer line, then that customer's events), keeps
the raw events in columns, and computes its own point-in-time features at a cutoff from the
events strictly before it (logins, active days, sessions, orders, spend, bad orders,
tickets, reviews, chat signals in windows up to 90 days, recency, tenure, plan value and
segment); none of churnd's code or feature definitions is used. It trains a
HistGradientBoostingClassifier on stacked cutoffs whose label windows end by the as-of time
T (cutoff T - H, T - H - step, ...; label: an explicit churn event in (cutoff, cutoff + H];
customers not signed up yet or already churned at the cutoff are left out), then scores the
customers alive at T and compares with churn in (T, T + H]: ROC-AUC, PR-AUC, mean predicted
against the realised rate, the share at or above the HIGH cut. The population and the
realised rate are computed from the raw events, so they cross-check churnd's figures for the
same platform, T and H. One JSON document goes to stdout; a bad input exits 2 naming the line.

  backtest_ref.py FILE.jsonl|- --as-of T --horizon-days 30,90 [--cutoffs 6] [--step-days 30]
                  [--high-cut 0.6] [--shuffle-labels] [--seed 1]

T is unix milliseconds or YYYY-MM-DD (midnight UTC).
"""

import argparse
import datetime
import json
import sys
import time
from array import array

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

DAY_MS = 86400000
MAX_WINDOW_DAYS = 90  # the longest feature window: cutoffs need this much data before them
ORDER_STATUS = {"completed": 0, "cancelled": 1, "refunded": 2}
PLAN_ACTION = {"upgrade": 0, "downgrade": 1, "cancel": 2}
SEGMENTS = {"consumer": 0, "smb": 1, "enterprise": 2}


class BadInput(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading the platform: one column store per event type, sorted by (customer, time).


class Columns:
    """Columns of one event type: customer index, time, and named float fields."""

    def __init__(self, fields):
        self.cust = array("l")
        self.t = array("q")
        self.fields = {f: array("d") for f in fields}

    def freeze(self):
        cust = np.frombuffer(self.cust, dtype=np.int64)
        t = np.frombuffer(self.t, dtype=np.int64)
        order = np.lexsort((t, cust))
        self.cust, self.t = cust[order], t[order]
        self.fields = {k: np.frombuffer(v, dtype=np.float64)[order] for k, v in self.fields.items()}
        return self


class Platform:
    """Customers (id, signup, segment, plan value) and their events by type."""

    def __init__(self):
        self.index, self.ids, self.signup, self.segment, self.plan_value = {}, [], [], [], []
        self.ev = {
            "login": Columns([]),
            "session": Columns(["minutes"]),
            "order": Columns(["amount", "status"]),
            "support_ticket": Columns(["opened"]),
            "review": Columns(["rating"]),
            "plan_change": Columns(["action", "value"]),
            "churn": Columns([]),
            "chat_signal": Columns(["dissatisfaction", "escalated", "intent"]),
        }
        self.first_ms = self.last_ms = None

    @property
    def n(self):
        return len(self.ids)


def field(obj, name, kind, where):
    v = obj.get(name)
    if kind is bool:
        ok = isinstance(v, bool)
    else:
        ok = isinstance(v, kind) and not isinstance(v, bool)
    if not ok:
        raise BadInput("%s: field %r missing or of the wrong type" % (where, name))
    return v


def add_customer(p, obj, where):
    cid = field(obj, "customer_id", str, where)
    if cid in p.index:
        raise BadInput("%s: customer %s appears twice" % (where, cid))
    seg = field(obj, "segment", str, where)
    if seg not in SEGMENTS:
        raise BadInput("%s: unknown segment %r" % (where, seg))
    p.index[cid] = len(p.ids)
    p.ids.append(cid)
    p.signup.append(field(obj, "signup_ms", int, where))
    p.segment.append(SEGMENTS[seg])
    p.plan_value.append(float(field(obj, "monthly_value", (int, float), where)))


def event_values(kind, obj, where):
    """The float fields of an event of @kind, in its Columns order."""
    if kind == "session":
        return (float(field(obj, "minutes", (int, float), where)),)
    if kind == "order":
        st = field(obj, "status", str, where)
        if st not in ORDER_STATUS:
            raise BadInput("%s: unknown order status %r" % (where, st))
        return (float(field(obj, "amount", (int, float), where)), ORDER_STATUS[st])
    if kind == "support_ticket":
        action = field(obj, "action", str, where)
        if action not in ("opened", "resolved"):
            raise BadInput("%s: unknown ticket action %r" % (where, action))
        return (1.0 if action == "opened" else 0.0,)
    if kind == "review":
        return (float(field(obj, "rating", int, where)),)
    if kind == "plan_change":
        action = field(obj, "action", str, where)
        if action not in PLAN_ACTION:
            raise BadInput("%s: unknown plan action %r" % (where, action))
        return (PLAN_ACTION[action], float(field(obj, "monthly_value", (int, float), where)))
    if kind == "chat_signal":
        return (float(field(obj, "dissatisfaction", (int, float), where)),
                float(field(obj, "escalated", bool, where)),
                float(field(obj, "churn_intent", bool, where)))
    return ()


def add_event(p, kind, obj, where):
    cols = p.ev.get(kind)
    if cols is None:
        raise BadInput("%s: unknown type %r" % (where, kind))
    ci = p.index.get(field(obj, "customer_id", str, where))
    if ci is None:
        raise BadInput("%s: event for a customer not declared before it" % where)
    t = field(obj, "occurred_at_ms", int, where)
    values = event_values(kind, obj, where)
    cols.cust.append(ci)
    cols.t.append(t)
    for arr, v in zip(cols.fields.values(), values):
        arr.append(v)
    if p.first_ms is None or t < p.first_ms:
        p.first_ms = t
    if p.last_ms is None or t > p.last_ms:
        p.last_ms = t


def read_platform(f, name):
    decode = json.JSONDecoder().raw_decode
    p = Platform()
    for lineno, line in enumerate(f, 1):
        where = "%s:%d" % (name, lineno)
        try:
            obj, end = decode(line)
        except json.JSONDecodeError as e:
            raise BadInput("%s: not JSON (%s)" % (where, e.msg)) from None
        if not isinstance(obj, dict) or line[end:].strip():
            raise BadInput("%s: not one JSON object" % where)
        kind = field(obj, "type", str, where)
        if kind == "customer":
            add_customer(p, obj, where)
        else:
            add_event(p, kind, obj, where)
    if p.n == 0 or p.first_ms is None:
        raise BadInput("%s: no customers or no events" % name)
    for cols in p.ev.values():
        cols.freeze()
    p.signup = np.array(p.signup, dtype=np.int64)
    p.segment = np.array(p.segment, dtype=np.float64)
    p.plan_value = np.array(p.plan_value, dtype=np.float64)
    return p


# ---------------------------------------------------------------------------------------------
# Point-in-time features: every figure from events with time < cutoff.


def window(cols, cutoff, lo_days, hi_days):
    """Mask of the events in [cutoff - hi_days, cutoff - lo_days)."""
    return (cols.t >= cutoff - hi_days * DAY_MS) & (cols.t < cutoff - lo_days * DAY_MS)


def count(cols, n, mask, weights=None):
    w = None if weights is None else weights[mask]
    return np.bincount(cols.cust[mask], weights=w, minlength=n).astype(np.float64)


def last_value(cols, n, mask, values):
    """Per customer, @values of its latest masked event (NaN without one)."""
    out = np.full(n, np.nan)
    cust = cols.cust[mask]
    if cust.size:
        last = np.r_[cust[1:] != cust[:-1], True]  # sorted by (customer, time)
        out[cust[last]] = values[mask][last]
    return out


def group_max(cols, n, mask, values):
    out = np.full(n, np.nan)
    cust, vals = cols.cust[mask], values[mask]
    if cust.size:
        starts = np.r_[0, np.flatnonzero(cust[1:] != cust[:-1]) + 1]
        out[cust[starts]] = np.maximum.reduceat(vals, starts)
    return out


def active_days(p, cutoff, days):
    """Distinct UTC days with a login or an order in the @days before @cutoff."""
    keys = []
    for kind in ("login", "order"):
        cols = p.ev[kind]
        m = window(cols, cutoff, 0, days)
        keys.append(cols.cust[m] * 1000000 + cols.t[m] // DAY_MS % 1000000)
    uniq = np.unique(np.concatenate(keys))
    return np.bincount(uniq // 1000000, minlength=p.n).astype(np.float64)


def days_since(cols, n, cutoff, mask):
    return (cutoff - last_value(cols, n, mask, cols.t.astype(np.float64))) / DAY_MS


def ratio(a, b):
    return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def activity_features(p, c):
    lg, ss = p.ev["login"], p.ev["session"]
    l30, l60 = count(lg, p.n, window(lg, c, 0, 30)), count(lg, p.n, window(lg, c, 30, 60))
    return {
        "logins_7d": count(lg, p.n, window(lg, c, 0, 7)),
        "logins_30d": l30,
        "logins_31_60d": l60,
        "logins_61_90d": count(lg, p.n, window(lg, c, 60, 90)),
        "login_trend": (l30 - l60) / (l30 + l60 + 1),
        "active_days_14d": active_days(p, c, 14),
        "active_days_30d": active_days(p, c, 30),
        "active_days_90d": active_days(p, c, 90),
        "session_minutes_30d": count(ss, p.n, window(ss, c, 0, 30), ss.fields["minutes"]),
        "session_minutes_90d": count(ss, p.n, window(ss, c, 0, 90), ss.fields["minutes"]),
        "days_since_login": days_since(lg, p.n, c, lg.t < c),
    }


def order_features(p, c):
    od = p.ev["order"]
    done, amount = od.fields["status"] == 0, od.fields["amount"]
    w30, w90 = window(od, c, 0, 30), window(od, c, 0, 90)
    all90, bad90 = count(od, p.n, w90), count(od, p.n, w90 & ~done)
    return {
        "orders_30d": count(od, p.n, w30 & done),
        "orders_90d": count(od, p.n, w90 & done),
        "spend_30d": count(od, p.n, w30 & done, amount),
        "spend_90d": count(od, p.n, w90 & done, amount),
        "bad_orders_90d": bad90,
        "bad_order_share_90d": ratio(bad90, all90),
        "days_since_order": days_since(od, p.n, c, (od.t < c) & done),
    }


def support_features(p, c):
    tk, rv = p.ev["support_ticket"], p.ev["review"]
    opened, before, w90 = tk.fields["opened"] == 1, tk.t < c, window(rv, c, 0, 90)
    n_rev = count(rv, p.n, w90)
    return {
        "tickets_30d": count(tk, p.n, window(tk, c, 0, 30) & opened),
        "tickets_90d": count(tk, p.n, window(tk, c, 0, 90) & opened),
        "open_tickets": count(tk, p.n, before & opened) - count(tk, p.n, before & ~opened),
        "reviews_90d": n_rev,
        "mean_rating_90d": ratio(count(rv, p.n, w90, rv.fields["rating"]), n_rev),
        "min_rating_90d": -group_max(rv, p.n, w90, -rv.fields["rating"]),
        "bad_reviews_90d": count(rv, p.n, w90 & (rv.fields["rating"] <= 2)),
    }


def chat_features(p, c):
    ch = p.ev["chat_signal"]
    w30, w90 = window(ch, c, 0, 30), window(ch, c, 0, 90)
    dis = ch.fields["dissatisfaction"]
    decayed = dis * np.power(0.5, (c - ch.t) / (7.0 * DAY_MS))
    return {
        "chats_30d": count(ch, p.n, w30),
        "chats_90d": count(ch, p.n, w90),
        "chat_max_dissatisfaction_30d": group_max(ch, p.n, w30, dis),
        "chat_dissatisfaction_decayed": count(ch, p.n, w90, decayed),
        "escalations_90d": count(ch, p.n, w90, ch.fields["escalated"]),
        "churn_intents_30d": count(ch, p.n, w30, ch.fields["intent"]),
        "churn_intents_90d": count(ch, p.n, w90, ch.fields["intent"]),
    }


def account_features(p, c):
    pc = p.ev["plan_change"]
    value = last_value(pc, p.n, pc.t < c, pc.fields["value"])
    return {
        "downgrades_90d": count(pc, p.n, window(pc, c, 0, 90) & (pc.fields["action"] >= 1)),
        "plan_value": np.where(np.isnan(value), p.plan_value, value),
        "tenure_days": (c - p.signup) / DAY_MS,
        "segment": p.segment,
    }


FEATURE_GROUPS = (activity_features, order_features, support_features, chat_features,
                  account_features)


def features_at(p, cutoff):
    """(names, matrix n_customers x n_features) at @cutoff."""
    cols = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for group in FEATURE_GROUPS:
            cols.update(group(p, cutoff))
    names = list(cols)
    return names, np.column_stack([cols[k] for k in names])


# ---------------------------------------------------------------------------------------------
# Labels, training set, evaluation.


def labels_at(p, cutoff, horizon_days):
    """(eligible mask, label) at @cutoff: signed up by it and not churned at or before it;
    label 1 when the first churn event falls in (cutoff, cutoff + horizon]."""
    ch = p.ev["churn"]
    first = np.full(p.n, np.inf)
    if ch.cust.size:
        starts = np.r_[True, ch.cust[1:] != ch.cust[:-1]]
        first[ch.cust[starts]] = ch.t[starts]
    eligible = (p.signup <= cutoff) & ~(first <= cutoff)
    label = (first > cutoff) & (first <= cutoff + horizon_days * DAY_MS)
    return eligible, label.astype(np.int64)


def training_cutoffs(p, as_of, horizon_days, cutoffs, step_days):
    """Newest first: as_of - H, then step_days apart, while the feature windows are inside
    the data (MAX_WINDOW_DAYS after its first day)."""
    data_start = p.first_ms // DAY_MS * DAY_MS
    out = []
    for k in range(cutoffs):
        c = as_of - (horizon_days + k * step_days) * DAY_MS
        if c - MAX_WINDOW_DAYS * DAY_MS < data_start:
            break
        out.append(c)
    return out


def training_set(p, cuts, horizon_days):
    xs, ys, per = [], [], []
    for c in cuts:
        names, x = features_at(p, c)
        eligible, y = labels_at(p, c, horizon_days)
        xs.append(x[eligible])
        ys.append(y[eligible])
        per.append({"cutoff_ms": c, "rows": int(eligible.sum()),
                    "positives": int(y[eligible].sum())})
    return names, np.vstack(xs), np.concatenate(ys), per


def fit(names, x, y, seed):
    model = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=400, max_leaf_nodes=31, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=True, validation_fraction=0.15,
        n_iter_no_change=30, categorical_features=[names.index("segment")], random_state=seed)
    return model.fit(x, y)


def evaluate(p, model, as_of, horizon_days, high_cut):
    _, x = features_at(p, as_of)
    eligible, y = labels_at(p, as_of, horizon_days)
    prob = model.predict_proba(x[eligible])[:, 1]
    y = y[eligible]
    if y.size == 0 or y.min() == y.max():
        raise BadInput("the evaluation window has one class only (%d customers)" % y.size)
    return {
        "customers": int(y.size),
        "churned": int(y.sum()),
        "realised_rate": float(y.mean()),
        "mean_predicted": float(prob.mean()),
        "auc": float(roc_auc_score(y, prob)),
        "pr_auc": float(average_precision_score(y, prob)),
        "log_loss": float(log_loss(y, prob, labels=[0, 1])),
        "brier": float(brier_score_loss(y, prob)),
        "high_share": float(np.mean(prob >= high_cut)),
    }


def observed_until(p):
    """The end of the UTC day of the last event: how far the data reaches."""
    return (p.last_ms // DAY_MS + 1) * DAY_MS


def run_horizon(p, args, horizon_days):
    if args.as_of + horizon_days * DAY_MS > observed_until(p):
        raise BadInput("as-of + %d days is after the end of the data (%d ms)"
                       % (horizon_days, observed_until(p)))
    cuts = training_cutoffs(p, args.as_of, horizon_days, args.cutoffs, args.step_days)
    if not cuts:
        raise BadInput("no training cutoff with %d days of data before it and its %d-day label "
                       "window ending by the as-of" % (MAX_WINDOW_DAYS, horizon_days))
    t0 = time.monotonic()
    names, x, y, per = training_set(p, cuts, horizon_days)
    if args.shuffle_labels:
        np.random.default_rng(args.seed).shuffle(y)
    if y.min() == y.max():
        raise BadInput("the training window has one class only (%d rows)" % y.size)
    model = fit(names, x, y, args.seed)
    out = {"as_of_ms": args.as_of, "horizon_days": horizon_days, "high_cut": args.high_cut}
    out.update(evaluate(p, model, args.as_of, horizon_days, args.high_cut))
    out["train"] = {"rows": int(y.size), "positives": int(y.sum()), "cutoffs": per,
                    "trees": int(model.n_iter_), "shuffled_labels": args.shuffle_labels}
    out["seconds"] = round(time.monotonic() - t0, 3)
    return out


def parse_as_of(text):
    if text.isdigit():
        return int(text)
    try:
        d = datetime.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is neither unix ms nor YYYY-MM-DD" % text) from None
    return int(d.timestamp()) * 1000


def parse_horizons(text):
    try:
        hs = [int(h) for h in text.split(",")]
    except ValueError:
        hs = []
    if not hs or any(h < 1 or h > 365 for h in hs):
        raise argparse.ArgumentTypeError("%r is not a list of days in 1..365" % text)
    return hs


def positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("%r is not a positive integer" % text)
    return int(text)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("jsonl", help="synth --jsonl output, or - for stdin")
    ap.add_argument("--as-of", type=parse_as_of, required=True)
    ap.add_argument("--horizon-days", type=parse_horizons, required=True)
    ap.add_argument("--cutoffs", type=positive, default=6)
    ap.add_argument("--step-days", type=positive, default=30)
    ap.add_argument("--high-cut", type=float, default=0.6, help="HIGH tier: P >= this")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shuffle-labels", action="store_true",
                    help="sanity check: shuffle the training labels (AUC should be ~0.5)")
    args = ap.parse_args()
    if not 0 < args.high_cut < 1:
        ap.error("--high-cut must be in (0, 1)")
    return args


def main():
    args = parse_args()
    t0 = time.monotonic()
    try:
        if args.jsonl == "-":
            p = read_platform(sys.stdin, "<stdin>")
        else:
            with open(args.jsonl, encoding="utf-8") as f:
                p = read_platform(f, args.jsonl)
        load_s = time.monotonic() - t0
        runs = [run_horizon(p, args, h) for h in args.horizon_days]
    except (BadInput, OSError) as e:
        print("backtest_ref: %s" % e, file=sys.stderr)
        return 2
    events = sum(c.t.size for c in p.ev.values())
    json.dump({"tool": "backtest_ref", "customers_total": p.n, "events": int(events),
               "first_event_ms": p.first_ms, "last_event_ms": p.last_ms,
               "load_seconds": round(load_s, 3), "runs": runs}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
