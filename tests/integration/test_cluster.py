"""Issue 16, churnd as a shard of a cluster (docs/CLUSTER.md), with real components on
loopback: the partition function equals NATS 2.9's `partition()` mapping on a real
nats-server; bad partition tables are refused by `churnctl cluster validate` and by churnd at
start, each naming what is wrong (gap, overlap, unknown shard, lower epoch, a NATS mapping
with another P); two shards started directly refuse a customer they do not own with
FAILED_PRECONDITION and the owner and epoch in trailers, a call without x-customer-id or with
one that differs from the request's customer_id with INVALID_ARGUMENT; a SIGHUP reload ends
the open streams of customers that moved and refuses a lower epoch. The whole cluster
(tools/cluster: 3 NATS nodes, HAProxy, 3 shards) is in test_cluster_up.py.
"""

import importlib.machinery
import importlib.util
import os
import signal
import subprocess
import threading

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, SOURCE_ROOT, assert_serving, rpc_error
from fixtures_data import api  # noqa: F401

P = 256


def fnv1a32(data):
    """The test's own FNV-1a-32 (offset basis 2166136261, prime 16777619)."""
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def tools_cluster():
    """tools/cluster as a module (its minimal NATS client, its free_ports)."""
    path = os.path.join(SOURCE_ROOT, "tools", "cluster")
    loader = importlib.machinery.SourceFileLoader("tools_cluster", path)
    spec = importlib.util.spec_from_loader("tools_cluster", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def table_text(epoch=1, partitions=P, assign=None, nats=""):
    """Two shards a and b; by default a owns the lower half, b the upper one."""
    assign = assign or [f"assign 0-{partitions // 2 - 1} a", f"assign {partitions // 2}-"
                        f"{partitions - 1} b"]
    return (f"partitions {partitions}\nepoch {epoch}\nshard a 127.0.0.1:50061\n"
            f"shard b 127.0.0.1:50062\n{nats}" + "\n".join(assign) + "\n")


def owner_of(cid, partitions=P):
    part = fnv1a32(cid.encode()) % partitions
    return part, ("a" if part < partitions // 2 else "b")


def customers_of(shard, n, prefix="c"):
    out, i = [], 0
    while len(out) < n:
        cid = f"{prefix}{i}"
        if owner_of(cid)[1] == shard:
            out.append(cid)
        i += 1
    return out


def ctl(churnctl_bin, *args):
    return subprocess.run([churnctl_bin, *args], capture_output=True, text=True,
                          timeout=RPC_TIMEOUT_S)


# -- the partition function and NATS --------------------------------------------------------

def test_partition_equals_nats_partition_mapping(churnctl_bin, tmp_path):
    """Publish to ingest.<id> on a real nats-server configured by `churnctl cluster generate`:
    the partition token NATS appends equals churnctl's partition and the test's FNV-1a-32."""
    tc = tools_cluster()
    client, route = tc.free_ports(2)
    table = write(tmp_path / "t.table", table_text(
        nats=f"nats n1 127.0.0.1:{client} 127.0.0.1:{route}\n"))
    gen = tmp_path / "gen"
    r = ctl(churnctl_bin, "cluster", "generate", table, "--out", str(gen), "--nats-store",
            str(tmp_path / "js"))
    assert r.returncode == 0, r.stderr
    ids = [f"cust-{i}" for i in range(300)] + ["Ünïcode-고객", "a", "x" * 128]
    r = ctl(churnctl_bin, "cluster", "owner", table, *ids)
    assert r.returncode == 0, r.stderr
    ctl_part = {}
    for line in r.stdout.splitlines():
        cid, _, part, _, shard, _ = line.split(" ")
        ctl_part[cid] = int(part)
        assert (int(part), shard) == owner_of(cid), line
    log = open(tmp_path / "nats.log", "wb")
    proc = subprocess.Popen(["nats-server", "-c", str(gen / "nats-n1.conf")],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        tc.wait_port(f"127.0.0.1:{client}", 20)
        nc = tc.Nats(f"127.0.0.1:{client}")
        nc.subscribe("ingest.*.*")
        nc.flush()
        for cid in ids:
            nc.publish(f"ingest.{cid}", cid.encode())
        nc.flush()
        seen = {}
        for _ in ids:
            subject, _, payload = nc.next_msg()
            seen[payload.decode()] = subject
        nc.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    for cid in ids:
        assert seen[cid] == f"ingest.{cid}.{ctl_part[cid]}", (cid, seen[cid])


# -- bad tables -----------------------------------------------------------------------------

BAD_TABLES = [
    ("gap", table_text(assign=["assign 0-100 a", "assign 120-255 b"]),
     "gap: partitions 101-119 have no shard"),
    ("overlap", table_text(assign=["assign 0-130 a", "assign 128-255 b"]),
     "overlap: partitions 128-130 are already assigned to a"),
    ("unknown shard", table_text(assign=["assign 0-127 a", "assign 128-255 c"]),
     "unknown shard 'c'"),
]


@pytest.mark.parametrize("name,text,reason", BAD_TABLES, ids=[b[0] for b in BAD_TABLES])
def test_bad_table_refused(churnctl_bin, churnd_factory, tmp_path, name, text, reason):
    table = write(tmp_path / "bad.table", text)
    r = ctl(churnctl_bin, "cluster", "validate", table)
    assert r.returncode == 2 and reason in r.stderr, r.stderr
    s = churnd_factory(args=["--cluster", table, "--shard", "a"], start=False)
    res = subprocess.run(s.args, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and reason in res.stderr, res.stderr


def test_lower_epoch_and_other_p_refused(churnctl_bin, churnd_factory, tmp_path):
    old = write(tmp_path / "old.table", table_text(epoch=5))
    new = write(tmp_path / "new.table", table_text(epoch=4))
    r = ctl(churnctl_bin, "cluster", "validate", new, "--in-force", old)
    assert r.returncode == 2 and "epoch 4 is lower than epoch 5 in force" in r.stderr, r.stderr
    # a NATS configuration that partitions into another P: refused by churnctl and at start
    nats = write(tmp_path / "nats.conf", 'accounts { A { mappings = { "ingest.*": '
                 '"ingest.{{wildcard(1)}}.{{partition(128,1)}}" } } }\n')
    r = ctl(churnctl_bin, "cluster", "validate", old, "--nats-config", nats)
    want = "the NATS mapping partitions into 128, the table into 256"
    assert r.returncode == 2 and want in r.stderr, r.stderr
    s = churnd_factory(args=["--cluster", old, "--shard", "a", "--cluster-nats-config", nats],
                       start=False)
    res = subprocess.run(s.args, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and want in res.stderr, res.stderr
    # a shard the table does not name
    s = churnd_factory(args=["--cluster", old, "--shard", "zz"], start=False)
    res = subprocess.run(s.args, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "zz" in res.stderr, res.stderr


# -- two shards, called directly ------------------------------------------------------------

@pytest.fixture
def shards(churnd_factory, tmp_path):
    table = write(tmp_path / "cluster.table", table_text())
    a = churnd_factory(args=["--cluster", table, "--shard", "a"])
    b = churnd_factory(args=["--cluster", table, "--shard", "b"])
    return table, a, b


def md(cid):
    return (("x-customer-id", cid),)


def test_owner_serves_non_owner_refuses_with_owner(api, shards):
    _, a, b = shards
    ingest = {s: api.ingest_grpc.IngestServiceStub(s.channel()) for s in (a, b)}
    cust = customers_of("a", 5) + customers_of("b", 5)
    for cid in cust:
        part, own = owner_of(cid)
        owner, other = (a, b) if own == "a" else (b, a)
        req = api.ingest_pb2.UpsertCustomersRequest(
            customers=[api.ingest_pb2.Customer(customer_id=cid, segment="smb")])
        ingest[owner].UpsertCustomers(req, metadata=md(cid), timeout=RPC_TIMEOUT_S)
        got = ingest[owner].GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=cid),
                                        metadata=md(cid), timeout=RPC_TIMEOUT_S)
        assert got.customer.customer_id == cid
        e = rpc_error(ingest[other].GetCustomer, api.ingest_pb2.GetCustomerRequest(
            customer_id=cid), metadata=md(cid), timeout=RPC_TIMEOUT_S)
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
        assert f"belongs to shard {own}" in e.details(), e.details()
        tr = dict(e.trailing_metadata())
        assert tr["x-churn-owner"] == own
        assert tr["x-churn-owner-address"] == ("127.0.0.1:50061" if own == "a"
                                               else "127.0.0.1:50062")
        assert tr["x-churn-epoch"] == "1"
        assert tr["x-churn-partition"] == str(part)


def test_header_missing_or_different(api, stubs, shards):
    _, a, _ = shards
    ingest = api.ingest_grpc.IngestServiceStub(a.channel())
    cid = customers_of("a", 1)[0]
    req = api.ingest_pb2.GetCustomerRequest(customer_id=cid)
    e = rpc_error(ingest.GetCustomer, req, timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    assert "x-customer-id: header missing" in e.details(), e.details()
    other = customers_of("a", 2)[1]
    e = rpc_error(ingest.GetCustomer, req, metadata=md(other), timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    assert (f"customer_id: '{cid}' differs from the x-customer-id header '{other}'"
            in e.details()), e.details()
    # a stream: the header is checked when the call starts
    chat = api.chat_grpc.ChatServiceStub(a.channel())
    turn = api.chat_pb2.AnalyzeChatRequest(conversation_id="k1", customer_id=cid,
                                           turn_sequence=1, role=1, text="hello")
    e = rpc_error(lambda: list(chat.AnalyzeChat(iter([turn]), timeout=RPC_TIMEOUT_S)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    # RPCs about no customer pass: health and the listings answer
    assert_serving(stubs, a)
    models = api.model_grpc.ModelServiceStub(a.channel())
    models.ListModels(api.model_pb2.ListModelsRequest(), timeout=RPC_TIMEOUT_S)


def test_sighup_ends_moved_streams_and_refuses_lower_epoch(api, stubs, shards):
    table, a, _ = shards
    stay, move = customers_of("a", 2)
    chat = api.chat_grpc.ChatServiceStub(a.channel())
    streams = {}
    for cid in (stay, move):
        q = []
        cond = threading.Condition()

        def requests(cid=cid, q=q, cond=cond):
            yield api.chat_pb2.AnalyzeChatRequest(conversation_id="conv-" + cid,
                                                  customer_id=cid, turn_sequence=1, role=1,
                                                  text="the app is great")
            with cond:
                cond.wait_for(lambda: q)

        call = chat.AnalyzeChat(requests(), metadata=md(cid), timeout=60)
        first = next(call)
        assert first.conversation_id == "conv-" + cid
        streams[cid] = (call, q, cond)
    # move's partition goes to b at epoch 2
    part = owner_of(move)[0]
    assign = [f"assign {p} {'b' if p == part or p >= P // 2 else 'a'}" for p in range(P)]
    write(table, table_text(epoch=2, assign=assign))
    a.signal(signal.SIGHUP)
    a.wait_log(r"cluster_table_reloaded.*streams_ended\W+1")
    call, q, cond = streams[move]
    e = rpc_error(lambda: next(call))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    assert f"customer '{move}' moved to shard b" in e.details() and "epoch 2" in e.details()
    # the customer that stayed keeps its stream; the moved one is refused on a new call
    call, q, cond = streams[stay]
    assert call.running() or not call.done()
    with cond:
        q.append(1)
        cond.notify_all()
    assert list(call) == []  # ends cleanly when the client closes
    e = rpc_error(api.ingest_grpc.IngestServiceStub(a.channel()).GetCustomer,
                  api.ingest_pb2.GetCustomerRequest(customer_id=move), metadata=md(move),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert dict(e.trailing_metadata())["x-churn-epoch"] == "2"
    c2 = streams[move][2]
    with c2:
        streams[move][1].append(1)
        c2.notify_all()
    # a lower epoch is refused, the table in force stays
    write(table, table_text(epoch=1))
    a.allow_stderr = r"cluster_table_refused"
    a.signal(signal.SIGHUP)
    a.wait_log(r"cluster_table_refused.*epoch 1 is lower than epoch 2 in force")
    e = rpc_error(api.ingest_grpc.IngestServiceStub(a.channel()).GetCustomer,
                  api.ingest_pb2.GetCustomerRequest(customer_id=move), metadata=md(move),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert_serving(stubs, a)


# -- churnctl cluster move: the tables of a move --------------------------------------------

def test_cluster_move_writes_successor_tables_and_refuses_bad_moves(churnctl_bin, tmp_path):
    old = write(tmp_path / "t1", table_text(epoch=3))
    nxt, fin = str(tmp_path / "t2"), str(tmp_path / "t3")
    r = ctl(churnctl_bin, "cluster", "move", old, "--partitions", "2-3", "--to", "b",
            "--out", nxt)
    assert r.returncode == 0 and "epoch 4: partitions moving" in r.stdout, r.stderr
    assert ctl(churnctl_bin, "cluster", "validate", nxt, "--in-force", old).returncode == 0
    ids = [c for c in (f"m{i}" for i in range(5000)) if fnv1a32(c.encode()) % P in (2, 3)]
    r = ctl(churnctl_bin, "cluster", "owner", nxt, ids[0], customers_of("a", 1)[0])
    assert r.stdout.splitlines()[0].endswith(" shard b 127.0.0.1:50062 (moving)"), r.stdout
    assert r.stdout.splitlines()[1].endswith(" shard a 127.0.0.1:50061"), r.stdout
    r = ctl(churnctl_bin, "cluster", "plan", old, nxt)
    assert f"2 of {P} partitions move" in r.stdout, r.stdout
    r = ctl(churnctl_bin, "cluster", "move", nxt, "--finish", "--out", fin)
    assert r.returncode == 0 and "epoch 5: moves finished" in r.stdout, r.stderr
    assert ctl(churnctl_bin, "cluster", "validate", fin, "--in-force", nxt).returncode == 0
    assert "moving" not in open(fin).read()
    x = str(tmp_path / "x")
    for args, want in [
            (["--partitions", "2-3", "--to", "b", "--out", x], "partition 2 is moving to shard b"),
            (["--partitions", "250-256", "--to", "a", "--out", x],
             "'250-256' is out of range (partitions are 0-255)"),
            (["--partitions", "x", "--to", "a", "--out", x],
             "'x' is not a partition or FROM-TO range"),
            (["--partitions", "9", "--to", "zz", "--out", x], "--to: no shard named 'zz'"),
            (["--partitions", "9", "--out", x], "expected --partitions FROM-TO --to SHARD"),
            (["--finish"], "expected --partitions FROM-TO --to SHARD --out NEW, or --finish"),
            (["--finish", "--to", "a", "--out", x], "expected --partitions FROM-TO")]:
        r = ctl(churnctl_bin, "cluster", "move", nxt, *args)
        assert r.returncode == 2 and want in r.stderr, (args, r.stderr)
    r = ctl(churnctl_bin, "cluster", "move", old, "--partitions", f"0-{P // 2 - 1}", "--to", "b",
            "--out", x)
    assert r.returncode == 2 and "shard a would own no partition" in r.stderr, r.stderr
    r = ctl(churnctl_bin, "cluster", "move", fin, "--finish", "--out", x)
    assert r.returncode == 2 and "no partition is moving at epoch 5" in r.stderr, r.stderr
    assert not os.path.exists(x)
