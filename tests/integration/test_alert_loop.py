"""The early-warning loop beyond single alerts, over the wire: the periodic sweep rescores
every customer (so customers that never sent an event get a baseline, and their first event
can raise an alert) without blocking serving; a snoozed alert stays quiet until its time and
then wakes (change WOKEN); RecordOutcome records what happened against the alert (revision
OUTCOME_RECORDED) and in the outcome log, and refuses bad requests with precise statuses;
`churnctl report outcomes` compares treated customers with the control group per playbook;
holdout assignment follows the documented hash (FNV-1a + splitmix64 of customer and
playbook), is the same in a second server process, and is near the configured share;
a --playbooks file is used, a bad one is refused at start and on SIGHUP (old rules kept).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_data import SYNTH_CUSTOMERS, api, demo_store, start_on_store  # noqa: F401
from test_alerts import (Watcher, _cancel, _lowest_risk, _record, alert_api,  # noqa: F401
                         alert_stub, assert_says_the_jump, chat_intents, list_all, wait_listed)


# -- the sweep --------------------------------------------------------------------------------

def test_the_sweep_gives_every_customer_a_baseline_without_blocking(api, alert_api,
                                                                     churnd_factory, demo_store):
    pb = alert_api[0]
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--sweep-interval-s", "2", "--sweep-delay-s", "1"])
    sc = api.scoring_grpc.ScoringServiceStub(server.channel())
    ranked = _lowest_risk(api, server)
    c = ranked[1]
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    # scores are served while the sweep runs (no read transaction is held across pages)
    server.wait_log(r"sweep_started")
    for i in range(20):
        r = sc.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=f"cust-{i:07d}"),
                        timeout=RPC_TIMEOUT_S)
        assert 0 <= r.score.probability <= 1
    (line,) = server.wait_log(r"sweep_finished", timeout=120)
    m = re.search(r"customers=(\d+) duration_ms=(\d+)", line)
    assert m and int(m.group(1)) == SYNTH_CUSTOMERS, line
    # nothing changed since the demo data was written: the sweep alone raises nothing
    assert w.quiet(0.5)
    # c never sent an event to this server, yet the sweep stored its baseline: its first
    # event is compared with it (without a sweep it would only store the baseline)
    _record(api, server, [_cancel(api, "sweep-cancel-1", c)])
    got = w.alerts(1)  # the tier rose and the probability jumped: one alert says both
    assert [a.cause for a in got] == [pb.ALERT_CAUSE_TIER_WORSENED]
    assert_says_the_jump(got[0])
    assert all(a.customer_id == c and a.what_moved for a in got)
    # the next sweeps run on schedule and find the open alerts already raised: no duplicates
    server.wait_log(r"sweep_finished", count=2, timeout=120)
    assert w.quiet(0.5)
    w.cancel()


def test_the_first_sweep_waits_for_its_delay(churnd_factory):
    late = churnd_factory(args=["--sweep-interval-s", "1", "--sweep-delay-s", "3600"])
    soon = churnd_factory(args=["--sweep-interval-s", "3600", "--sweep-delay-s", "2"])
    t0 = time.monotonic()
    # no model is served here, so a due sweep waits for one (and says so)
    soon.wait_log(r"sweep_waiting")
    assert time.monotonic() - t0 >= 1.5
    time.sleep(1.0)  # well past the 1 s interval of the other server
    assert "sweep_waiting" not in late.stderr() and "sweep_started" not in late.stderr()


def test_no_sweep_when_disabled(churnd_factory):
    server = churnd_factory(args=["--sweep-interval-s", "0"])
    (line,) = server.wait_log(r"alerts_started")
    assert "sweep_interval_ms=0" in line
    time.sleep(6)  # longer than the first sweep's delay
    assert "sweep_started" not in server.stderr()


# -- snooze and wake --------------------------------------------------------------------------

def test_a_snoozed_alert_stays_quiet_until_its_time_then_wakes(api, alert_api, server):
    pb = alert_api[0]
    stub = alert_stub(alert_api, server)
    chat_intents(api, server, ["cust-snooze"], prefix="first")
    (alert,), _ = wait_listed(alert_api, server, 1)
    w = Watcher(alert_api, server, after_sequence=alert.revision_sequence)
    w.caught_up()
    until = int(time.time() * 1000) + 2500
    r = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(
        sequence=alert.sequence, actor="ana@example.com",
        snooze=pb.AcknowledgeAlertRequest.Snooze(snooze_until_ms=until, reason="on holiday")),
        timeout=RPC_TIMEOUT_S)
    assert r.changed and r.alert.status == pb.ALERT_STATUS_SNOOZED
    (seen,) = w.alerts(1)
    assert seen.change == pb.ALERT_CHANGE_SNOOZED and seen.snoozed_until_ms == until
    # the same snooze again changes nothing
    again = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(
        sequence=alert.sequence, actor="ana@example.com",
        snooze=pb.AcknowledgeAlertRequest.Snooze(snooze_until_ms=until, reason="on holiday")),
        timeout=RPC_TIMEOUT_S)
    assert not again.changed
    # a new trigger for the snoozed customer and cause stays quiet
    chat_intents(api, server, ["cust-snooze"], prefix="second")
    assert w.quiet(1.0)
    assert int(time.time() * 1000) < until, "the machine was too slow for this check"
    # then the time comes: the alert opens again by itself
    (woken,) = w.alerts(1)
    assert time.time() * 1000 >= until
    assert woken.sequence == alert.sequence and woken.change == pb.ALERT_CHANGE_WOKEN
    assert woken.status == pb.ALERT_STATUS_OPEN and woken.snoozed_until_ms == 0
    # an open alert absorbs a new trigger at most every 15 minutes: no storm after waking
    chat_intents(api, server, ["cust-snooze"], prefix="third")
    assert w.quiet(1.0)
    w.cancel()


# -- outcomes ---------------------------------------------------------------------------------

def test_record_outcome_on_an_alert_and_bad_requests(api, alert_api, server):
    pb = alert_api[0]
    common = api.common_pb2
    stub = alert_stub(alert_api, server)
    # outcomes are for known customers: give these two a record first
    from fixtures_data import login
    _record(api, server, [login(api, "o-login-1", "cust-out"),
                          login(api, "o-login-2", "cust-other")])
    chat_intents(api, server, ["cust-out", "cust-other"])
    listed, _ = wait_listed(alert_api, server, 2)
    alert = next(a for a in listed if a.customer_id == "cust-out")
    other = next(a for a in listed if a.customer_id == "cust-other")
    w = Watcher(alert_api, server, after_sequence=max(a.revision_sequence for a in listed))
    w.caught_up()
    r = stub.RecordOutcome(pb.RecordOutcomeRequest(
        customer_id="cust-out", alert_sequence=alert.sequence, outcome=pb.OUTCOME_RETAINED,
        intervention=common.ACTION_KIND_HUMAN_HANDOFF, revenue=49.0, currency="EUR",
        actor="ana@example.com", note="stayed after the call"), timeout=RPC_TIMEOUT_S)
    assert r.outcome_sequence == 1 and r.recorded_at_ms > 0
    assert r.playbook_id == alert.playbook_id == "churn-intent-handoff"
    assert r.holdout == alert.holdout
    (seen,) = w.alerts(1)
    assert seen.sequence == alert.sequence and seen.change == pb.ALERT_CHANGE_OUTCOME_RECORDED
    assert seen.outcome.outcome == pb.OUTCOME_RETAINED
    assert seen.outcome.intervention == common.ACTION_KIND_HUMAN_HANDOFF
    assert seen.outcome.revenue == 49.0 and seen.outcome.currency == "EUR"
    assert seen.outcome.actor == "ana@example.com" and seen.outcome.observed_at_ms > 0
    # without an alert sequence the customer's latest alert is used
    r = stub.RecordOutcome(pb.RecordOutcomeRequest(customer_id="cust-other",
                                                   outcome=pb.OUTCOME_CHURNED),
                           timeout=RPC_TIMEOUT_S)
    assert r.outcome_sequence == 2 and r.playbook_id == "churn-intent-handoff"
    (seen,) = w.alerts(1)
    assert seen.sequence == other.sequence and seen.outcome.outcome == pb.OUTCOME_CHURNED

    bad = [
        (dict(customer_id="nobody", outcome=pb.OUTCOME_RETAINED), grpc.StatusCode.NOT_FOUND,
         "customer_id"),
        (dict(customer_id="", outcome=pb.OUTCOME_RETAINED), grpc.StatusCode.INVALID_ARGUMENT,
         "customer_id"),
        (dict(customer_id="cust-out"), grpc.StatusCode.INVALID_ARGUMENT, "outcome"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, revenue=-1),
         grpc.StatusCode.INVALID_ARGUMENT, "revenue"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, revenue=float("nan")),
         grpc.StatusCode.INVALID_ARGUMENT, "revenue"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, currency="euro"),
         grpc.StatusCode.INVALID_ARGUMENT, "currency"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, alert_sequence=other.sequence),
         grpc.StatusCode.INVALID_ARGUMENT, "alert_sequence"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, alert_sequence=999999),
         grpc.StatusCode.NOT_FOUND, "alert_sequence"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, intervention=42),
         grpc.StatusCode.INVALID_ARGUMENT, "intervention"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED,
              observed_at_ms=int(time.time() * 1000) + 86400000),
         grpc.StatusCode.INVALID_ARGUMENT, "observed_at_ms"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, actor="a" * 200),
         grpc.StatusCode.INVALID_ARGUMENT, "actor"),
        (dict(customer_id="cust-out", outcome=pb.OUTCOME_RETAINED, note="n" * 2000),
         grpc.StatusCode.INVALID_ARGUMENT, "note"),
    ]
    for req, code, field in bad:
        e = rpc_error(stub.RecordOutcome, pb.RecordOutcomeRequest(**req), timeout=RPC_TIMEOUT_S)
        assert e.code() == code, (req, e.code(), e.details())
        assert field in e.details(), (req, e.details())
    assert w.quiet(0.5), "a refused outcome changed an alert"
    # nothing refused reached the log: the next outcome gets the next sequence
    r = stub.RecordOutcome(pb.RecordOutcomeRequest(customer_id="cust-out",
                                                   outcome=pb.OUTCOME_UNKNOWN),
                           timeout=RPC_TIMEOUT_S)
    assert r.outcome_sequence == 3
    w.cancel()


# -- holdouts, playbook files and the outcome report ------------------------------------------

HOLDOUT_PLAYBOOKS = """\
# test playbooks: half of the churn-intent alerts are held out
[playbook intent-coinflip]
match = cause:churn_intent
action = human_handoff
detail = Call back within the hour
owner = retention-desk
due_in_hours = 1
priority = 10
holdout = 0.5
"""


def holdout_hash(customer_id, playbook_id):
    """churn_holdout_hash(), written again from its documentation (include/churn/alerts.h)."""
    mask = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in customer_id.encode() + b"\0" + playbook_id.encode():
        h = ((h ^ b) * 0x100000001b3) & mask
    h ^= h >> 30
    h = (h * 0xbf58476d1ce4e5b9) & mask
    h ^= h >> 27
    h = (h * 0x94d049bb133111eb) & mask
    h ^= h >> 31
    return h


def _holdouts(api, alert_api, server, customers):
    chat_intents(api, server, customers)
    listed, _ = wait_listed(alert_api, server, len(customers))
    return {a.customer_id: a for a in listed}


def test_holdouts_follow_the_hash_in_every_process_and_the_report(api, alert_api, churnd_factory,
                                                                   churnctl_bin, tmp_path):
    pb = alert_api[0]
    book = tmp_path / "coinflip.playbooks"
    book.write_text(HOLDOUT_PLAYBOOKS)
    customers = [f"hold-{i:04d}" for i in range(200)]
    runs = []
    for _ in range(2):  # two processes, two stores: the assignment depends on nothing else
        server = churnd_factory(args=["--playbooks", str(book)])
        from fixtures_data import login
        _record(api, server, [login(api, f"h-{c}", c) for c in customers])
        runs.append((server, _holdouts(api, alert_api, server, customers)))
    first, second = runs[0][1], runs[1][1]
    held = [c for c in customers if first[c].holdout]
    assert [c for c in customers if second[c].holdout] == held
    for c in customers:
        a = first[c]
        assert a.playbook_id == "intent-coinflip"
        want = (holdout_hash(c, "intent-coinflip") >> 11) / 2.0 ** 53 < 0.5
        assert a.holdout == want, c
        # the control group gets no suggested action
        assert a.HasField("suggested_action") != a.holdout, c
    # 200 draws of p = 0.5: within 5 standard deviations (about 0.32 .. 0.68)
    assert 0.5 - 5 * (0.25 / 200) ** 0.5 < len(held) / 200 < 0.5 + 5 * (0.25 / 200) ** 0.5

    # outcomes: treated customers 3 in 4 retained, the control group 1 in 4
    server, alerts = runs[0]
    stub = alert_stub(alert_api, server)
    for i, c in enumerate(customers):
        a = alerts[c]
        kept = (i % 4 != 0) if not a.holdout else (i % 4 == 0)
        r = stub.RecordOutcome(pb.RecordOutcomeRequest(
            customer_id=c, alert_sequence=a.sequence,
            outcome=pb.OUTCOME_RETAINED if kept else pb.OUTCOME_CHURNED, revenue=10.0),
            timeout=RPC_TIMEOUT_S)
        assert r.holdout == a.holdout
    # a later outcome for the same customer and playbook replaces the earlier one
    stub.RecordOutcome(pb.RecordOutcomeRequest(customer_id=customers[1],
                                               alert_sequence=alerts[customers[1]].sequence,
                                               outcome=pb.OUTCOME_UNKNOWN),
                       timeout=RPC_TIMEOUT_S)
    # the report reads the live store read-only
    r = subprocess.run([churnctl_bin, "report", "outcomes", "--store", server.data, "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["outcomes"] == 200 and rep["superseded"] == 1
    (p,) = rep["playbooks"]
    assert p["playbook"] == "intent-coinflip"
    # an UNKNOWN outcome is counted apart from the decided ones
    assert p["treated_unknown"] + p["control_unknown"] == 1
    assert p["treated"] + p["control"] == 199
    assert p["control"] + p["control_unknown"] == len(held)
    treated = [i for i, c in enumerate(customers) if not first[c].holdout and i != 1]
    control = [i for i, c in enumerate(customers) if first[c].holdout and i != 1]
    assert p["treated_retained"] == sum(1 for i in treated if i % 4 != 0)
    assert p["control_retained"] == sum(1 for i in control if i % 4 == 0)
    assert p["diff"] == pytest.approx(p["treated_rate"] - p["control_rate"])
    assert p["diff_low"] < p["diff"] < p["diff_high"] and p["diff_low"] > 0
    assert p["revenue_retained"] > 0
    text = subprocess.run([churnctl_bin, "report", "outcomes", "--store", server.data],
                          capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and "intent-coinflip" in text.stdout, text.stderr
    bad = subprocess.run([churnctl_bin, "report", "outcomes"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--store" in bad.stderr


def test_a_bad_playbook_file_is_refused_at_start_and_on_reload(churnd_factory, tmp_path):
    bad = tmp_path / "bad.playbooks"
    bad.write_text("[playbook x]\nmatch = cause:churn_intent\naction = teleport\n")
    s = churnd_factory(args=["--playbooks", str(bad)], start=False)
    s.proc = subprocess.Popen(s.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = s.proc.communicate(timeout=60)
    assert s.proc.returncode != 0
    text = out.decode()
    assert "bad.playbooks:3" in text and "teleport" in text, text
    s.proc = None

    good = tmp_path / "good.playbooks"
    good.write_text(HOLDOUT_PLAYBOOKS)
    server = churnd_factory(args=["--playbooks", str(good)])
    server.allow_stderr = r"playbooks_reload_refused"
    good.write_text(HOLDOUT_PLAYBOOKS + "\n[playbook intent-coinflip]\naction = coupon\n")
    server.signal(signal.SIGHUP)
    (line,) = server.wait_log(r"playbooks_reload_refused")
    assert "good.playbooks" in line and "duplicate" in line.lower(), line
    assert server.running()
    good.write_text(HOLDOUT_PLAYBOOKS)
    server.signal(signal.SIGHUP)
    server.wait_log(r"playbooks_reloaded")


# -- a decline seen through streamed events ---------------------------------------------------

def test_declining_logins_and_orders_raise_an_alert_soon_after_the_summary(api, alert_api,
                                                                          churnd_factory,
                                                                          demo_store, tmp_path):
    """A customer's history arrives in two batches: first the last 30 days (a few logins,
    one order), then the months before, when the customer logged in daily and ordered every
    week. Seen together, logins and orders have fallen; the rescore after the second batch
    raises an alert whose reasons and "what moved" name the decline."""
    from fixtures_data import event, login, now_ms, only_these_coefficients, write_model_variant
    pb = alert_api[0]
    E = api.ingest_pb2.Event

    # a model of the declines alone: the alert engine is under test, not the demo model (an
    # honest 90-day model of the demo data weighs declines only lightly)
    declines_only = only_these_coefficients({"login_decline_30d": 2.0, "order_decline_90d": 2.0},
                                            -3.0)
    model = write_model_variant(demo_store.logreg, str(tmp_path / "declines.json"),
                                declines_only)
    server = start_on_store(churnd_factory, demo_store.store, model,
                            args=["--sweep-interval-s", "0"])
    day = 86400 * 1000
    t = now_ms()
    c = "decline-1"

    def order(i, at):
        return event(api, f"d-o-{i}", c, at, order=E.Order(
            order_id=f"o-{i}", amount=80.0, currency="EUR",
            status=api.ingest_pb2.ORDER_STATUS_COMPLETED))

    # a customer for a year: the months the second batch fills in are observed history
    # (without a signup date, days before the first event are "not observed", never zero)
    from fixtures_data import ingest_stub
    ingest_stub(api, server.channel()).UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(
        customers=[api.ingest_pb2.Customer(customer_id=c, signup_at_ms=t - 365 * day)]),
        timeout=RPC_TIMEOUT_S)
    recent = [login(api, f"d-l-{i}", c, t - (1 + 7 * i) * day) for i in range(3)]
    recent.append(order(0, t - 20 * day))
    _record(api, server, recent)
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    assert w.quiet(1.0), "the first score of a customer only stores its baseline"
    before = [login(api, f"d-p-{i}", c, t - (31 + i) * day) for i in range(29)]
    before += [order(1 + i, t - (91 + 7 * i) * day) for i in range(12)]
    reqs = before
    stub = ingest_stub(api, server.channel())
    s = stub.RecordEvents(iter(reqs), timeout=RPC_TIMEOUT_S)
    summary_at = time.monotonic()
    assert s.accepted == len(reqs) and s.customers_touched == 1
    got = w.alerts(1)
    latency_ms = (time.monotonic() - summary_at) * 1000
    a = got[0]
    assert a.customer_id == c
    assert a.cause in (pb.ALERT_CAUSE_TIER_WORSENED, pb.ALERT_CAUSE_PROBABILITY_JUMP)
    moved = [m.feature for m in a.what_moved]
    assert {"logins_prev_30d", "login_decline_30d", "orders_prev_90d",
            "order_decline_90d"} & set(moved), moved
    assert a.suggested_action.kind or a.holdout
    # recorded for the note on issue 6; not asserted (timing thresholds do not belong in tests)
    print(f"alert {latency_ms:.1f} ms after the ingestion summary: {a.summary}")
    w.cancel()


def test_an_alert_whose_condition_clears_closes_by_itself(api, alert_api, churnd_factory,
                                                           demo_store, tmp_path):
    """A model that reads only open support tickets: two tickets opened raise the risk
    (one TIER_WORSENED alert that also says the jump), both resolved bring it back, and the
    alert closes with CONDITION_CLEARED."""
    from fixtures_data import event, login, only_these_coefficients, write_model_variant
    pb = alert_api[0]
    E = api.ingest_pb2.Event

    only_open_tickets = only_these_coefficients({"open_tickets": 3.0}, -3.0)
    model = write_model_variant(demo_store.logreg, str(tmp_path / "tickets.json"),
                                only_open_tickets)
    server = start_on_store(churnd_factory, None, model, args=["--sweep-interval-s", "0"])
    c = "tickets-1"

    def ticket(i, action):
        return event(api, f"tk-{i}-{action}", c, support_ticket=E.SupportTicket(
            ticket_id=f"t-{i}", action=action, category="billing"))

    _record(api, server, [login(api, "tk-login", c)])
    w = Watcher(alert_api, server, after_sequence=0)
    assert w.caught_up() == []
    _record(api, server, [ticket(i, api.ingest_pb2.TICKET_ACTION_OPENED) for i in range(2)])
    raised = w.alerts(1)  # the tier rose and the probability jumped: one alert says both
    assert [a.cause for a in raised] == [pb.ALERT_CAUSE_TIER_WORSENED]
    assert_says_the_jump(raised[0])
    assert raised[0].what_moved[0].feature == "open_tickets"
    _record(api, server, [ticket(i, api.ingest_pb2.TICKET_ACTION_RESOLVED) for i in range(2)])
    closed = w.alerts(1)
    assert {a.sequence for a in closed} == {a.sequence for a in raised}
    for a in closed:
        assert a.change == pb.ALERT_CHANGE_CLOSED and a.status == pb.ALERT_STATUS_CLOSED
        assert a.resolution == pb.ALERT_RESOLUTION_CONDITION_CLEARED
    assert w.quiet(1.0)
    w.cancel()


def test_a_burst_of_chat_escalations_loses_no_alert(api, alert_api, server):
    """5,000 churn-intent turns from 20 streams at once: more than the engine's chat queue
    holds. Streams are held back while it drains, so every turn gets its answer and every
    escalation its alert."""
    import threading
    pb = api.chat_pb2
    streams, per = 20, 250
    answers = [0] * streams

    def run(k):
        stub = api.chat_grpc.ChatServiceStub(server.channel())
        turns = (pb.AnalyzeChatRequest(conversation_id=f"burst-{k}-{i}", turn_sequence=1,
                                       role=pb.CHAT_ROLE_CUSTOMER, customer_id=f"burst-{k}-{i}",
                                       text="I want to cancel my subscription")
                 for i in range(per))
        for a in stub.AnalyzeChat(turns, timeout=300):
            assert a.escalation.escalate
            answers[k] += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [per] * streams
    _, head = wait_listed(alert_api, server, streams * per, timeout=120)
    listed, _ = list_all(alert_api, server)
    assert len({a.customer_id for a in listed}) == streams * per
    assert "alert_queue_full" not in server.stderr()


# -- segments ---------------------------------------------------------------------------------

def test_tiers_by_share_come_from_the_sweep_and_survive_a_restart(api, churnd_factory,
                                                                   demo_store):
    """--risk-tiers top:0.1,0.2 --value-tiers top:0.2,0.3: after a sweep about 10% of the
    customers are HIGH risk and 20% MEDIUM, 20% HIGH value and 30% MEDIUM; the cut-offs are
    stored and in force again after a restart, before any sweep."""
    c = api.common_pb2
    args = ["--risk-tiers", "top:0.1,0.2", "--value-tiers", "top:0.2,0.3",
            "--sweep-interval-s", "3600", "--sweep-delay-s", "0"]
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg, args=args)
    (line,) = server.wait_log(r"segments_updated", timeout=120)
    assert "risk_sample=" in line

    def tiers(srv):
        sc = api.scoring_grpc.ScoringServiceStub(srv.channel())
        out = []
        for start in range(0, SYNTH_CUSTOMERS, 1000):
            r = sc.BatchGetScores(api.scoring_pb2.BatchGetScoresRequest(
                customer_ids=[f"cust-{i:07d}" for i in range(start, start + 1000)],
                max_reasons=1), timeout=RPC_TIMEOUT_S)
            out += [(x.score.risk_tier, x.score.value_tier) for x in r.results
                    if x.HasField("score")]
        return out

    first = tiers(server)
    n = len(first)
    share = lambda k, t: sum(1 for x in first if x[k] == t) / n  # noqa: E731
    # churned customers are scored too; the sample came from the same population
    assert abs(share(0, c.RISK_TIER_HIGH) - 0.10) < 0.04, share(0, c.RISK_TIER_HIGH)
    assert abs(share(0, c.RISK_TIER_MEDIUM) - 0.20) < 0.05
    assert abs(share(1, c.VALUE_TIER_HIGH) - 0.20) < 0.05
    assert abs(share(1, c.VALUE_TIER_MEDIUM) - 0.30) < 0.06
    server.stop()
    again = churnd_factory(args=args[:4] + ["--sweep-interval-s", "0", "--model", demo_store.logreg],
                           start=False)
    shutil.copytree(server.data, again.data)
    again.start()
    again.wait_log(r"segments_loaded")
    assert tiers(again) == first


def test_bad_tier_specs_stop_start_up(churnd_bin):
    for flag, spec, words in [("--risk-tiers", "top:0.9,0.5", "sum below 1"),
                              ("--risk-tiers", "threshold:0.2,0.5", "MEDIUM <= HIGH"),
                              ("--risk-tiers", "bogus", "neither"),
                              ("--value-tiers", "top:0.2", "two numbers"),
                              ("--value-tiers", "threshold:10,-1", "0 <= MEDIUM")]:
        r = subprocess.run([churnd_bin, flag, spec, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (spec, r.stderr)
        assert words in r.stderr and spec.split(":")[0] in r.stderr, (spec, r.stderr)


def test_a_snoozed_alert_wakes_on_time_after_a_restart(api, alert_api, churnd_factory):
    pb = alert_api[0]
    server = churnd_factory()
    chat_intents(api, server, ["cust-sleeper"])
    (alert,), _ = wait_listed(alert_api, server, 1)
    until = int(time.time() * 1000) + 4000
    alert_stub(alert_api, server).AcknowledgeAlert(pb.AcknowledgeAlertRequest(
        sequence=alert.sequence, actor="ana@example.com",
        snooze=pb.AcknowledgeAlertRequest.Snooze(snooze_until_ms=until, reason="call back")),
        timeout=RPC_TIMEOUT_S)
    assert server.stop() == 0
    server.start()  # the same data directory; no sweep in tests (conftest)
    server.wait_log(r"snoozed_alerts count=1")
    w = Watcher(alert_api, server, after_sequence=alert.revision_sequence + 1)
    w.caught_up()
    (woken,) = w.alerts(1)
    assert time.time() * 1000 >= until
    assert woken.sequence == alert.sequence and woken.change == pb.ALERT_CHANGE_WOKEN
    w.cancel()


def test_alert_rules_are_configurable(api, alert_api, churnd_factory):
    """--alert-update-interval-s 0: a new trigger updates the open alert at once (the default
    15 minutes would absorb it silently), and trigger_count counts it; bad values exit 2."""
    pb = alert_api[0]
    server = churnd_factory(args=["--alert-update-interval-s", "0", "--alert-jump-pct", "20",
                                  "--stale-after-days", "7"])
    chat_intents(api, server, ["cust-rules"], prefix="one")
    (alert,), _ = wait_listed(alert_api, server, 1)
    w = Watcher(alert_api, server, after_sequence=alert.revision_sequence)
    w.caught_up()
    chat_intents(api, server, ["cust-rules"], prefix="two")
    (upd,) = w.alerts(1)
    assert upd.sequence == alert.sequence and upd.change == pb.ALERT_CHANGE_UPDATED
    assert upd.trigger_count == 2
    w.cancel()
    for flag, value in [("--alert-jump-pct", "0"), ("--alert-jump-pct", "100"),
                        ("--alert-cooldown-s", "-1"), ("--stale-after-days", "0")]:
        r = subprocess.run([server.binary, flag, value, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and flag in r.stderr, (flag, value, r.stderr)
