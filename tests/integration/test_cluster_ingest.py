"""Issue 16, ingestion from NATS JetStream into a local cluster (`tools/cluster up`: 3 NATS
nodes, R3 streams per partition, HAProxy, 3 shards consuming their partitions): events
published with `churnctl import --nats` are applied on their owner (read back through the
proxy); the same events published again are applied once (duplicates); a message that does
not decode is terminated with the reason in its owner's log and the consumer goes on; a
NATS node killed with SIGKILL: publishing and ingestion continue and nothing acknowledged is
lost; a shard killed with SIGKILL and restarted resumes its durable consumers and applies
what was published while it was down, nothing lost.
"""

import os
import subprocess
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_data import api  # noqa: F401
from test_cluster import fnv1a32, tools_cluster
from test_cluster_up import cluster_up, tool

PARTITIONS = 16  # few streams: the cluster comes up in seconds
UP_TIMEOUT_S = 240
APPLY_TIMEOUT_S = 60


@pytest.fixture
def cluster(churnd_bin, churnctl_bin, tmp_path):
    d = tmp_path / "cluster"
    with cluster_up(d, churnd_bin, churnctl_bin,
                    ["--shards", "3", "--partitions", str(PARTITIONS)],
                    UP_TIMEOUT_S) as (lines, env):
        out = {"dir": str(d), "env": env}
        for line in lines:
            kind, rest = line.split(" ", 1)
            out.setdefault(kind, []).append(rest)
        out["proxy"] = out["proxy"][0]
        out["nats"] = out["nats"][0]
        yield out


def owner(cid):
    part = fnv1a32(cid.encode()) % PARTITIONS
    return next(f"s{i + 1}" for i in range(3) if part < (i + 1) * PARTITIONS // 3)


def write_events(path, first, n, customers, prefix):
    now = int(time.time() * 1000)
    with open(path, "w") as f:
        f.write("event_id,customer_id,occurred_at_ms,type\n")
        for i in range(first, first + n):
            f.write(f"{prefix}-e{i},{prefix}-c{i % customers},{now - 1000 - i},login\n")
    return str(path)


def publish(churnctl_bin, cluster, path):
    r = subprocess.run([churnctl_bin, "import", "--events", path, "--nats", cluster["nats"],
                        "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r


def totals(api, cluster, ids):
    """customer id -> events applied (0 when the customer is not there yet)."""
    out = {}
    with grpc.insecure_channel(cluster["proxy"]) as ch:
        stub = api.ingest_grpc.IngestServiceStub(ch)
        for cid in ids:
            try:
                r = stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=cid),
                                     metadata=(("x-customer-id", cid),), timeout=RPC_TIMEOUT_S)
                out[cid] = r.totals.events
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND, (cid, e)
                out[cid] = 0
    return out


def wait_totals(api, cluster, want):
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while True:
        got = totals(api, cluster, sorted(want))
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def shard_log(cluster, name):
    with open(os.path.join(cluster["dir"], f"shard-{name}", "churnd.log"),
              errors="replace") as f:
        return f.read()


def test_published_events_applied_once_and_bad_message_terminated(api, churnctl_bin, cluster,
                                                                  tmp_path):
    customers = 30
    path = write_events(tmp_path / "a.csv", 0, 600, customers, "a")
    publish(churnctl_bin, cluster, path)
    want = {f"a-c{i}": 600 // customers for i in range(customers)}
    assert {owner(c) for c in want} == {"s1", "s2", "s3"}
    assert wait_totals(api, cluster, want) == want
    # the same events again (a producer's retry, a redelivery): applied once
    publish(churnctl_bin, cluster, path)
    bad_cid = "a-c1"
    tc = tools_cluster()
    nc = tc.Nats(cluster["nats"].split(",")[0].replace("nats://", ""))
    try:  # a message that does not decode: JetStream stores it, the shard terminates it
        ack = nc.request(f"ingest.{bad_cid}", b"\xff\xfe not a protobuf")
        assert b'"stream"' in ack, ack
    finally:
        nc.close()
    more = write_events(tmp_path / "b.csv", 600, 30, customers, "a")  # one more each
    publish(churnctl_bin, cluster, more)
    want = {c: n + 1 for c, n in want.items()}
    assert wait_totals(api, cluster, want) == want
    log = shard_log(cluster, owner(bad_cid))
    assert (f"jetstream_message_terminated subject=ingest.{bad_cid}." in log and
            "does not decode as a churn.v1.RecordEventsRequest" in log), log[-3000:]
    # the duplicates were counted as such (reported every few seconds)
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while True:
        dups = 0
        for s in ("s1", "s2", "s3"):
            lines = [l for l in shard_log(cluster, s).splitlines() if "jetstream_ingest" in l]
            if lines:
                dups += int(lines[-1].split("duplicates=")[1].split()[0])
        if dups == 600 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert dups == 600


def test_nats_node_and_shard_killed_nothing_lost(api, churnctl_bin, cluster, tmp_path):
    customers = 30
    env = cluster["env"]
    subprocess.run(tool() + ["kill", cluster["dir"], "n2", "--signal", "KILL"], env=env,
                   timeout=60, check=True)
    path = write_events(tmp_path / "a.csv", 0, 300, customers, "k")
    publish(churnctl_bin, cluster, path)
    want = {f"k-c{i}": 300 // customers for i in range(customers)}
    assert wait_totals(api, cluster, want) == want
    # s1 killed: what is published meanwhile waits in its streams, applied after restart
    subprocess.run(tool() + ["kill", cluster["dir"], "s1", "--signal", "KILL"], env=env,
                   timeout=60, check=True)
    path = write_events(tmp_path / "b.csv", 300, 300, customers, "k")
    publish(churnctl_bin, cluster, path)
    subprocess.run(tool() + ["start", cluster["dir"], "s1"], env=env, timeout=60, check=True)
    want = {c: 2 * n for c, n in want.items()}
    assert "s1" in {owner(c) for c in want}
    assert wait_totals(api, cluster, want) == want
