"""Issue 16, what no stream can replay moves with its partition: on two real shards a customer
with attributes (UpsertCustomers), events sent straight to its shard (RecordEvents, not through
JetStream) and a support chat that raised churn intent is moved to the other shard by the steps
of a move (the old owner stops serving the partition, `churnctl cluster copy` moves its
customers, the new owner takes the table, the move finishes); then the new owner serves the
same full record, knows the events (a resend is all duplicates) and the conversation (a turn
sent again is a replay with its churn intent), and the old owner refuses the customer naming
the new one. Hostile bundles (garbage, another version, truncated, empty, another customer's
keys, a record that does not decode) and exports or imports of partitions a shard serves are
refused with the reason, and nothing else changes.
"""

import importlib
import json
import time

import grpc

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_data import DAY_MS, api  # noqa: F401
from test_cluster import P, customers_of, ctl, owner_of, table_text, write
from test_cluster_reload import reload_rpc
from test_cluster_routing import real_table, shards  # noqa: F401


def admin(server):
    pb2 = importlib.import_module("churn.v1.admin_pb2")
    stub = importlib.import_module("churn.v1.admin_pb2_grpc").AdminServiceStub(server.channel())
    return pb2, stub


def moving_assign(part, to, moving):
    return [f"assign {p} {to if p == part else ('a' if p < P // 2 else 'b')}"
            f"{' moving' if p == part and moving else ''}" for p in range(P)]


def bundle(*entries):
    """A version-1 bundle of (kind, key, value) entries, built here from the format."""
    out = b"\x01"
    for kind, key, value in entries:
        out += bytes([kind]) + len(key).to_bytes(4, "little") + key
        out += len(value).to_bytes(4, "little") + value
    return out


def alerts_of(api, server, cid):
    """@cid's alerts on @server (waiting for the alert engine to commit the first)."""
    pb2 = importlib.import_module("churn.v1.alert_pb2")
    stub = importlib.import_module("churn.v1.alert_pb2_grpc").AlertServiceStub(server.channel())
    for _ in range(200):
        got = stub.ListAlerts(pb2.ListAlertsRequest(filter=pb2.AlertFilter(customer_ids=[cid])),
                              timeout=RPC_TIMEOUT_S).alerts
        if got:
            return list(got)
        time.sleep(0.05)
    return []


def settled_view(api, server, cid, as_of):
    """customer_view() once two reads 300 ms apart agree (asynchronous writers are done)."""
    prev = customer_view(api, server, cid, as_of)
    for _ in range(30):
        time.sleep(0.3)
        cur = customer_view(api, server, cid, as_of)
        if cur == prev:
            return cur
        prev = cur
    return prev


def md(cid):
    return (("x-customer-id", cid),)


def chat_turns(api, server, cid, turns):
    stub = api.chat_grpc.ChatServiceStub(server.channel())
    reqs = [api.chat_pb2.AnalyzeChatRequest(conversation_id="conv-" + cid, customer_id=cid,
                                            turn_sequence=seq, role=1, text=text)
            for seq, text in turns]
    return list(stub.AnalyzeChat(iter(reqs), metadata=md(cid), timeout=RPC_TIMEOUT_S))


def customer_view(api, server, cid, as_of):
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    return stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=cid, as_of_ms=as_of),
                            metadata=md(cid), timeout=RPC_TIMEOUT_S)


def record_events(api, server, cid, now):
    evs = [api.ingest_pb2.Event(event_id=f"{cid}-l{d}", customer_id=cid,
                                occurred_at_ms=now - d * DAY_MS,
                                login=api.ingest_pb2.Event.Login()) for d in range(20, 0, -2)]
    evs.append(api.ingest_pb2.Event(
        event_id=f"{cid}-o", customer_id=cid, occurred_at_ms=now - 5 * DAY_MS,
        order=api.ingest_pb2.Event.Order(order_id="o1", amount=40, currency="USD", status=1)))
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    return stub.RecordEvents(iter(api.ingest_pb2.RecordEventsRequest(event=e) for e in evs),
                             metadata=md(cid), timeout=RPC_TIMEOUT_S), len(evs)


def test_a_moved_customer_keeps_record_events_and_chat(api, stubs, churnctl_bin, shards,
                                                       tmp_path):
    table, a, b = shards
    cid, stay = customers_of("a", 2)
    part = owner_of(cid)[0]
    now = int(time.time() * 1000)
    ingest = api.ingest_grpc.IngestServiceStub(a.channel())
    for c in (cid, stay):
        ingest.UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(customers=[
            api.ingest_pb2.Customer(customer_id=c, segment="enterprise", plan="gold",
                                    country="KR")]), metadata=md(c), timeout=RPC_TIMEOUT_S)
    summary, n_events = record_events(api, a, cid, now)
    assert summary.accepted == n_events, summary
    answers = chat_turns(api, a, cid, [(1, "the app keeps crashing"),
                                       (2, "I want to cancel my subscription")])
    assert answers[-1].churn_intent_seen or answers[-1].escalate, answers[-1]
    # b's own customer has an alert too: the first of b's log, as cid's is the first of a's
    bcust = customers_of("b", 1)[0]
    chat_turns(api, b, bcust, [(1, "I want to cancel my subscription")])
    first_a, first_b = alerts_of(api, a, cid), alerts_of(api, b, bcust)
    assert first_a[0].sequence == first_b[0].sequence, (first_a, first_b)
    before = settled_view(api, a, cid, now)  # the chat saver writes turns to the record

    # the move's steps: the old owner stops serving, the customers are copied, the new owner
    # takes the table, the move finishes
    begin = write(tmp_path / "begin.table", real_table(3, a, b, moving_assign(part, "b", True)))
    assert reload_rpc(api, a, open(begin).read()).epoch == 3
    r = ctl(churnctl_bin, "cluster", "copy", table, "--partitions", str(part), "--to", "b")
    assert r.returncode == 0, r.stderr
    copied = json.loads(r.stdout)
    assert (copied["copied"], copied["refused"]) == (1, 0), copied  # stay's partition stays
    assert reload_rpc(api, b, open(begin).read()).epoch == 3
    done = real_table(4, a, b, moving_assign(part, "b", False))
    for s in (b, a):
        assert reload_rpc(api, s, done).epoch == 4

    # the new owner serves the same full record
    after = customer_view(api, b, cid, now)
    for field in ("customer", "totals", "first_seen_at_ms", "last_seen_at_ms", "label",
                  "features", "freshness", "last_score"):
        if field == "features":
            diff = [(x.name, x, y) for x, y in zip(after.features, before.features) if x != y]
            assert not diff, diff
        assert getattr(after, field) == getattr(before, field), (field, after, before)
    assert after.customer.segment == "enterprise" and after.totals == before.totals
    # it knows the events sent straight to the old owner: a resend is all duplicates
    summary, _ = record_events(api, b, cid, now)
    assert (summary.accepted, summary.duplicates) == (0, n_events), summary
    # and the conversation: turn 2 again is a replay that remembers the churn intent
    again = chat_turns(api, b, cid, [(2, "I want to cancel my subscription")])
    assert again[0].replayed and again[0].churn_intent_seen, again[0]
    later = chat_turns(api, b, cid, [(3, "ok thanks")])
    assert not later[0].replayed and later[0].churn_intent_seen, later[0]
    # its alert state came without a's alert ids: a new escalation raises cid's own alert on
    # b and never folds into b's alert of the same number (bcust's)
    stub = api.chat_grpc.ChatServiceStub(b.channel())
    list(stub.AnalyzeChat(iter([api.chat_pb2.AnalyzeChatRequest(
        conversation_id="conv2-" + cid, customer_id=cid, turn_sequence=1, role=1,
        text="I want to cancel my subscription and close my account")]),
        metadata=md(cid), timeout=RPC_TIMEOUT_S))
    mine = alerts_of(api, b, cid)
    theirs = alerts_of(api, b, bcust)
    assert [x.revision_sequence for x in theirs] == [first_b[0].revision_sequence], theirs
    assert mine and all(x.customer_id == cid for x in mine), mine
    assert not {x.sequence for x in mine} & {x.sequence for x in theirs}, (mine, theirs)
    # the old owner refuses it, naming the new one; its other customer is still served there
    e = rpc_error(customer_view, api, a, cid, now)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    assert dict(e.trailing_metadata())["x-churn-owner"] == "b"
    assert customer_view(api, a, stay, now).customer.segment == "enterprise"
    # a copy of partitions a shard serves is refused before anything moves
    r = ctl(churnctl_bin, "cluster", "copy", table, "--partitions", str(owner_of(stay)[0]),
            "--to", "b")
    assert r.returncode == 1 and "is served here" in r.stderr, r.stderr
    assert_serving(stubs, a)
    assert_serving(stubs, b)


def test_hostile_exports_and_bundles_refused(api, stubs, shards):
    table, a, b = shards
    mine, other = customers_of("a", 2)
    theirs = customers_of("b", 1)[0]
    ingest = api.ingest_grpc.IngestServiceStub(a.channel())
    for c in (mine, other):
        ingest.UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(customers=[
            api.ingest_pb2.Customer(customer_id=c, segment="smb")]), metadata=md(c),
            timeout=RPC_TIMEOUT_S)
    pb2, stub_a = admin(a)
    _, stub_b = admin(b)
    part = owner_of(mine)[0]
    for req, code, reason in [
            (pb2.ExportCustomersRequest(partitions=[part]), grpc.StatusCode.FAILED_PRECONDITION,
             f"partition {part} is served here (epoch 2)"),
            (pb2.ExportCustomersRequest(partitions=[P]), grpc.StatusCode.INVALID_ARGUMENT,
             f"partitions: {P} is out of range (partitions are 0-{P - 1})"),
            (pb2.ExportCustomersRequest(), grpc.StatusCode.INVALID_ARGUMENT,
             "partitions: none given"),
            (pb2.ExportCustomersRequest(partitions=[P - 1], page_size=5000),
             grpc.StatusCode.INVALID_ARGUMENT, "page_size: 5000 is over 1000"),
            (pb2.ExportCustomersRequest(partitions=[P - 1], after="x" * 129),
             grpc.StatusCode.INVALID_ARGUMENT, "after: longer than 128 bytes")]:
        e = rpc_error(stub_a.ExportCustomers, req, timeout=RPC_TIMEOUT_S)
        assert e.code() == code and reason in e.details(), (req, e.code(), e.details())
    # b may export a's partition (it does not serve it) and finds nothing there
    page = stub_b.ExportCustomers(pb2.ExportCustomersRequest(partitions=[part]),
                                  timeout=RPC_TIMEOUT_S)
    assert (len(page.bundles), page.next_after) == (0, "")
    # a real bundle: a's customer, exported once its partition is not served by a
    assert reload_rpc(api, a, real_table(3, a, b, moving_assign(part, "b", True))).epoch == 3
    page = stub_a.ExportCustomers(pb2.ExportCustomersRequest(partitions=[part]),
                                  timeout=RPC_TIMEOUT_S)
    assert [x.id for x in page.bundles] == [mine] and page.next_after == "", page
    good = page.bundles[0].bundle
    m = mine.encode()
    hostile = [
        ("garbage", pb2.CustomerBundle(id=mine, bundle=b"\x00garbage"),
         "not a version-1 customer bundle"),
        ("another version", pb2.CustomerBundle(id=mine, bundle=b"\x09" + good[1:]),
         "not a version-1 customer bundle"),
        ("truncated", pb2.CustomerBundle(id=mine, bundle=good[:len(good) // 2]), "truncated"),
        ("empty", pb2.CustomerBundle(id=mine, bundle=b"\x01"), "the bundle holds nothing"),
        ("unknown kind", pb2.CustomerBundle(id=mine, bundle=bundle((9, m, b"\x01x"))),
         "entry 0: truncated or unknown"),
        ("a bundle under another id", pb2.CustomerBundle(id=other, bundle=good),
         f"record: its key is not customer {other}'s"),
        ("another customer's event id", pb2.CustomerBundle(id=mine, bundle=bundle(
            (1, theirs.encode() + b"\x00e1", b"\x01\x00\x00\x00\x00"))),
         f"event id: its key is not customer {mine}'s"),
        ("a record that does not decode", pb2.CustomerBundle(id=mine, bundle=bundle(
            (0, m, b"\x02" + b"\xff" * 40))), "record: "),
        ("two records", pb2.CustomerBundle(id=mine, bundle=good + good[1:]), "two records"),
        ("served here", pb2.CustomerBundle(id=theirs, bundle=good), "is served here"),
    ]
    resp = stub_b.ImportCustomers(pb2.ImportCustomersRequest(
        bundles=[h[1] for h in hostile]), timeout=RPC_TIMEOUT_S)
    assert resp.imported == 0, resp
    refused = {f.index: f.reason for f in resp.refused}
    for i, (name, _, reason) in enumerate(hostile):
        assert i in refused and reason in refused[i], (name, refused.get(i))
    # nothing of the refused bundles landed on b: the customer is still unknown there
    e = rpc_error(api.ingest_grpc.IngestServiceStub(b.channel()).GetCustomer,
                  api.ingest_pb2.GetCustomerRequest(customer_id=theirs), metadata=md(theirs),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.NOT_FOUND, e
    # the good bundle imports; over the request cap is refused whole
    ok = stub_b.ImportCustomers(pb2.ImportCustomersRequest(bundles=[page.bundles[0]]),
                                timeout=RPC_TIMEOUT_S)
    assert (ok.imported, len(ok.refused)) == (1, 0), ok
    big = pb2.ImportCustomersRequest(bundles=[pb2.CustomerBundle(id=mine, bundle=b"x" * (9 << 20))])
    e = rpc_error(stub_b.ImportCustomers, big, timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
    assert_serving(stubs, a)
    assert_serving(stubs, b)
