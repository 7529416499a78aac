"""churnctl backtest over a real store, and served scores equal to it.

The score churnd serves today must be the number a backtest of today computes from the same
store (one feature function, one as-of rule, one input binding); a backtest trained before T
must foresee churn after T with a calibrated mean; every window a backtest cannot judge is
refused with the rule named (exit 2).
"""

import json
import os
import subprocess
import time

import pytest

from fixtures_data import api, demo_store, start_on_store  # noqa: F401 (fixtures)

DAY_MS = 86400 * 1000


def run(churnctl_bin, *args, timeout=600):
    return subprocess.run([churnctl_bin, *args], capture_output=True, text=True,
                          timeout=timeout)


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def days_ago(n):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - n * 86400))


def test_served_scores_equal_the_backtest_of_today(churnctl_bin, churnd_factory, demo_store,
                                                   api, tmp_path):
    scores = tmp_path / "scores.jsonl"
    r = run(churnctl_bin, "backtest", "--store", demo_store.store, "--as-of", today(),
            "--model", demo_store.gbdt, "--scores-only", "--scores-out", str(scores), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert "auc" not in report and report["customers"] > 1000
    want = {}
    for line in scores.read_text().splitlines():
        row = json.loads(line)
        assert row["churned"] == -1
        want[row["customer_id"]] = row["probability"]
    assert len(want) == report["customers"]

    srv = start_on_store(churnd_factory, demo_store.store, demo_store.gbdt)
    stub = api.scoring_grpc.ScoringServiceStub(srv.channel())
    ids = sorted(want)
    got, tiers, horizons = {}, {}, set()
    for i in range(0, len(ids), 500):
        resp = stub.BatchGetScores(api.scoring_pb2.BatchGetScoresRequest(
            customer_ids=ids[i:i + 500]), timeout=60)
        for res in resp.results:
            got[res.score.customer_id] = res.score.probability
            horizons.add(res.score.horizon_ms)
            tiers[res.score.risk_tier] = tiers.get(res.score.risk_tier, 0) + 1
    assert got.keys() == want.keys()
    worst = max(abs(got[c] - want[c]) for c in ids)
    assert worst < 1e-9, f"served and backtest scores differ by up to {worst}"
    # a score looks as far ahead as the served model's labels did (the file records it)
    with open(demo_store.gbdt) as f:
        trained_days = json.load(f)["training"]["horizon_days"]
    assert horizons == {trained_days * DAY_MS}
    # and the backtest's tiers are the ones churnd serves (its default --risk-tiers)
    c = api.common_pb2
    for name, tier in (("high", c.RISK_TIER_HIGH), ("medium", c.RISK_TIER_MEDIUM),
                       ("low", c.RISK_TIER_LOW)):
        assert report["tier_share"][name] == pytest.approx(tiers.get(tier, 0) / len(ids)), name


def test_a_backtest_trained_before_t_foresees_churn_after_t(churnctl_bin, churnd_factory,
                                                           demo_store, api, tmp_path):
    model = tmp_path / "model-30d.json"
    r = run(churnctl_bin, "backtest", "--store", demo_store.store, "--as-of", days_ago(31),
            "--horizon-days", "30", "--train", "--cutoffs", "4", "--folds", "3", "--trees",
            "40", "--algo", "gbdt", "--out", str(model), "--json")  # trees: no search (its cost
    # under the sanitizers); the search's own choice is tested in test_offline and unit/train
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    for key in ("as_of_ms", "customers", "churned", "realised_rate", "mean_predicted", "auc",
                "pr_auc", "log_loss", "brier", "deciles", "calibration", "tier_share",
                "tier_churn_rate", "model"):
        assert key in b, key
    assert len(b["deciles"]) == 10 and len(b["calibration"]) == 10
    assert b["as_of_ms"] % DAY_MS == DAY_MS - 1, "scored as of the end of the day"
    assert 0.6 < b["auc"] <= 1.0, b["auc"]
    assert b["churned"] > 20
    assert abs(b["mean_predicted"] / b["realised_rate"] - 1) < 0.3, b
    assert b["tier_share"]["high"] <= 2 * b["realised_rate"], b
    assert abs(sum(b["tier_share"].values()) - 1) < 1e-9
    assert b["deciles"][-1]["capture"] == pytest.approx(1.0)
    assert "trained" in r.stderr and "cutoff" in r.stderr
    # the model file carries the horizon of its labels, and churnd serves it as the horizon
    assert json.loads(model.read_text())["training"]["horizon_days"] == 30
    srv = start_on_store(churnd_factory, None, str(model))
    info = api.model_grpc.ModelServiceStub(srv.channel()).GetModelInfo(
        api.model_pb2.GetModelInfoRequest(), timeout=30)
    assert info.model.horizon_ms == 30 * DAY_MS


@pytest.mark.parametrize("args,message", [
    (["--as-of", "2001-01-01", "--horizon-days", "30"], "before the data"),
    (["--as-of", "2999-01-01", "--horizon-days", "30"], "after the data ends"),
    (["--as-of", "YESTERDAY", "--horizon-days", "30"], "longer than the observed future"),
    (["--as-of", "2026-13-45"], "not YYYY-MM-DD or unix ms"),
    (["--horizon-days", "30"], "needs --as-of"),
    (["--as-of", "YESTERDAY", "--train", "--model", "MODEL"], "either --model"),
    (["--as-of", "YESTERDAY", "--horizon-days", "0"], "horizon"),
    (["--as-of", "YESTERDAY", "--scores-only", "--risk-tiers", "top:2,3"], "--risk-tiers"),
])
def test_windows_a_backtest_cannot_judge_are_refused(churnctl_bin, demo_store, args, message):
    args = [demo_store.gbdt if a == "MODEL" else days_ago(1) if a == "YESTERDAY" else a
            for a in args]
    if "--train" not in args and "--model" not in args:
        args += ["--model", demo_store.gbdt]
    r = run(churnctl_bin, "backtest", "--store", demo_store.store, *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr


def test_a_model_the_store_cannot_feed_is_refused(churnctl_bin, demo_store, tmp_path):
    src = os.environ.get("CHURN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
    model = tmp_path / "mlc.json"
    r = run(churnctl_bin, "train", "--data",
            os.path.join(src, "tests", "data", "train", "mlc_churn.csv"), "--label", "churn",
            "--positive", "yes", "--algo", "logreg", "--folds", "3", "--out", str(model))
    assert r.returncode == 0, r.stderr
    r = run(churnctl_bin, "backtest", "--store", demo_store.store, "--as-of", days_ago(31),
            "--horizon-days", "30", "--model", str(model))
    assert r.returncode == 2
    assert "the store provides no such category" in r.stderr, r.stderr


def test_a_backtest_needs_a_store(churnctl_bin, demo_store, tmp_path):
    r = run(churnctl_bin, "backtest", "--data", "x.csv", "--label", "y", "--as-of", today(),
            "--model", demo_store.gbdt)
    assert r.returncode == 2 and "needs --store" in r.stderr, r.stderr
    r = run(churnctl_bin, "backtest", "--store", str(tmp_path / "nothing"), "--as-of", today(),
            "--model", demo_store.gbdt)
    assert r.returncode == 3 and "store" in r.stderr, r.stderr


def test_a_trained_backtest_reports_the_search_and_its_rule(churnctl_bin, demo_store):
    """--train with the auto search: what it measured and chose is in model.search, with the
    rule asked for and, out of time, each candidate's paired error against the best."""
    r = run(churnctl_bin, "backtest", "--store", demo_store.store, "--as-of", days_ago(31),
            "--horizon-days", "30", "--train", "--cutoffs", "4", "--folds", "3",
            "--time-budget-s", "0.000001", "--select-rule", "one-se", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["model"]["search"]
    assert s["rule"] == "one-se" and s["ranked_by"] == "out_of_time_auc", s
    assert len(s["holdout_times"]) >= 1
    first = s["candidates"][0]  # the budget lets only the first run: it is the best and chosen
    assert first["ran"] and s["best"] == s["chosen"] == first["name"], s
    assert first["se_vs_best"] == 0
    assert not any(c["ran"] for c in s["candidates"][1:])
    r = run(churnctl_bin, "backtest", "--store", demo_store.store, "--as-of", days_ago(31),
            "--horizon-days", "30", "--train", "--select-rule", "most", "--json")
    assert r.returncode == 2 and "--select-rule: 'most' is not best, one-se or one-se-cv" in r.stderr


def cutoff_lines(stderr):
    """The cutoffs a training set summary printed on stderr ("  cutoff <when>: ...")."""
    return [line.split(": ")[0].strip() for line in stderr.splitlines()
            if line.startswith("  cutoff ")]


def test_train_and_a_trained_backtest_cut_the_same_days_for_one_as_of(churnctl_bin, demo_store,
                                                                      tmp_path):
    """One as-of rule for both (docs/MODELS.md): --as-of T stands for the last millisecond of
    T's UTC day, so `churnctl train` and `churnctl backtest --train` given the same T, horizon
    and cutoffs learn from the same training set, its newest cutoff T's day - H, its labels
    ending with T's day. T is taken at noon to show that only its day counts."""
    noon = (int(time.time() * 1000) // DAY_MS - 31) * DAY_MS + DAY_MS // 2
    day_end = noon - noon % DAY_MS + DAY_MS - 1
    common = ["--store", demo_store.store, "--as-of", str(noon), "--horizon-days", "30",
              "--cutoffs", "2", "--algo", "logreg", "--folds", "2", "--json"]
    t = run(churnctl_bin, "train", *common, "--out", str(tmp_path / "train.json"))
    assert t.returncode == 0, t.stderr
    b = run(churnctl_bin, "backtest", "--train", *common)
    assert b.returncode == 0, b.stderr
    assert len(cutoff_lines(t.stderr)) == 2
    assert cutoff_lines(t.stderr) == cutoff_lines(b.stderr), (t.stderr, b.stderr)
    trained = json.loads(t.stdout)["training_set"]
    backtested = json.loads(b.stdout)["model"]["training_set"]
    assert trained == backtested
    assert trained["as_of_ms"] == noon and trained["observed_until_ms"] == day_end + 1
    assert trained["cutoffs_ms"] == [day_end - 30 * DAY_MS, day_end - 60 * DAY_MS], trained
