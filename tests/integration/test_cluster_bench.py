"""tools/bench/cluster part 1 against a real local cluster (tools/cluster: HAProxy 2.6 and 3
churnd shards), so that the HAProxy ratio benchmark cannot rot: one small round of GetScore
direct, through the generated HAProxy and through configuration variants side by side
(--haproxy-variant, each its own haproxy), every path's run reported with its CPU per call,
its connection counts (one client connection everywhere; one HAProxy -> shard connection
with the generated `http-reuse always`), the system calls per call of the
shard and HAProxy (--perf-stat), and a summary per proxied path; the variant's configuration
holds its lines. An unknown variant is refused with its name before anything starts."""

import json
import os
import subprocess

import pytest

from conftest import SOURCE_ROOT
from fixtures_data import demo_store  # noqa: F401

BENCH = os.path.join(SOURCE_ROOT, "tools", "bench", "cluster")
TIMEOUT_S = 300


def run_bench(churnd_bin, churnctl_bin, args):
    env = dict(os.environ, CHURND=churnd_bin, CHURNCTL=churnctl_bin)
    return subprocess.run(["/usr/bin/python3", BENCH, "--parts", "getscore"] + args,
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=env)


@pytest.mark.bench  # a benchmark: the normal build only (tools/test)
def test_variants_side_by_side(churnd_bin, churnctl_bin, demo_store):
    variants = "generated,nbthread1+no-delay,reuse-safe"
    p = run_bench(churnd_bin, churnctl_bin,
                  ["--rounds", "1", "--requests", "4000", "--inflight", "8", "--perf-stat",
                   "--model", demo_store.logreg, "--haproxy-variant", variants])
    assert p.returncode == 0, f"bench-cluster exited {p.returncode}:\n{p.stderr[-3000:]}"
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    runs = {r["run"]: r for r in lines if "run" in r}
    assert set(runs) == {"direct", "proxy", "proxy_hint", "proxy[nbthread1+no-delay]",
                         "proxy_hint[nbthread1+no-delay]", "proxy[reuse-safe]",
                         "proxy_hint[reuse-safe]"}
    for name, r in runs.items():
        assert r["req_per_s"] > 0 and r["requests"] == 4000, r
        assert r["conns"]["client"] == 1, r
        assert r["per_call"]["shard"]["syscalls"] > 0, r
        assert 0 < r["h2load_core_share"] < 2, r
        if name == "direct":
            assert r["cpu_us_per_call"]["shard"] > 0
            assert r["per_call"]["haproxy"]["syscalls"] < 0.1, r  # idle
            continue
        assert r["cpu_us_per_call"]["haproxy"] > 0 and r["per_call"]["haproxy"]["syscalls"] > 0
        # http-reuse always multiplexes every stream onto one shard connection, as direct
        # (without it, how many depends on timing: the count is only reported)
        if "reuse-safe" in name:
            assert r["conns"]["backend"] >= 1, r
        else:
            assert r["conns"]["backend"] == 1, r
    summaries = {s["summary"]: s for s in lines if "summary" in s}
    assert set(summaries) == {f"getscore_{n}_vs_direct" for n in runs if n != "direct"}
    for s in summaries.values():
        assert s["ratio_proxy_to_direct"] > 0 and len(s["round_ratios"]) == 1, s


def test_variant_configuration_and_refusals(tmp_path):
    """The variant's haproxy.cfg: the lines added in their sections, the port and admin socket
    moved; a replacement that does not apply and an unknown variant are refused by name."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("bench_cluster", BENCH)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    bench = importlib.util.module_from_spec(spec)
    loader.exec_module(bench)
    cfg = ("# generated from the partition table (epoch 1, 256 partitions, 2 shards)\nglobal\n"
           "    lua-load /g/partition.lua\n    stats socket /g/haproxy.sock mode 600 level admin\n"
           "\ndefaults\n    mode http\n\nfrontend churn_grpc\n    bind 127.0.0.1:18080 proto h2\n"
           "\nbackend shard_a\n    http-reuse always\n    server a 127.0.0.1:1 proto h2 id 1\n"
           "\nbackend shard_b\n    http-reuse always\n    server b 127.0.0.1:2 proto h2 id 2\n")
    out = bench.variant_config(cfg, "nbthread1+no-delay+reuse-safe", 4321, "/v/x.sock",
                               "/v/p.lua")
    assert "global\n    nbthread 1\n    lua-load /v/p.lua\n    stats socket /v/x.sock " in out
    assert "defaults\n    option http-no-delay\n    mode http\n" in out
    assert "bind 127.0.0.1:4321 proto h2\n" in out and "18080" not in out
    assert "http-reuse" not in out and out.count("proto h2 id") == 2
    assert bench.cfg_partitions(cfg) == 256
    p = subprocess.run(["/usr/bin/python3", BENCH, "--haproxy-variant", "generated,nbthread7"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "unknown variant 'nbthread7'" in p.stderr, p.stderr
    assert p.stdout == ""
    try:
        bench.variant_config(cfg.replace("    http-reuse always\n", ""), "reuse-safe", 1, "/s")
    except SystemExit as e:
        assert "'http-reuse always' not in haproxy.cfg" in str(e)
    else:
        raise AssertionError("a replacement that does not apply was accepted")
