"""The model panel's lift and gains chart (issue 15): GET /api/lift answers the served model's
lift over the store (a backtest as of T = a day before now - H, truth in the H days after),
and the test checks every number against its own computation from the per-customer scores
`churnctl backtest --scores-out` writes for the same T and H: the ranking cut into tenths,
churners per tenth, rate, lift, cumulative capture and share, the base rate and the ROC-AUC
(average ranks). Without a model, or on a store without history to backtest, it is 409 with
the reason; an unknown parameter 400 naming it; the page draws
one bar per tenth with the API's lift. No request computes it: churnd's lift thread does, at
start and after a promotion (a request meanwhile is 503 with Retry-After, then gets the new
model's figures)."""

import json
import subprocess
import time

import pytest

from fixtures_admin import admin_port, http_request
from fixtures_dashboard import Browser
from conftest import RPC_TIMEOUT_S
from fixtures_data import api, demo_store, start_on_store  # noqa: F401 (fixtures)


@pytest.fixture
def dash(churnd_factory, demo_store):
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    return s, admin_port(s)


def get_lift(port):
    """The answer once the lift thread has one (a ceiling of 10 minutes, not a timing)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status, headers, body = http_request(port, "/api/lift", timeout=600)
        if status != 503:
            return status, json.loads(body)
        assert headers["retry-after"] == "5"
        time.sleep(0.1)
    pytest.fail("the lift was being computed for too long")


def scores_of(churnctl_bin, store, model, as_of_ms, horizon, out):
    r = subprocess.run([churnctl_bin, "backtest", "--store", store, "--model", model,
                        "--as-of", str(as_of_ms), "--horizon-days", str(horizon),
                        "--scores-out", str(out), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return [(row["probability"], row["churned"]) for row in rows]


def expected_deciles(scores):
    """Highest probability first (ties keep the file's order), ten tenths [d*n/10, (d+1)*n/10)."""
    ranked = sorted(scores, key=lambda s: -s[0])
    n, npos = len(ranked), sum(1 for _, y in ranked if y)
    base, out, cum, seen = npos / n, [], 0, 0
    for d in range(10):
        part = ranked[d * n // 10:(d + 1) * n // 10]
        pos = sum(1 for _, y in part if y)
        cum += pos
        seen += len(part)
        rate = pos / len(part) if part else None
        out.append({"decile": d + 1, "customers": len(part), "churned": pos, "rate": rate,
                    "lift": rate / base if part and base else None,
                    "capture": cum / npos if npos else None, "share": seen / n})
    return out, n, npos


def auc(scores):
    """Mann-Whitney: average ranks over ties."""
    ranked = sorted(scores, key=lambda s: s[0])
    ranks, i = [0.0] * len(ranked), 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    npos = sum(1 for _, y in ranked if y)
    nneg = len(ranked) - npos
    rsum = sum(r for r, (_, y) in zip(ranks, ranked) if y)
    return (rsum - npos * (npos + 1) / 2) / (npos * nneg)


def test_lift_numbers_match_an_independent_computation(dash, demo_store, churnctl_bin, tmp_path):
    server, port = dash
    status, lift = get_lift(port)
    assert status == 200, lift
    scores = scores_of(churnctl_bin, demo_store.store, demo_store.logreg, lift["as_of_ms"],
                       lift["horizon_days"], tmp_path / "scores.jsonl")
    want, n, npos = expected_deciles(scores)
    assert (lift["customers"], lift["churned"]) == (n, npos)
    assert 0 < npos < n
    assert lift["base_rate"] == pytest.approx(npos / n, rel=1e-12)
    assert lift["auc"] == pytest.approx(auc(scores), rel=1e-9)
    assert len(lift["deciles"]) == 10
    for got, exp in zip(lift["deciles"], want):
        for k in ("decile", "customers", "churned"):
            assert got[k] == exp[k], (k, got, exp)
        for k in ("rate", "lift", "capture", "share"):
            assert got[k] == pytest.approx(exp[k], rel=1e-9), (k, got, exp)
    assert lift["deciles"][-1]["capture"] == pytest.approx(1.0)
    # a model worth serving ranks churners first: the top tenth beats the base rate
    assert lift["deciles"][0]["lift"] > 1
    # asked again: the same figures (kept for the model and the day)
    status, again = get_lift(port)
    assert status == 200 and again == lift


def test_lift_without_a_model_and_with_bad_parameters(churnd_factory, demo_store):
    server = start_on_store(churnd_factory, demo_store.store)
    port = admin_port(server)
    status, _, body = http_request(port, "/api/lift")
    assert status == 409 and json.loads(body)["error"] == "no model is served", body
    status, _, body = http_request(port, "/api/lift?decile=11")
    assert status == 400 and json.loads(body)["error"].startswith("decile:"), body
    # a model, but a store with no history to backtest: 409 naming the rule
    empty = churnd_factory(args=["--model", demo_store.logreg])
    status, body = get_lift(admin_port(empty))
    assert status == 409 and body["error"].startswith("backtest:"), body


def test_the_model_panel_draws_the_lift(dash, tmp_path):
    server, port = dash
    status, lift = get_lift(port)
    assert status == 200, lift
    browser = Browser(str(tmp_path))
    try:
        browser.goto(f"http://127.0.0.1:{port}/")
        bars = browser.wait_for(
            "document.querySelectorAll('#lift rect[data-lift]').length === 10 && "
            "[...document.querySelectorAll('#lift rect[data-lift]')].map(r => r.dataset.lift)",
            "the lift chart's ten bars")
        assert [float(b) for b in bars] == pytest.approx(
            [d["lift"] for d in lift["deciles"]], rel=1e-6)
        gains = browser.eval("document.querySelectorAll('#lift circle[data-capture]').length")
        assert gains == 10
        browser.eval("document.querySelector('#lift').scrollIntoView()")
        browser.screenshot(tmp_path / "model-lift.png")
        assert browser.console_errors() == []
    finally:
        browser.close()


def test_a_promotion_is_answered_503_then_with_the_new_models_lift(churnd_factory, demo_store,
                                                                   api):
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    port = admin_port(server)
    status, before = get_lift(port)  # the thread computed it at start
    assert status == 200, before
    models = api.model_grpc.ModelServiceStub(server.channel())
    models.ReloadModel(api.model_pb2.ReloadModelRequest(path=demo_store.gbdt),
                       timeout=RPC_TIMEOUT_S)
    # right after the promotion: the old model's figures are not given out as current
    status, headers, body = http_request(port, "/api/lift")
    assert status == 503, body
    assert headers["retry-after"] == "5" and "being computed" in json.loads(body)["error"]
    status, after = get_lift(port)
    assert status == 200, after
    assert after["generation"] > before["generation"]
    assert after["customers"] == before["customers"]  # the same store, the same window
    assert after["auc"] != before["auc"], "the new model's ranking, not the old one's"
    assert server.stderr().count("lift_computed") == 2  # once at start, once after it
