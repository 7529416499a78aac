"""Issue 16, the whole local cluster from `tools/cluster up` (3 NATS nodes, HAProxy 2.6 on
the generated partition map, 3 churnd shards on loopback): 3,000 customers written and read
through the proxy, each landing on the shard the table names (a non-owner would refuse it,
and each owner holds exactly its customers when asked directly); a call without
x-customer-id answered INVALID_ARGUMENT by the proxy; a shard killed with SIGKILL: its
customers get UNAVAILABLE through the proxy (never another shard's answer), the other
shards' customers keep being served, and once restarted it serves its customers again with
their records. `tools/cluster down` stops every process it started. A customers file goes
through the proxy with `churnctl import --server PROXY --cluster TABLE` (one UpsertCustomers
per owning shard; without the table the proxy refuses the mixed batch), and
`churnctl cluster at-risk` merges every shard's at-risk customers by priority, each item
naming its owner; the proxy takes an x-churn-partition hint instead of computing the
partition (a bad one refused by the proxy, a wrong one by the shard naming the owner).
"""

import contextlib
import json
import os
import subprocess
import sys
import time

import grpc
import pytest

from conftest import BAD_STDERR, RPC_TIMEOUT_S, SOURCE_ROOT, rpc_error
from fixtures_data import DAY_MS, api, demo_store  # noqa: F401
from test_cluster import fnv1a32

N_CUSTOMERS = 3000
UP_TIMEOUT_S = 180


def tool():
    return [sys.executable, os.path.join(SOURCE_ROOT, "tools", "cluster")]


@contextlib.contextmanager
def cluster_up(d, churnd_bin, churnctl_bin, args, timeout):
    """`tools/cluster up d ARGS...`: yields its stdout lines and the environment; then `down`
    and no error line in any shard's log."""
    env = dict(os.environ, CHURND=churnd_bin, CHURNCTL=churnctl_bin)
    r = subprocess.run(tool() + ["up", str(d)] + args, capture_output=True, text=True, env=env,
                       timeout=timeout)
    try:
        assert r.returncode == 0, r.stderr
        yield r.stdout.splitlines(), env
    finally:
        subprocess.run(tool() + ["down", str(d)], env=env, timeout=120, check=True)
    assert_clean_logs(str(d))


@pytest.fixture
def cluster(churnd_bin, churnctl_bin, demo_store, tmp_path):
    d = tmp_path / "cluster"
    with cluster_up(d, churnd_bin, churnctl_bin, ["--shards", "3", "--no-streams", "--model",
                                                  demo_store.logreg],
                    UP_TIMEOUT_S) as (lines, env):
        out = {"dir": str(d), "shards": {}}
        for line in lines:
            kind, rest = line.split(" ", 1)
            if kind == "shard":
                name, addr = rest.split(" ")
                out["shards"][name] = addr
            else:
                out[kind] = rest
        assert set(out) == {"dir", "shards", "proxy", "nats"}, lines
        assert sorted(out["shards"]) == ["s1", "s2", "s3"], lines
        assert len(out["nats"].split(",")) == 3, lines
        for name in out["shards"]:  # one completion-queue worker each (--shard-workers)
            with open(d / f"shard-{name}" / "churnd.log", errors="replace") as f:
                assert " listening " in (log := f.read()) and " workers=1 " in log, log[-2000:]
        out["env"] = env
        yield out
    with open(d / "cluster.json") as f:
        state = json.load(f)
    for p in state["procs"]:  # down left nothing running
        assert not os.path.exists(f"/proc/{p['pid']}") or \
            open(f"/proc/{p['pid']}/stat").read().split()[2] == "Z", p


def assert_clean_logs(d):
    """No shard logged an error line or a sanitizer report."""
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name, "churnd.log")
        if name.startswith("shard-") and os.path.exists(path):
            with open(path, errors="replace") as f:
                text = f.read()
            m = BAD_STDERR.search(text)
            assert not m, f"{path}: {text[max(0, m.start() - 200):m.end() + 800]}"


def owner(cid, partitions=256, shards=3):
    """tools/cluster up splits P evenly: shard i+1 owns [i*P/n, (i+1)*P/n)."""
    return owner_of_partition(fnv1a32(cid.encode()) % partitions, partitions, shards)


def md(cid):
    return (("x-customer-id", cid),)


def run_all(fn, reqs):
    """Start every call as a future, then collect (result or grpc.RpcError) in order."""
    futs = [fn.future(req, metadata=md(cid), timeout=RPC_TIMEOUT_S) for cid, req in reqs]
    out = []
    for f in futs:
        try:
            out.append(f.result())
        except grpc.RpcError as e:
            out.append(e)
    return out


def test_routing_and_a_killed_shard(api, cluster):
    proxy = grpc.insecure_channel(cluster["proxy"])
    direct = {n: grpc.insecure_channel(a) for n, a in cluster["shards"].items()}
    try:
        ingest = api.ingest_grpc.IngestServiceStub(proxy)
        ids = [f"cust-{i:05d}" for i in range(N_CUSTOMERS)]
        owners = {cid: owner(cid) for cid in ids}
        assert {s: list(owners.values()).count(s) > 600 for s in direct} == \
            {s: True for s in direct}
        ups = run_all(ingest.UpsertCustomers, [(cid, api.ingest_pb2.UpsertCustomersRequest(
            customers=[api.ingest_pb2.Customer(customer_id=cid, segment=owners[cid])]))
            for cid in ids])
        bad = [(cid, r) for cid, r in zip(ids, ups) if isinstance(r, grpc.RpcError)]
        assert not bad, bad[:3]
        # each shard, asked directly, holds exactly its own customers
        for name, ch in direct.items():
            stub = api.ingest_grpc.IngestServiceStub(ch)
            got = run_all(stub.GetCustomer, [(cid, api.ingest_pb2.GetCustomerRequest(
                customer_id=cid)) for cid in ids[:600]])
            for cid, r in zip(ids[:600], got):
                if owners[cid] == name:
                    assert not isinstance(r, grpc.RpcError), (cid, r)
                    assert r.customer.segment == name
                else:
                    assert r.code() == grpc.StatusCode.FAILED_PRECONDITION, (cid, name, r)
                    assert dict(r.trailing_metadata())["x-churn-owner"] == owners[cid]
        # every read through the proxy is answered by the owner
        got = run_all(ingest.GetCustomer, [(cid, api.ingest_pb2.GetCustomerRequest(
            customer_id=cid)) for cid in ids])
        for cid, r in zip(ids, got):
            assert not isinstance(r, grpc.RpcError), (cid, r)
            assert (r.customer.customer_id, r.customer.segment) == (cid, owners[cid])
        # no header: the proxy answers INVALID_ARGUMENT itself
        e = rpc_error(ingest.GetCustomer, api.ingest_pb2.GetCustomerRequest(
            customer_id=ids[0]), timeout=RPC_TIMEOUT_S)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "x-customer-id" in e.details()

        # s2 killed: its customers UNAVAILABLE through the proxy, the others served
        subprocess.run(tool() + ["kill", cluster["dir"], "s2", "--signal", "KILL"],
                       env=cluster["env"], timeout=60, check=True)
        sample = ids[:900]
        got = run_all(ingest.GetCustomer, [(cid, api.ingest_pb2.GetCustomerRequest(
            customer_id=cid)) for cid in sample])
        for cid, r in zip(sample, got):
            if owners[cid] == "s2":
                assert isinstance(r, grpc.RpcError), (cid, r)
                assert r.code() == grpc.StatusCode.UNAVAILABLE, (cid, r)
            else:
                assert not isinstance(r, grpc.RpcError), (cid, r)
                assert r.customer.segment == owners[cid]
        # restarted, s2 serves its customers again, with their records
        subprocess.run(tool() + ["start", cluster["dir"], "s2"], env=cluster["env"],
                       timeout=60, check=True)
        got = run_all(ingest.GetCustomer, [(cid, api.ingest_pb2.GetCustomerRequest(
            customer_id=cid)) for cid in sample if owners[cid] == "s2"])
        for r in got:
            assert not isinstance(r, grpc.RpcError), r
            assert r.customer.segment == "s2"
    finally:
        proxy.close()
        for ch in direct.values():
            ch.close()


def churnctl(churnctl_bin, *args):
    return subprocess.run([churnctl_bin] + list(args), capture_output=True, text=True,
                          timeout=120)


def test_import_customers_through_the_proxy_and_at_risk_fan_out(api, churnctl_bin, cluster,
                                                                tmp_path):
    table = os.path.join(cluster["dir"], "cluster.table")
    ids = [f"imp-{i}" for i in range(60)]
    owners = {cid: owner(cid) for cid in ids}
    assert set(owners.values()) == {"s1", "s2", "s3"}
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,segment,plan\n" +
                    "".join(f"{cid},{owners[cid]},pro\n" for cid in ids))
    # without the table one UpsertCustomers mixes shards: the proxy refuses it
    r = churnctl(churnctl_bin, "import", "--customers", str(path), "--server", cluster["proxy"])
    assert r.returncode == 1 and "x-customer-id: header missing" in r.stderr, r.stderr
    r = churnctl(churnctl_bin, "import", "--customers", str(path), "--server", cluster["proxy"],
                 "--cluster", table, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["customers"]["accepted"] == len(ids), r.stdout
    for name, addr in cluster["shards"].items():  # each owner holds its customers
        with grpc.insecure_channel(addr) as ch:
            stub = api.ingest_grpc.IngestServiceStub(ch)
            mine = [c for c in ids if owners[c] == name]
            for cid, got in zip(mine, run_all(stub.GetCustomer, [
                    (c, api.ingest_pb2.GetCustomerRequest(customer_id=c)) for c in mine])):
                assert not isinstance(got, grpc.RpcError), (cid, got)
                assert got.customer.segment == name
    # an event line in a customers file goes to its owner too (test_cluster_routing.py)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"customer_id": ids[0], "segment": owners[ids[0]]}) + "\n" +
                     json.dumps({"event_id": "m1", "customer_id": ids[0], "type": "login",
                                 "occurred_at_ms": int(time.time() * 1000)}) + "\n")
    r = churnctl(churnctl_bin, "import", "--customers", str(mixed), "--server",
                 cluster["proxy"], "--cluster", table, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"]["accepted"] == 1, r.stdout

    # history through the proxy (RecordEvents per customer): logins long ago, a plan worth
    # 10 + i a month, bad reviews and refunds, then silence (every tier is listed: how much
    # risk the model sees in that varies with the model)
    now = int(time.time() * 1000)
    with grpc.insecure_channel(cluster["proxy"]) as ch:
        stub = api.ingest_grpc.IngestServiceStub(ch)
        for i, cid in enumerate(ids):
            evs = [api.ingest_pb2.Event(event_id=f"{cid}-l{d}", customer_id=cid,
                                        occurred_at_ms=now - d * DAY_MS,
                                        login=api.ingest_pb2.Event.Login())
                   for d in range(170, 100, -10)]
            evs.append(api.ingest_pb2.Event(
                event_id=f"{cid}-p", customer_id=cid, occurred_at_ms=now - 160 * DAY_MS,
                plan_change=api.ingest_pb2.Event.PlanChange(direction=1, to_plan="pro",
                                                            monthly_value=10.0 + i)))
            evs += [api.ingest_pb2.Event(  # unhappy lately
                event_id=f"{cid}-r{d}", customer_id=cid, occurred_at_ms=now - d * DAY_MS,
                review=api.ingest_pb2.Event.Review(rating=1, text="awful")) for d in (40, 30, 20)]
            evs += [api.ingest_pb2.Event(
                event_id=f"{cid}-o{d}", customer_id=cid, occurred_at_ms=now - d * DAY_MS,
                order=api.ingest_pb2.Event.Order(order_id=f"o{d}", amount=50, currency="USD",
                                                 status=3)) for d in (45, 35)]
            r = stub.RecordEvents(iter(api.ingest_pb2.RecordEventsRequest(event=e)
                                       for e in evs), metadata=md(cid), timeout=RPC_TIMEOUT_S)
            assert r.accepted == len(evs), r
        # scored now (listings read the score index, which every score computed feeds)
        scoring = api.scoring_grpc.ScoringServiceStub(ch)
        for cid in ids:
            scoring.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=cid), metadata=md(cid),
                             timeout=RPC_TIMEOUT_S)
    # the oracle: every shard's own page, asked directly, merged here
    want = []
    for name, addr in cluster["shards"].items():
        with grpc.insecure_channel(addr) as ch:
            page = api.scoring_grpc.ScoringServiceStub(ch).ListAtRiskCustomers(
                api.scoring_pb2.ListAtRiskCustomersRequest(
                    page_size=10, filter=api.scoring_pb2.AtRiskFilter(risk_tiers=[1, 2, 3])),
                timeout=RPC_TIMEOUT_S)
            want += [(s.priority, s.customer_id, name) for s in page.scores]
    assert {n for _, _, n in want} == {"s1", "s2", "s3"}, want
    want = sorted(want, key=lambda w: -w[0])[:10]
    r = churnctl(churnctl_bin, "cluster", "at-risk", table, "--limit", "10", "--tiers",
                 "low,medium,high")
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert [g["rank"] for g in got] == list(range(1, 11))
    assert [round(g["priority"], 2) for g in got] == [round(p, 2) for p, _, _ in want]
    assert {(g["customer_id"], g["shard"]) for g in got} == {(c, n) for _, c, n in want}
    assert all(g["shard"] == owners[g["customer_id"]] for g in got), got
    r = churnctl(churnctl_bin, "cluster", "at-risk", table, "--limit", "0")
    assert r.returncode == 2 and "--limit: '0' is not 1 to 1000" in r.stderr, r.stderr
    r = churnctl(churnctl_bin, "cluster", "at-risk", table, "--tiers", "low,severe")
    assert r.returncode == 2 and "--tiers: 'low,severe' is not a list of low, medium, high" \
        in r.stderr, r.stderr
    # the partition hint spares the proxy its Lua: a right one routes, a bad one is refused
    # by the proxy, a wrong one reaches a shard that names the owner (never a wrong answer)
    cid = ids[0]
    part = fnv1a32(cid.encode()) % 256
    other = next(p for p in range(256) if owner_of_partition(p) != owners[cid])
    with grpc.insecure_channel(cluster["proxy"]) as ch:
        stub = api.ingest_grpc.IngestServiceStub(ch)
        req = api.ingest_pb2.GetCustomerRequest(customer_id=cid)
        got = stub.GetCustomer(req, metadata=md(cid) + (("x-churn-partition", str(part)),),
                               timeout=RPC_TIMEOUT_S)
        assert got.customer.segment == owners[cid]
        e = rpc_error(stub.GetCustomer, req, metadata=md(cid) + (("x-churn-partition", "256"),),
                      timeout=RPC_TIMEOUT_S)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "x-churn-partition: not a partition 0-255" in e.details(), e.details()
        e = rpc_error(stub.GetCustomer, req,
                      metadata=md(cid) + (("x-churn-partition", str(other)),),
                      timeout=RPC_TIMEOUT_S)
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
        assert dict(e.trailing_metadata())["x-churn-owner"] == owners[cid]


def owner_of_partition(part, partitions=256, shards=3):
    return next(f"s{i + 1}" for i in range(shards) if part < (i + 1) * partitions // shards)
