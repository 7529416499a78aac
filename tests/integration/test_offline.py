"""churnctl's offline commands: train, cv and eval on a real churn data set (CSV) and on a
store (point-in-time training set), and the sentiment analyzer on stdin. Plus the
interactive chat against a real churnd: a conversation escalates at the right moment."""
import json
import os
import subprocess

import pytest

ROOT = os.environ.get("CHURN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
MLC = os.path.join(ROOT, "tests", "data", "train", "mlc_churn.csv")


def run(churnctl_bin, *args, stdin=None, timeout=300):
    return subprocess.run([churnctl_bin, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def test_train_cv_and_eval_on_a_csv(churnctl_bin, tmp_path):
    model = str(tmp_path / "m.json")
    r = run(churnctl_bin, "train", "--data", MLC, "--label", "churn", "--positive", "yes",
            "--algo", "logreg", "--folds", "3", "--out", model, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["rows"] == 5000 and report["positives"] == 707
    assert report["cv_logistic_regression"]["auc_mean"] > 0.78
    r = run(churnctl_bin, "eval", "--model", model, "--data", MLC, "--label", "churn",
            "--positive", "yes", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)["metrics"]
    assert 0.78 < m["auc"] <= 1
    assert m["decile_capture"][-1] == pytest.approx(1.0)
    assert m["best_f1"]["f1"] >= m["at_threshold"]["f1"] - 1e-9
    cm = m["at_threshold"]
    assert cm["tp"] + cm["fp"] + cm["tn"] + cm["fn"] == 5000
    r = run(churnctl_bin, "cv", "--data", MLC, "--label", "churn", "--positive", "yes",
            "--algo", "gbdt", "--trees", "30", "--folds", "3", "--json")
    assert r.returncode == 0, r.stderr
    cv = json.loads(r.stdout)["cv"][0]
    assert cv["algo"] == "gbdt" and len(cv["per_fold"]) == 3 and cv["auc_mean"] > 0.85


def test_auto_reports_its_search_and_honours_the_budget(churnctl_bin, tmp_path):
    """A budget that runs out after the first candidate still writes a whole model, and the
    report names every candidate and says which ran."""
    model = str(tmp_path / "m.json")
    r = run(churnctl_bin, "train", "--data", MLC, "--label", "churn", "--positive", "yes",
            "--time-budget-s", "0.000001", "--out", model, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    search = report["search"]
    assert search["budget_hit"] is True
    ran = [c["name"] for c in search["candidates"] if c["ran"]]
    assert ran == [search["chosen"]] and ran[0].startswith("logistic regression")
    assert len(search["candidates"]) > 5
    assert report["algo"] == "logistic_regression"
    with open(model) as f:
        assert json.load(f)["kind"] == "logistic_regression"


@pytest.mark.parametrize("args,message", [
    (["--data", MLC, "--label", "nope"], "nope"),
    (["--data", "/nonexistent.csv", "--label", "churn"], "/nonexistent.csv"),
    (["--label", "churn"], "either --data"),
    (["--data", MLC, "--label", "churn", "--folds", "x"], "not a number"),
    (["--data", MLC, "--label", "churn", "--time-budget-s", "-3"],
     "--time-budget-s: '-3' is not a number of seconds >= 0"),
    (["--data", MLC, "--label", "churn", "--select-rule", "1se"],
     "--select-rule: '1se' is not best, one-se or one-se-cv"),
    (["--data", MLC, "--label", "churn", "--select-rule", ""],
     "--select-rule: '' is not best, one-se or one-se-cv"),
])
def test_train_refuses_bad_input(churnctl_bin, tmp_path, args, message):
    r = run(churnctl_bin, "train", *args, "--out", str(tmp_path / "m.json"))
    assert r.returncode == 2, r
    assert message in r.stderr
    assert not (tmp_path / "m.json").exists()


def test_eval_refuses_a_truncated_model(churnctl_bin, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1, "kind": "gbdt", "feat')
    r = run(churnctl_bin, "eval", "--model", str(bad), "--data", MLC, "--label", "churn")
    assert r.returncode == 2 and "bad.json" in r.stderr, r


def test_sentiment_lines_to_json(churnctl_bin):
    text = ("Thanks, that was resolved quickly!\n"
            "I want to cancel my subscription, this is the third time\n"
            "\n"
            "Let me talk to a real person\n")
    r = run(churnctl_bin, "sentiment", stdin=text)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(rows) == 4
    assert rows[0]["compound"] > 0.05
    assert rows[1]["compound"] < -0.05 and rows[1]["churn_intent"]
    assert rows[2]["compound"] == 0 and rows[2]["evidence"] == []
    assert rows[3]["human_requested"]
    for row, line in zip(rows, text.splitlines()):
        for e in row["evidence"]:
            assert line.encode()[e["start"]:e["end"]].decode().lower() in (e["term"], )\
                or e["term"] in line.lower()


def test_sentiment_refuses_invalid_utf8_per_line(churnctl_bin):
    r = subprocess.run([churnctl_bin, "sentiment"], input=b"fine\n\xff\xfe bad\nok\n",
                       capture_output=True, timeout=60)
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert len(rows) == 3 and "invalid UTF-8" in rows[1]["error"] and "compound" in rows[2]
    assert r.returncode == 1


def test_chat_escalates_in_the_same_round_trip(churnctl_bin, server):
    turns = ("bot: Hello! How can I help?\n"
             "I am cancelling my subscription, this is the third time\n")
    r = run(churnctl_bin, "--server", server.address, "chat", "--customer", "c-chat-1", "--json",
            stdin=turns)
    assert r.returncode == 0, r.stderr
    a = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(a) == 2
    assert not a[0].get("counted") and not a[0]["escalation"].get("escalate")
    esc = a[1]["escalation"]
    assert esc["escalate"] and esc["reason"] == "ESCALATION_REASON_CHURN_INTENT"
    assert a[1]["flags"]["churn_intent"]
    assert a[1]["suggested_action"]["kind"] == "ACTION_KIND_HUMAN_HANDOFF"
