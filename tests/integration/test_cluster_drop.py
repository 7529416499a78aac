"""Issue 16, the last step of a move: the old owner's copy. On two real shards sweeping every
second, a customer with events, an alert and an outcome is moved from a to b by the steps of a
move. From the finishing table on, a's sweep no longer feeds the moved customer (its copy is
never rescored or alerted on: `churn_sweep_customers` counts only what a serves), b's does.
`churnctl cluster drop` then deletes a's copy (record, alerts, outcomes) and nothing of b's;
AdminService.DropPartitions refuses, with the reason, a partition the shard owns, one moving,
another epoch than the one in force, and malformed pages; a drop repeated finds nothing.
"""

import importlib
import json
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_admin import parse_exposition, scrape
from fixtures_data import api, demo_store  # noqa: F401
from test_cluster import P, customers_of, ctl, owner_of, table_text, write
from test_cluster_alert_move import alert_api, history
from test_cluster_handover import (admin, alerts_of, chat_turns, customer_view, md, moving_assign,
                                   record_events)
from test_cluster_reload import reload_rpc
from test_cluster_routing import real_table
from test_engine_scores import metric

SWEEP = ["--sweep-interval-s", "1", "--sweep-delay-s", "1"]


@pytest.fixture
def swept(api, churnd_factory, demo_store, tmp_path):
    """Two shards with a model sweeping every second (a: lower half, b: upper), the epoch-2
    table in force."""
    a, b = (churnd_factory(args=["--cluster", write(tmp_path / f"{n}.table", table_text()),
                                 "--shard", n, "--model", demo_store.logreg] + SWEEP)
            for n in ("a", "b"))
    for s in (a, b):
        assert reload_rpc(api, s, real_table(2, a, b)).epoch == 2
    return write(tmp_path / "real.table", real_table(2, a, b)), a, b


def sweep_state(server):
    s = parse_exposition(scrape(server))
    return s[("churn_sweep_runs_total", frozenset())], s[("churn_sweep_customers", frozenset())]


def swept_customers(server, runs=2):
    """churn_sweep_customers once @runs more sweeps have finished."""
    start = sweep_state(server)[0]
    for _ in range(300):
        done, customers = sweep_state(server)
        if done >= start + runs:
            return customers
        time.sleep(0.1)
    raise AssertionError(f"no sweep finished on {server.address}")


def drop_rpc(server, **kw):
    pb2, stub = admin(server)
    return stub.DropPartitions(pb2.DropPartitionsRequest(**kw), timeout=RPC_TIMEOUT_S)


def test_old_copy_is_not_swept_then_dropped(api, stubs, churnctl_bin, swept, tmp_path):
    table, a, b = swept
    cid = customers_of("a", 1)[0]
    part = owner_of(cid)[0]
    stay = [c for c in customers_of("a", 20) if owner_of(c)[0] != part][0]
    ingest = api.ingest_grpc.IngestServiceStub(a.channel())
    for c in (cid, stay):
        ingest.UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(customers=[
            api.ingest_pb2.Customer(customer_id=c, segment="smb")]), metadata=md(c),
            timeout=RPC_TIMEOUT_S)
    chat_turns(api, a, cid, [(1, "I want to cancel my subscription")])
    first = alerts_of(api, a, cid)[0]
    pb2, stub_a = alert_api(a)
    stub_a.RecordOutcome(pb2.RecordOutcomeRequest(
        customer_id=cid, alert_sequence=first.sequence, outcome=pb2.OUTCOME_CHURNED,
        observed_at_ms=int(time.time() * 1000)), metadata=md(cid), timeout=RPC_TIMEOUT_S)
    n_revisions = len(history(a, cid))
    assert swept_customers(a) == 2

    begin = real_table(3, a, b, moving_assign(part, "b", True))
    assert reload_rpc(api, a, begin).epoch == 3
    r = ctl(churnctl_bin, "cluster", "copy", table, "--partitions", str(part), "--to", "b")
    assert r.returncode == 0, r.stderr
    done = write(tmp_path / "done.table", real_table(4, a, b, moving_assign(part, "b", False)))
    assert reload_rpc(api, b, begin).epoch == 3
    for s in (b, a):
        assert reload_rpc(api, s, open(done).read()).epoch == 4
    # a keeps the copy but sweeps only what it serves; b sweeps the moved customer
    assert swept_customers(a) == 1
    assert swept_customers(b) == 1
    assert len(history(a, cid)) == n_revisions  # nothing raised on the old copy

    # refused, each with the reason, before anything is deleted
    e = rpc_error(drop_rpc, b, epoch=4, partitions=[part])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    assert f"partition {part} is owned by this shard (epoch 4)" in e.details()
    for kw, code, reason in [
            (dict(epoch=3, partitions=[part]), grpc.StatusCode.FAILED_PRECONDITION,
             "epoch: the table in force here is epoch 4, not 3"),
            (dict(partitions=[part]), grpc.StatusCode.INVALID_ARGUMENT, "epoch: required"),
            (dict(epoch=4), grpc.StatusCode.INVALID_ARGUMENT, "partitions: none given"),
            (dict(epoch=4, partitions=[P]), grpc.StatusCode.INVALID_ARGUMENT,
             f"partitions: {P} is out of range (partitions are 0-{P - 1})"),
            (dict(epoch=4, partitions=[part], page_size=5000), grpc.StatusCode.INVALID_ARGUMENT,
             "page_size: 5000 is over 1000"),
            (dict(epoch=4, partitions=[part], after="x" * 129),
             grpc.StatusCode.INVALID_ARGUMENT, "after: longer than 128 bytes")]:
        e = rpc_error(drop_rpc, a, **kw)
        assert e.code() == code and reason in e.details(), (kw, e.code(), e.details())
    assert len(history(a, cid)) == n_revisions

    # the drop: a's copy goes (record, alert revisions, outcome); b owns the partition and is
    # not asked
    r = ctl(churnctl_bin, "cluster", "drop", done, "--partitions", str(part))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["shard"], x["result"], x["customers"], x["alerts"], x["outcomes"])
            for x in lines] == [("a", "dropped", 1, n_revisions, 1)], lines
    assert history(a, cid) == []
    apb2, admin_a = admin(a)
    page = admin_a.ExportCustomers(apb2.ExportCustomersRequest(partitions=[part]),
                                   timeout=RPC_TIMEOUT_S)
    assert list(page.bundles) == [], page
    assert customer_view(api, a, stay, 0).customer.segment == "smb"  # a's own customer stays
    assert customer_view(api, b, cid, 0).customer.segment == "smb"  # b's copy is untouched
    assert len(history(b, cid)) == n_revisions
    again = ctl(churnctl_bin, "cluster", "drop", done, "--partitions", str(part), "--shard", "a")
    assert again.returncode == 0 and json.loads(again.stdout)["customers"] == 0, again

    # a move in flight: refused by churnctl from the table, and by the shard itself
    q = owner_of(stay)[0]
    moving = real_table(5, a, b, [f"assign {p} {'b' if p in (part, q) else ('a' if p < P // 2 else 'b')}"
                                  f"{' moving' if p == q else ''}" for p in range(P)])
    assert reload_rpc(api, a, moving).epoch == 5
    e = rpc_error(drop_rpc, a, epoch=5, partitions=[q])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    assert f"partition {q} is moving (epoch 5): finish the move first" in e.details()
    r = ctl(churnctl_bin, "cluster", "drop", write(tmp_path / "moving.table", moving),
            "--partitions", str(q))
    assert r.returncode != 0 and "finish the move first" in r.stderr, r
    assert_serving(stubs, a)
    assert_serving(stubs, b)


def test_drop_on_a_server_that_is_no_shard(api, server):
    e = rpc_error(drop_rpc, server, epoch=1, partitions=[0])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    assert "not a shard" in e.details()


def get_score(api, server, cid):
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    return stub.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=cid), metadata=md(cid),
                         timeout=RPC_TIMEOUT_S)


def kept_answer(api, server, cid):
    """GetScore of cid until its answer comes from the answer cache (the stored score it is
    built from is written in the background): that answer."""
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while True:
        hits = metric(server, "churn_answer_cache_lookups_total", result="hit")
        resp = get_score(api, server, cid)
        if metric(server, "churn_answer_cache_lookups_total", result="hit") > hits:
            return resp
        assert time.monotonic() < deadline, f"no answer of {cid} was ever kept"
        time.sleep(0.05)


def test_a_dropped_partition_leaves_no_kept_answer(api, churnctl_bin, churnd_factory, demo_store,
                                                   tmp_path):
    """Issue 12's kept GetScore answers and issue 16's drop: the drop forgets the answers kept
    for the dropped customers, as DeleteCustomer does (the one erase path), and nothing else's;
    when the partition comes back with newer data, its customer is answered from that data."""
    a, b = (churnd_factory(args=["--cluster", write(tmp_path / f"{n}.table", table_text()),
                                 "--shard", n, "--model", demo_store.logreg,
                                 "--sweep-interval-s", "0"]) for n in ("a", "b"))
    for s in (a, b):
        assert reload_rpc(api, s, real_table(2, a, b)).epoch == 2
    table = write(tmp_path / "real.table", real_table(2, a, b))
    cid = customers_of("a", 1)[0]
    part = owner_of(cid)[0]
    stay = [c for c in customers_of("a", 20) if owner_of(c)[0] != part][0]
    now = int(time.time() * 1000)
    for c in (cid, stay):
        record_events(api, a, c, now)
    kept = kept_answer(api, a, cid)
    kept_answer(api, a, stay)
    entries = metric(a, "churn_answer_cache_entries")
    assert entries == 2

    begin = real_table(3, a, b, moving_assign(part, "b", True))
    for s in (a, b):
        assert reload_rpc(api, s, begin).epoch == 3
    r = ctl(churnctl_bin, "cluster", "copy", table, "--partitions", str(part), "--to", "b")
    assert r.returncode == 0, r.stderr
    done = real_table(4, a, b, moving_assign(part, "b", False))
    for s in (b, a):
        assert reload_rpc(api, s, done).epoch == 4
    assert drop_rpc(a, epoch=4, partitions=[part]).customers_dropped == 1
    # cid's kept answer went with its record; stay's is still kept and still served
    assert metric(a, "churn_answer_cache_entries") == entries - 1
    hits = metric(a, "churn_answer_cache_lookups_total", result="hit")
    get_score(api, a, stay)
    assert metric(a, "churn_answer_cache_lookups_total", result="hit") == hits + 1

    # b takes a newer event of cid, then the partition moves back to a
    at = now - 1000
    ingest = api.ingest_grpc.IngestServiceStub(b.channel())
    ingest.RecordEvents(iter([api.ingest_pb2.RecordEventsRequest(event=api.ingest_pb2.Event(
        event_id=f"{cid}-back", customer_id=cid, occurred_at_ms=at,
        login=api.ingest_pb2.Event.Login()))]), metadata=md(cid), timeout=RPC_TIMEOUT_S)
    back = real_table(5, a, b, moving_assign(part, "a", True))
    for s in (a, b):
        assert reload_rpc(api, s, back).epoch == 5
    r = ctl(churnctl_bin, "cluster", "copy", write(tmp_path / "done.table", done),
            "--partitions", str(part), "--to", "a")
    assert r.returncode == 0, r.stderr
    home = real_table(6, a, b, moving_assign(part, "a", False))
    for s in (a, b):
        assert reload_rpc(api, s, home).epoch == 6
    hits = metric(a, "churn_answer_cache_lookups_total", result="hit")
    again = get_score(api, a, cid)
    assert metric(a, "churn_answer_cache_lookups_total", result="hit") == hits
    assert again.score.freshness.last_event_at_ms == at
    assert again.SerializeToString() != kept.SerializeToString()
    assert kept_answer(api, a, cid).score.freshness.last_event_at_ms == at
