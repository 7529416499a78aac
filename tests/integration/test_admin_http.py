"""The admin HTTP listener over the wire (http.client, raw sockets, Python's ssl): /livez,
/readyz (no model, a model, draining), /metrics; unknown paths 404, other methods 405 with
Allow; slow clients cut at the timeout and 1,000 idle connections while gRPC keeps serving;
scrapes across SIGTERM answer or are refused cleanly; --admin-listen off; a malformed or
busy address; HTTPS with an openssl-made certificate, a missing or mismatched key."""

import errno
import http.client
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import assert_serving, health_check
from fixtures_admin import admin_port, http_request, parse_exposition
from fixtures_data import api, demo_store, start_on_store  # noqa: F401 (fixtures)

UNKNOWN_PATHS = ["/nope", "/metrics/", "/metrics/x", "/METRICS", "/livez.html", "//metrics",
                 "/readyz/../metrics"]
OTHER_METHODS = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"]


def test_probes_and_metrics_without_a_model(server):
    port = admin_port(server)
    assert http_request(port, "/livez")[::2] == (200, "ok\n")
    status, _, body = http_request(port, "/readyz")
    assert (status, body) == (503, "not ready: no model is served\n")
    status, headers, body = http_request(port, "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    samples = parse_exposition(body)
    assert samples[("churn_model_served", frozenset())] == 0
    assert samples[("churn_store_records", frozenset({("db", "customers")}))] == 0
    assert samples[("process_open_fds", frozenset())] > 0


def test_ready_with_a_model_and_not_while_draining(stubs, churnd_factory, demo_store):
    server = start_on_store(churnd_factory, model=demo_store.logreg)
    port = admin_port(server)
    assert http_request(port, "/readyz")[::2] == (200, "ready\n")
    # a Watch stream keeps the drain going long enough to ask /readyz during it
    stub = stubs.health_grpc.HealthStub(server.channel())
    call = stub.Watch(stubs.health_pb2.HealthCheckRequest(service=""), timeout=60)
    assert next(call).status == stubs.health_pb2.HealthCheckResponse.SERVING
    seen = []
    server.signal(signal.SIGTERM)
    while server.running():
        try:
            seen.append(http_request(port, "/readyz", timeout=5)[::2])
        except OSError:
            break
    assert server.wait() == 0, server.stderr()
    # every answer during the drain was complete: ready (before the signal landed) or draining
    assert set(seen) <= {(200, "ready\n"), (503, "not ready: draining\n")}, seen


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_unknown_paths_are_404(stubs, server, path):
    status, _, body = http_request(admin_port(server), path)
    assert (status, body) == (404, "not found\n")
    assert_serving(stubs, server)


@pytest.mark.parametrize("method", OTHER_METHODS)
def test_other_methods_are_405_with_allow(stubs, server, method):
    for path in ("/metrics", "/livez", "/readyz"):
        status, headers, body = http_request(admin_port(server), path, method=method)
        assert status == 405, (path, method, status, body)
        assert headers["allow"] == "GET, HEAD"
        assert body == "method not allowed: use GET\n"
    assert_serving(stubs, server)


def test_head_answers_without_a_body(server):
    status, headers, body = http_request(admin_port(server), "/livez", method="HEAD")
    assert (status, body) == (200, "")
    # a POST with a body is refused without reading it, and the listener carries on
    status, _, _ = http_request(admin_port(server), "/metrics", method="POST",
                                body=b"x" * 100000)
    assert status == 405
    assert http_request(admin_port(server), "/livez")[0] == 200


def _stalled_client(port, result):
    """Send half a request, then nothing: the server must close the connection."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(60)  # a ceiling only: the server's timeout is 2 s
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        result.append("closed" if s.recv(1024) == b"" else "answered")
    except socket.timeout:
        result.append("still open")
    except OSError:  # reset by the server
        result.append("closed")
    finally:
        s.close()


def _dribbling_client(port, stop):
    """Send a header one byte at a time until told to stop (it holds one connection)."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        while not stop.wait(0.2):
            s.sendall(b"a")
    except OSError:
        pass
    finally:
        s.close()


def test_slow_clients_are_bounded_and_grpc_keeps_serving(stubs, churnd_factory):
    """Stalled clients are cut at --admin-timeout-s; dribbling ones hold a connection each
    (bounded by the cap) but delay nobody: gRPC and other admin clients are answered."""
    server = churnd_factory(args=["--admin-timeout-s", "2"])
    port = admin_port(server)
    stop, results = threading.Event(), []
    stalled = [threading.Thread(target=_stalled_client, args=(port, results)) for _ in range(8)]
    dribblers = [threading.Thread(target=_dribbling_client, args=(port, stop))
                 for _ in range(8)]
    for t in stalled + dribblers:
        t.start()
    try:
        ch = server.channel()
        for _ in range(50):
            assert health_check(stubs, ch).status == 1
            assert http_request(port, "/livez")[0] == 200
        for t in stalled:
            t.join(120)
        assert results == ["closed"] * 8, results
    finally:
        stop.set()
        for t in dribblers:
            t.join(60)
    assert_serving(stubs, server)


def _open_idle(port, n):
    """@n non-blocking connects that send nothing. Past the cap (64) the listener stops
    accepting: the next ones wait in the kernel's queue (128), the rest in SYN retries."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        assert s.connect_ex(("127.0.0.1", port)) in (0, errno.EINPROGRESS)
        socks.append(s)
    return socks


def test_a_thousand_idle_connections_do_not_touch_grpc(stubs, churnd_factory):
    server = churnd_factory(args=["--admin-timeout-s", "60"])
    port = admin_port(server)
    idle = []
    try:
        idle = _open_idle(port, 1000)
        ch = server.channel()
        for _ in range(200):
            assert health_check(stubs, ch).status == 1
        assert_serving(stubs, server)
        samples = parse_exposition(_scrape_when_possible(port, idle))
        assert 0 < samples[("churn_open_connections", frozenset({("listener", "admin")}))] <= 64
    finally:
        for s in idle:
            s.close()
    assert http_request(port, "/livez")[0] == 200
    assert_serving(stubs, server)


def _scrape_when_possible(port, idle):
    """Keep the 32 oldest idle connections (accepted first), close the rest, and scrape."""
    for s in idle[32:]:
        s.close()
    for _ in range(100):
        try:
            status, _, body = http_request(port, "/metrics", timeout=10)
            if status == 200:
                return body
        except OSError:
            time.sleep(0.1)
    pytest.fail("no scrape succeeded after freeing connections")


def test_scrapes_across_sigterm_answer_or_are_refused(churnd_factory):
    server = churnd_factory()
    port = admin_port(server)
    outcomes, stop = [], threading.Event()

    def scraper():
        while not stop.is_set():
            try:
                status, _, body = http_request(port, "/metrics", timeout=10)
                complete = status != 200 or "\nprocess_open_fds " in body
                outcomes.append(status if complete else "truncated")
            except (OSError, http.client.HTTPException) as e:
                outcomes.append(type(e).__name__)
                if isinstance(e, ConnectionRefusedError):
                    return

    threads = [threading.Thread(target=scraper) for _ in range(3)]
    for t in threads:
        t.start()
    while len(outcomes) < 30:
        time.sleep(0.01)
    server.signal(signal.SIGTERM)
    assert server.wait() == 0, server.stderr()
    for t in threads:
        t.join(60)
    stop.set()
    assert 200 in outcomes
    assert set(outcomes) <= {200, "ConnectionRefusedError", "ConnectionResetError",
                             "RemoteDisconnected", "BrokenPipeError"}, set(outcomes)
    assert outcomes[-1] == "ConnectionRefusedError"


def test_admin_listen_off(stubs, churnd_factory):
    server = churnd_factory(args=["--admin-listen", "off"])
    assert "admin_listening" not in server.stderr()
    assert_serving(stubs, server)


@pytest.mark.parametrize("addr,why", [
    ("nonsense", "admin-listen: 'nonsense' is not host:port (or 'off')"),
    ("127.0.0.1:", "admin-listen: '127.0.0.1:' is not host:port (or 'off')"),
    ("no.such.host.invalid:9464", "admin-listen: 'no.such.host.invalid:9464':"),
    ("127.0.0.1:99999", "admin-listen: '127.0.0.1:99999':"),
])
def test_bad_admin_addresses_name_the_option(churnd_bin, tmp_path, addr, why):
    r = subprocess.run([churnd_bin, "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--admin-listen", addr], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert why in r.stderr, r.stderr


def test_busy_admin_address_fails_start(churnd_bin, server, tmp_path):
    busy = f"127.0.0.1:{admin_port(server)}"
    r = subprocess.run([churnd_bin, "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--admin-listen", busy], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert f"admin-listen: cannot listen on {busy}" in r.stderr, r.stderr


# -- HTTPS --------------------------------------------------------------------------------------

def _self_signed(tmp_path, name):
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_https_admin_listener(stubs, churnd_factory, tmp_path):
    cert, key = _self_signed(tmp_path, "admin")
    server = churnd_factory(args=["--admin-tls-cert", cert, "--admin-tls-key", key])
    assert "scheme=https" in server.stderr()
    port = admin_port(server)
    ctx = ssl.create_default_context(cafile=cert)
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=30)
    c.request("GET", "/livez")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"ok\n")
    c.close()
    # plaintext HTTP to the TLS port gets no HTTP answer
    with pytest.raises((http.client.HTTPException, OSError)):
        http_request(port, "/livez", timeout=10)
    assert_serving(stubs, server)


def test_https_bad_files_name_the_file(churnd_bin, tmp_path):
    cert, key = _self_signed(tmp_path, "one")
    _, other_key = _self_signed(tmp_path, "two")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cases = [
        ([cert, str(tmp_path / "missing.key")], f"admin TLS key {tmp_path}/missing.key: cannot"),
        ([str(junk), key], f"admin TLS certificate {junk}: not a PEM file"),
        ([cert, other_key], "the TLS certificate and key do not match"),
        ([cert, ""], "admin TLS: a certificate was given without a key"),
    ]
    for (c, k), why in cases:
        r = subprocess.run([churnd_bin, "--listen", "127.0.0.1:0", "--data",
                            str(tmp_path / "d"), "--admin-listen", "127.0.0.1:0",
                            "--admin-tls-cert", c, "--admin-tls-key", k],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        assert why in r.stderr, r.stderr

