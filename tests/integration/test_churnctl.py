"""churnctl, the project's own client, against a real churnd: output, exit codes (0 ok,
1 error status, 2 usage, 3 unreachable) and messages."""

import json
import re
import socket
import subprocess

import pytest

from conftest import CHURN_SERVICES, assert_serving

TIMEOUT_S = 60


def ctl(churnctl_bin, server, *args, stdin=None, timeout_ms=15000):
    addr = server if isinstance(server, str) else server.address
    return subprocess.run([churnctl_bin, "--server", addr, "--timeout", str(timeout_ms)]
                          + list(args), input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_health(churnctl_bin, server):
    r = ctl(churnctl_bin, server, "health")
    assert r.returncode == 0, r.stderr
    assert json_lines(r.stdout) == [{"status": "SERVING"}]
    r = ctl(churnctl_bin, server, "health", "churn.v1.IngestService")
    assert r.returncode == 0, r.stderr
    assert json_lines(r.stdout) == [{"status": "SERVING"}]


def test_health_of_unknown_service(stubs, churnctl_bin, server):
    r = ctl(churnctl_bin, server, "health", "nope")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "NOT_FOUND" in r.stderr
    assert "nope" in r.stderr
    assert r.stdout == ""
    assert_serving(stubs, server)


def test_health_watch_prints_the_status_until_the_deadline(churnctl_bin, server):
    r = ctl(churnctl_bin, server, "health", "--watch", timeout_ms=1500)
    assert json_lines(r.stdout)[0] == {"status": "SERVING"}
    assert r.returncode == 1 and "DEADLINE_EXCEEDED" in r.stderr, (r.returncode, r.stderr)


def reflected_methods(stubs, server):
    from test_reflection import build_pool, files_of, reflect
    ch = server.channel()
    (listed,) = reflect(stubs, ch, "v1", [{"list_services": ""}])
    names = [s.name for s in listed.list_services_response.service]
    out = set()
    for name, resp in zip(names, reflect(stubs, ch, "v1", [{"file_containing_symbol": n}
                                                           for n in names])):
        svc = build_pool(files_of(resp)).FindServiceByName(name)
        out |= {f"/{name}/{m.name}" for m in svc.methods}
    return out


def test_methods_lists_every_method(stubs, churnctl_bin, server):
    r = ctl(churnctl_bin, server, "methods")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip()}
    expected = {
        "/grpc.health.v1.Health/Check": "unary",
        "/grpc.health.v1.Health/Watch": "server stream",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": "bidi stream",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": "bidi stream",
        "/churn.v1.ScoringService/GetScore": "unary",
        "/churn.v1.IngestService/RecordEvents": "client stream",
        "/churn.v1.ChatService/AnalyzeChat": "bidi stream",
        "/churn.v1.AlertService/WatchAlerts": "server stream",
        "/churn.v1.ModelService/ReloadModel": "unary",
    }
    for method, shape in expected.items():
        assert method in rows, (method, r.stdout)
        assert shape in rows[method]
    for svc in CHURN_SERVICES:
        assert any(m.startswith(f"/{svc}/") for m in rows), svc
    # Exactly the methods the server's reflection describes.
    assert set(rows) == reflected_methods(stubs, server), r.stdout


def test_call_get_score_reports_the_status(stubs, churnctl_bin, server):
    """Whatever GetScore answers for an unknown customer on a fresh store, churnctl exits 1
    with the status name and message on stderr (or 0 with JSON on stdout)."""
    r = ctl(churnctl_bin, server, "call", "ScoringService/GetScore", '{"customer_id": "c-1"}')
    if r.returncode == 0:
        assert json_lines(r.stdout)
    else:
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert re.search(r"UNIMPLEMENTED|NOT_FOUND|FAILED_PRECONDITION", r.stderr), r.stderr
    assert_serving(stubs, server)


def test_call_health_check_prints_json(churnctl_bin, server):
    r = ctl(churnctl_bin, server, "call", "grpc.health.v1.Health/Check", '{"service": ""}')
    assert r.returncode == 0, r.stderr
    assert json_lines(r.stdout) == [{"status": "SERVING"}]


@pytest.mark.parametrize("body,field", [
    ('{"customerx": "a"}', "customerx"),
    ('{"customer_id": 5}', "customer_id"),
    ('{"max_reasons": "x"}', "max_reasons"),
])
def test_call_with_a_bad_field_is_a_usage_error(stubs, churnctl_bin, server, body, field):
    r = ctl(churnctl_bin, server, "call", "ScoringService/GetScore", body)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert field in r.stderr
    assert_serving(stubs, server)


@pytest.mark.parametrize("body", ["{bad", "[1, 2]", '{"customer_id": "a"', ""])
def test_call_with_malformed_json_is_a_usage_error(churnctl_bin, server, body):
    r = ctl(churnctl_bin, server, "call", "ScoringService/GetScore", body)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip()


def test_usage_errors(churnctl_bin, server):
    for args in (["bogus"], ["call"], ["call", "Nope/Method", "{}"], ["--timeout", "abc",
                                                                       "health"]):
        r = ctl(churnctl_bin, server, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.strip(), args


def test_unreachable_server(churnctl_bin):
    # A port nobody listens on: bind one, then close it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for args in (["health"], ["call", "ScoringService/GetScore", '{"customer_id": "a"}']):
        r = ctl(churnctl_bin, f"127.0.0.1:{port}", *args, timeout_ms=3000)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert "UNAVAILABLE" in r.stderr or "connect" in r.stderr, r.stderr


def test_reflection_bidi_through_stdin(churnctl_bin, server):
    lines = [{"list_services": ""},
             {"file_containing_symbol": "churn.v1.Nope"},
             {"file_containing_symbol": "churn.v1.ScoringService"},
             {"file_by_filename": "churn/v1/common.proto"}]
    stdin = "".join(json.dumps(l) + "\n" for l in lines)
    for method in ("grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                   "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):
        r = ctl(churnctl_bin, server, "call", method, "-", stdin=stdin)
        assert r.returncode == 0, r.stderr
        out = json_lines(r.stdout)
        assert [o["original_request"] for o in out] == lines
        names = [s["name"] for s in out[0]["list_services_response"]["service"]]
        assert set(CHURN_SERVICES) <= set(names)
        assert out[1]["error_response"]["error_code"] == 5
        assert out[2]["file_descriptor_response"]["file_descriptor_proto"]
        assert len(out[3]["file_descriptor_response"]["file_descriptor_proto"]) == 1


def test_bad_json_line_on_stdin(stubs, churnctl_bin, server):
    stdin = '{"list_services": ""}\n{"no_such_field": 1}\n'
    r = ctl(churnctl_bin, server, "call",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "-", stdin=stdin)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "no_such_field" in r.stderr
    assert_serving(stubs, server)
