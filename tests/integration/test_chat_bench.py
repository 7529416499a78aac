"""tools/bench/chat and tools/bench/loadgen/cqload against the real servers, so that the chat
benchmark cannot rot: one small round of the bare echo ceiling and of churnd's AnalyzeChat on
the demo store, every turn answered and checked; and cqload fails (exit 1, the conversation
counted as failed) when the server refuses its method."""

import json
import os
import subprocess

from fixtures_data import demo_store, start_on_store, tool_path  # noqa: F401

REPO = os.environ.get("CHURN_SOURCE_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir(churnctl_bin):
    return os.path.dirname(os.path.dirname(churnctl_bin))  # BUILD/tools/churnctl


def test_bench_chat_runs_the_ceiling_and_churnd_side_by_side(churnctl_bin, demo_store,
                                                             tmp_path):
    store, logreg = demo_store.store, demo_store.logreg
    cmd = [os.path.join(REPO, "tools", "bench", "chat"), "--build", build_dir(churnctl_bin),
           "--store", store, "--model", logreg, "--rounds", "1", "--points", "1x4w2",
           "--turns", "10", "--conversations-per-stream", "2"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"bench-chat exited {p.returncode}:\n{p.stderr[-3000:]}"
    doc = json.loads(p.stdout)
    assert doc["churnd_exit"] == 0
    runs = {r["mode"]: r for r in doc["runs"]}
    assert set(runs) == {"echo", "chat"}
    for r in runs.values():
        assert r["turns"] == 1 * 4 * 2 * 10 and r["failed_conversations"] == 0, r
        assert r["turns_per_s"] > 0 and r["server_cpu_us_per_turn"] >= 0
        assert 0 < r["latency_us"]["p50"] <= r["latency_us"]["p99"] <= r["latency_us"]["max"]
    s = doc["summary"]["1x4w2"]
    assert s["chat_over_echo_turns_per_s"] > 0
    out = tmp_path / "chat.json"
    out.write_text(p.stdout)
    md = subprocess.run([os.path.join(REPO, "tools", "bench", "chat"), "--markdown", str(out)],
                        capture_output=True, text=True, timeout=60)
    assert md.returncode == 0 and "churnd / ceiling" in md.stdout, md.stderr


def test_cqload_fails_when_the_method_is_refused(churnctl_bin, churnd_factory, demo_store):
    """The echo method is unknown to churnd (UNIMPLEMENTED): nothing is answered, exit 1."""
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    cqload = tool_path(churnctl_bin, "bench", "loadgen", "cqload")
    p = subprocess.run([cqload, "echo", "--target", server.address, "--threads", "1",
                        "--streams", "2", "--conversations", "2", "--turns", "3"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p
    r = json.loads(p.stdout)
    assert r["failed_conversations"] == 2 and r["turns"] == 0, r
    assert "status 12" in p.stderr, p.stderr  # UNIMPLEMENTED, named per conversation
    bad = subprocess.run([cqload, "chat", "--target", server.address, "--window", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "usage" in bad.stderr
