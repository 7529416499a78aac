"""Issue 16, the load tools follow the owner hint like churnctl: on two real shards (a owns the
lower half of the partitions, b the upper), loadgen's ingest and chat streams and cqload's chat
streams sent straight to shard a are refused for b's customers with FAILED_PRECONDITION naming
b's address (x-churn-owner-address) and sent again there, once: every event is accepted and
every turn answered, and the tools count the streams they followed. When the named owner
refuses too (a's table says b lives at a's own address), the stream is not followed again: it
fails, counted, and the tool exits 1.
"""

import json
import subprocess

from fixtures_data import api, tool_path  # noqa: F401
from test_cluster import P, fnv1a32
from test_cluster_reload import reload_rpc
from test_cluster_routing import real_table, shards  # noqa: F401


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300)


def of_b(conversations, customers):
    """How many of the tools' conversations (customer cust-<c mod customers>) b owns."""
    return sum(fnv1a32(f"cust-{c % customers:07d}".encode()) % P >= P // 2
               for c in range(conversations))


def test_loadgen_and_cqload_follow_the_owner_once(api, churnctl_bin, shards):
    _, a, b = shards
    loadgen = tool_path(churnctl_bin, "bench", "loadgen", "loadgen")
    cqload = tool_path(churnctl_bin, "bench", "loadgen", "cqload")
    # ingest: stream s carries partition s's customers; streams 128-255 are b's
    r = run(loadgen, "ingest", "--target", a.address, "--threads", "2", "--streams", str(P),
            "--events", str(4 * P), "--customers", "3000", "--partitions", str(P))
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert (out["accepted"], out["failed_streams"], out["followed"]) == (4 * P, 0, P // 2), out
    # chat: conversation c is customer c mod 50's
    want = of_b(20, 50)
    assert 0 < want < 20
    r = run(loadgen, "chat", "--target", a.address, "--threads", "2", "--conversations", "20",
            "--turns", "2", "--customers", "50", "--partitions", str(P))
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert (out["turns"], out["failed_streams"], out["followed"]) == (40, 0, want), out
    r = run(cqload, "chat", "--target", a.address, "--threads", "1", "--streams", "4",
            "--conversations", "20", "--turns", "2", "--customers", "50")
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert (out["turns"], out["failed_conversations"], out["followed"]) == (40, 0, want), out

    # a names itself as b's address: the hint is followed once, refused again, not followed
    # a second time
    assert reload_rpc(api, a, real_table(3, a, a)).epoch == 3
    r = run(loadgen, "chat", "--target", a.address, "--threads", "1", "--conversations", "20",
            "--turns", "2", "--customers", "50")
    assert r.returncode == 1, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert (out["failed_streams"], out["followed"]) == (want, want), out
    r = run(cqload, "chat", "--target", a.address, "--threads", "1", "--streams", "4",
            "--conversations", "20", "--turns", "2", "--customers", "50")
    assert r.returncode == 1, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert (out["failed_conversations"], out["followed"]) == (want, want), out
    assert "status 9" in r.stderr, r.stderr
