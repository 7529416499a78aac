"""Helpers of the dashboard tests (issue 15): Debian's headless chromium driven over the
DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages ended by NUL on fds 3
and 4, so no websocket library is needed), and a reader of the server-sent events feed."""

import base64
import fcntl
import http.client
import json
import os
import shutil
import subprocess
import time

import pytest

CHROMIUM = shutil.which("chromium")
CEILING_S = 60  # a ceiling for waits, never a timing threshold


class Browser:
    """One headless chromium with one page, stopped by close()."""

    def __init__(self, workdir, width=1280, height=800):
        if not CHROMIUM:
            pytest.skip("Debian's chromium is not installed")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        # above fd 9, so that moving them to 3 and 4 in the child clobbers neither
        for name in ("to_child_r", "from_child_w"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "to_child_r":
                to_child_r = high
            else:
                from_child_w = high
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", f"--user-data-dir={workdir}/profile",
                f"--window-size={width},{height}", "about:blank"]
        # the child's fd 3 reads our commands, its fd 4 writes the answers
        shell = f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self.log = open(os.path.join(workdir, "chromium.log"), "wb")
        self.proc = subprocess.Popen(["/bin/bash", "-c", shell] + args,
                                     pass_fds=(to_child_r, from_child_w),
                                     stdout=self.log, stderr=self.log)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.page("Page.enable")
        self.page("Runtime.enable")
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)

    def _message(self):
        while b"\0" not in self._buf:
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, session=None, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._message()
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def page(self, method, **params):
        return self.call(method, session=self.session, **params)

    def eval(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.page("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url):
        """Navigate and wait for the new document's load event."""
        self.events.clear()
        self.page("Page.navigate", url=url)
        deadline = time.monotonic() + CEILING_S
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, f"{url} never loaded"
            self.events.append(self._message())

    def wait_for(self, expression, what):
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + CEILING_S
        while True:
            v = self.eval(expression)
            if v:
                return v
            assert time.monotonic() < deadline, (
                f"the page never showed {what}; its status line: "
                f"{self.eval('document.querySelector(`#status`)?.textContent')!r}")
            time.sleep(0.05)

    def screenshot(self, path):
        data = self.page("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def console_errors(self):
        return [e for e in self.events if e.get("method") == "Runtime.exceptionThrown"]

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=CEILING_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)
        self.log.close()


def read_events(port, headers=None, path="/api/feed", until=None, timeout=CEILING_S):
    """Server-sent events of one /api/feed connection as (id, event, data) until `until`
    (a predicate on the list so far) holds; the connection is then closed."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    assert r.status == 200, r.read()
    assert r.getheader("content-type") == "text/event-stream"
    events, block = [], {}
    try:
        while not (until and until(events)):
            line = r.fp.readline()
            assert line, "the feed ended"
            line = line.decode().rstrip("\n")
            if not line:
                if "data" in block:
                    events.append((int(block["id"]), block["event"], json.loads(block["data"])))
                block = {}
                continue
            key, _, value = line.partition(": ")
            block[key] = value
    finally:
        c.close()
    return events
