"""churnctl's commands for the retention team against a real churnd: `alerts watch` prints an
alert raised after it started (JSON and human lines, status changes included), resumes
exactly after --after or the sequence in a --resume-file (rewritten atomically after each
alert), reconnects after a server restart and after being cut off as too slow (no gap, no
duplicate), ends with 0 on Ctrl-C and with 3 when told not to reconnect; `alerts list`
filters, orders and pages; `ack` acknowledges once (the second time is FAILED_PRECONDITION,
exit 1), snoozes and closes; `at-risk` ranks by expected revenue at risk; every bad option is
exit 2 with a message naming it, an unreachable server exit 3."""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving
from fixtures_data import api, demo_store, now_ms, start_on_store  # noqa: F401
from test_alerts import CHURN_TEXT, alert_api, chat_intents, list_all, wait_listed  # noqa: F401

TIMEOUT_S = 60


def ctl(churnctl_bin, server, *args, timeout_ms=15000):
    addr = server if isinstance(server, str) else server.address
    return subprocess.run([churnctl_bin, "--server", addr, "--timeout", str(timeout_ms)]
                          + list(args), capture_output=True, text=True, timeout=TIMEOUT_S)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def dead_address():
    """An address nobody listens on: a port bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class Watch:
    """`churnctl alerts watch ...` running in the background, stdout read line by line."""

    def __init__(self, churnctl_bin, address, *args):
        self.proc = subprocess.Popen([churnctl_bin, "--server", address, "alerts", "watch"]
                                     + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.stderr = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout=RPC_TIMEOUT_S):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line from churnctl within {timeout} s")
        assert line is not None, f"churnctl ended: {self.proc.wait()}, {self.proc.stderr.read()}"
        return line

    def json(self, timeout=RPC_TIMEOUT_S):
        return json.loads(self.line(timeout))

    def caught_up(self):
        """JSON mode: skip the backlog; return its alerts and the caught_up marker."""
        backlog = []
        while True:
            m = self.json()
            if "caught_up" in m:
                return backlog, m["caught_up"]
            assert "alert" in m, m
            backlog.append(m["alert"])

    def rest(self):
        """Wait for the exit; return (status, remaining stdout lines, stderr)."""
        try:
            rc = self.proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("churnctl alerts watch did not end")
        out = []
        while (line := self.lines.get(timeout=RPC_TIMEOUT_S)) is not None:
            out.append(line)
        self.stderr = self.proc.stderr.read()
        return rc, out, self.stderr

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watches(churnctl_bin):
    """Start watches with watches(address, *args); killed after the test if still running."""
    started = []

    def start(address, *args):
        w = Watch(churnctl_bin, address, *args)
        started.append(w)
        return w
    yield start
    for w in started:
        w.kill()


def raise_alerts(api, alert_api, server, customers):
    """One CHURN_INTENT alert per customer; returns when all of them are in the log."""
    before = len(list_all(alert_api, server)[0])
    chat_intents(api, server, customers, prefix="cli")
    return wait_listed(alert_api, server, before + len(customers))[0]


# -- alerts watch ---------------------------------------------------------------------------

def test_watch_receives_an_alert_raised_after_it_started(api, churnctl_bin, server, watches):
    w = watches(server.address, "--json", "--max", "1")
    backlog, marker = w.caught_up()
    assert backlog == [] and marker.get("head_sequence", 0) == 0
    chat_intents(api, server, ["cust-live"])
    rc, rest, err = w.rest()
    assert rc == 0, err
    (m,) = [json.loads(line) for line in rest]
    a = m["alert"]
    assert a["customer_id"] == "cust-live"
    assert a["cause"] == "ALERT_CAUSE_CHURN_INTENT" and a["change"] == "ALERT_CHANGE_RAISED"
    assert a["sequence"] == a["revision_sequence"] == 1
    assert a["chat"]["excerpt"] == CHURN_TEXT


def test_watch_human_lines_show_each_change(api, churnctl_bin, server, watches):
    w = watches(server.address, "--max", "3")
    assert w.line() == "-- caught up at #0 --"
    chat_intents(api, server, ["cust-human"])
    raised = w.line()
    assert ctl(churnctl_bin, server, "ack", "1", "--actor", "dana@example.com",
               "--action", "coupon").returncode == 0
    acked = w.line()
    assert ctl(churnctl_bin, server, "ack", "1", "--actor", "dana@example.com",
               "--close", "not_actionable").returncode == 0
    closed = w.line()
    rc, rest, err = w.rest()
    assert rc == 0 and rest == [], (rc, rest, err)
    fields = raised.split()
    assert fields[:8] == ["#1", "rev", "1", "RAISED", "CHURN_INTENT", "cust-human", "risk", "-"]
    assert "human_handoff" in fields and raised.endswith(f'"{CHURN_TEXT}"'), raised
    assert re.match(r"#1 +rev 2 +ACKNOWLEDGED +CHURN_INTENT +cust-human ", acked), acked
    assert acked.endswith("by dana@example.com (coupon)"), acked
    assert re.match(r"#1 +rev 3 +CLOSED +CHURN_INTENT +cust-human ", closed), closed
    assert closed.endswith("not_actionable by dana@example.com"), closed
    # the columns line up: the same offset for the customer in every line
    assert len({line.index("cust-human") for line in (raised, acked, closed)}) == 1


def test_watch_after_resumes_exactly(api, alert_api, churnctl_bin, server, watches):
    raise_alerts(api, alert_api, server, [f"cust-after-{i}" for i in range(5)])
    w = watches(server.address, "--json", "--after", "2", "--max", "4")
    backlog, marker = w.caught_up()
    assert [a["revision_sequence"] for a in backlog] == [3, 4, 5]
    assert [a["customer_id"] for a in backlog] == ["cust-after-2", "cust-after-3", "cust-after-4"]
    assert marker["head_sequence"] == 5 and marker["backlog_delivered"] == 3
    chat_intents(api, server, ["cust-after-live"])
    rc, rest, err = w.rest()
    assert rc == 0, err
    (m,) = json_lines("\n".join(rest))
    assert (m["alert"]["revision_sequence"], m["alert"]["customer_id"]) == (6, "cust-after-live")
    # after the head: nothing from the backlog, the next change only
    w = watches(server.address, "--json", "--after", "6", "--max", "1")
    assert w.caught_up()[0] == []
    chat_intents(api, server, ["cust-after-last"])
    rc, rest, _ = w.rest()
    assert [json.loads(line)["alert"]["revision_sequence"] for line in rest] == [7]


def test_watch_after_beyond_the_head_is_refused(churnctl_bin, server):
    r = ctl(churnctl_bin, server, "alerts", "watch", "--after", "9")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "OUT_OF_RANGE" in r.stderr and "after_sequence" in r.stderr and "9" in r.stderr


def test_resume_file_round_trip(api, alert_api, churnctl_bin, server, tmp_path):
    raise_alerts(api, alert_api, server, [f"cust-rf-{i}" for i in range(4)])
    path = str(tmp_path / "watch.pos")
    r = ctl(churnctl_bin, server, "alerts", "watch", "--resume-file", path, "--max", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert [m["alert"]["revision_sequence"] for m in json_lines(r.stdout)] == [1, 2]
    assert open(path).read() == "2\n"
    # the file wins over --after, and is rewritten after each alert
    r = ctl(churnctl_bin, server, "alerts", "watch", "--resume-file", path, "--after", "0",
            "--max", "2", "--json")
    assert r.returncode == 0, r.stderr
    alerts = [m["alert"] for m in json_lines(r.stdout) if "alert" in m]
    assert [(a["revision_sequence"], a["customer_id"]) for a in alerts] == [
        (3, "cust-rf-2"), (4, "cust-rf-3")]
    assert open(path).read() == "4\n"
    assert os.listdir(tmp_path) == ["watch.pos"], "no temporary file left behind"
    # a new file starts at --after and is created before the first alert
    fresh = str(tmp_path / "new.pos")
    r = ctl(churnctl_bin, server, "alerts", "watch", "--resume-file", fresh, "--after", "3",
            "--max", "1")
    assert r.returncode == 0, r.stderr
    assert re.match(r"#4 +rev 4 +RAISED .* cust-rf-3 ", r.stdout), r.stdout
    assert open(fresh).read() == "4\n"
    # a file that is not a sequence is a usage error naming it
    with open(path, "w") as f:
        f.write("twelve\n")
    r = ctl(churnctl_bin, server, "alerts", "watch", "--resume-file", path, "--max", "1")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert path in r.stderr and "twelve" in r.stderr
    assert open(path).read() == "twelve\n", "left as it was"
    # a resume file that cannot be written: exit 3 before anything is printed
    r = ctl(churnctl_bin, server, "alerts", "watch", "--resume-file",
            str(tmp_path / "no" / "such" / "dir"), "--max", "1")
    assert r.returncode == 3 and r.stdout == "" and "cannot write" in r.stderr, r.stderr


def test_watch_reconnects_after_a_restart(api, churnctl_bin, churnd_factory, watches, tmp_path):
    port = int(dead_address().rsplit(":", 1)[1])
    server = churnd_factory(args=["--listen", f"127.0.0.1:{port}"])
    assert server.port == port
    pos = str(tmp_path / "pos")
    w = watches(server.address, "--json", "--resume-file", pos, "--max", "3")
    w.caught_up()
    chat_intents(api, server, ["cust-before-restart"])
    assert w.json()["alert"]["customer_id"] == "cust-before-restart"
    assert server.stop() == 0
    server.check_clean()
    server.returncode = None
    time.sleep(0.5)  # a few failed attempts while the server is away
    server.start()
    # the backlog after the last alert seen is empty: a caught_up marker, then live alerts
    chat_intents(api, server, ["cust-after-restart-1", "cust-after-restart-2"], prefix="r2")
    rc, rest, err = w.rest()
    assert rc == 0, err
    alerts = [m["alert"] for m in json_lines("\n".join(rest)) if "alert" in m]
    assert [(a["revision_sequence"], a["customer_id"]) for a in alerts] == [
        (2, "cust-after-restart-1"), (3, "cust-after-restart-2")]
    assert re.search(r"UNAVAILABLE: .*; reconnecting after #1 in 100 ms", err), err
    assert open(pos).read() == "3\n"


def test_watch_without_reconnect_ends_when_the_server_stops(api, churnctl_bin, churnd_factory,
                                                            watches):
    server = churnd_factory(drain_timeout_ms=1000)
    w = watches(server.address, "--no-reconnect")
    assert w.line() == "-- caught up at #0 --"
    assert server.stop() == 0
    rc, rest, err = w.rest()
    assert rc == 3, (rc, rest, err)
    assert "UNAVAILABLE" in err and "reconnecting" not in err


class FakeAlertService:
    """An AlertService in Python that scripts WatchAlerts: the first call sends alerts 1-3 and
    cuts the watcher off as too slow, the second is refused as draining, the third sends two
    alerts after its after_sequence and fails, the fourth sends what follows its
    after_sequence and stays open. It records every request."""

    def __init__(self, alert_api):
        pb, grpc_mod = alert_api
        self.pb = pb
        self.requests = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        servicer = type("Servicer", (grpc_mod.AlertServiceServicer,),
                        {"WatchAlerts": lambda _self, req, ctx: self.watch(req, ctx)})()
        grpc_mod.add_AlertServiceServicer_to_server(servicer, self.server)
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def alert(self, seq):
        pb = self.pb
        return pb.WatchAlertsResponse(alert=pb.Alert(
            sequence=seq, revision_sequence=seq, customer_id=f"fake-{seq}",
            change=pb.ALERT_CHANGE_RAISED, cause=pb.ALERT_CAUSE_CHURN_INTENT,
            status=pb.ALERT_STATUS_OPEN))

    def watch(self, req, ctx):
        self.requests.append(req)
        call = len(self.requests)
        if call == 1:
            for seq in range(req.after_sequence + 1, 4):
                yield self.alert(seq)
            ctx.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                      "watcher too slow: fell behind after sequence 3; resume after sequence 3")
        if call == 2:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
        yield self.pb.WatchAlertsResponse(caught_up=self.pb.WatchAlertsResponse.CaughtUp(
            head_sequence=req.after_sequence))
        for seq in range(req.after_sequence + 1, req.after_sequence + (3 if call == 3 else 10)):
            yield self.alert(seq)
        if call == 3:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
        while ctx.is_active():  # then stay open until the client goes
            time.sleep(0.05)

    def stop(self):
        self.server.stop(0)


@pytest.fixture
def fake_alerts(alert_api):
    f = FakeAlertService(alert_api)
    yield f
    f.stop()


def test_watch_resumes_after_being_cut_off_and_refused(churnctl_bin, fake_alerts):
    r = ctl(churnctl_bin, fake_alerts.address, "alerts", "watch", "--json", "--max", "8")
    assert r.returncode == 0, r.stderr
    alerts = [m["alert"] for m in json_lines(r.stdout) if "alert" in m]
    assert [a["revision_sequence"] for a in alerts] == list(range(1, 9)), "no gap, no repeat"
    assert [q.after_sequence for q in fake_alerts.requests] == [0, 3, 3, 5]
    # capped exponential backoff, back to the start once a call delivered something
    assert r.stderr.splitlines() == [
        "churnctl: RESOURCE_EXHAUSTED: watcher too slow: fell behind after sequence 3; resume "
        "after sequence 3; reconnecting after #3 in 100 ms",
        "churnctl: UNAVAILABLE: server is shutting down; reconnecting after #3 in 200 ms",
        "churnctl: UNAVAILABLE: connection reset; reconnecting after #5 in 100 ms"], r.stderr


def test_watch_filter_text_becomes_the_request_filter(alert_api, churnctl_bin, fake_alerts):
    pb = alert_api[0]
    r = ctl(churnctl_bin, fake_alerts.address, "alerts", "watch", "--max", "1", "--after", "1",
            "--filter", "cause:churn_intent,chat_escalation risk:medium value:high,low "
            "segment:high-risk/high-value,low-risk/medium-value status:open,snoozed")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("#2 "), r.stdout
    f = fake_alerts.requests[0].filter
    assert list(f.causes) == [pb.ALERT_CAUSE_CHAT_ESCALATION, pb.ALERT_CAUSE_CHURN_INTENT]
    assert f.min_risk_tier == 2  # RISK_TIER_MEDIUM
    assert list(f.value_tiers) == [1, 3]  # VALUE_TIER_LOW, VALUE_TIER_HIGH
    assert sorted(f.segments) == ["high-risk/high-value", "low-risk/medium-value"]
    assert list(f.statuses) == [pb.ALERT_STATUS_OPEN, pb.ALERT_STATUS_SNOOZED]
    assert (list(f.customer_ids), list(f.owners), f.min_priority) == ([], [], 0)
    # no filter: an empty one
    fake_alerts.requests.clear()
    r = ctl(churnctl_bin, fake_alerts.address, "alerts", "watch", "--max", "1")
    assert r.returncode == 0, r.stderr
    assert fake_alerts.requests[0].filter == pb.AlertFilter()


def test_watch_filter_against_churnd(api, churnctl_bin, server, watches):
    closed = watches(server.address, "--json", "--max", "1", "--filter", "status:closed")
    acked = watches(server.address, "--json", "--max", "1", "--filter",
                    "status:acknowledged cause:churn_intent")
    none = watches(server.address, "--json", "--max", "1", "--filter", "cause:tier_worsened")
    for w in (closed, acked, none):
        w.caught_up()
    chat_intents(api, server, ["cust-filtered"])
    assert ctl(churnctl_bin, server, "ack", "1", "--actor", "kim").returncode == 0
    assert ctl(churnctl_bin, server, "ack", "1", "--actor", "kim", "--close", "saved"
               ).returncode == 0
    for w, rev, status in ((acked, 2, "ALERT_STATUS_ACKNOWLEDGED"),
                           (closed, 3, "ALERT_STATUS_CLOSED")):
        rc, rest, err = w.rest()
        assert rc == 0, err
        (m,) = json_lines("\n".join(rest))
        assert (m["alert"]["revision_sequence"], m["alert"]["status"]) == (rev, status)
    assert none.lines.empty() and none.proc.poll() is None, "nothing matched"


def test_ctrl_c_ends_the_watch_with_status_0(api, churnctl_bin, server, watches, tmp_path):
    pos = str(tmp_path / "pos")
    w = watches(server.address, "--resume-file", pos)
    assert w.line() == "-- caught up at #0 --"
    chat_intents(api, server, ["cust-sigint"])
    assert "cust-sigint" in w.line()
    w.proc.send_signal(signal.SIGINT)
    rc, rest, err = w.rest()
    assert (rc, rest, err) == (0, [], "")
    assert open(pos).read() == "1\n"


def test_ctrl_c_while_reconnecting(churnctl_bin, watches):
    w = watches(dead_address())
    time.sleep(1.5)  # 100 + 200 + 400 ms of backoff, and the failed attempts
    w.proc.send_signal(signal.SIGINT)
    rc, rest, err = w.rest()
    assert rc == 0 and rest == [], (rc, rest, err)
    delays = [int(d) for d in re.findall(r"UNAVAILABLE: .*; reconnecting after #0 in (\d+) ms",
                                         err)]
    assert delays[:3] == [100, 200, 400], err


# -- alerts list ----------------------------------------------------------------------------

def test_list_filters_orders_and_pages(api, alert_api, churnctl_bin, server):
    customers = [f"cust-list-{i}" for i in range(5)]
    raise_alerts(api, alert_api, server, customers)
    assert ctl(churnctl_bin, server, "ack", "2", "--actor", "sam").returncode == 0
    assert ctl(churnctl_bin, server, "ack", "4", "--actor", "sam", "--close", "saved"
               ).returncode == 0

    def listed(*args):
        r = ctl(churnctl_bin, server, "alerts", "list", "--json", *args)
        assert r.returncode == 0, r.stderr
        pages = json_lines(r.stdout)
        return [a for p in pages for a in p.get("alerts", [])], pages

    alerts, _ = listed("--order", "oldest")
    assert [a["sequence"] for a in alerts] == [1, 2, 3, 4, 5]
    assert [a["status"] for a in alerts] == ["ALERT_STATUS_OPEN", "ALERT_STATUS_ACKNOWLEDGED",
                                            "ALERT_STATUS_OPEN", "ALERT_STATUS_CLOSED",
                                            "ALERT_STATUS_OPEN"]
    newest, _ = listed("--order", "newest")
    assert [a["sequence"] for a in newest] == [4, 2, 5, 3, 1]  # by last change
    opened, _ = listed("--filter", "status:open cause:churn_intent", "--order", "oldest")
    assert [a["sequence"] for a in opened] == [1, 3, 5]
    settled, _ = listed("--filter", "status:acknowledged,closed", "--order", "oldest")
    assert [a["sequence"] for a in settled] == [2, 4]
    assert listed("--filter", "cause:tier_worsened")[0] == []
    # pages of two, followed by hand with the printed token, and all at once
    r = ctl(churnctl_bin, server, "alerts", "list", "--order", "oldest", "--limit", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["SEQ", "STATUS", "CAUSE", "CUSTOMER"]
    assert [line.split()[0] for line in lines[1:3]] == ["#1", "#2"]
    assert lines[1].split()[1:4] == ["OPEN", "CHURN_INTENT", "cust-list-0"]
    m = re.fullmatch(r"-- 2 alerts, log head #7; next page: --page-token (\S+)", lines[3])
    assert m, lines
    r = ctl(churnctl_bin, server, "alerts", "list", "--order", "oldest", "--limit", "2",
            "--page-token", m.group(1))
    assert [line.split()[0] for line in r.stdout.splitlines()[1:3]] == ["#3", "#4"]
    r = ctl(churnctl_bin, server, "alerts", "list", "--order", "oldest", "--limit", "2", "--all")
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == ["#1", "#2", "#3", "#4", "#5"]
    assert lines[-1] == "-- 5 alerts, log head #7"
    alerts, pages = listed("--order", "oldest", "--limit", "2", "--all")
    assert [a["sequence"] for a in alerts] == [1, 2, 3, 4, 5] and len(pages) == 3
    r = ctl(churnctl_bin, server, "alerts", "list", "--filter", "risk:high")
    assert (r.returncode, r.stdout) == (0, "no alerts match\n"), r.stderr
    r = ctl(churnctl_bin, server, "alerts", "list", "--page-token", "garbage")
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr and "page_token" in r.stderr


# -- ack ------------------------------------------------------------------------------------

def test_ack_once_then_unchanged(api, alert_api, churnctl_bin, server):
    raise_alerts(api, alert_api, server, ["cust-ack-cli"])
    r = ctl(churnctl_bin, server, "ack", "1", "--actor", "dana@example.com", "--action",
            "consultation", "--json")
    assert r.returncode == 0, r.stderr
    (resp,) = json_lines(r.stdout)
    assert resp["changed"] is True
    a = resp["alert"]
    assert a["status"] == "ALERT_STATUS_ACKNOWLEDGED" and a["revision_sequence"] == 2
    assert a["acknowledged_by"] == "dana@example.com"
    assert a["action_taken"] == "ACTION_KIND_CONSULTATION"
    # idempotent: a second acknowledgement changes nothing (AcknowledgeAlert changed=false)
    r = ctl(churnctl_bin, server, "ack", "#1", "--actor", "sam@example.com")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "unchanged: alert #1 was" in r.stdout and "dana@example.com" in r.stdout, r.stdout
    r = ctl(churnctl_bin, server, "ack", "1", "--actor", "sam@example.com", "--json")
    assert json_lines(r.stdout)[0].get("changed", False) is False
    assert json_lines(r.stdout)[0]["alert"]["acknowledged_by"] == "dana@example.com"
    # a closed alert cannot be acknowledged: FAILED_PRECONDITION naming the state
    r = ctl(churnctl_bin, server, "ack", "1", "--actor", "dana@example.com", "--close", "saved")
    assert r.returncode == 0, r.stderr
    r = ctl(churnctl_bin, server, "ack", "1", "--actor", "sam@example.com")
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    assert r.stderr.startswith("churnctl: FAILED_PRECONDITION: ") and "closed" in r.stderr
    r = ctl(churnctl_bin, server, "ack", "99", "--actor", "sam")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr and "99" in r.stderr, r.stderr


def test_ack_snooze_and_close(api, alert_api, churnctl_bin, server):
    raise_alerts(api, alert_api, server, ["cust-snooze", "cust-close"])
    t0 = now_ms()
    r = ctl(churnctl_bin, server, "ack", "1", "--actor", "lee", "--snooze-for", "2h",
            "--reason", "customer on holiday", "--json")
    assert r.returncode == 0, r.stderr
    a = json_lines(r.stdout)[0]["alert"]
    assert a["status"] == "ALERT_STATUS_SNOOZED" and a["snooze_reason"] == "customer on holiday"
    assert t0 + 2 * 3600_000 <= a["snoozed_until_ms"] <= now_ms() + 2 * 3600_000
    until = now_ms() + 3 * 86400_000
    r = ctl(churnctl_bin, server, "ack", "1", "--actor", "lee", "--snooze-until", str(until),
            "--reason", "back on Monday")
    assert r.returncode == 0, r.stderr
    assert re.match(r"#1 +rev 4 +SNOOZED +CHURN_INTENT +cust-snooze ", r.stdout), r.stdout
    assert "until " in r.stdout and r.stdout.rstrip().endswith(": back on Monday"), r.stdout
    r = ctl(churnctl_bin, server, "ack", "2", "--actor", "lee", "--close", "lost")
    assert r.returncode == 0, r.stderr
    assert re.match(r"#2 +rev 5 +CLOSED +CHURN_INTENT +cust-close .* lost by lee$", r.stdout)
    r = ctl(churnctl_bin, server, "ack", "2", "--actor", "lee", "--close", "saved")
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr and "closed" in r.stderr
    # the server's view agrees
    listed = {a.sequence: a for a in list_all(alert_api, server)[0]}
    assert listed[1].snooze_reason == "back on Monday" and listed[1].snoozed_until_ms == until
    assert listed[2].resolution == 2  # ALERT_RESOLUTION_LOST


def test_ack_snooze_in_the_past_is_the_servers_error(api, alert_api, churnctl_bin, server):
    raise_alerts(api, alert_api, server, ["cust-past"])
    r = ctl(churnctl_bin, server, "ack", "1", "--actor", "lee", "--snooze-until", "1000",
            "--reason", "r")
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr and "past" in r.stderr


# -- at-risk --------------------------------------------------------------------------------

def test_at_risk_ranks_by_priority(churnctl_bin, churnd_factory, demo_store):
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    r = ctl(churnctl_bin, server, "at-risk", "--limit", "25", "--min-tier", "low", "--json")
    assert r.returncode == 0, r.stderr
    (resp,) = json_lines(r.stdout)
    scores = resp["scores"]
    assert len(scores) == 25 and int(resp["total_size"]) >= 25
    prios = [s["priority"] for s in scores]
    assert prios == sorted(prios, reverse=True) and prios[0] > prios[-1]
    for s in scores:
        assert s["priority"] == pytest.approx(s["probability"] * s["customer_value"], rel=1e-6)
    # the human table: the same customers in the same order, ranked 1..n
    r = ctl(churnctl_bin, server, "at-risk", "--limit", "25", "--min-tier", "low")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["RANK", "CUSTOMER", "PROB", "RISK", "VALUE", "PRIORITY", "TOP",
                                "REASON"]
    rows = [line.split() for line in lines[1:26]]
    assert [int(row[0]) for row in rows] == list(range(1, 26))
    assert [row[1] for row in rows] == [s["customer_id"] for s in scores]
    assert [float(row[5]) for row in rows] == [round(p, 2) for p in prios]
    assert all(len(row) > 6 for row in rows), "a top reason on every row"
    assert re.fullmatch(r"-- 25 of \d+ customers at risk \(risk tier low or above\), as of \S+Z",
                        lines[26]), lines[26]
    # --min-tier: only those tiers, and by default MEDIUM and HIGH
    r = ctl(churnctl_bin, server, "at-risk", "--limit", "1000", "--min-tier", "high", "--json")
    high = json_lines(r.stdout)[0]
    assert {s["risk_tier"] for s in high["scores"]} == {"RISK_TIER_HIGH"}
    r = ctl(churnctl_bin, server, "at-risk", "--limit", "1000", "--json")
    default = json_lines(r.stdout)[0]
    assert {s["risk_tier"] for s in default["scores"]} <= {"RISK_TIER_MEDIUM", "RISK_TIER_HIGH"}
    assert int(resp["total_size"]) >= int(default["total_size"]) >= int(high["total_size"])


def test_at_risk_without_a_model(churnctl_bin, server):
    r = ctl(churnctl_bin, server, "at-risk")
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr and "model" in r.stderr


# -- bad options and unreachable servers ----------------------------------------------------

BAD_OPTIONS = [
    (["alerts", "watch", "--filter", "bogus:1"], "filter: 'bogus' is not cause:"),
    (["alerts", "watch", "--filter", "risk:low,high"], "one minimum tier"),
    (["alerts", "watch", "--filter", "cause:churn_intent cause:chat_escalation"], "given twice"),
    (["alerts", "list", "--filter", "status:sleeping"], "status: bad value 'sleeping'"),
    (["alerts", "watch", "--after", "-1"], "--after: expected an integer >= 0, got '-1'"),
    (["alerts", "watch", "--max", "0"], "--max: expected an integer >= 1, got '0'"),
    (["alerts", "watch", "--after", "18446744073709551616"],
     "--after: expected an integer >= 0, got '18446744073709551616'"),
    (["alerts", "watch", "--max"], "--max: needs a value"),
    (["alerts", "watch", "--follow"], "unknown option '--follow'"),
    (["alerts", "list", "--limit", "x"], "--limit: expected an integer 1..1000, got 'x'"),
    (["alerts", "list", "--limit", "1001"], "--limit: expected an integer 1..1000, got '1001'"),
    (["alerts", "list", "--order", "sideways"],
     "--order: expected newest, oldest or priority, got 'sideways'"),
    (["alerts", "tail"], "unknown subcommand 'tail'"),
    (["alerts"], "watch or list"),
    (["ack", "abc", "--actor", "x"], "SEQ: expected an integer >= 1, got 'abc'"),
    (["ack", "0", "--actor", "x"], "SEQ: expected an integer >= 1, got '0'"),
    (["ack", "1"], "--actor NAME is required"),
    (["ack", "--actor", "x"], "SEQ is required"),
    (["ack", "1", "2", "--actor", "x"], "one alert at a time"),
    (["ack", "1", "--actor", ""], "--actor: expected 1 to 128 bytes, got 0"),
    (["ack", "1", "--actor", "x" * 129], "--actor: expected 1 to 128 bytes, got 129"),
    (["ack", "1", "--actor", "x", "--action", "dance"],
     "--action: expected coupon, email_campaign, consultation, human_handoff or feedback_call, "
     "got 'dance'"),
    (["ack", "1", "--actor", "x", "--snooze-for", "5x", "--reason", "r"],
     "--snooze-for: expected a duration of 1s to 90d such as 30m, 2h or 3d, got '5x'"),
    (["ack", "1", "--actor", "x", "--snooze-for", "91d", "--reason", "r"], "got '91d'"),
    (["ack", "1", "--actor", "x", "--snooze-for", "0m", "--reason", "r"], "got '0m'"),
    (["ack", "1", "--actor", "x", "--snooze-for", "2h"], "--snooze-for needs --reason TEXT"),
    (["ack", "1", "--actor", "x", "--snooze-until", "soon", "--reason", "r"],
     "--snooze-until: expected an integer >= 1, got 'soon'"),
    (["ack", "1", "--actor", "x", "--snooze-until", "9223372036854775808", "--reason", "r"],
     "--snooze-until: expected an integer >= 1, got '9223372036854775808'"),
    (["ack", "1", "--actor", "x", "--snooze-for", "2h", "--snooze-until", "5", "--reason", "r"],
     "--snooze-until: --snooze-for was given already"),
    (["ack", "1", "--actor", "x", "--reason", "r"], "--reason goes with --snooze-for"),
    (["ack", "1", "--actor", "x", "--close", "maybe"],
     "--close: expected saved, lost or not_actionable, got 'maybe'"),
    (["ack", "1", "--actor", "x", "--close", "auto_cleared"], "got 'auto_cleared'"),
    (["ack", "1", "--actor", "x", "--close", "saved", "--snooze-for", "1h", "--reason", "r"],
     "--snooze-for and --close exclude each other"),
    (["ack", "1", "--actor", "x", "--note", "n" * 1025],
     "--note: expected 0 to 1024 bytes, got 1025"),
    (["at-risk", "--limit", "0"], "--limit: expected an integer 1..1000, got '0'"),
    (["at-risk", "--min-tier", "extreme"], "--min-tier: expected low, medium or high, got"),
    (["at-risk", "--top"], "unknown option '--top'"),
]


@pytest.mark.parametrize("args,message", BAD_OPTIONS,
                         ids=[" ".join(a)[:60] for a, _ in BAD_OPTIONS])
def test_bad_options_are_usage_errors(churnctl_bin, args, message):
    # checked before any call: the address is never used
    r = ctl(churnctl_bin, dead_address(), *args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr.startswith("churnctl: "), r.stderr
    assert message in r.stderr, (args, r.stderr)
    assert r.stdout == ""


def test_help_is_not_an_error(churnctl_bin):
    for args in (["alerts", "--help"], ["alerts", "watch", "--help"], ["alerts", "list", "--help"],
                 ["ack", "--help"], ["at-risk", "--help"]):
        r = ctl(churnctl_bin, dead_address(), *args)
        assert r.returncode == 0 and r.stdout.startswith("usage: churnctl "), (args, r.stderr)
    r = ctl(churnctl_bin, dead_address(), "--help")
    for command in ("alerts watch", "alerts list", "ack SEQ", "at-risk"):
        assert command in r.stdout, command


@pytest.mark.parametrize("args", [
    ["alerts", "watch", "--no-reconnect"],
    ["alerts", "list"],
    ["ack", "1", "--actor", "x"],
    ["at-risk"],
])
def test_unreachable_server(churnctl_bin, args):
    r = ctl(churnctl_bin, dead_address(), *args, timeout_ms=3000)
    assert r.returncode == 3, (args, r.stdout, r.stderr)
    assert r.stderr.startswith("churnctl: UNAVAILABLE: "), r.stderr
    assert r.stdout == ""


def test_the_server_still_serves(stubs, api, alert_api, churnctl_bin, server):
    """After a watch ended by --max, one cut by Ctrl-C and a list, churnd answers."""
    raise_alerts(api, alert_api, server, ["cust-final"])
    assert ctl(churnctl_bin, server, "alerts", "watch", "--max", "1").returncode == 0
    assert ctl(churnctl_bin, server, "alerts", "list").returncode == 0
    assert_serving(stubs, server)
