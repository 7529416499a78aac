"""Issue 16, a customer's alerts and outcomes move with its partition: on two real shards a
customer whose churn-intent alert was acknowledged and given an outcome on shard a is copied to
shard b by the steps of a move (`churnctl cluster copy`). On b its alert's whole history (every
revision, the acknowledgement, the outcome) is in b's log under b's own sequences, after b's
own alerts, streamed by WatchAlerts and listed by ListAlerts; the alert state names the moved
alert (a new escalation on b updates it rather than raising another), and it can be
acknowledged, closed and given an outcome on b. A repeated copy appends nothing. Hostile alert
and outcome entries in a bundle are refused with the reason, and nothing of them lands.
"""

import importlib
import json
import time

from conftest import RPC_TIMEOUT_S, assert_serving
from fixtures_data import api  # noqa: F401
from fixtures_delivery import webhook  # noqa: F401
from test_cluster import customers_of, ctl, owner_of, table_text, write
from test_cluster_handover import admin, alerts_of, bundle, chat_turns, md, moving_assign
from test_cluster_reload import reload_rpc
from test_cluster_routing import real_table, shards  # noqa: F401

KIND_RECORD, KIND_STATE, KIND_ALERT, KIND_OUTCOME = 0, 3, 4, 5


def alert_api(server):
    pb2 = importlib.import_module("churn.v1.alert_pb2")
    stub = importlib.import_module("churn.v1.alert_pb2_grpc").AlertServiceStub(server.channel())
    return pb2, stub


def history(server, cid, after=0):
    """Every revision of @cid's alerts on @server after @after, as WatchAlerts streams them."""
    pb2, stub = alert_api(server)
    out = []
    call = stub.WatchAlerts(pb2.WatchAlertsRequest(
        after_sequence=after, filter=pb2.AlertFilter(customer_ids=[cid])), timeout=RPC_TIMEOUT_S)
    for ev in call:
        if ev.HasField("caught_up"):
            break
        if ev.HasField("alert"):
            out.append(ev.alert)
    call.cancel()
    return out


def head(server):
    pb2, stub = alert_api(server)
    return stub.ListAlerts(pb2.ListAlertsRequest(page_size=1), timeout=RPC_TIMEOUT_S).head_sequence


def entries(raw):
    """The (kind, key, value) entries of a version-1 bundle."""
    out, pos = [], 1
    while pos < len(raw):
        kind = raw[pos]
        klen = int.from_bytes(raw[pos + 1:pos + 5], "little")
        key = raw[pos + 5:pos + 5 + klen]
        vpos = pos + 5 + klen
        vlen = int.from_bytes(raw[vpos:vpos + 4], "little")
        out.append((kind, key, raw[vpos + 4:vpos + 4 + vlen]))
        pos = vpos + 4 + vlen
    return out


def retag(value, cid):
    """A log value (format byte, id length, id, payload) tagged with @cid instead."""
    n = value[1]
    return value[:1] + bytes([len(cid)]) + cid.encode() + value[2 + n:]


def same_alert(x, y):
    """@x and @y are the same revision apart from the log's numbers."""
    keep = ("change", "customer_id", "cause", "status", "acknowledged_by", "note", "outcome",
            "created_at_ms", "updated_at_ms", "trigger_count", "closed_at_ms", "playbook_id")
    return all(getattr(x, f) == getattr(y, f) for f in keep)


def test_alerts_and_outcomes_move_renumbered_and_stay_actionable(api, stubs, churnctl_bin,
                                                                  shards, tmp_path):
    table, a, b = shards
    cid = customers_of("a", 1)[0]
    part = owner_of(cid)[0]
    bcusts = customers_of("b", 3)
    bcust = bcusts[0]
    pb2, stub_a = alert_api(a)
    _, stub_b = alert_api(b)
    ingest = api.ingest_grpc.IngestServiceStub(a.channel())
    ingest.UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(customers=[
        api.ingest_pb2.Customer(customer_id=cid, segment="enterprise")]), metadata=md(cid),
        timeout=RPC_TIMEOUT_S)
    # on a: a churn-intent alert, acknowledged, with an outcome (three revisions, one outcome)
    chat_turns(api, a, cid, [(1, "I want to cancel my subscription")])
    first = alerts_of(api, a, cid)[0]
    stub_a.AcknowledgeAlert(pb2.AcknowledgeAlertRequest(sequence=first.sequence, actor="rita",
                                                        note="called, offered 20% off"),
                            timeout=RPC_TIMEOUT_S)
    now = int(time.time() * 1000)
    stub_a.RecordOutcome(pb2.RecordOutcomeRequest(
        customer_id=cid, alert_sequence=first.sequence, outcome=pb2.OUTCOME_RETAINED,
        revenue=12.5, currency="USD", observed_at_ms=now, actor="rita"), metadata=md(cid),
        timeout=RPC_TIMEOUT_S)
    on_a = history(a, cid)
    assert [x.change for x in on_a] == [pb2.ALERT_CHANGE_RAISED, pb2.ALERT_CHANGE_ACKNOWLEDGED,
                                         pb2.ALERT_CHANGE_OUTCOME_RECORDED], on_a
    # b's log has alerts of its own, so a's numbers are taken there
    for c in bcusts:
        chat_turns(api, b, c, [(1, "I want to cancel my subscription")])
        mine_b = alerts_of(api, b, c)
    mine_b = alerts_of(api, b, bcust)
    head_b = head(b)
    assert head_b >= first.sequence + 2, (head_b, on_a)

    begin = write(tmp_path / "begin.table", real_table(3, a, b, moving_assign(part, "b", True)))
    assert reload_rpc(api, a, open(begin).read()).epoch == 3
    r = ctl(churnctl_bin, "cluster", "copy", table, "--partitions", str(part), "--to", "b")
    assert r.returncode == 0 and json.loads(r.stdout)["copied"] == 1, (r.stdout, r.stderr)
    on_b = history(b, cid, after=head_b)
    assert len(on_b) == len(on_a) and all(map(same_alert, on_a, on_b)), (on_a, on_b)
    seqs = [x.revision_sequence for x in on_b]
    assert seqs == sorted(seqs) and seqs[0] > head_b, seqs  # b's next numbers, in order
    assert {x.sequence for x in on_b} == {seqs[0]}, on_b  # the alert's id: its first revision
    assert on_b[-1].outcome.outcome == pb2.OUTCOME_RETAINED and on_b[-1].outcome.revenue == 12.5
    # the copy repeated (the move still in flight) appends nothing
    r = ctl(churnctl_bin, "cluster", "copy", table, "--partitions", str(part), "--to", "b")
    assert r.returncode == 0 and json.loads(r.stdout)["copied"] == 1, (r.stdout, r.stderr)
    assert history(b, cid, after=head_b) == on_b
    for s in (b, a):  # b takes the table, then the move finishes
        assert reload_rpc(api, s, real_table(4, a, b, moving_assign(part, "b", False))).epoch == 4

    listed = alerts_of(api, b, cid)
    assert [(x.sequence, x.revision_sequence, x.status) for x in listed] == [
        (seqs[0], seqs[-1], pb2.ALERT_STATUS_ACKNOWLEDGED)], listed
    assert [x.customer_id for x in alerts_of(api, b, bcust)] == [bcust] * len(mine_b)
    # the alert state names the moved alert: a new escalation folds into it (or is held back
    # by its cooldown), never raises a second alert nor touches b's alert of a's old number
    stub = api.chat_grpc.ChatServiceStub(b.channel())
    again = list(stub.AnalyzeChat(iter([api.chat_pb2.AnalyzeChatRequest(
        conversation_id="conv2-" + cid, customer_id=cid, turn_sequence=1, role=1,
        text="I want to cancel my subscription and close my account")]), metadata=md(cid),
        timeout=RPC_TIMEOUT_S))
    assert again[0].escalation.alert_sequence == seqs[0], again[0].escalation
    assert [x.sequence for x in alerts_of(api, b, cid)] == [seqs[0]]
    assert [x.revision_sequence for x in alerts_of(api, b, bcust)] == [
        x.revision_sequence for x in mine_b]
    # actionable on b under b's number: closed, and another outcome recorded
    closed = stub_b.AcknowledgeAlert(pb2.AcknowledgeAlertRequest(
        sequence=seqs[0], actor="sam", close=pb2.AcknowledgeAlertRequest.Close(
            resolution=pb2.ALERT_RESOLUTION_SAVED)), timeout=RPC_TIMEOUT_S)
    assert closed.changed and closed.alert.status == pb2.ALERT_STATUS_CLOSED, closed
    assert closed.alert.revision_sequence > seqs[-1] and closed.alert.acknowledged_by == "rita"
    out = stub_b.RecordOutcome(pb2.RecordOutcomeRequest(
        customer_id=cid, alert_sequence=seqs[0], outcome=pb2.OUTCOME_RETAINED, revenue=3,
        currency="USD", observed_at_ms=now, actor="sam"), metadata=md(cid),
        timeout=RPC_TIMEOUT_S)
    assert out.outcome_sequence == 2, out  # the moved outcome is b's first
    assert_serving(stubs, a)
    assert_serving(stubs, b)


def test_hostile_alert_and_outcome_entries_refused(api, stubs, churnctl_bin, shards, tmp_path):
    table, a, b = shards
    cid, other = customers_of("a", 2)
    part = owner_of(cid)[0]
    pb2, stub_a = alert_api(a)
    ingest = api.ingest_grpc.IngestServiceStub(a.channel())
    ingest.UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(customers=[
        api.ingest_pb2.Customer(customer_id=cid, segment="smb")]), metadata=md(cid),
        timeout=RPC_TIMEOUT_S)
    chat_turns(api, a, cid, [(1, "I want to cancel my subscription")])
    first = alerts_of(api, a, cid)[0]
    stub_a.AcknowledgeAlert(pb2.AcknowledgeAlertRequest(sequence=first.sequence, actor="rita"),
                            timeout=RPC_TIMEOUT_S)
    stub_a.RecordOutcome(pb2.RecordOutcomeRequest(
        customer_id=cid, alert_sequence=first.sequence, outcome=pb2.OUTCOME_CHURNED,
        observed_at_ms=int(time.time() * 1000)), metadata=md(cid), timeout=RPC_TIMEOUT_S)
    assert reload_rpc(api, a, real_table(3, a, b, moving_assign(part, "b", True))).epoch == 3
    apb2, admin_a = admin(a)
    _, admin_b = admin(b)
    page = admin_a.ExportCustomers(apb2.ExportCustomersRequest(partitions=[part]),
                                   timeout=RPC_TIMEOUT_S)
    good = [x for x in page.bundles if x.id == cid][0].bundle
    es = entries(good)
    own = [e for e in es if e[0] < KIND_ALERT]
    alerts = [e for e in es if e[0] == KIND_ALERT]
    outcomes = [e for e in es if e[0] == KIND_OUTCOME]
    assert len(alerts) >= 2 and len(outcomes) == 1, [e[0] for e in es]
    n0 = alerts[0][1]
    hostile = [
        ("an alert keyed by 3 bytes", cid, own + [(KIND_ALERT, b"abc", alerts[0][2])],
         "alert: a key of 3 bytes, not a sequence"),
        ("an alert of another customer's tag", cid,
         own + [(KIND_ALERT, n0, retag(alerts[0][2], other))],
         f"alert {first.sequence}: not customer {cid}'s"),
        ("alerts out of order", cid, own + [alerts[1], alerts[0]], "(out of order)"),
        ("an alert before the record", cid, [alerts[0]] + own, "record after alert"),
        ("an alert that does not decode", cid,
         own + [(KIND_ALERT, n0, alerts[0][2][:2 + len(cid)] + b"\x03garbage")],
         "alert: does not decode"),
        ("a revision without its alert's first", cid, own + alerts[1:],
         f"its first revision ({first.sequence}) is not in the bundle"),
        ("another customer's alert bytes under this id", other,
         [(KIND_ALERT, k, retag(v, other)) for _, k, v in alerts],
         f"of customer {cid}, not {other}"),
        ("an empty outcome", cid, own + [(KIND_OUTCOME, b"\0" * 7 + b"\1",
                                          b"\x01" + bytes([len(cid)]) + cid.encode())],
         "outcome 1: empty"),
        ("an alert state that does not decode", cid,
         [e for e in own if e[0] != KIND_STATE] + [(KIND_STATE, cid.encode(), b"\x01xyz")],
         "alert state: 3 bytes that do not decode"),
    ]
    resp = admin_b.ImportCustomers(apb2.ImportCustomersRequest(bundles=[
        apb2.CustomerBundle(id=who, bundle=bundle(*es)) for _, who, es, _ in hostile]),
        timeout=RPC_TIMEOUT_S)
    assert resp.imported == 0, resp
    refused = {f.index: f.reason for f in resp.refused}
    for i, (name, _, _, reason) in enumerate(hostile):
        assert i in refused and reason in refused[i], (name, refused.get(i))
    assert head(b) == 0 and history(b, cid) == []  # nothing of them landed
    # the same customer twice in one import: the second is refused, the first lands once
    twice = admin_b.ImportCustomers(apb2.ImportCustomersRequest(bundles=[
        apb2.CustomerBundle(id=cid, bundle=good)] * 2), timeout=RPC_TIMEOUT_S)
    assert twice.imported == 1 and [f.index for f in twice.refused] == [1], twice
    assert "a second bundle in one import" in twice.refused[0].reason
    assert len(history(b, cid)) == len(alerts)
    # a bundle cut inside an alert entry: refused alone, the call answers
    cut = admin_b.ImportCustomers(apb2.ImportCustomersRequest(bundles=[
        apb2.CustomerBundle(id=cid, bundle=good[:len(good) - 3])]), timeout=RPC_TIMEOUT_S)
    assert cut.imported == 0 and "truncated" in cut.refused[0].reason, cut
    assert_serving(stubs, a)
    assert_serving(stubs, b)


def test_moved_revisions_are_not_delivered_again(api, churnctl_bin, churnd_factory, webhook,
                                                 tmp_path):
    """b's webhook destination gets b's own alerts and the moved alert's revisions made on b,
    never the revisions a raised (a's destinations had them)."""
    a = churnd_factory(args=["--cluster", write(tmp_path / "a.table", table_text()),
                             "--shard", "a"])
    b = churnd_factory(args=["--cluster", write(tmp_path / "b.table", table_text()),
                             "--shard", "b", "--webhook", "r=" + webhook.url()])
    for s in (a, b):
        assert reload_rpc(api, s, real_table(2, a, b)).epoch == 2
    table = write(tmp_path / "real.table", real_table(2, a, b))
    cid = customers_of("a", 1)[0]
    part = owner_of(cid)[0]
    b1, b2 = customers_of("b", 2)
    pb2, stub_a = alert_api(a)
    _, stub_b = alert_api(b)
    chat_turns(api, a, cid, [(1, "I want to cancel my subscription")])
    first = alerts_of(api, a, cid)[0]
    stub_a.AcknowledgeAlert(pb2.AcknowledgeAlertRequest(sequence=first.sequence, actor="rita"),
                            timeout=RPC_TIMEOUT_S)
    chat_turns(api, b, b1, [(1, "I want to cancel my subscription")])
    webhook.wait_for(1)
    assert reload_rpc(api, a, real_table(3, a, b, moving_assign(part, "b", True))).epoch == 3
    r = ctl(churnctl_bin, "cluster", "copy", table, "--partitions", str(part), "--to", "b")
    assert r.returncode == 0, r.stderr
    for s in (b, a):
        assert reload_rpc(api, s, real_table(4, a, b, moving_assign(part, "b", False))).epoch == 4
    moved = history(b, cid)
    assert len(moved) == 2, moved
    # b's next alert, then a revision of the moved alert made on b: both delivered, in order,
    # and nothing of what a raised
    chat_turns(api, b, b2, [(1, "I want to cancel my subscription")])
    done = stub_b.AcknowledgeAlert(pb2.AcknowledgeAlertRequest(
        sequence=moved[0].sequence, actor="sam", close=pb2.AcknowledgeAlertRequest.Close(
            resolution=pb2.ALERT_RESOLUTION_SAVED)), timeout=RPC_TIMEOUT_S)
    got = webhook.wait_for(3)
    bodies = [json.loads(body) for _, _, body in got]
    seqs = [int(h["x-churnd-delivery"].split("-")[1]) for _, h, _ in got]
    assert [x["customer_id"] for x in bodies] == [b1, b2, cid], bodies
    assert seqs[-1] == done.alert.revision_sequence, (seqs, done.alert)
    assert not set(seqs) & {x.revision_sequence for x in moved}, (seqs, moved)
