"""tools/bench/backtest end to end in its quick mode, and the independent reference
(tools/bench/backtest-ref/backtest_ref.py) on its own: the benchmark's JSON is complete and sane,
and churnd's backtest population and realised churn equal the ones the reference computes
from the raw JSON Lines of the same synth platform (that cross-check is what keeps the two
pipelines honest: they share no code). The reference's own sanity: shuffled training labels
rank at chance, bad input exits 2 naming the line, a horizon past the data is refused. And
synth's churn goes on at a steady pace over its whole window, so every training cutoff sees
its share of churn."""

import json
import os
import subprocess
import sys

import pytest

from fixtures_data import tool_path

pytestmark = pytest.mark.bench

REPO = os.environ.get("CHURN_SOURCE_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "tools", "bench", "backtest")
REFERENCE = os.path.join(REPO, "tools", "bench", "backtest-ref", "backtest_ref.py")
DAY_MS = 86400000
NOW_MS = 1780272000000  # 2026-06-01, the benchmark's default synth --now
CHURND_KEYS = {"customers", "churned", "realised_rate", "mean_predicted", "auc", "pr_auc",
               "log_loss", "brier", "tier_share", "model", "seconds"}
REFERENCE_KEYS = {"customers", "churned", "realised_rate", "mean_predicted", "auc", "pr_auc",
                  "high_share", "train", "seconds", "load_seconds"}


@pytest.fixture(scope="module")
def quick(churnctl_bin, tmp_path_factory):
    build = os.path.dirname(os.path.dirname(churnctl_bin))  # BUILD/tools/churnctl
    # trees without the model search (--algo auto, minutes of CPU on the CI's two cores): the
    # test checks the benchmark's plumbing and the cross-check, not the search's choice
    p = subprocess.run([BENCH, "--quick", "--build", build, "--churnctl-args", "--algo gbdt"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"bench-backtest exited {p.returncode}:\n{p.stderr[-3000:]}"
    path = tmp_path_factory.mktemp("bench-backtest") / "quick.json"
    path.write_text(p.stdout)
    return json.loads(p.stdout), str(path)


def synth_jsonl(churnctl_bin, path, customers, seed):
    synth = os.environ.get("SYNTH") or tool_path(churnctl_bin, "synth", "synth")
    r = subprocess.run([synth, "--customers", str(customers), "--days", "365", "--seed",
                        str(seed), "--now", str(NOW_MS), "--jsonl", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def reference(path, *args):
    return subprocess.run([sys.executable, REFERENCE, str(path)] + list(args),
                          capture_output=True, text=True, timeout=300)


def test_quick_benchmark_is_complete(quick):
    doc, _ = quick
    runs = {r["horizon_days"]: r for r in doc["runs"]}
    assert set(runs) == {30, 90} and "error" not in doc
    for h, r in runs.items():
        assert r["seed"] == 1 and r["as_of_ms"] == NOW_MS - 90 * DAY_MS - 1
        assert CHURND_KEYS <= set(r["churnd"]) and REFERENCE_KEYS <= set(r["reference"])
        c, ref = r["churnd"], r["reference"]
        assert 0.5 < ref["auc"] <= 1, ref  # the reference foresees churn at both horizons
        assert 0 <= c["auc"] <= 1 and 0 < c["pr_auc"] <= 1
        assert abs(sum(c["tier_share"].values()) - 1) < 1e-9
        assert 0 < c["mean_predicted"] < 1 and 0 < ref["mean_predicted"] < 1
        assert r["auc_ratio"] == pytest.approx(c["auc"] / ref["auc"])
        assert set(r["targets"]) == {"auc_at_least_reference", "mean_predicted_within_30pct",
                                     "high_share_at_most_2x_realised"}
        assert ref["train"]["rows"] > ref["customers"] and ref["train"]["positives"] > 0
    assert runs[90]["churnd"]["realised_rate"] > runs[30]["churnd"]["realised_rate"]
    assert set(doc["summary"]) == {"30", "90"}


def test_churnd_and_the_reference_see_the_same_population_and_truth(quick):
    doc, _ = quick
    for r in doc["runs"]:
        c, ref = r["churnd"], r["reference"]
        assert r["populations_agree"], r
        assert (c["customers"], c["churned"]) == (ref["customers"], ref["churned"])
        assert c["realised_rate"] == pytest.approx(ref["realised_rate"], abs=1e-12)
        assert 1000 < c["customers"] < 3000 and c["churned"] > 20


def test_churnd_foresees_churn_at_every_horizon(quick):
    """The run is deterministic (fixed seed and now), so these are the figures of record for
    the quick platform, not samples: churnd ranks future churn well above chance and close to
    the independent reference, and its mean prediction is calibrated to the realised rate."""
    doc, _ = quick
    for r in doc["runs"]:
        c, ref = r["churnd"], r["reference"]
        assert 0.5 < c["auc"] <= 1, (r["horizon_days"], c["auc"])
        assert c["auc"] >= 0.9 * ref["auc"], (r["horizon_days"], c["auc"], ref["auc"])
        assert abs(c["mean_predicted"] / c["realised_rate"] - 1) <= 0.3, (r["horizon_days"], c)


def test_markdown_table(quick):
    _, path = quick
    md = subprocess.run([BENCH, "--markdown", path], capture_output=True, text=True, timeout=60)
    assert md.returncode == 0, md.stderr
    rows = [ln for ln in md.stdout.splitlines() if ln.startswith("| 1 |")]
    assert len(rows) == 2 and "30d" in rows[0] and "90d" in rows[1], md.stdout


def test_reference_is_at_chance_with_shuffled_labels(churnctl_bin, tmp_path):
    path = tmp_path / "p.jsonl"
    synth_jsonl(churnctl_bin, path, 2000, 5)
    as_of = str(NOW_MS - 30 * DAY_MS - 1)
    real = reference(path, "--as-of", as_of, "--horizon-days", "30")
    shuffled = reference(path, "--as-of", as_of, "--horizon-days", "30", "--shuffle-labels")
    assert real.returncode == 0 and shuffled.returncode == 0, real.stderr + shuffled.stderr
    a, b = json.loads(real.stdout)["runs"][0], json.loads(shuffled.stdout)["runs"][0]
    assert b["train"]["shuffled_labels"] and (a["customers"], a["churned"]) == (
        b["customers"], b["churned"])
    assert abs(b["auc"] - 0.5) < 0.12, b["auc"]
    assert a["auc"] > b["auc"] + 0.1, (a["auc"], b["auc"])


def test_reference_refuses_bad_input(churnctl_bin, tmp_path):
    good = tmp_path / "p.jsonl"
    synth_jsonl(churnctl_bin, good, 50, 2)
    lines = good.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:3] + ['{"type":"login","customer_id":"nobody",'
                                          '"occurred_at_ms":1}'] + lines[3:]) + "\n")
    r = reference(bad, "--as-of", "2026-03-01", "--horizon-days", "30")
    assert r.returncode == 2 and "bad.jsonl:4:" in r.stderr and "not declared" in r.stderr
    bad.write_text(lines[0] + "\n" + lines[1][:-3] + "\n")
    r = reference(bad, "--as-of", "2026-03-01", "--horizon-days", "30")
    assert r.returncode == 2 and "bad.jsonl:2: not JSON" in r.stderr, r.stderr
    r = reference(good, "--as-of", "2026-05-01", "--horizon-days", "90")
    assert r.returncode == 2 and "after the end of the data" in r.stderr, r.stderr
    r = reference(good, "--as-of", "yesterday", "--horizon-days", "30")
    assert r.returncode == 2 and "neither unix ms nor YYYY-MM-DD" in r.stderr, r.stderr


def test_synth_churn_goes_on_over_the_whole_window(churnctl_bin, tmp_path):
    """Every third of the 365 days has its share of churn events (none after now), so old
    training cutoffs are not churn-free."""
    path = tmp_path / "p.jsonl"
    synth_jsonl(churnctl_bin, path, 3000, 9)
    start, thirds = NOW_MS - 365 * DAY_MS, [0, 0, 0]
    with open(path) as f:
        for line in f:
            if '"type":"churn"' in line:
                t = json.loads(line)["occurred_at_ms"]
                assert start <= t < NOW_MS
                thirds[(t - start) * 3 // (365 * DAY_MS)] += 1
    assert min(thirds) > 0.6 * max(thirds), thirds
    assert 0.15 < sum(thirds) / 3000 < 0.25, thirds  # --churn-rate 0.2 inside the window
