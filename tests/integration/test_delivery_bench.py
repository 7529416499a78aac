"""tools/bench/delivery in a small mode, so that the benchmark cannot rot: a real churnd, two
signed webhook destinations and tools/bench/delivery-sink, every change delivered once with
a valid id and signature. And the sink itself against hostile input: the bench's verdict is
only worth what the sink's checks are, so each check is shown to fire (a duplicate, a wrong
id, a wrong or missing signature, a request that is not a POST with a Content-Length, one
over the size cap, a body cut short by a closed connection)."""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys

from conftest import SOURCE_ROOT
from fixtures_data import tool_path

SECRET = "sink-test-secret-0123456789"


def build_dir(churnctl_bin):
    return os.path.dirname(os.path.dirname(churnctl_bin))


def sink_bin(churnctl_bin):
    path = tool_path(churnctl_bin, "bench", "delivery-sink", "delivery-sink")
    assert os.access(path, os.X_OK), f"{path} is not an executable (build tools/bench)"
    return path


def test_bench_small_mode_delivers_everything_once(churnctl_bin):
    bench = os.path.join(SOURCE_ROOT, "tools", "bench", "delivery")
    p = subprocess.run([sys.executable, bench, "--build", build_dir(churnctl_bin), "--alerts", "40",
                        "--destinations", "2", "--streams", "2", "--rounds", "1"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"bench exited {p.returncode}:\n{p.stderr}\n{p.stdout}"
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    runs, summary = lines[:-1], lines[-1]
    assert summary["summary"] and summary["ok"], summary
    hooks = [r for r in runs if r["setup"] == "webhooks"]
    assert len(hooks) == 1 and len(runs) == 2
    r = hooks[0]
    assert r["deliveries"] == r["expected"] == 80
    assert r["duplicates"] == r["bad_id"] == r["bad_signature"] == r["malformed"] == 0
    assert r["lag_ms"]["p50"] >= 0 and r["lag_ms"]["max"] >= r["lag_ms"]["p99"]
    assert summary["alert_rate_ratio"] > 0


class Sink:
    def __init__(self, binary, secret=SECRET):
        self.proc = subprocess.Popen([binary, "--secret", secret], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.port = int(self.proc.stdout.readline())

    def stats(self):
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0


def exchange(port, raw, close_after=False):
    """Sends @raw on a new connection; the status line of the answer (b'' if none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        if close_after:
            return b""
        answer = s.recv(4096)
        return answer.split(b"\r\n", 1)[0]


def post(path, body, delivery_id=None, signature=None, secret=SECRET):
    if signature is None and secret:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    if delivery_id is not None:
        head += f"X-Churnd-Delivery: {delivery_id}\r\n"
    if signature:
        head += f"X-Churnd-Signature-256: {signature}\r\n"
    return head.encode() + b"\r\n" + body


def test_sink_counts_every_kind_of_bad_delivery(churnctl_bin):
    sink = Sink(sink_bin(churnctl_bin))
    try:
        body = b'{"revision_sequence": 7, "updated_at_ms": 1}'.replace(b": ", b":")
        assert exchange(sink.port, post("/d0", body, "d0-7")) == b"HTTP/1.1 204 No Content"
        assert sink.stats()["unique"] == 1
        exchange(sink.port, post("/d0", body, "d0-7"))                       # the same again
        exchange(sink.port, post("/d1", body, "d1-8"))                       # id != sequence
        exchange(sink.port, post("/d2", body, "d2-7", signature="sha256=00"))  # forged
        exchange(sink.port, post("/d3", body, "d3-7", signature=""))         # unsigned
        s = sink.stats()
        assert (s["requests"], s["unique"], s["duplicates"]) == (5, 4, 1), s
        assert (s["bad_id"], s["bad_signature"], s["malformed"]) == (1, 2, 0), s
        # not a delivery at all: answered 400, counted, never accepted
        assert exchange(sink.port, b"GET /d0 HTTP/1.1\r\nHost: x\r\n\r\n") == \
            b"HTTP/1.1 400 Bad Request"
        assert exchange(sink.port, b"POST /d0 HTTP/1.1\r\nHost: x\r\n\r\n{}") == \
            b"HTTP/1.1 400 Bad Request"                                      # no length
        assert exchange(sink.port, b"POST /d0 HTTP/1.1\r\nContent-Length: -5\r\n\r\n") == \
            b"HTTP/1.1 400 Bad Request"
        assert exchange(sink.port, b"POST /d0 HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n") \
            == b"HTTP/1.1 400 Bad Request"                                   # over the cap
        assert exchange(sink.port, b"POST /d0 HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}") == \
            b"HTTP/1.1 400 Bad Request"
        # a body cut short by the sender's close is not a delivery
        exchange(sink.port, post("/d4", body, "d4-7")[:-3], close_after=True)
        s = sink.stats()
        assert (s["requests"], s["unique"], s["malformed"]) == (5, 4, 5), s
        # two deliveries in one write on a kept-alive connection: both answered, both counted
        b8 = body.replace(b"7", b"8")
        with socket.create_connection(("127.0.0.1", sink.port), timeout=10) as c:
            c.sendall(post("/d5", body, "d5-7") + post("/d5", b8, "d5-8"))
            got = b""
            while got.count(b"204 No Content") < 2:
                chunk = c.recv(4096)
                assert chunk, got
                got += chunk
        s = sink.stats()
        assert (s["requests"], s["unique"], s["duplicates"]) == (7, 6, 1), s
    finally:
        sink.close()
