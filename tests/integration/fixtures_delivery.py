"""Receivers for alert delivery tests: an HTTP webhook receiver that records every request
and can be told to fail (a status code) or hang (a delay), and an SMTP sink (Debian's
python3-aiosmtpd's SMTP protocol on our own event loop) that records every message. Both listen on 127.0.0.1 ephemeral ports and
are stopped by their fixtures."""
import hashlib
import hmac
import http.server
import threading
import time

import pytest


class WebhookReceiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []       # (path, headers dict lower-case, body bytes), accepted ones
        self.attempts = 0        # every request, accepted or not
        self.fail_status = 0     # answer this status instead of 204 (0: accept)
        self.fail_count = -1     # ... for this many more requests (-1: until changed)
        self.hang_s = 0.0        # sleep this long before answering
        self.big_body = 0        # accept with a body of this many bytes (0: 204, no body)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with receiver.lock:
                    receiver.attempts += 1
                    status = receiver.fail_status if receiver.fail_count != 0 else 0
                    if status and receiver.fail_count > 0:
                        receiver.fail_count -= 1
                    hang = receiver.hang_s
                if hang:
                    time.sleep(hang)
                if status:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.big_body:
                    self.send_response(200)
                    self.send_header("Content-Length", str(receiver.big_body))
                    self.end_headers()
                    try:
                        chunk = b"x" * 65536
                        for _ in range(receiver.big_body // len(chunk)):
                            self.wfile.write(chunk)
                    except OSError:
                        pass  # churnd stops reading past its cap
                    return
                self.send_response(204)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.server.server_address[1], path)

    def accepted(self, path=None):
        with self.lock:
            return [r for r in self.requests if path is None or r[0] == path]

    def wait_for(self, n, path=None, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.accepted(path)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        pytest.fail("the receiver got %d of %d deliveries (path %s, %d attempts)"
                    % (len(self.accepted(path)), n, path, self.attempts))

    def close(self):
        with self.lock:
            self.hang_s = 0
        self.server.shutdown()
        self.server.server_close()


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def webhook():
    r = WebhookReceiver()
    yield r
    r.close()


class SmtpSink:
    def __init__(self):
        import asyncio

        from aiosmtpd.smtp import SMTP

        sink = self
        self.messages = []  # (mail_from, rcpt_tos, content bytes)
        self.lock = threading.Lock()

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.content))
                return "250 OK"

        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(self.loop.create_server(
                lambda: SMTP(Handler(), hostname="churn-test-sink"), "127.0.0.1", 0))
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10), "the SMTP sink did not start"
        self.port = self.server.sockets[0].getsockname()[1]

    def wait_for(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        pytest.fail("the SMTP sink got %d of %d messages" % (len(self.messages), n))

    def close(self):
        def stop():
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)


@pytest.fixture
def smtp_sink():
    s = SmtpSink()
    yield s
    s.close()
