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
    # a shard variant: the owner's command with its own port, data and ready file, then its
    # arguments (later options win)
    cmd = bench.shard_variant_cmd(["churnd", "--listen", "127.0.0.1:1", "--data", "/c/s1/data",
                                   "--shard", "s1", "--ready-file", "/c/s1/ready"], "workers1",
                                  7, "/v")
    assert cmd == ["churnd", "--listen", "127.0.0.1:7", "--data", "/v/data", "--shard", "s1",
                   "--ready-file", "/v/ready", "--workers", "1"]
    p = subprocess.run(["/usr/bin/python3", BENCH, "--shard-variant", "same,workers7"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "unknown variant 'workers7'" in p.stderr, p.stderr
    p = subprocess.run(["/usr/bin/python3", BENCH, "--haproxy-variant", "generated,nbthread7"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "unknown variant 'nbthread7'" in p.stderr, p.stderr
    assert p.stdout == ""
    # --baseline's echo: the owning shard's address becomes the echo server's, nothing else
    rows = {"to-echo": [{"replace": [(" 127.0.0.1:1 proto h2", " 127.0.0.1:9 proto h2")]}]}
    out = bench.variant_config(cfg, "to-echo", 4321, "/v/x.sock", extra=rows)
    assert "server a 127.0.0.1:9 proto h2 id 1\n" in out and "127.0.0.1:1 " not in out
    assert "server b 127.0.0.1:2 proto h2 id 2\n" in out and "http-reuse always" in out
    try:
        bench.variant_config(cfg.replace("    http-reuse always\n", ""), "reuse-safe", 1, "/s")
    except SystemExit as e:
        assert "'http-reuse always' not in haproxy.cfg" in str(e)
    else:
        raise AssertionError("a replacement that does not apply was accepted")


@pytest.mark.bench  # a benchmark: the normal build only (tools/test)
def test_baseline_cost_model(churnd_bin, churnctl_bin, demo_store):
    """--baseline: Health/Check on the shard and the bare C-core echo server, each direct and
    through the same HAProxy configuration in the same rounds, and per server the cost model
    whose arithmetic the summary states (C, G, C', G', P and the ratios they bound); and
    --shard-variant: a second churnd of the owning shard with gRPC core's BDP probe off,
    serving the customer direct and through a haproxy routing the shard's partitions to it."""
    p = run_bench(churnd_bin, churnctl_bin,
                  ["--rounds", "1", "--requests", "3000", "--inflight", "8", "--no-hint",
                   "--baseline", "--shard-variant", "no-bdp", "--model", demo_store.logreg])
    assert p.returncode == 0, f"bench-cluster exited {p.returncode}:\n{p.stderr[-3000:]}"
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    runs = {r["run"]: r for r in lines if "run" in r}
    assert set(runs) == {"direct", "proxy", "health_direct", "health_proxy", "echo_direct",
                         "echo_proxy", "shard-no-bdp_direct", "shard-no-bdp_proxy"}
    for name, r in runs.items():
        assert r["requests"] == 3000 and r["req_per_s"] > 0 and r["conns"]["client"] == 1, r
        group = name.split("_")[0] if "_" in name else "getscore"
        assert r["server"] == group, r
        server = "echo" if group == "echo" else "shard"
        assert r["cpu_us_per_call"][server] > 0, r  # the server named answered the calls
        if name.endswith("proxy"):
            assert r["cpu_us_per_call"]["haproxy"] > 0 and r["conns"]["backend"] == 1, r
    assert "Health/Check" in runs["health_proxy"]["command"]
    variant = runs["shard-no-bdp_direct"]
    assert variant["cpu_us_per_call"]["shard"] > 0 and variant["command"] != runs["direct"][
        "command"], variant  # its own churnd on its own port
    models = {s["summary"]: s for s in lines if s.get("summary", "").startswith("proxy_cost_")}
    assert set(models) == {"proxy_cost_getscore", "proxy_cost_health", "proxy_cost_echo",
                           "proxy_cost_shard-no-bdp"}
    for m in models.values():
        c, g = m["C_server_direct_us"], m["G_client_direct_us"]
        c2, g2, cost = m["C_server_proxied_us"], m["G_client_proxied_us"], m["P_haproxy_us"]
        assert c > 0 and g > 0 and c2 > 0 and cost > 0, m
        assert m["model_ratio_shared_cores"] == pytest.approx((c + g) / (c2 + cost + g2),
                                                              abs=0.01), m
        assert m["model_ratio_proxy_own_core"] == pytest.approx((c + g) / max(c2 + g2, cost),
                                                                abs=0.01), m
        assert m["P_max_us_for_0.7x_shared"] == pytest.approx((c + g) / 0.7 - (c2 + g2),
                                                              abs=0.01), m
        assert m["measured_ratio"] > 0 and m["cores_busy_proxy"] > 0, m
    ratios = {s["summary"]: s for s in lines if s.get("summary", "").endswith("_vs_direct")}
    assert set(ratios) == {"getscore_proxy_vs_direct", "health_proxy_vs_direct",
                           "echo_proxy_vs_direct", "shard-no-bdp_proxy_vs_direct"}
