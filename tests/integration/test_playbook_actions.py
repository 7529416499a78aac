"""Playbook-triggered webhook actions (issue 15), over the wire with a real HTTP receiver: a
playbook that names a --webhook has that destination called with the RAISED revision whatever
its filter, retried like every delivery; the result (HTTP status, time, attempts) is recorded
on the alert as an ACTION_CALLED revision, seen in ListAlerts, `churnctl alerts list --json`
and `churnctl alerts watch`; the engine never waits for the call (a hanging receiver leaves
the alerts raised, the call pending); a playbook naming an unknown webhook is refused at start
and on SIGHUP with file:line. Alerts are raised by churn-intent chat turns on an empty store.
"""
import importlib
import json
import signal
import subprocess
import time

from conftest import RPC_TIMEOUT_S
from fixtures_delivery import webhook  # noqa: F401
from test_delivery import raise_alerts

PLAYBOOK = """[playbook intent-coupon]
match = cause:churn_intent
action = coupon
coupon_value = 20
detail = 20% off for three months
owner = lifecycle
webhook = {hook}
"""


def playbooks(tmp_path, hook="coupons"):
    p = tmp_path / "actions.playbooks"
    p.write_text(PLAYBOOK.format(hook=hook))
    return str(p)


def listed(server):
    pb = importlib.import_module("churn.v1.alert_pb2")
    stub = importlib.import_module("churn.v1.alert_pb2_grpc").AlertServiceStub(server.channel())
    r = stub.ListAlerts(pb.ListAlertsRequest(page_size=1000), timeout=RPC_TIMEOUT_S)
    return {a.customer_id: a for a in r.alerts}


def wait_recorded(server, ids, timeout=RPC_TIMEOUT_S * 4):
    deadline = time.monotonic() + timeout
    while True:
        got = listed(server)
        if all(c in got and got[c].action_call.http_status for c in ids):
            return got
        assert time.monotonic() < deadline, "action calls not recorded: %s" % got
        time.sleep(0.05)


def test_the_webhook_is_called_on_raise_and_its_result_recorded(churnd_factory, webhook,
                                                                 tmp_path, stubs, churnctl_bin):
    pb = importlib.import_module("churn.v1.alert_pb2")
    webhook.fail_status, webhook.fail_count = 500, 2  # the first call is answered 500 twice
    # the destination's own filter takes none of these alerts: the action is sent regardless
    server = churnd_factory(args=[
        "--playbooks", playbooks(tmp_path), "--webhook", "coupons=" + webhook.url("/coupon"),
        "--webhook-filter", "coupons=cause:chat_escalation", "--delivery-retry-max-ms", "200"])
    server.allow_stderr = r"delivery_failed"
    t0 = int(time.time() * 1000)
    ids = raise_alerts(server, "act", 2)
    got = wait_recorded(server, ids)
    first, second = sorted((got[c] for c in ids), key=lambda a: a.sequence)
    for a in (first, second):
        assert a.change == pb.ALERT_CHANGE_ACTION_CALLED
        assert a.action_call.webhook == "coupons" and a.action_call.http_status == 204
        assert t0 <= a.action_call.called_at_ms <= int(time.time() * 1000)
        assert a.suggested_action.coupon_value == 20 and a.owner == "lifecycle"
    assert (first.action_call.attempts, second.action_call.attempts) == (3, 1)
    # the receiver got each RAISED revision once (the pending call in it), nothing else
    bodies = [json.loads(b) for _, _, b in webhook.accepted("/coupon")]
    assert sorted(d["customer_id"] for d in bodies) == sorted(ids)
    for d in bodies:
        assert d["change"] in ("ALERT_CHANGE_RAISED", 1)
        assert d["action_call"]["webhook"] == "coupons"
        assert not d["action_call"].get("http_status")
    # churnctl shows it: JSON and the watch line
    env = {"CHURN_SERVER": "127.0.0.1:%d" % server.port}
    r = subprocess.run([churnctl_bin, "alerts", "list", "--json"], capture_output=True, text=True,
                       env=env, timeout=RPC_TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    page = json.loads(r.stdout.splitlines()[0])
    calls = [a["action_call"] for a in page["alerts"]]
    assert sorted(int(c["attempts"]) for c in calls) == [1, 3]
    r = subprocess.run([churnctl_bin, "alerts", "watch", "--after", "0", "--max", "4"],
                       capture_output=True, text=True, env=env, timeout=RPC_TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    assert "webhook coupons: HTTP 204 after 3 attempts" in r.stdout, r.stdout
    assert "webhook coupons: HTTP 204 after 1 attempt\n" in r.stdout, r.stdout


def test_a_hanging_action_never_holds_the_engine(churnd_factory, webhook, tmp_path, stubs):
    webhook.hang_s = 3.0  # longer than the delivery timeout: every attempt fails meanwhile
    server = churnd_factory(args=[
        "--playbooks", playbooks(tmp_path), "--webhook", "coupons=" + webhook.url(),
        "--delivery-timeout-ms", "500", "--delivery-retry-max-ms", "300"])
    server.allow_stderr = r"delivery_failed"
    ids = raise_alerts(server, "hang", 3)
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while len(listed(server)) < 3:  # every alert is raised while the receiver hangs
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pending = listed(server)
    assert all(pending[c].action_call.webhook == "coupons" for c in ids)
    assert all(pending[c].action_call.http_status == 0 for c in ids), "pending, not called"
    while webhook.attempts < 1:  # the first call has started, so it hangs and times out
        assert time.monotonic() < deadline, "no call was attempted"
        time.sleep(0.05)
    webhook.hang_s = 0.0
    got = wait_recorded(server, ids)
    assert max(got[c].action_call.attempts for c in ids) >= 2


def refused_at_start(churnd_factory, args):
    s = churnd_factory(args=args, start=False)
    s.proc = subprocess.Popen(s.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = s.proc.communicate(timeout=60)
    code = s.proc.returncode
    s.proc = None
    return code, out.decode()


def test_a_playbook_naming_an_unknown_webhook_is_refused(churnd_factory, webhook, tmp_path):
    code, out = refused_at_start(churnd_factory, ["--playbooks", playbooks(tmp_path, "nope"),
                                                  "--webhook", "ops=" + webhook.url()])
    assert code != 0
    assert "actions.playbooks:7: webhook: 'nope' is not a --webhook destination " \
           "(configured: ops)" in out, out
    code, out = refused_at_start(churnd_factory, ["--playbooks", playbooks(tmp_path, "nope")])
    assert code != 0 and "(none is configured)" in out, out
    code, out = refused_at_start(churnd_factory, ["--playbooks", playbooks(tmp_path, "a b")])
    assert code != 0 and "actions.playbooks:7: webhook: 'a b' must be a --webhook name" in out

    # on SIGHUP the old playbooks stay in force
    path = playbooks(tmp_path, "ops")
    server = churnd_factory(args=["--playbooks", path, "--webhook", "ops=" + webhook.url()])
    server.allow_stderr = r"playbooks_reload_refused"
    playbooks(tmp_path, "gone")
    server.signal(signal.SIGHUP)
    (line,) = server.wait_log(r"playbooks_reload_refused")
    assert "'gone' is not a --webhook destination" in line, line
    ids = raise_alerts(server, "kept", 1)
    assert wait_recorded(server, ids)[ids[0]].action_call.webhook == "ops"
