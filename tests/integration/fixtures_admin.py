"""Helpers of the admin HTTP and metrics tests: the admin port a churnd logged, plain HTTP
requests with http.client, and a parser of the Prometheus text exposition (independent of
churnd's writer) into {(name, frozenset(labels)): value}."""

import http.client
import re

ADMIN_LINE = re.compile(r"admin_listening .*port=(\d+)")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def admin_port(server):
    """The admin port of a running churnd (it logs admin_listening before it is ready)."""
    m = ADMIN_LINE.search(server.stderr())
    assert m, f"no admin_listening line:\n{server.stderr()}"
    return int(m.group(1))


def http_request(port, path, method="GET", headers=None, timeout=30, body=None):
    """(status, headers dict with lower-case names, body text) of one request."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        body = r.read().decode()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def scrape(server):
    status, headers, body = http_request(admin_port(server), "/metrics")
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    return body


def parse_exposition(text):
    """Samples by (name, frozenset of label pairs); every line must be a comment or a sample,
    and every sample's family must have been typed before it."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"untyped sample: {line!r}"
        pairs = frozenset(LABEL.findall(labels or ""))
        key = (name, pairs)
        assert key not in samples, f"duplicate sample: {line!r}"
        samples[key] = float(value)
    return samples


def rpc_series(samples, name, method, **labels):
    """The value of the grpc_server_* series @name for the method's labels (0 if absent)."""
    want = {("grpc_method", method)} | set(labels.items())
    for (n, pairs), v in samples.items():
        if n == name and want <= pairs:
            return v
    return 0.0
