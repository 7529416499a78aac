"""The admin listener serves the dashboard concurrently (issue 15): clients that stall half way
through a request (headers cut off, a POST body cut off) delay neither a /metrics scrape nor a
dashboard API call: both complete while every stalled connection is still open (asserted by
the state of the sockets, never by a time bound). An impossible --admin-threads stops the start
naming the option."""

import socket
import subprocess

from fixtures_admin import admin_port, http_request, parse_exposition
from fixtures_data import api, demo_store, start_on_store  # noqa: F401 (fixtures)

HALF_REQUESTS = [
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
    b"GET /api/summary HTTP/1.1\r\nHost: x\r\nAccept: app",
    b"POST /api/act HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n{\"sequence\": 1, ",
    b"GET /report?from=2020-01-01 HTTP/1.1\r\n",
]


def _stall(port, data):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    return s


def _still_open(s):
    """True when the server has neither answered nor closed the connection."""
    s.setblocking(False)
    try:
        return s.recv(1) is None  # pragma: no cover (bytes or b"" below)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def test_stalled_clients_delay_neither_metrics_nor_the_dashboard(churnd_factory, demo_store):
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--admin-timeout-s", "600", "--admin-threads", "2"])
    port = admin_port(server)
    stalled = [_stall(port, d) for d in HALF_REQUESTS * 3]
    try:
        for _ in range(5):
            status, _, body = http_request(port, "/metrics")
            assert status == 200, body
            assert parse_exposition(body)
            status, headers, body = http_request(port, "/api/summary")
            assert status == 200, body
            assert headers["content-type"].startswith("application/json")
            assert '"total"' in body
            status, _, body = http_request(port, "/api/queue?page_size=5")
            assert status == 200, body
        assert all(_still_open(s) for s in stalled), "a stalled connection was answered or cut"
        samples = parse_exposition(http_request(port, "/metrics")[2])
        # the stalled connections are counted as open: the scrape saw them, not a fresh daemon
        assert samples[("churn_open_connections", frozenset({("listener", "admin")}))] \
            >= len(stalled)
    finally:
        for s in stalled:
            s.close()
    assert http_request(port, "/livez")[0] == 200


def test_impossible_admin_threads_stop_the_start(churnd_bin, tmp_path):
    for args, why in [(["--admin-threads", "0"], "admin-threads"),
                      (["--admin-threads", "65"], "admin-threads"),
                      (["--admin-threads", "8", "--admin-max-connections", "4"],
                       "8 threads for 4 connections")]:
        r = subprocess.run([churnd_bin, "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                            "--admin-listen", "127.0.0.1:0"] + args,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, r.stderr
        assert why in r.stderr, r.stderr
