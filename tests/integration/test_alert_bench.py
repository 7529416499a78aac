"""tools/bench/alert-engine against a real churnd on the demo store, so that the benchmark cannot rot:
3 watchers and 20 customers; every alert the cancellations raise reaches every watcher exactly
once, and the tool's counts agree with the server's own alert log (ListAlerts). A run that
cannot find enough customers below HIGH risk is refused with exit status 3."""

import importlib
import json
import os
import subprocess

from conftest import RPC_TIMEOUT_S
from fixtures_data import demo_store, start_on_store, tool_path  # noqa: F401


def alert_bench_bin(churnctl_bin):
    """ALERT_BENCH (set by meson), else the alert-bench of churnctl's build."""
    path = os.environ.get("ALERT_BENCH") or tool_path(churnctl_bin, "bench", "alert-engine", "alert-bench")
    assert os.access(path, os.X_OK), f"{path} is not an executable (build tools/bench/alert-engine)"
    return path


def run_bench(churnctl_bin, server, *args):
    cmd = [alert_bench_bin(churnctl_bin), "--target", server.address, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def log_alerts(stubs, server):
    """Every alert of the server's log (current revisions) and the head sequence."""
    pb = importlib.import_module("churn.v1.alert_pb2")
    stub = importlib.import_module("churn.v1.alert_pb2_grpc").AlertServiceStub(server.channel())
    out, token = [], ""
    while True:
        r = stub.ListAlerts(pb.ListAlertsRequest(page_size=1000, page_token=token,
                                                 order=pb.ALERT_ORDER_OLDEST),
                            timeout=RPC_TIMEOUT_S)
        out.extend(r.alerts)
        token = r.next_page_token
        if not token:
            return out, r.head_sequence


def test_every_alert_reaches_every_watcher_once(churnctl_bin, churnd_factory, demo_store, stubs):
    # the logistic model: on this small store a cancellation lifts a LOW or MEDIUM customer
    # to HIGH under it (the small GBDT barely weighs plan changes)
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    p = run_bench(churnctl_bin, server, "--watchers", "3", "--customers", "20", "--batch", "5",
                  "--timeout-s", "60", "--server-pid", str(server.proc.pid))
    assert p.returncode == 0, f"alert-bench exited {p.returncode}:\n{p.stderr}\n{p.stdout}"
    r = json.loads(p.stdout)
    assert r["ok"] and not r["timed_out"], r
    assert r["watchers"] == 3 and r["customers"]["triggered"] == 20
    # each cancellation raised something, and only raises happened
    assert r["customers"]["without_alert"] == 0
    assert r["changes"] >= 20 and r["alerts_raised"] == r["changes"]
    assert r["by_cause"]["tier_worsened"] + r["by_cause"]["probability_jump"] == r["changes"]
    # the fan-out: every change to every watcher, once
    assert r["missing"] == 0 and r["duplicates"] == 0 and r["stream_failures"] == 0
    assert r["deliveries"] == 3 * r["changes"] == r["expected_deliveries"]
    assert r["out_of_order"] == 0
    lat = r["latency_us"]
    assert lat["n"] == r["deliveries"] and 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert r["first_delivery_latency_us"]["n"] == r["changes"]
    assert r["alerts_per_s"] > 0 and r["deliveries_per_s"] > 0
    assert r["client_cpu_s"]["user"] + r["client_cpu_s"]["sys"] > 0
    srv = r["server_cpu_s"]
    assert srv["pid"] == server.proc.pid and srv["total"] >= srv["busiest_thread"] > 0
    # the server's own log agrees: the two fences, then exactly the changes counted
    alerts, head = log_alerts(stubs, server)
    # the engine takes chat jobs (the fences) before rescores: the window ends where the head
    # stood still after the second fence, and opens after the settle time past the first
    assert head == r["log"]["window_to"] >= r["log"]["fences"][1]
    assert r["log"]["fences"][0] <= r["log"]["window_after"]
    ours = [a for a in alerts if not a.customer_id.startswith("alert-bench-")]
    assert len(alerts) == len(ours) + 2
    assert len(ours) == r["alerts_raised"]
    assert len({a.customer_id for a in ours}) == 20
    assert all(r["log"]["window_after"] < a.sequence <= r["log"]["window_to"] for a in ours)


def test_too_few_customers_below_high_risk_is_refused(churnctl_bin, churnd_factory, demo_store):
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    p = run_bench(churnctl_bin, server, "--watchers", "1", "--customers", "20", "--first",
                  "1990", "--scan", "10")
    assert p.returncode == 3, p.stderr
    assert "below HIGH risk" in p.stderr and p.stdout == ""


def test_bench_list_alerts_times_every_case(churnctl_bin, stubs):
    """tools/bench/list-alerts on a few hundred alerts: every case answers a full page (or the
    one customer's alert) and the run ends with churnd exiting 0."""
    repo = os.environ.get("CHURN_SOURCE_ROOT") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    build = os.path.dirname(os.path.dirname(churnctl_bin))  # BUILD/tools/churnctl
    p = subprocess.run(["/usr/bin/python3", os.path.join(repo, "tools", "bench", "list-alerts"),
                        "--build", build, "--stubs", stubs.directory, "--alerts", "1200",
                        "--calls", "2"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout)
    this = r["this"]
    assert this["head_sequence"] == 1200 and this["exit"] == 0
    assert this["index_load_ms"] >= 0
    calls = this["calls"]
    assert all(c["ok"] for c in calls.values()), calls
    assert calls["first_page"]["alerts_in_last"] == 50
    assert calls["deep_page"]["alerts_in_last"] == 50
    assert calls["one_customer"]["alerts_in_last"] == 1
    assert calls["open_churn"]["alerts_in_last"] == 50
