"""AlertService over the wire: a chat turn with churn intent escalates in its AnalyzeChat
response and a CHURN_INTENT alert (with the default playbook's hand-off) reaches a watcher
opened before; a watcher that disconnects, misses 1,000 alerts across a server restart and
resumes from its last sequence receives exactly the missed alerts, in order, none twice;
ListAlerts pages through them in each order and filters; AcknowledgeAlert acknowledges once
(repeating it changes nothing: changed = false, nothing logged), closes, and refuses bad requests (NOT_FOUND for an
unknown sequence); malformed filters and positions are refused; idle watchers get heartbeats;
a watcher that reads nothing does not keep alerts from the others, and once the live window
wrapped over an alert it did not read it is ended with RESOURCE_EXHAUSTED naming the sequence to resume after, from which it gets
exactly the rest; stopping with watchers open is clean. Rescoring after ingestion: a
cancellation that raises the tier and jumps raises ONE TIER_WORSENED alert (saying the jump)
whose "what moved" names the plan downgrade; events arriving one by one raise one alert per cause (no storm); a new
customer's first ingestion raises nothing."""

import importlib
import queue
import threading

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_data import api, demo_store, start_on_store  # noqa: F401

CHURN_TEXT = "I'm cancelling my subscription, this is the third time"


@pytest.fixture(scope="session")
def alert_api(stubs):
    return (importlib.import_module("churn.v1.alert_pb2"),
            importlib.import_module("churn.v1.alert_pb2_grpc"))


def alert_stub(alert_api, server):
    return alert_api[1].AlertServiceStub(server.channel())


class Watcher:
    """One WatchAlerts stream read on a thread into a queue."""

    def __init__(self, alert_api, server, read=True, options=None, timeout=120, **req):
        pb, grpc_mod = alert_api
        self.pb = pb
        self.call = grpc_mod.AlertServiceStub(server.channel(options)).WatchAlerts(
            pb.WatchAlertsRequest(**req), timeout=timeout)
        self.q = queue.Queue()
        self.error = None
        if read:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self):
        try:
            for m in self.call:
                self.q.put(m)
        except grpc.RpcError as e:
            self.error = e
        self.q.put(None)

    def next(self, timeout=RPC_TIMEOUT_S):
        m = self.q.get(timeout=timeout)
        assert m is not None, f"the stream ended: {self.error}"
        return m

    def caught_up(self):
        """Skip to the caught_up marker; return the alerts of the backlog before it."""
        backlog = []
        while True:
            m = self.next()
            if m.WhichOneof("event") == "caught_up":
                assert m.caught_up.backlog_delivered == len(backlog)
                return backlog
            assert m.WhichOneof("event") == "alert"
            backlog.append(m.alert)

    def alerts(self, n):
        out = []
        while len(out) < n:
            m = self.next()
            if m.WhichOneof("event") == "alert":
                out.append(m.alert)
        return out

    def quiet(self, wait=0.5):
        """Nothing more arrives within `wait` seconds."""
        try:
            m = self.q.get(timeout=wait)
        except queue.Empty:
            return True
        assert m is None or m.WhichOneof("event") != "alert", f"unexpected alert {m}"
        return True

    def cancel(self):
        self.call.cancel()


def chat_intents(api, server, customers, prefix="conv"):
    """One churn-intent turn per customer (one conversation each), on one stream."""
    pb = api.chat_pb2
    turns = [pb.AnalyzeChatRequest(conversation_id=f"{prefix}-{c}", turn_sequence=1,
                                   role=pb.CHAT_ROLE_CUSTOMER, text=CHURN_TEXT, customer_id=c)
             for c in customers]
    stub = api.chat_grpc.ChatServiceStub(server.channel())
    answers = list(stub.AnalyzeChat(iter(turns), timeout=60))
    assert len(answers) == len(turns)
    for a in answers:
        assert a.escalation.escalate
        assert a.escalation.reason == api.common_pb2.ESCALATION_REASON_CHURN_INTENT
    return answers


def list_all(alert_api, server, **req):
    pb = alert_api[0]
    stub = alert_stub(alert_api, server)
    out, token = [], ""
    for _ in range(1000):
        r = stub.ListAlerts(pb.ListAlertsRequest(page_token=token, **req), timeout=RPC_TIMEOUT_S)
        out.extend(r.alerts)
        token = r.next_page_token
        if not token:
            return out, r.head_sequence
    pytest.fail("ListAlerts never ended")


def wait_listed(alert_api, server, n, timeout=RPC_TIMEOUT_S):
    """Wait until the log holds n alerts (the engine works off the request path)."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        alerts, head = list_all(alert_api, server)
        if len(alerts) >= n:
            return alerts, head
        assert time.monotonic() < deadline, f"only {len(alerts)} of {n} alerts were raised"
        time.sleep(0.05)


# -- tests ------------------------------------------------------------------------------------

def test_churn_intent_alert_reaches_a_watcher(api, alert_api, server):
    pb = alert_api[0]
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    answers = chat_intents(api, server, ["cust-intent"])
    assert answers[0].suggested_action.kind == api.common_pb2.ACTION_KIND_HUMAN_HANDOFF
    (a,) = w.alerts(1)
    assert a.customer_id == "cust-intent"
    assert a.cause == pb.ALERT_CAUSE_CHURN_INTENT
    assert a.status == pb.ALERT_STATUS_OPEN and a.change == pb.ALERT_CHANGE_RAISED
    assert a.sequence == a.revision_sequence == 1
    assert a.chat.escalation_reason == api.common_pb2.ESCALATION_REASON_CHURN_INTENT
    assert a.chat.excerpt == CHURN_TEXT
    # the default playbook: a person calls the customer back
    assert a.playbook_id == "churn-intent-handoff"
    assert a.suggested_action.kind == api.common_pb2.ACTION_KIND_HUMAN_HANDOFF
    assert a.owner == "retention-desk" and a.due_at_ms > a.created_at_ms
    # the same customer saying it again within minutes is folded in, not a second alert
    chat_intents(api, server, ["cust-intent"], prefix="again")
    assert w.quiet()
    w.cancel()


def test_resume_after_a_restart_gets_exactly_the_missed_alerts(api, alert_api, churnd_factory):
    server = start_on_store(churnd_factory)
    first = [f"early-{i}" for i in range(3)]
    missed = [f"missed-{i:04d}" for i in range(1000)]
    w = Watcher(alert_api, server, after_sequence=0)
    w.caught_up()
    chat_intents(api, server, first)
    got = w.alerts(3)
    assert [a.customer_id for a in got] == first
    last = got[-1].revision_sequence
    w.cancel()

    for i in range(0, len(missed), 250):
        chat_intents(api, server, missed[i:i + 250], prefix=f"m{i}")
    wait_listed(alert_api, server, len(first) + len(missed))
    assert server.stop() == 0
    server.check_clean()
    server.returncode = None
    server.start()

    w2 = Watcher(alert_api, server, after_sequence=last)
    backlog = w2.caught_up()
    assert [a.customer_id for a in backlog] == missed
    seqs = [a.revision_sequence for a in backlog]
    assert seqs == list(range(last + 1, last + 1 + len(missed))), "in order, none twice"
    # live alerts follow the backlog, once
    chat_intents(api, server, ["after-restart"])
    (a,) = w2.alerts(1)
    assert a.customer_id == "after-restart" and a.revision_sequence == seqs[-1] + 1
    assert w2.quiet()
    w2.cancel()

    # ListAlerts: every alert once, across pages, in each order
    pb = alert_api[0]
    oldest, head = list_all(alert_api, server, page_size=70, order=pb.ALERT_ORDER_OLDEST)
    assert head == seqs[-1] + 1
    assert [a.customer_id for a in oldest] == first + missed + ["after-restart"]
    newest, _ = list_all(alert_api, server, page_size=100, order=pb.ALERT_ORDER_NEWEST)
    assert [a.sequence for a in newest] == [a.sequence for a in reversed(oldest)]
    by_cust, _ = list_all(alert_api, server, filter=pb.AlertFilter(customer_ids=["missed-0007"]))
    assert [a.customer_id for a in by_cust] == ["missed-0007"]
    escal, _ = list_all(alert_api, server,
                        filter=pb.AlertFilter(causes=[pb.ALERT_CAUSE_CHAT_ESCALATION]))
    assert escal == []


def test_an_erased_customers_alerts_leave_the_list_at_once(api, alert_api, churnd_factory):
    """DeleteCustomer removes the customer's alerts from the log and from ListAlerts' index
    (in every order and filter), before and after a restart; the others stay listed."""
    server = start_on_store(churnd_factory)
    chat_intents(api, server, ["erase-me", "keep-me", "keep-me-too"])
    wait_listed(alert_api, server, 3)
    ing = api.ingest_grpc.IngestServiceStub(server.channel())
    r = ing.DeleteCustomer(api.ingest_pb2.DeleteCustomerRequest(customer_id="erase-me"),
                           timeout=RPC_TIMEOUT_S)
    assert r.alerts_redacted == 1, r
    pb = alert_api[0]
    for _ in range(2):
        for order in (pb.ALERT_ORDER_PRIORITY, pb.ALERT_ORDER_OLDEST, pb.ALERT_ORDER_NEWEST):
            alerts, _ = list_all(alert_api, server, page_size=1, order=order)
            assert sorted(a.customer_id for a in alerts) == ["keep-me", "keep-me-too"], order
        gone, _ = list_all(alert_api, server, filter=pb.AlertFilter(customer_ids=["erase-me"]))
        assert gone == []
        assert server.stop() == 0
        server.returncode = None
        server.start()


def test_repeated_customers_in_a_burst_update_their_one_alert(api, alert_api, churnd_factory):
    """The engine commits chat alerts in batches; a customer twice in a burst must still see
    its own earlier alert (an update, not a second alert). Four rounds of churn intent for x,
    interleaved with other customers, all in one stream: x has one alert triggered 4 times."""
    server = churnd_factory(args=["--alert-update-interval-s", "0"])
    customers = ["x", "y0", "x", "y1", "x", "y2", "x"] + [f"z{i}" for i in range(100)]
    pb = api.chat_pb2
    turns = [pb.AnalyzeChatRequest(conversation_id=f"burst-{i}", turn_sequence=1,
                                   role=pb.CHAT_ROLE_CUSTOMER, text=CHURN_TEXT, customer_id=c,
                                   ends_conversation=True)
             for i, c in enumerate(customers)]
    stub = api.chat_grpc.ChatServiceStub(server.channel())
    assert len(list(stub.AnalyzeChat(iter(turns), timeout=60))) == len(turns)
    alerts, _ = wait_listed(alert_api, server, 1 + 3 + 100)
    import time
    time.sleep(0.3)  # any extra (wrong) alert would show up by now
    alerts, _ = list_all(alert_api, server)
    by = {}
    for a in alerts:
        by.setdefault(a.customer_id, []).append(a)
    assert len(alerts) == 104, sorted(by)
    (x,) = by["x"]
    assert x.trigger_count == 4, x


def test_acknowledge_once_then_close(api, alert_api, server):
    pb = alert_api[0]
    stub = alert_stub(alert_api, server)
    chat_intents(api, server, ["cust-ack"])
    (alert,), _ = wait_listed(alert_api, server, 1)
    w = Watcher(alert_api, server, after_sequence=alert.revision_sequence)
    w.caught_up()

    r = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(
        sequence=alert.sequence, actor="dana@example.com", note="called, offered 20% off",
        action_taken=api.common_pb2.ACTION_KIND_COUPON), timeout=RPC_TIMEOUT_S)
    assert r.changed
    assert r.alert.note == "called, offered 20% off" and r.alert.acknowledged_at_ms > 0
    assert r.alert.trigger_count == 1
    assert r.alert.sequence == alert.sequence
    assert r.alert.revision_sequence > alert.revision_sequence
    assert r.alert.status == pb.ALERT_STATUS_ACKNOWLEDGED
    assert r.alert.acknowledged_by == "dana@example.com"
    assert r.alert.action_taken == api.common_pb2.ACTION_KIND_COUPON
    (seen,) = w.alerts(1)
    assert (seen.sequence, seen.revision_sequence) == (alert.sequence, r.alert.revision_sequence)
    assert seen.change == pb.ALERT_CHANGE_ACKNOWLEDGED

    # idempotent: acknowledging again changes nothing and logs nothing
    again = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(
        sequence=alert.sequence, actor="sam@example.com"), timeout=RPC_TIMEOUT_S)
    assert not again.changed
    assert again.alert.revision_sequence == r.alert.revision_sequence
    assert again.alert.acknowledged_by == "dana@example.com"
    assert w.quiet()

    r = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(
        sequence=alert.sequence, actor="dana@example.com",
        close=pb.AcknowledgeAlertRequest.Close(resolution=pb.ALERT_RESOLUTION_SAVED)),
        timeout=RPC_TIMEOUT_S)
    assert r.alert.status == pb.ALERT_STATUS_CLOSED
    assert r.alert.resolution == pb.ALERT_RESOLUTION_SAVED and r.alert.closed_at_ms > 0
    (seen,) = w.alerts(1)
    assert seen.change == pb.ALERT_CHANGE_CLOSED
    e = rpc_error(stub.AcknowledgeAlert, pb.AcknowledgeAlertRequest(
        sequence=alert.sequence, actor="dana@example.com"), timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "closed" in e.details()

    # ListAlerts shows the current revision only
    listed, _ = list_all(alert_api, server)
    assert [(a.sequence, a.status) for a in listed] == [(alert.sequence, pb.ALERT_STATUS_CLOSED)]
    w.cancel()


def test_acknowledge_bad_requests(api, alert_api, server):
    pb = alert_api[0]
    stub = alert_stub(alert_api, server)
    chat_intents(api, server, ["cust-bad-ack"])
    (alert,), _ = wait_listed(alert_api, server, 1)
    cases = [
        (pb.AcknowledgeAlertRequest(sequence=999, actor="x"), grpc.StatusCode.NOT_FOUND,
         "sequence"),
        (pb.AcknowledgeAlertRequest(sequence=0, actor="x"), grpc.StatusCode.INVALID_ARGUMENT,
         "sequence"),
        (pb.AcknowledgeAlertRequest(sequence=alert.sequence), grpc.StatusCode.INVALID_ARGUMENT,
         "actor"),
        (pb.AcknowledgeAlertRequest(sequence=alert.sequence, actor="x",
                                    close=pb.AcknowledgeAlertRequest.Close()),
         grpc.StatusCode.INVALID_ARGUMENT, "resolution"),
        (pb.AcknowledgeAlertRequest(sequence=alert.sequence, actor="x",
                                    snooze=pb.AcknowledgeAlertRequest.Snooze(
                                        snooze_until_ms=1000, reason="holiday")),
         grpc.StatusCode.INVALID_ARGUMENT, "past"),
    ]
    for req, code, word in cases:
        e = rpc_error(stub.AcknowledgeAlert, req, timeout=RPC_TIMEOUT_S)
        assert e.code() == code, (req, e.details())
        assert word in e.details(), (req, e.details())
    # nothing above changed the alert
    listed, head = list_all(alert_api, server)
    assert head == alert.revision_sequence
    assert listed[0].status == pb.ALERT_STATUS_OPEN


def test_malformed_filters_and_positions_are_refused(api, alert_api, server):
    pb = alert_api[0]
    stub = alert_stub(alert_api, server)
    bad_filters = [
        (pb.AlertFilter(causes=[99]), "filter.causes"),
        (pb.AlertFilter(min_risk_tier=7), "filter.min_risk_tier"),
        (pb.AlertFilter(value_tiers=[0]), "filter.value_tiers"),
        (pb.AlertFilter(segments=["very-risky"]), "filter.segments"),
        (pb.AlertFilter(statuses=[42]), "filter.statuses"),
        (pb.AlertFilter(min_priority=-1), "filter.min_priority"),
        (pb.AlertFilter(customer_ids=[""]), "filter.customer_ids"),
    ]
    for f, field in bad_filters:
        call = stub.WatchAlerts(pb.WatchAlertsRequest(filter=f), timeout=RPC_TIMEOUT_S)
        e = rpc_error(list, call)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and field in e.details(), field
        e = rpc_error(stub.ListAlerts, pb.ListAlertsRequest(filter=f), timeout=RPC_TIMEOUT_S)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and field in e.details(), field
    call = stub.WatchAlerts(pb.WatchAlertsRequest(after_sequence=5), timeout=RPC_TIMEOUT_S)
    e = rpc_error(list, call)
    assert e.code() == grpc.StatusCode.OUT_OF_RANGE and "after_sequence" in e.details()
    call = stub.WatchAlerts(pb.WatchAlertsRequest(heartbeat_interval_ms=5),
                            timeout=RPC_TIMEOUT_S)
    e = rpc_error(list, call)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "heartbeat" in e.details()
    for req, field in [(pb.ListAlertsRequest(page_size=-1), "page_size"),
                       (pb.ListAlertsRequest(page_token="garbage"), "page_token"),
                       (pb.ListAlertsRequest(page_token="o:12", order=pb.ALERT_ORDER_NEWEST),
                        "page_token")]:
        e = rpc_error(stub.ListAlerts, req, timeout=RPC_TIMEOUT_S)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and field in e.details(), field
    # a good filter still works
    w = Watcher(alert_api, server, filter=pb.AlertFilter(causes=[pb.ALERT_CAUSE_CHURN_INTENT],
                                                         segments=[]))
    assert w.caught_up() == []
    chat_intents(api, server, ["cust-filter"])
    (a,) = w.alerts(1)
    assert a.customer_id == "cust-filter"
    w.cancel()


def test_a_slow_watcher_does_not_hold_back_the_others(api, alert_api, stubs, server):
    pb = alert_api[0]
    slow = Watcher(alert_api, server, read=False, after_sequence=0)
    fast = [Watcher(alert_api, server, after_sequence=0) for _ in range(3)]
    for w in fast:
        w.caught_up()
    customers = [f"busy-{i:03d}" for i in range(300)]
    for i in range(0, len(customers), 100):
        chat_intents(api, server, customers[i:i + 100], prefix=f"b{i}")
    for w in fast:
        got = w.alerts(len(customers))
        assert [a.customer_id for a in got] == customers
        assert [a.revision_sequence for a in got] == list(range(1, len(customers) + 1))
        w.cancel()
    assert_serving(stubs, server)
    slow.cancel()
    listed, head = list_all(alert_api, server, page_size=1000, order=pb.ALERT_ORDER_OLDEST)
    assert head == len(customers) and len(listed) == len(customers)


def test_an_idle_watcher_gets_heartbeats_with_the_head(api, alert_api, server):
    chat_intents(api, server, ["cust-heartbeat"])
    wait_listed(alert_api, server, 1)
    w = Watcher(alert_api, server, after_sequence=1, heartbeat_interval_ms=1000)
    assert w.caught_up() == []
    m = w.next(timeout=5)
    assert m.WhichOneof("event") == "heartbeat"
    assert m.heartbeat.head_sequence == 1 and m.heartbeat.server_time_ms > 0
    w.cancel()


def test_a_watcher_too_far_behind_is_ended_and_resumes_without_gaps(api, alert_api, server):
    # a client with a small, fixed HTTP/2 window: the server's queue for it fills quickly
    tiny_window = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)]
    slow = Watcher(alert_api, server, read=False, options=tiny_window, timeout=60,
                   after_sequence=0)
    # more than the live window (2,048) beyond what its stream holds: too slow only then
    customers = [f"flood-{i:04d}" for i in range(2600)]
    for i in range(0, len(customers), 250):
        chat_intents(api, server, customers[i:i + 250], prefix=f"f{i}")
    wait_listed(alert_api, server, len(customers))
    # the slow watcher reads now: what was queued for it, then RESOURCE_EXHAUSTED
    got = []
    with pytest.raises(grpc.RpcError) as ei:
        for m in slow.call:
            if m.WhichOneof("event") == "alert":
                got.append(m.alert)
    e = ei.value
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.details()
    assert 0 < len(got) < len(customers)
    last = got[-1].revision_sequence
    assert f"resume after sequence {last}" in e.details()
    assert [a.revision_sequence for a in got] == list(range(1, last + 1))
    # resuming from the last sequence it saw gives exactly the rest
    w = Watcher(alert_api, server, after_sequence=last)
    rest = w.caught_up()
    assert [a.revision_sequence for a in rest] == list(range(last + 1, len(customers) + 1))
    assert [a.customer_id for a in got + rest] == customers
    w.cancel()


def test_stopping_with_watchers_open_is_clean(api, alert_api, churnd_factory):
    server = churnd_factory(drain_timeout_ms=1000)
    watchers = [Watcher(alert_api, server, after_sequence=0) for _ in range(3)]
    for w in watchers:
        w.caught_up()
    chat_intents(api, server, ["cust-stop"])
    for w in watchers:
        w.alerts(1)
    assert server.stop() == 0
    server.check_clean()
    for w in watchers:
        assert w.q.get(timeout=RPC_TIMEOUT_S) is None, "the stream ended"
        assert w.error is not None and w.error.code() in (grpc.StatusCode.UNAVAILABLE,
                                                          grpc.StatusCode.CANCELLED)


def test_an_alert_for_a_scored_customer_carries_the_score(api, alert_api, churnd_factory,
                                                          demo_store):
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    answers = chat_intents(api, server, ["cust-0000042"])
    score = answers[0].score
    (a,) = w.alerts(1)
    assert a.customer_id == "cust-0000042"
    assert a.score.probability == pytest.approx(score.probability)
    assert a.risk_tier == score.risk_tier != 0 and a.value_tier == score.value_tier != 0
    assert a.segment.endswith("-value") and "-risk/" in a.segment
    assert a.priority == pytest.approx(score.probability * score.customer_value, rel=1e-6)
    assert 0 < len(a.score.reasons) <= 5
    # the chat answer carries the top 3 reasons, the alert the top 5
    assert [r.feature for r in a.score.reasons][:3] == [r.feature for r in score.reasons]
    assert a.playbook_id == "churn-intent-handoff"
    w.cancel()


# -- rescoring after ingestion ----------------------------------------------------------------

def _record(api, server, reqs):
    from fixtures_data import ingest_stub
    s = ingest_stub(api, server.channel()).RecordEvents(iter(reqs), timeout=RPC_TIMEOUT_S)
    assert s.accepted == len(reqs)


def _lowest_risk(api, server, n=300):
    """The demo customer (among the first n) with the lowest probability: a LOW tier."""
    sc = api.scoring_grpc.ScoringServiceStub(server.channel())
    r = sc.BatchGetScores(api.scoring_pb2.BatchGetScoresRequest(
        customer_ids=[f"cust-{i:07d}" for i in range(n)]), timeout=RPC_TIMEOUT_S)
    ranked = sorted((x.score.probability, x.score.customer_id) for x in r.results
                    if x.HasField("score"))
    return [c for _, c in ranked]


def _cancel(api, event_id, customer_id):
    from fixtures_data import event
    pb = api.ingest_pb2
    return event(api, event_id, customer_id, plan_change=pb.Event.PlanChange(
        direction=pb.PLAN_CHANGE_DIRECTION_CANCEL, from_plan="pro", to_plan="none",
        monthly_value=0.0))


def _ticket(api, event_id, customer_id):
    from fixtures_data import event
    pb = api.ingest_pb2
    return event(api, event_id, customer_id, support_ticket=pb.Event.SupportTicket(
        ticket_id=event_id, action=pb.TICKET_ACTION_OPENED, category="billing"))


def assert_says_the_jump(a, jump=0.15):
    """A TIER_WORSENED alert whose rise also jumped says the jump: "p=0.93 (was 0.04)"."""
    import re
    m = re.search(r"p=([0-9.]+) \(was ([0-9.]+)\)", a.summary)
    assert m and float(m.group(1)) - float(m.group(2)) > jump, a.summary


def test_a_cancellation_raises_tier_and_jump_alerts_with_what_moved(api, alert_api,
                                                                   churnd_factory, demo_store):
    from fixtures_data import login
    pb = alert_api[0]
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    c = _lowest_risk(api, server)[0]
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    # the first score of a customer after ingestion only stores the baseline
    _record(api, server, [login(api, "r-login-1", c), login(api, "r-login-2", c)])
    assert w.quiet(1.0)
    _record(api, server, [_cancel(api, "r-cancel-1", c)])
    # the tier rose and the probability jumped in the same rescore: ONE alert that says both
    got = w.alerts(1)
    assert [a.cause for a in got] == [pb.ALERT_CAUSE_TIER_WORSENED]
    assert_says_the_jump(got[0])
    for a in got:
        assert a.customer_id == c and a.status == pb.ALERT_STATUS_OPEN
        assert a.risk_tier == api.common_pb2.RISK_TIER_HIGH
        assert a.score.probability > 0.5 and 0 < len(a.score.reasons) <= 5
        assert 0 < len(a.what_moved) <= 3
        # what moved: the contribution changes since the baseline, largest first
        deltas = [abs(m.contribution_delta) for m in a.what_moved]
        assert deltas == sorted(deltas, reverse=True) and deltas[0] > 0.01
        assert all(m.feature and m.label and m.explanation for m in a.what_moved)
        assert "nan" not in " ".join(m.explanation for m in a.what_moved)
        # a cancellation counts as a plan downgrade: the feature that moved the score most
        top = a.what_moved[0]
        assert top.feature == "plan_downgrades_90d" and not top.after_missing
        assert top.after == 1.0 and top.contribution_delta > 0
    assert w.quiet(1.0)
    # more bad news for the same customer: the open alerts absorb it, nothing new is raised
    for i in range(5):
        _record(api, server, [_cancel(api, f"r-cancel-more-{i}", c)])
    assert w.quiet(1.5)
    w.cancel()


def test_events_one_by_one_do_not_raise_an_alert_storm(api, alert_api, churnd_factory,
                                                        demo_store):
    from fixtures_data import login
    pb = alert_api[0]
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    c = _lowest_risk(api, server)[3]
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    _record(api, server, [login(api, "s-login", c)])
    for i in range(12):
        _record(api, server, [_ticket(api, f"s-ticket-{i}", c)])
    got = []
    while True:
        try:
            m = w.q.get(timeout=2.0)
        except queue.Empty:
            break
        assert m is not None, f"the stream ended: {w.error}"
        if m.WhichOneof("event") == "alert":
            got.append(m.alert)
    # at least one trigger fired, each cause has one alert, updated at most per tier rise
    assert got, "no alert for a customer whose tickets raised the risk tier"
    causes = {}
    for a in got:
        assert a.customer_id == c
        causes.setdefault(a.cause, set()).add(a.sequence)
    assert all(len(ids) == 1 for ids in causes.values()), causes
    assert len(got) <= 2 * len(causes), [(a.cause, a.change, a.risk_tier) for a in got]
    w.cancel()


def test_the_first_ingestion_of_a_new_customer_raises_nothing(api, alert_api, churnd_factory,
                                                               demo_store):
    from fixtures_data import login
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    _record(api, server, [login(api, "n-login", "brand-new-1"),
                          _cancel(api, "n-cancel", "brand-new-1")] +
            [_ticket(api, f"n-ticket-{i}", "brand-new-1") for i in range(5)])
    assert w.quiet(1.5)
    assert list_all(alert_api, server)[0] == []
    w.cancel()
