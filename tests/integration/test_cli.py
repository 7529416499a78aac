"""The churnd command line: --version, --help, bad flags, environment and config file,
a port already in use, and the logs (text and JSON, one line per call at debug level)."""

import json
import os
import re
import signal
import subprocess
import threading
import time

import grpc
import pytest

from conftest import assert_serving, health_check, rpc_error

TIMEOUT_S = 30


def run(churnd_bin, *args, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CHURND_")}
    e.update(env or {})
    return subprocess.run([churnd_bin] + list(args), capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=e, cwd=cwd)


def test_version(churnd_bin):
    r = run(churnd_bin, "--version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"churnd \d+\.\d+\.\d+\S*\n", r.stdout), r.stdout


def test_help_lists_every_flag(churnd_bin):
    r = run(churnd_bin, "--help")
    assert r.returncode == 0, r.stderr
    for flag in ("--listen", "--data", "--config", "--workers", "--log-level", "--log-format",
                 "--ready-file", "--max-recv-bytes", "--drain-timeout-ms", "--help",
                 "--version"):
        assert flag in r.stdout, flag
    assert "CHURND_" in r.stdout


def test_bad_flags_exit_2_naming_the_flag(churnd_bin, tmp_path):
    cases = [
        (["--bogus"], "--bogus"),
        (["--workers"], "--workers"),
        (["--workers", "abc"], "--workers"),
        (["--workers", "-3"], "--workers"),
        (["--log-format", "xml"], "--log-format"),
        (["--log-level", "loud"], "--log-level"),
        (["--max-recv-bytes", "12x"], "--max-recv-bytes"),
        (["--drain-timeout-ms", "-1"], "--drain-timeout-ms"),
        (["stray"], "stray"),
    ]
    for args, name in cases:
        r = run(churnd_bin, "--data", str(tmp_path / "d"), *args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert name in r.stderr, (args, r.stderr)
        assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr


def test_config_file_errors_name_file_and_line(churnd_bin, tmp_path):
    conf = tmp_path / "churnd.conf"
    conf.write_text("# comment\n\nlog-level = debug\nno-such-key = 1\n")
    r = run(churnd_bin, "--config", str(conf), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"{conf}:4" in r.stderr and "no-such-key" in r.stderr, r.stderr

    conf.write_text("workers = 2\nthis is not a setting\n")
    r = run(churnd_bin, "--config", str(conf), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"{conf}:2" in r.stderr, r.stderr

    conf.write_text("workers = lots\n")
    r = run(churnd_bin, "--config", str(conf), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"{conf}:1" in r.stderr and "workers" in r.stderr, r.stderr

    r = run(churnd_bin, "--config", str(tmp_path / "missing.conf"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "missing.conf" in r.stderr


def test_bad_environment_variable(churnd_bin, tmp_path):
    r = run(churnd_bin, env={"CHURND_WORKERS": "abc"}, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "CHURND_WORKERS" in r.stderr, r.stderr
    r = run(churnd_bin, env={"CHURND_LOG_FORMAT": "xml"}, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "CHURND_LOG_FORMAT" in r.stderr, r.stderr


def test_port_already_in_use(churnd_bin, churnd_factory, stubs, tmp_path):
    first = churnd_factory()
    r = run(churnd_bin, "--listen", first.address, "--data", str(tmp_path / "other"),
            "--ready-file", str(tmp_path / "ready"), cwd=tmp_path)
    assert r.returncode != 0, r.stderr
    assert first.address in r.stderr, r.stderr
    assert re.search(r"in use|cannot listen|bind", r.stderr), r.stderr
    assert not (tmp_path / "ready").exists()
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr
    assert_serving(stubs, first)


def _calls(server, stubs):
    """Make 5 calls; return the (method, status) pairs the client saw."""
    ch = server.channel()
    health_check(stubs, ch)
    health_check(stubs, ch, "churn.v1.ScoringService")
    seen = [("/grpc.health.v1.Health/Check", "OK"), ("/grpc.health.v1.Health/Check", "OK")]
    rpc_error(health_check, stubs, ch, "nope")
    seen.append(("/grpc.health.v1.Health/Check", "NOT_FOUND"))
    try:
        ch.unary_unary("/churn.v1.ScoringService/GetScore")(b"", timeout=15)
        seen.append(("/churn.v1.ScoringService/GetScore", "OK"))
    except grpc.RpcError as e:
        seen.append(("/churn.v1.ScoringService/GetScore", e.code().name))
    rpc_error(ch.unary_unary("/no.Such/Method"), b"", timeout=15)
    seen.append(("/no.Such/Method", "UNIMPLEMENTED"))
    return seen


def test_json_logs_with_one_line_per_call(stubs, churnd_factory):
    server = churnd_factory(args=["--log-format", "json", "--log-level", "debug"])
    expected = _calls(server, stubs)
    server.close_channels()
    assert server.stop() == 0
    records = []
    for line in server.stderr().splitlines():
        if line.strip():
            records.append(json.loads(line))  # every line is one JSON object
    calls = [r for r in records if "method" in r and "duration_us" in r]
    assert [(c["method"], c["status"]) for c in calls] == expected, calls
    for c in calls:
        assert isinstance(c["duration_us"], int) and c["duration_us"] >= 0, c
        assert re.fullmatch(r"ipv4:127\.0\.0\.1:\d+", c["peer"]), c
    assert any(r.get("level") == "debug" for r in calls), calls


def test_text_debug_logs_one_line_per_call(stubs, churnd_factory):
    server = churnd_factory(args=["--log-level", "debug"])
    expected = _calls(server, stubs)
    lines = server.wait_log(r"\bcall\b.*method=", count=len(expected))
    got = []
    for line in lines:
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        assert int(kv["duration_us"]) >= 0, line
        assert kv["peer"].startswith("ipv4:127.0.0.1:"), line
        got.append((kv["method"], kv["status"]))
    assert got == expected


def test_info_level_does_not_log_calls(stubs, churnd_factory):
    server = churnd_factory(args=["--log-level", "info"])
    _calls(server, stubs)
    server.close_channels()
    assert server.stop() == 0
    assert "duration_us" not in server.stderr(), server.stderr()


def test_environment_and_config_file_apply_with_flags_winning(stubs, churnd_factory, tmp_path):
    conf = tmp_path / "churnd.conf"
    conf.write_text("log-format = json\nlog-level = debug\n")

    # From the file.
    s = churnd_factory(args=["--config", str(conf)])
    health_check(stubs, s.channel())
    s.close_channels()
    s.stop()
    assert all(json.loads(l) for l in s.stderr().splitlines() if l.strip())
    assert "duration_us" in s.stderr()

    # The environment wins over the file.
    s = churnd_factory(args=["--config", str(conf)], env={"CHURND_LOG_FORMAT": "text"})
    s.stop()
    assert not s.stderr().lstrip().startswith("{"), s.stderr()

    # A flag wins over the environment.
    s = churnd_factory(args=["--log-format", "json"], env={"CHURND_LOG_FORMAT": "text"})
    s.stop()
    assert s.stderr().lstrip().startswith("{"), s.stderr()

    # Other variables are read too.
    s = churnd_factory(env={"CHURND_LOG_LEVEL": "debug", "CHURND_MAX_RECV_BYTES": "16384"})
    health_check(stubs, s.channel())
    s.wait_log(r"Check status=OK duration_us=")


def test_sigint_drains_and_exits_0(stubs, churnd_factory):
    server = churnd_factory()
    assert_serving(stubs, server)
    server.signal(signal.SIGINT)
    assert server.wait() == 0, server.stderr()
    assert "stopped" in server.stderr()


def test_sighup_does_not_stop_the_server(stubs, churnd_factory):
    """SIGHUP is the reload signal: the server keeps serving (without a model configured
    the reload is refused, which may be logged)."""
    server = churnd_factory()
    server.allow_stderr = r"reload"
    server.signal(signal.SIGHUP)
    assert_serving(stubs, server)
    time.sleep(0.3)
    assert_serving(stubs, server)


def test_unusable_data_directory(churnd_bin, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    # A regular file, and a directory that cannot be made (its parent is a file).
    for data in (tmp_path / "file", tmp_path / "file" / "below"):
        r = run(churnd_bin, "--listen", "127.0.0.1:0", "--data", str(data),
                "--ready-file", str(tmp_path / "ready"), cwd=tmp_path)
        assert r.returncode not in (0, None), r.stderr
        assert str(data) in r.stderr, r.stderr
        assert not (tmp_path / "ready").exists()
        assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr


def test_cancelled_stream_is_logged_with_its_peer(stubs, churnd_factory):
    server = churnd_factory(args=["--log-level", "debug"])
    pb2 = stubs.refl_v1_pb2
    stub = stubs.refl_v1_grpc.ServerReflectionStub(server.channel())
    hold = threading.Event()

    def requests():
        yield pb2.ServerReflectionRequest(list_services="")
        hold.wait(60)

    call = stub.ServerReflectionInfo(requests(), timeout=60)
    next(call)
    call.cancel()
    hold.set()
    (line,) = server.wait_log(r"ServerReflectionInfo status=CANCELLED")
    assert re.search(r"peer=ipv4:127\.0\.0\.1:\d+", line), line


def test_hostile_method_names_are_logged_safely(stubs, churnd_factory):
    """Unknown methods are answered UNIMPLEMENTED and logged as data: one parseable JSON
    line each, the name intact, no field forged from it."""
    server = churnd_factory(args=["--log-format", "json", "--log-level", "debug"])
    ch = server.channel()
    names = ['/a b/c","status":"OK', '/x"y/z\\w', "/\u00e9/\t", "/a/" + "m" * 3000]
    for name in names:
        err = rpc_error(ch.unary_unary(name), b"", timeout=15)
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED, (name, err)
    assert_serving(stubs, server)
    server.close_channels()
    assert server.stop() == 0
    calls = [json.loads(l) for l in server.stderr().splitlines() if '"duration_us"' in l]
    unknown = [c for c in calls if not c["method"].startswith("/grpc.health.v1.")]
    assert len(unknown) == len(names), calls
    for c, name in zip(unknown, names):
        assert c["status"] == "UNIMPLEMENTED", c
        assert name.startswith(c["method"]) and len(c["method"]) >= min(len(name), 100), c
