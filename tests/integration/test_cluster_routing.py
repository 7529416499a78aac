"""Issue 16, clients of a cluster route themselves: churnctl follows a shard's owner hint
(x-churn-owner-address) once, never in a loop; `churnctl import --events --server --cluster`
sends each batch as one RecordEvents stream per owning shard with its routing headers, and a
stream a shard refuses rejects its rows, each with the reason naming the owner; through a real
cluster (HAProxy, 3 shards) events imported land on their owners and a second import only
finds duplicates; churnctl, loadgen and cqload send the x-churn-partition hint up front
(`--partitions P`), and a wrong hint is followed to the owner, never answered by a non-owner.
"""

import json
import os
import subprocess
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving
from fixtures_data import DAY_MS, api, demo_store, tool_path  # noqa: F401
from test_cluster import P, customers_of, fnv1a32, owner_of, table_text, write
from test_cluster_reload import reload_rpc
from test_cluster_up import cluster, owner, owner_of_partition  # noqa: F401


def run(*args, timeout=120):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def real_table(epoch, a, b, assign=None):
    """table_text() naming the shards' real addresses."""
    return table_text(epoch=epoch, assign=assign).replace("127.0.0.1:50061", a.address).replace(
        "127.0.0.1:50062", b.address)


@pytest.fixture
def shards(api, churnd_factory, tmp_path):
    """Two shards (a: lower half, b: upper) whose table (epoch 2) names their real addresses."""
    a = churnd_factory(args=["--cluster", write(tmp_path / "a.table", table_text()),
                             "--shard", "a"])
    b = churnd_factory(args=["--cluster", write(tmp_path / "b.table", table_text()),
                             "--shard", "b"])
    for s in (a, b):
        assert reload_rpc(api, s, real_table(2, a, b)).epoch == 2
    return write(tmp_path / "real.table", real_table(2, a, b)), a, b


def get_customer_json(churnctl_bin, server, cid, *extra):
    return run(churnctl_bin, "--server", server, *extra, "call", "IngestService/GetCustomer",
               json.dumps({"customer_id": cid}))


def test_churnctl_follows_the_owner_hint_once(api, stubs, churnctl_bin, shards):
    table, a, b = shards
    cid = customers_of("b", 1)[0]
    up = run(churnctl_bin, "--server", a.address, "call", "IngestService/UpsertCustomers",
             json.dumps({"customers": [{"customer_id": cid, "segment": "followed"}]}))
    assert up.returncode == 0, up.stderr
    assert f"following the owner hint to {b.address}" in up.stderr, up.stderr
    # the record is on b, the owner, and nowhere else
    stub = api.ingest_grpc.IngestServiceStub(b.channel())
    got = stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=cid),
                           metadata=(("x-customer-id", cid),), timeout=RPC_TIMEOUT_S)
    assert got.customer.segment == "followed"
    r = get_customer_json(churnctl_bin, a.address, cid)
    assert r.returncode == 0 and json.loads(r.stdout)["customer"]["segment"] == "followed", r
    # asked at its owner, no hint is needed
    r = get_customer_json(churnctl_bin, b.address, cid)
    assert r.returncode == 0 and "following" not in r.stderr, r.stderr
    # two shards that name each other (b given a table where a owns the customer): one hop,
    # then the refusal is reported, never a loop
    part = owner_of(cid)[0]
    assign = [f"assign {p} {'a' if p < P // 2 or p == part else 'b'}" for p in range(P)]
    swapped = real_table(3, a, b, assign)
    assert reload_rpc(api, b, swapped).epoch == 3
    r = get_customer_json(churnctl_bin, a.address, cid)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.count("following the owner hint") == 1, r.stderr
    assert "FAILED_PRECONDITION" in r.stderr and "belongs to shard a" in r.stderr, r.stderr
    assert r.stdout == ""
    assert_serving(stubs, a)


def events_jsonl(path, ids, now, tag="e"):
    """Three logins per customer, as JSON Lines."""
    with open(path, "w") as f:
        for cid in ids:
            for d in (3, 2, 1):
                f.write(json.dumps({"event_id": f"{tag}-{cid}-{d}", "customer_id": cid,
                                    "type": "login", "occurred_at_ms": now - d * DAY_MS}) + "\n")
    return str(path)


def test_import_events_per_owner_rejects_rows_a_shard_refuses(api, churnctl_bin, shards,
                                                              tmp_path):
    table, a, b = shards
    mine, theirs = customers_of("a", 4), customers_of("b", 3)
    path = events_jsonl(tmp_path / "ev.jsonl", mine + theirs, int(time.time() * 1000))
    rejects = tmp_path / "rejects.tsv"
    # sent to shard a with the table: a's customers go in one stream, b's in another that a
    # refuses: each of b's rows is rejected with the reason naming the owner
    r = run(churnctl_bin, "import", "--events", path, "--server", a.address, "--cluster", table,
            "--reject-file", str(rejects), "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)  # rejected rows are counted, not fatal
    summary = json.loads(r.stdout)["events"]
    assert (summary["accepted"], summary["rejected"]) == (12, 9), summary
    lines = rejects.read_text().splitlines()
    assert len(lines) == 9
    for line in lines:
        lineno, reason, orig = line.split("\t")
        cid = json.loads(orig.replace("\\t", "\t"))["customer_id"]
        assert cid in theirs
        assert reason.startswith("RecordEvents: FAILED_PRECONDITION: customer"), reason
        assert f"belongs to shard b ({b.address})" in reason, reason
    # without the table the mixed stream has no single owner: refused as a whole
    r = run(churnctl_bin, "import", "--events", path, "--server", a.address, "--json")
    assert r.returncode != 0 and "x-customer-id: header missing" in r.stderr, r.stderr
    # sent to b with the table: b's rows land, a's are rejected; a's rows already there
    r = run(churnctl_bin, "import", "--events", path, "--server", b.address, "--cluster", table,
            "--json")
    summary = json.loads(r.stdout)["events"]
    assert (summary["accepted"], summary["rejected"]) == (9, 12), summary
    # --cluster without --server is refused before anything is read
    r = run(churnctl_bin, "import", "--events", path, "--store", str(tmp_path / "s"),
            "--cluster", table)
    assert r.returncode == 2 and "--cluster TABLE sends through a cluster's proxy" in r.stderr


def test_through_the_proxy_events_import_and_partition_hints(api, churnctl_bin, cluster,
                                                             tmp_path):
    table = os.path.join(cluster["dir"], "cluster.table")
    proxy = cluster["proxy"]
    ids = [f"rt-{i}" for i in range(90)]
    owners = {cid: owner(cid) for cid in ids}
    assert set(owners.values()) == {"s1", "s2", "s3"}
    path = events_jsonl(tmp_path / "ev.jsonl", ids, int(time.time() * 1000))
    r = run(churnctl_bin, "import", "--events", path, "--server", proxy, "--cluster", table,
            "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"]["accepted"] == 3 * len(ids), r.stdout
    r = run(churnctl_bin, "import", "--events", path, "--server", proxy, "--cluster", table,
            "--json")
    ev = json.loads(r.stdout)["events"]
    assert (ev["accepted"], ev["duplicates"]) == (0, 3 * len(ids)), ev
    for name, addr in cluster["shards"].items():  # each owner, asked directly, has them
        with grpc.insecure_channel(addr) as ch:
            stub = api.ingest_grpc.IngestServiceStub(ch)
            for cid in [c for c in ids if owners[c] == name][:10]:
                got = stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=cid),
                                       metadata=(("x-customer-id", cid),), timeout=RPC_TIMEOUT_S)
                assert got.customer.customer_id == cid
                other = next(a for n, a in cluster["shards"].items() if n != name)
                with grpc.insecure_channel(other) as och:
                    with pytest.raises(grpc.RpcError) as e:
                        api.ingest_grpc.IngestServiceStub(och).GetCustomer(
                            api.ingest_pb2.GetCustomerRequest(customer_id=cid),
                            metadata=(("x-customer-id", cid),), timeout=RPC_TIMEOUT_S)
                    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # churnctl with the right P routes by its hint; with a wrong one the proxy sends the call
    # to a shard that names the owner, and churnctl follows it there
    wrong = next(c for c in ids  # its partition mod 255, read as a partition of 256
                 if owner_of_partition(fnv1a32(c.encode()) % 255) != owners[c])
    r = get_customer_json(churnctl_bin, proxy, wrong, "--partitions", str(P))
    assert r.returncode == 0 and "following" not in r.stderr, r.stderr
    assert json.loads(r.stdout)["customer"]["customer_id"] == wrong
    r = get_customer_json(churnctl_bin, proxy, wrong, "--partitions", "255")
    assert r.returncode == 0, r.stderr
    assert f"following the owner hint to {cluster['shards'][owners[wrong]]}" in r.stderr
    assert json.loads(r.stdout)["customer"]["customer_id"] == wrong
    r = run(churnctl_bin, "--partitions", "0", "health")
    assert r.returncode == 2 and "--partitions: '0' is not 1 to 65536" in r.stderr, r.stderr
    # loadgen's ingest streams: one partition's customers each, so the proxy can route them
    loadgen = tool_path(churnctl_bin, "bench", "loadgen", "loadgen")
    r = run(loadgen, "ingest", "--target", proxy, "--threads", "2", "--streams", "6",
            "--events", "600", "--customers", "3000", "--partitions", str(P))
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert (out["accepted"], out["failed_streams"]) == (600, 0), out
    r = run(loadgen, "ingest", "--target", proxy, "--threads", "1", "--streams", "1",
            "--events", "10")
    assert r.returncode == 1 and "x-customer-id: header missing" in r.stderr, r.stderr
    # loadgen and cqload chat streams with the hint
    r = run(loadgen, "chat", "--target", proxy, "--threads", "2", "--conversations", "6",
            "--turns", "3", "--customers", "50", "--partitions", str(P))
    assert r.returncode == 0 and json.loads(r.stdout)["failed_streams"] == 0, (r.stdout,
                                                                                r.stderr)
    cqload = tool_path(churnctl_bin, "bench", "loadgen", "cqload")
    r = run(cqload, "chat", "--target", proxy, "--threads", "1", "--streams", "4",
            "--conversations", "8", "--turns", "3", "--customers", "50", "--partitions", str(P))
    assert r.returncode == 0, (r.stdout, r.stderr)
