"""Issue 16, the partition table put in force on running shards through
AdminService.ReloadShardTable and `churnctl cluster reload`, over the wire on two real
shards: a good table takes effect at once (the moved customer is refused with the new owner
and epoch, its open stream ends, the file on disk holds the new table for a SIGHUP or a
restart); hostile or garbled tables (garbage, a NUL byte, a gap, an overlap, an unknown shard,
a lower epoch, the same epoch with another assignment, another P, this shard left out, over
1 MiB) are refused with the reason while the table in force keeps serving and the file is
untouched; an empty table re-reads the file; a churnd that is not a shard says so.
"""

import importlib
import json
import threading

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_data import api  # noqa: F401
from test_cluster import P, ctl, customers_of, md, owner_of, table_text, write

RELOAD = "/churn.v1.AdminService/ReloadShardTable"


@pytest.fixture
def shards(churnd_factory, tmp_path):
    """Two shards, each with its own copy of the epoch-1 table (a owns the lower half)."""
    out = []
    for name in ("a", "b"):
        table = write(tmp_path / f"{name}.table", table_text())
        out.append((table, churnd_factory(args=["--cluster", table, "--shard", name])))
    return out


def reload_rpc(api, server, text):
    """AdminService.ReloadShardTable(@text) on @server (the stubs are on sys.path via api)."""
    pb2 = importlib.import_module("churn.v1.admin_pb2")
    grpc_mod = importlib.import_module("churn.v1.admin_pb2_grpc")
    stub = grpc_mod.AdminServiceStub(server.channel())
    data = text.encode() if isinstance(text, str) else text
    return stub.ReloadShardTable(pb2.ReloadShardTableRequest(table=data), timeout=RPC_TIMEOUT_S)


def moved_table(epoch, part, addrs=None):
    """Partition @part goes from a to b; the rest as in table_text()."""
    assign = [f"assign {p} {'b' if p == part or p >= P // 2 else 'a'}" for p in range(P)]
    text = table_text(epoch=epoch, assign=assign)
    for old, new in zip(("127.0.0.1:50061", "127.0.0.1:50062"), addrs or ()):
        text = text.replace(old, new)
    return text


def get_customer(api, server, cid):
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    return stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=cid),
                            metadata=md(cid), timeout=RPC_TIMEOUT_S)


def upsert(api, server, cid):
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    stub.UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(
        customers=[api.ingest_pb2.Customer(customer_id=cid, segment="smb")]),
        metadata=md(cid), timeout=RPC_TIMEOUT_S)


def open_chat(api, server, cid):
    """A chat stream about @cid left open after its first answer; close() ends it."""
    chat = api.chat_grpc.ChatServiceStub(server.channel())
    done = threading.Event()

    def turns():
        yield api.chat_pb2.AnalyzeChatRequest(conversation_id="conv-" + cid, customer_id=cid,
                                              turn_sequence=1, role=1, text="fine, thanks")
        done.wait(60)

    call = chat.AnalyzeChat(turns(), metadata=md(cid), timeout=60)
    assert next(call).conversation_id == "conv-" + cid
    return call, done


def test_churnctl_reload_puts_table_in_force_everywhere(api, churnctl_bin, shards, tmp_path):
    (table_a, a), (table_b, b) = shards
    stay, move = customers_of("a", 2)
    for cid in (stay, move):
        upsert(api, a, cid)
    call, done = open_chat(api, a, move)
    part = owner_of(move)[0]
    # epoch 2, with the shards' real addresses: churnctl sends it to every shard it names
    new = write(tmp_path / "new.table", moved_table(2, part, (a.address, b.address)))
    r = ctl(churnctl_bin, "cluster", "reload", new)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["shard"], x["address"], x["result"]) for x in lines] == [
        ("a", a.address, "reloaded"), ("b", b.address, "reloaded")], lines
    assert [(x["previous_epoch"], x["epoch"]) for x in lines] == [(1, 2), (1, 2)]
    assert [x["partitions_owned"] for x in lines] == [P // 2 - 1, P // 2 + 1]
    assert [x["streams_ended"] for x in lines] == [1, 0]
    # the open stream of the moved customer ended naming the new owner
    e = rpc_error(lambda: next(call))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    assert f"customer '{move}' moved to shard b ({b.address}) at epoch 2" in e.details()
    done.set()
    # a refuses the moved customer with the new owner's real address; the other stays
    e = rpc_error(get_customer, api, a, move)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    tr = dict(e.trailing_metadata())
    assert (tr["x-churn-owner"], tr["x-churn-owner-address"], tr["x-churn-epoch"]) == (
        "b", b.address, "2")
    assert get_customer(api, a, stay).customer.customer_id == stay
    with pytest.raises(grpc.RpcError) as nf:  # b owns it now (its record has not moved here)
        get_customer(api, b, move)
    assert nf.value.code() == grpc.StatusCode.NOT_FOUND, nf.value
    # each shard's --cluster file holds the new table: a restart keeps epoch 2
    for path in (table_a, table_b):
        assert open(path).read() == open(new).read()
    a.stop()
    a.start()
    e = rpc_error(get_customer, api, a, move)
    assert dict(e.trailing_metadata())["x-churn-epoch"] == "2"
    # --shard sends to one shard only; an unknown one is refused before any call
    three = write(tmp_path / "three.table", moved_table(3, part, (a.address, b.address)))
    r = ctl(churnctl_bin, "cluster", "reload", three, "--shard", "b")
    assert r.returncode == 0 and [json.loads(x)["shard"] for x in r.stdout.splitlines()] == [
        "b"], r.stdout
    r = ctl(churnctl_bin, "cluster", "reload", three, "--shard", "zz")
    assert r.returncode == 2 and "names no shard 'zz'" in r.stderr, r.stderr


def bad_tables():
    good = table_text(epoch=2)
    return [
        ("garbage", "\x01\x02 this is not a table", grpc.StatusCode.INVALID_ARGUMENT,
         "table:1: unknown keyword"),
        ("nul byte", good.replace("epoch 2", "epoch 2\x00"), grpc.StatusCode.INVALID_ARGUMENT,
         "NUL byte in the line"),
        ("gap", table_text(epoch=2, assign=["assign 0-100 a", "assign 120-255 b"]),
         grpc.StatusCode.INVALID_ARGUMENT, "gap: partitions 101-119 have no shard"),
        ("overlap", table_text(epoch=2, assign=["assign 0-130 a", "assign 128-255 b"]),
         grpc.StatusCode.INVALID_ARGUMENT, "overlap: partitions 128-130 are already assigned"),
        ("unknown shard", table_text(epoch=2, assign=["assign 0-127 a", "assign 128-255 c"]),
         grpc.StatusCode.INVALID_ARGUMENT, "unknown shard 'c'"),
        ("lower epoch", table_text(epoch=0), grpc.StatusCode.FAILED_PRECONDITION,
         "epoch 0 is lower than epoch 1 in force"),
        ("same epoch, other owners", table_text(epoch=1, assign=["assign 0-99 a",
                                                                 "assign 100-255 b"]),
         grpc.StatusCode.FAILED_PRECONDITION,
         "the assignment changed but the epoch is still 1: raise the epoch"),
        ("other P", table_text(epoch=2, partitions=128), grpc.StatusCode.FAILED_PRECONDITION,
         "partitions 128 differs from 256 in force: P is fixed"),
        ("this shard left out", "partitions 256\nepoch 2\nshard b 127.0.0.1:50062\n"
         "assign 0-255 b\n", grpc.StatusCode.INVALID_ARGUMENT,
         "table: no shard named 'a' in the table"),
        ("over 1 MiB", good + "# " + "x" * (1 << 20) + "\n",
         grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
    ]


@pytest.mark.parametrize("name,text,code,reason", bad_tables(), ids=[t[0] for t in bad_tables()])
def test_hostile_table_refused_old_one_serves(api, stubs, shards, name, text, code, reason):
    (table_a, a), _ = shards
    before = open(table_a).read()
    cid = customers_of("a", 1)[0]
    upsert(api, a, cid)
    e = rpc_error(reload_rpc, api, a, text)
    assert e.code() == code, (e.code(), e.details())
    assert reason in e.details(), e.details()
    if code != grpc.StatusCode.RESOURCE_EXHAUSTED:
        assert "the table in force (epoch 1) stays" in e.details(), e.details()
    # nothing changed: the file, the owner, the epoch in the refusals
    assert open(table_a).read() == before
    assert get_customer(api, a, cid).customer.customer_id == cid
    other = customers_of("b", 1)[0]
    e = rpc_error(get_customer, api, a, other)
    assert dict(e.trailing_metadata())["x-churn-epoch"] == "1"
    assert_serving(stubs, a)


def test_churnctl_reports_a_refusal_with_the_reason(api, churnctl_bin, shards, tmp_path):
    (_, a), _ = shards
    bad = write(tmp_path / "bad.table", table_text(epoch=0))
    r = ctl(churnctl_bin, "cluster", "reload", bad, "--address", a.address)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["result"] == "refused", r.stdout
    assert "FAILED_PRECONDITION" in r.stderr and "epoch 0 is lower than epoch 1" in r.stderr
    # without --address, churnctl checks the table itself before sending it anywhere
    gap = write(tmp_path / "gap.table", table_text(epoch=2, assign=["assign 0-9 a",
                                                                    "assign 20-255 b"]))
    r = ctl(churnctl_bin, "cluster", "reload", gap)
    assert r.returncode == 2 and "gap: partitions 10-19 have no shard" in r.stderr, r.stderr
    assert r.stdout == ""


def test_empty_table_rereads_the_file(api, shards):
    (table_a, a), _ = shards
    cid = customers_of("a", 1)[0]
    write(table_a, moved_table(2, owner_of(cid)[0]))
    r = reload_rpc(api, a, b"")
    assert (r.shard, r.previous_epoch, r.epoch, r.partitions_owned, r.partitions_moving) == (
        "a", 1, 2, P // 2 - 1, 0), r
    e = rpc_error(get_customer, api, a, cid)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    # re-reading the same file again is allowed (same epoch, same assignment)
    assert reload_rpc(api, a, b"").epoch == 2


def test_not_a_shard(api, server):
    e = rpc_error(reload_rpc, api, server, table_text())
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    assert "not a shard of a cluster" in e.details(), e.details()
