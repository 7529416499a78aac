"""Webhook receivers that misbehave, against churnd's own HTTP/1.1 client for http:// URLs
(issue 15, session 7: src/engine/delivery_http.c). A raw-socket receiver plays a script per
request: well-framed answers (204, chunked, 100 Continue first, HTTP/1.0 until the close, a
close after every answer, a 10 MB chunked body) are accepted on the first try and a kept-alive
connection is reused; hostile ones (a redirect, a garbage status line, a connection reset,
endless headers, a slowloris trickle) fail with an error naming what was wrong, are retried,
and once the receiver behaves every change is delivered once, in order, correctly signed,
and churnd exits cleanly."""
import json
import socket
import struct
import threading
import time

import pytest

from fixtures_delivery import signature
from test_delivery import SECRET, head, raise_alerts

OK = b"HTTP/1.1 204 No Content\r\n\r\n"
ANSWERS = {
    "ok": OK,
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nokay\r\n0\r\n\r\n",
    "continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
}


class RawReceiver:
    """Accepts connections, reads each request (head and Content-Length body) and answers
    as script(n) says for the n-th request (0-based): a key of ANSWERS (accepted, connection
    kept), or one of the actions in act()."""

    def __init__(self, script, port=0):
        self.script = script
        self.lock = threading.Lock()
        self.requests = 0        # complete requests read
        self.accepted = []       # (path, headers, body) of accepted requests
        self.connections = 0
        self.stopping = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.talk, args=(conn,), daemon=True).start()

    def read_request(self, conn, buf):
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None, buf
            buf += data
        head_, rest = buf.split(b"\r\n\r\n", 1)
        lines = head_.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in
                   (l.split(":", 1) for l in lines[1:])}
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            data = conn.recv(65536)
            if not data:
                return None, rest
            rest += data
        return (lines[0].split(" ")[1], headers, rest[:n]), rest[n:]

    def talk(self, conn):
        buf = b""
        try:
            while True:
                req, buf = self.read_request(conn, buf)
                if req is None:
                    return
                with self.lock:
                    n = self.requests
                    self.requests += 1
                action = self.script(n)
                if action in ANSWERS or action in ("ok_close", "http10", "huge_body"):
                    with self.lock:
                        self.accepted.append(req)
                if not self.act(conn, action):
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def act(self, conn, action):
        """Answer one request; False when the connection is to be closed."""
        if action in ANSWERS:
            conn.sendall(ANSWERS[action])
            return True
        if action == "ok_close":  # keep-alive promised, then closed while idle
            conn.sendall(OK)
            time.sleep(0.05)
            return False
        if action == "http10":  # no length: the body ends at the close
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\naccepted")
            return False
        if action == "huge_body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
            for _ in range(160):  # 10 MB; churnd stops reading at 64 KiB
                conn.sendall(chunk)
            conn.sendall(b"0\r\n\r\n")
            return False
        if action == "redirect":
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                         % self.url("/elsewhere").encode())
            return True
        if action == "garbage":
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n")
            return True
        if action == "truncated":  # promises 10 bytes, sends 3, closes
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            return False
        if action == "silent_close":  # reads the request, closes without a word
            return False
        if action == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if action == "endless_headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for i in range(20000):
                conn.sendall(b"X-Pad-%05d: %s\r\n" % (i, b"a" * 100))
            return False
        if action == "slowloris":
            for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 100000:
                if self.stopping:
                    return False
                conn.sendall(bytes([b]))
                time.sleep(0.02)
            return False
        raise AssertionError("unknown action " + action)

    def wait_accepted(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.accepted) >= n:
                    return list(self.accepted)
            time.sleep(0.05)
        pytest.fail("the receiver accepted %d of %d (%d requests)"
                    % (len(self.accepted), n, self.requests))

    def close(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture
def raw_receiver():
    made = []

    def make(script, port=0):
        r = RawReceiver(script, port)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def check_delivered(got, total, name="r", target="/hook"):
    """Every change up to `total` once, in order, signed, only to the webhook's own target."""
    seqs = [int(h["x-churnd-delivery"].split("-")[1]) for _, h, _ in got]
    assert seqs == list(range(1, total + 1)), seqs
    for path, h, body in got:
        assert path == target
        assert h["x-churnd-delivery"] == "%s-%d" % (name, json.loads(body)["revision_sequence"])
        assert h["x-churnd-signature-256"] == signature(SECRET, body)
        assert h["content-type"] == "application/json"


def start(churnd_factory, receiver, *extra):
    return churnd_factory(args=["--webhook", "r=" + receiver.url(),
                                "--webhook-secret", "r=" + SECRET,
                                "--delivery-retry-max-ms", "200"] + list(extra))


def test_framed_answers_reuse_one_connection(churnd_factory, raw_receiver, stubs):
    kinds = ["ok", "chunked", "continue"]
    r = raw_receiver(lambda n: kinds[n % 3])
    server = start(churnd_factory, r)
    raise_alerts(server, "framed", 6)
    total = head(server, 6)
    check_delivered(r.wait_accepted(total), total)
    assert r.requests == total, "each accepted at the first try"
    assert r.connections == 1, "one kept-alive connection for all"
    assert "delivery_failed" not in server.stderr()
    assert server.stop() == 0
    server.check_clean()


@pytest.mark.parametrize("kind", ["ok_close", "http10", "huge_body"])
def test_answers_that_end_the_connection_are_accepted(churnd_factory, raw_receiver, stubs, kind):
    r = raw_receiver(lambda n: kind)
    server = start(churnd_factory, r)
    raise_alerts(server, kind.replace("_", "-"), 3)
    total = head(server, 3)
    check_delivered(r.wait_accepted(total), total)
    time.sleep(0.3)
    assert r.requests == total, "each accepted at the first try"
    assert r.connections == total, "a new connection after each close"
    assert "delivery_failed" not in server.stderr()
    assert server.stop() == 0
    server.check_clean()


@pytest.mark.parametrize("kind,message", [
    ("redirect", r"HTTP 302"),
    ("garbage", r"malformed HTTP answer: the status line is not HTTP/1.0 or HTTP/1.1"),
    ("reset", r"reading the answer: Connection reset by peer"),
    ("truncated", r"malformed HTTP answer: the connection closed inside the answer"),
    ("silent_close", r"malformed HTTP answer: the connection closed without an answer"),
    ("endless_headers", r"malformed HTTP answer: the status line or headers are too long"),
    ("slowloris", r"timed out after 400 ms reading the answer"),
])
def test_hostile_answers_fail_by_name_then_recover(churnd_factory, raw_receiver, stubs, kind,
                                                   message):
    r = raw_receiver(lambda n: kind if n < 2 else "ok")
    server = start(churnd_factory, r, "--delivery-timeout-ms", "400")
    raise_alerts(server, kind.replace("_", "-"), 3)
    total = head(server, 3)
    lines = server.wait_log(r"delivery_failed destination=r .*" + message, count=2)
    assert "sequence=1" in lines[0]
    check_delivered(r.wait_accepted(total), total)
    assert r.requests >= total + 2
    assert server.stop() == 0
    server.check_clean()


@pytest.mark.parametrize("host,target", [
    ("localhost", "/hook"),               # a name: each address it resolves to is tried
    ("127.0.0.1", "/hook?team=a%20b&x=1"),  # the query goes with the path
    ("user:pw@127.0.0.1", "/hook"),       # credentials: libcurl's path (Basic auth)
])
def test_url_forms(churnd_factory, raw_receiver, stubs, host, target):
    r = raw_receiver(lambda n: "ok")
    url = "http://%s:%d%s" % (host, r.port, target)
    server = churnd_factory(args=["--webhook", "r=" + url, "--webhook-secret", "r=" + SECRET])
    raise_alerts(server, "url", 2)
    total = head(server, 2)
    got = r.wait_accepted(total)
    check_delivered(got, total, target=target)
    for _, h, _ in got:
        assert h["host"] == "%s:%d" % (host.split("@")[-1], r.port)
        assert ("authorization" in h) == ("@" in host)
    assert server.stop() == 0
    server.check_clean()


def test_stop_ends_an_exchange_that_would_outlast_it(churnd_factory, raw_receiver, stubs):
    """A receiver trickling an answer for longer than churnd's drain: SIGTERM still ends the
    exchange (churnd's stop is checked between the reads), and churnd exits 0."""
    r = raw_receiver(lambda n: "slowloris")
    server = start(churnd_factory, r, "--delivery-timeout-ms", "600000")
    raise_alerts(server, "stop", 1)
    head(server, 1)
    deadline = time.monotonic() + 60
    while r.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.requests == 1, "the delivery reached the receiver"
    assert server.stop() == 0
    server.check_clean()
    assert r.accepted == []


def test_refused_connection_is_retried_until_the_receiver_listens(churnd_factory, raw_receiver,
                                                                  stubs):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    url = "http://127.0.0.1:%d/hook" % port
    server = churnd_factory(args=["--webhook", "r=" + url, "--webhook-secret", "r=" + SECRET,
                                  "--delivery-retry-max-ms", "200"])
    raise_alerts(server, "refused", 2)
    total = head(server, 2)
    server.wait_log(r"delivery_failed destination=r .*connecting to 127.0.0.1:%d: "
                    r"Connection refused" % port, count=2)
    r = raw_receiver(lambda n: "ok", port)
    check_delivered(r.wait_accepted(total), total)
    assert server.stop() == 0
    server.check_clean()
