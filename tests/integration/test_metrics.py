"""The metrics over the wire: the grpc_server_* counters and histograms match the calls a test
made (OK and refused, per method and code), `promtool check metrics` accepts the exposition,
a real Prometheus (Debian's, on an ephemeral port with its own data directory and a generated
scrape config) scrapes churnd and its HTTP query API returns grpc_server_handled_total for a
method just called, and ScoringService reports SERVING with /readyz 200 once a model serves."""

import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, health_check, rpc_error
from fixtures_admin import admin_port, parse_exposition, rpc_series, scrape, http_request
from fixtures_data import api, demo_store, start_on_store  # noqa: F401 (fixtures)

KNOWN = ["cust-0000001", "cust-0000042", "cust-0000777"]
HEALTH = "grpc.health.v1.Health"
SCORING = "churn.v1.ScoringService"


@pytest.fixture
def scored(churnd_factory, demo_store):
    return start_on_store(churnd_factory, demo_store.store, demo_store.logreg)


def _make_calls(stubs, api, server, n_ok=7, n_missing=3):
    """n_ok Health/Check OK, n_missing NotFound; one GetScore per KNOWN id and two NotFound."""
    ch = server.channel()
    for _ in range(n_ok):
        assert health_check(stubs, ch).status == stubs.health_pb2.HealthCheckResponse.SERVING
    hs = stubs.health_grpc.HealthStub(ch)
    for _ in range(n_missing):
        err = rpc_error(hs.Check, stubs.health_pb2.HealthCheckRequest(service="nope"),
                        timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.NOT_FOUND
    sc = api.scoring_grpc.ScoringServiceStub(ch)
    for cid in KNOWN:
        sc.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=cid), timeout=RPC_TIMEOUT_S)
    for cid in ("nobody", "cust-9999999"):
        err = rpc_error(sc.GetScore, api.scoring_pb2.GetScoreRequest(customer_id=cid),
                        timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.NOT_FOUND


def settled_exposition(server, timeout=30):
    """The exposition once every call started has been counted as handled: a call is counted
    when its final batch completes on the server, which can be just after the client has the
    status (the client's view runs ahead of the scrape under a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = parse_exposition(scrape(server))
        started = sum(v for (n, _), v in samples.items() if n == "grpc_server_started_total")
        handled = sum(v for (n, _), v in samples.items() if n == "grpc_server_handled_total")
        # the scrape itself is HTTP, not gRPC: nothing else is in flight once the two agree
        if started == handled or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_counters_match_the_calls(stubs, api, scored):
    before = settled_exposition(scored)
    _make_calls(stubs, api, scored)
    after = settled_exposition(scored)

    def delta(name, method, **labels):
        return rpc_series(after, name, method, **labels) - rpc_series(before, name, method,
                                                                      **labels)

    health = {"grpc_service": HEALTH, "grpc_type": "unary"}
    assert delta("grpc_server_started_total", "Check", **health) == 10
    assert delta("grpc_server_handled_total", "Check", grpc_code="OK", **health) == 7
    assert delta("grpc_server_handled_total", "Check", grpc_code="NotFound", **health) == 3
    assert delta("grpc_server_msg_received_total", "Check", **health) == 10
    assert delta("grpc_server_msg_sent_total", "Check", **health) == 7
    assert delta("grpc_server_handling_seconds_count", "Check", **health) == 10
    assert delta("grpc_server_handling_seconds_bucket", "Check", le="+Inf", **health) == 10
    assert delta("grpc_server_handling_seconds_sum", "Check", **health) > 0
    score = {"grpc_service": SCORING, "grpc_type": "unary"}
    assert delta("grpc_server_started_total", "GetScore", **score) == 5
    assert delta("grpc_server_handled_total", "GetScore", grpc_code="OK", **score) == 3
    assert delta("grpc_server_handled_total", "GetScore", grpc_code="NotFound", **score) == 2
    # buckets are cumulative: never decreasing with le, +Inf equal to the count
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                     if k[0] == "grpc_server_handling_seconds_bucket"
                     and ("grpc_method", "GetScore") in k[1])
    values = [v for _, v in buckets]
    assert values == sorted(values) and values[-1] == 5
    assert after[("churn_model_served", frozenset())] == 1


def test_promtool_accepts_the_exposition(stubs, api, scored, tmp_path):
    _make_calls(stubs, api, scored)
    text = scrape(scored)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_scoring_serving_and_ready_with_a_model(stubs, scored):
    ch = scored.channel()
    assert health_check(stubs, ch, SCORING).status == stubs.health_pb2.HealthCheckResponse.SERVING
    assert http_request(admin_port(scored), "/readyz")[::2] == (200, "ready\n")


# -- a real Prometheus ---------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_prometheus(tmp_path, target):
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                   "scrape_configs:\n  - job_name: churnd\n    static_configs:\n"
                   f"      - targets: ['{target}']\n")
    for _ in range(3):  # the port is free when chosen; another process may take it first
        port = _free_port()
        proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "ab"))
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=5)
                return proc, port
            except OSError:
                time.sleep(0.2)
        proc.kill()
        proc.wait()
    pytest.fail("prometheus did not start:\n" + (tmp_path / "prometheus.log").read_text())


def _query(port, expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def test_prometheus_scrapes_churnd(stubs, api, scored, tmp_path):
    _make_calls(stubs, api, scored)
    proc, port = _start_prometheus(tmp_path, f"127.0.0.1:{admin_port(scored)}")
    try:
        expr = ('grpc_server_handled_total{grpc_service="churn.v1.ScoringService",'
                'grpc_method="GetScore",grpc_code="OK"}')
        result = []
        deadline = time.monotonic() + 120  # a ceiling only: the first scrape is within 1 s
        while not result and time.monotonic() < deadline:
            result = _query(port, expr)
            if not result:
                time.sleep(0.5)
        assert len(result) == 1, result
        assert result[0]["metric"]["job"] == "churnd"
        assert result[0]["metric"]["grpc_type"] == "unary"
        assert float(result[0]["value"][1]) == len(KNOWN)
        up = _query(port, 'up{job="churnd"}')
        assert up and up[0]["value"][1] == "1", up
    finally:
        proc.terminate()
        proc.wait(60)
    assert os.path.isdir(tmp_path / "tsdb")
