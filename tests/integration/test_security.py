"""Security over the wire (issue 14 items 1-3, issue 13 item 10), with Debian's python3-grpcio
as the independent client and certificates made by openssl in the test: TLS works and
plaintext to a TLS port fails; mutual TLS refuses no certificate, an expired one and another
CA's; certificates rotated while calls continue (no failed call) and a bad new set keeping the
old one; bad certificate files and plaintext on a non-loopback address refused at start
(exit 2 naming the file or flag); every method with no token, a bad token, a token lacking
the role and one with it; a token in the wrong metadata key and a huge authorization header;
a certificate subject mapped to roles; malformed token files (exit 2 with file:line) and a
SIGHUP reload; the alert actor taken from the identity; ReloadModel confined to --model-dir
(.., a symlink out, /dev/zero, a directory, a FIFO refused at once, health answering and
SIGTERM exiting within the drain time)."""
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, health_check, rpc_error
from fixtures_admin import admin_port, http_request
from fixtures_data import api  # noqa: F401
from test_alerts import alert_api, chat_intents, list_all  # noqa: F401

AUTH_CODES = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
ROLES = ("read", "ingest", "operate", "admin")
GARBAGE = b"\xff\xff\xff"  # not a protobuf message: a call that passed auth fails to decode

# The documented role of every method (docs/SECURITY.md); a method not named needs admin.
METHOD_ROLES = {
    "/churn.v1.ScoringService/GetScore": "read",
    "/churn.v1.ScoringService/BatchGetScores": "read",
    "/churn.v1.ScoringService/ListAtRiskCustomers": "read",
    "/churn.v1.IngestService/GetCustomer": "read",
    "/churn.v1.AlertService/WatchAlerts": "read",
    "/churn.v1.AlertService/ListAlerts": "read",
    "/churn.v1.ModelService/GetModelInfo": "read",
    "/churn.v1.ModelService/ListModels": "read",
    "/churn.v1.IngestService/RecordEvents": "ingest",
    "/churn.v1.IngestService/UpsertCustomers": "ingest",
    "/churn.v1.ChatService/AnalyzeChat": "ingest",
    "/churn.v1.ChatService/AnalyzeText": "ingest",
    "/churn.v1.AlertService/AcknowledgeAlert": "operate",
    "/churn.v1.AlertService/RecordOutcome": "operate",
    "/churn.v1.IngestService/DeleteCustomer": "admin",
    "/churn.v1.ModelService/ReloadModel": "admin",
    "/churn.v1.ModelService/PromoteModel": "admin",
    "/churn.v1.ModelService/RollbackModel": "admin",
    "/churn.v1.ModelService/RetrainModel": "admin",
}
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
# gRPC core logs each refused handshake at its error level: expected where a test refuses one
HANDSHAKE_FAILED = r"Handshake failed"


# -- certificates ------------------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Certs:
    """A CA, a server certificate, client certificates (good, expired, another CA's)."""

    def __init__(self, d):
        self.d = str(d)
        self.ca("ca")
        self.ca("other-ca")
        self.leaf("server", "ca", "localhost", server=True)
        self.leaf("client", "ca", "client1")
        self.leaf("expired", "ca", "client1", days="-1")
        self.leaf("stranger", "other-ca", "client1")

    def path(self, name):
        return os.path.join(self.d, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def ca(self, name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj",
                f"/CN={name}", "-days", "3", cwd=self.d)

    def leaf(self, name, ca, cn, server=False, days="2"):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=self.d)
        ext = f"{name}.ext"
        with open(self.path(ext), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if server else
                    "extendedKeyUsage=clientAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", days, "-extfile", ext,
                cwd=self.d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def tls_args(certs, mtls=False, cert="server"):
    a = ["--tls-cert", certs.path(f"{cert}.pem"), "--tls-key", certs.path(f"{cert}.key")]
    return a + (["--tls-client-ca", certs.path("ca.pem")] if mtls else [])


def secure_channel(server, certs, client=None):
    """A TLS channel of its own (a new connection, so a new handshake)."""
    creds = grpc.ssl_channel_credentials(
        certs.read("ca.pem"), certs.read(f"{client}.key") if client else None,
        certs.read(f"{client}.pem") if client else None)
    ch = grpc.secure_channel(server.address, creds,
                             options=[("grpc.ssl_target_name_override", "localhost"),
                                      ("grpc.use_local_subchannel_pool", 1)])
    server._channels.append(ch)
    return ch


def serving(stubs, ch, metadata=None):
    r = stubs.health_grpc.HealthStub(ch).Check(stubs.health_pb2.HealthCheckRequest(),
                                               timeout=RPC_TIMEOUT_S, metadata=metadata)
    return r.status == stubs.health_pb2.HealthCheckResponse.SERVING


def start_fails(churnd_bin, tmp_path, *args):
    """Run churnd that must refuse to start; return (exit status, stderr)."""
    r = subprocess.run([churnd_bin, "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data"),
                        *args], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


# -- TLS and mutual TLS --------------------------------------------------------------------------

def test_tls_serves_and_plaintext_to_it_fails(stubs, churnd_factory, churnctl_bin, certs):
    s = churnd_factory(args=tls_args(certs))
    s.allow_stderr = HANDSHAKE_FAILED
    assert serving(stubs, secure_channel(s, certs))
    plain = grpc.insecure_channel(s.address, options=[("grpc.use_local_subchannel_pool", 1)])
    try:
        e = rpc_error(stubs.health_grpc.HealthStub(plain).Check,
                      stubs.health_pb2.HealthCheckRequest(), timeout=5)
        assert e.code() == grpc.StatusCode.UNAVAILABLE, e
    finally:
        plain.close()
    # churnctl speaks TLS too, and without the CA it cannot verify the server
    r = subprocess.run([churnctl_bin, "--server", s.address, "--tls-ca", certs.path("ca.pem"),
                        "--tls-server-name", "localhost", "health"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SERVING" in r.stdout, r.stderr
    r = subprocess.run([churnctl_bin, "--server", s.address, "--tls-ca",
                        certs.path("other-ca.pem"), "--timeout", "3000", "health"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, (r.stdout, r.stderr)


def test_mtls_refuses_none_expired_and_other_ca(stubs, churnd_factory, churnctl_bin, certs):
    s = churnd_factory(args=tls_args(certs, mtls=True))
    s.allow_stderr = HANDSHAKE_FAILED
    assert serving(stubs, secure_channel(s, certs, client="client"))
    for client in (None, "expired", "stranger"):
        e = rpc_error(stubs.health_grpc.HealthStub(secure_channel(s, certs, client)).Check,
                      stubs.health_pb2.HealthCheckRequest(), timeout=5)
        assert e.code() == grpc.StatusCode.UNAVAILABLE, (client, e)
    r = subprocess.run([churnctl_bin, "--server", s.address, "--tls-ca", certs.path("ca.pem"),
                        "--tls-cert", certs.path("client.pem"), "--tls-key",
                        certs.path("client.key"), "--tls-server-name", "localhost", "health"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert_serving_tls(stubs, s, certs, "client")


def assert_serving_tls(stubs, s, certs, client=None):
    assert s.running(), s.stderr()
    assert serving(stubs, secure_channel(s, certs, client))


def served_certificate(address, certs):
    """The DER certificate a new TLS handshake with the server presents."""
    host, port = address.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=certs.path("ca.pem"))
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def der(certs, name):
    return ssl.PEM_cert_to_DER_cert(certs.read(name).decode())


def install(certs, live, name):
    """Replace the live certificate and key with @name's (each by an atomic rename)."""
    for ext in ("pem", "key"):
        tmp = f"{live}.{ext}.tmp"
        with open(tmp, "wb") as f:
            f.write(certs.read(f"{name}.{ext}"))
        os.replace(tmp, f"{live}.{ext}")


def test_rotation_while_calls_continue(stubs, churnd_factory, certs, tmp_path):
    certs.leaf("server2", "ca", "localhost", server=True)
    live = str(tmp_path / "live")
    install(certs, live, "server")
    s = churnd_factory(args=["--tls-cert", live + ".pem", "--tls-key", live + ".key"])
    s.allow_stderr = r"Failed fetching new server credentials"  # gRPC's line for the bad set
    assert served_certificate(s.address, certs) == der(certs, "server.pem")
    failures, calls, stop = [], [0], threading.Event()
    steady = secure_channel(s, certs)

    def load():
        while not stop.is_set():
            for ch in (steady, secure_channel(s, certs)):  # an open connection and a new one
                try:
                    assert serving(stubs, ch)
                    calls[0] += 1
                except Exception as e:  # noqa: BLE001 - any failure is counted
                    failures.append(repr(e))
            time.sleep(0.005)

    def calls_go_on(n=5):
        """Until @n more calls were made (the load goes on; a slow machine only waits)."""
        want, deadline = calls[0] + n, time.monotonic() + RPC_TIMEOUT_S
        while calls[0] < want and not failures:
            assert time.monotonic() < deadline, ("no calls made", calls)
            time.sleep(0.02)

    t = threading.Thread(target=load)
    t.start()
    try:
        calls_go_on()
        install(certs, live, "server2")
        deadline = time.monotonic() + RPC_TIMEOUT_S
        while served_certificate(s.address, certs) != der(certs, "server2.pem"):
            assert time.monotonic() < deadline, "the new certificate was never served"
            time.sleep(0.05)
        s.wait_log(r"tls_reloaded")
        calls_go_on()
        # a bad new set (a key that is not the certificate's) keeps the one serving
        before = s.stderr().count("tls_reload_refused")
        with open(live + ".key.tmp", "wb") as f:
            f.write(certs.read("client.key"))
        os.replace(live + ".key.tmp", live + ".key")
        assert served_certificate(s.address, certs) == der(certs, "server2.pem")
        assert "does not match" in s.wait_log(r"tls_reload_refused", count=before + 1)[-1]
        calls_go_on()
    finally:
        stop.set()
        t.join()
    assert not failures, failures[:5]


def test_bad_certificate_files_exit_2_naming_the_file(churnd_bin, certs, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", certs.path("server.key")],
         "missing.pem"),
        (["--tls-cert", str(garbage), "--tls-key", certs.path("server.key")], "garbage.pem"),
        (["--tls-cert", certs.path("server.pem"), "--tls-key", certs.path("client.key")],
         "does not match"),
        (["--tls-cert", certs.path("server.pem"), "--tls-key", str(garbage)], "garbage.pem"),
        (tls_args(certs) + ["--tls-client-ca", str(tmp_path / "noca.pem")], "noca.pem"),
        (["--tls-cert", certs.path("server.pem")], "--tls-key"),
        (["--tls-client-ca", certs.path("ca.pem")], "--tls-cert"),
    ]
    for args, named in cases:
        rc, err = start_fails(churnd_bin, tmp_path, *args)
        assert rc == 2 and named in err, (args, rc, err)


def test_plaintext_on_a_non_loopback_address_needs_insecure_listen(churnd_bin, tmp_path):
    r = subprocess.run([churnd_bin, "--listen", "0.0.0.0:0", "--data", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--insecure-listen" in r.stderr, r.stderr
    # the explicit flag allows it: the server comes up and stops cleanly
    ready = tmp_path / "ready"
    p = subprocess.Popen([churnd_bin, "--listen", "0.0.0.0:0", "--insecure-listen", "--data",
                          str(tmp_path / "d"), "--ready-file", str(ready)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists() and p.poll() is None
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0


# -- tokens and roles ---------------------------------------------------------------------------

def token_line(name, token, roles):
    return f"{name} {hashlib.sha256(token.encode()).hexdigest()} {','.join(roles)}\n"


@pytest.fixture
def tokens(tmp_path):
    """A token file: per role one token with only it and one with every other role."""
    path = tmp_path / "tokens"
    lines = ["# churnd tokens\n", "\n"]
    for r in ROLES:
        lines.append(token_line(f"only-{r}", f"tok-only-{r}", [r]))
        lines.append(token_line(f"not-{r}", f"tok-not-{r}", [x for x in ROLES if x != r]))
    lines.append("client1 cn=client1 read   # a certificate subject\n")
    path.write_text("".join(lines))
    return path


def bearer(token):
    return [("authorization", f"Bearer {token}")]


def call_status(ch, method, shape, metadata):
    """The status of one call with a body that does not decode; OK if it answered at all."""
    kw = dict(metadata=metadata, timeout=5)
    try:
        if shape == "unary":
            ch.unary_unary(method)(GARBAGE, **kw)
        elif shape == "server stream":
            next(iter(ch.unary_stream(method)(GARBAGE, **kw)), None)
        elif shape == "client stream":
            ch.stream_unary(method)(iter([GARBAGE]), **kw)
        else:
            next(iter(ch.stream_stream(method)(iter([GARBAGE]), **kw)), None)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


def methods(churnctl_bin):
    out = subprocess.run([churnctl_bin, "methods"], capture_output=True, text=True,
                         check=True).stdout
    rows = [line.split(None, 1) for line in out.splitlines() if line.strip()]
    return [(name, shape.replace(" (not implemented yet)", "").strip()) for name, shape in rows]


def test_every_method_with_each_kind_of_credentials(stubs, churnd_factory, churnctl_bin,
                                                    tokens):
    s = churnd_factory(args=["--auth-tokens", str(tokens)])
    ch = s.channel()
    listed = methods(churnctl_bin)
    assert len(listed) >= 20
    for method, shape in listed:
        if method.startswith(OPEN_PREFIXES):
            for md in ([], bearer("wrong")):
                code, _ = call_status(ch, method, shape, md)
                assert code not in AUTH_CODES, (method, md, code)
            continue
        role = METHOD_ROLES.get(method, "admin")
        code, details = call_status(ch, method, shape, [])
        assert code == grpc.StatusCode.UNAUTHENTICATED and "Bearer" in details, (method, code)
        code, details = call_status(ch, method, shape, bearer("tok-wrong"))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "unknown token" in details, method
        assert "tok-wrong" not in details
        code, details = call_status(ch, method, shape, bearer(f"tok-not-{role}"))
        assert code == grpc.StatusCode.PERMISSION_DENIED, (method, code)
        assert f"'{role}'" in details and f"not-{role}" in details, details
        code, details = call_status(ch, method, shape, bearer(f"tok-only-{role}"))
        assert code not in AUTH_CODES, (method, role, code, details)
    assert "tok-" not in s.stderr(), "a token was logged"
    assert_serving(stubs, s)


def test_metrics_need_the_read_role_and_probes_stay_open(churnd_factory, tokens):
    """The admin listener takes the same tokens (issue 14): /metrics needs read, the probes
    answer anyone, and --metrics-public opens /metrics again."""
    s = churnd_factory(args=["--auth-tokens", str(tokens)])
    port = admin_port(s)
    assert http_request(port, "/metrics")[0] == 401
    assert http_request(port, "/metrics", headers={"Authorization": "Bearer nonsense"})[0] == 401
    forbidden = http_request(port, "/metrics", headers={"Authorization": "Bearer tok-not-read"})
    assert forbidden[0] == 403, forbidden
    ok = http_request(port, "/metrics", headers={"Authorization": "Bearer tok-only-read"})
    assert ok[0] == 200 and "grpc_server_started_total" in ok[2]
    assert http_request(port, "/livez")[0] == 200
    assert http_request(port, "/readyz")[0] in (200, 503)  # open; 503 only for no model
    public = churnd_factory(args=["--auth-tokens", str(tokens), "--metrics-public"])
    assert http_request(admin_port(public), "/metrics")[0] == 200


def test_health_and_reflection_can_be_closed(stubs, churnd_factory, tokens):
    s = churnd_factory(args=["--auth-tokens", str(tokens), "--auth-open-health=false"])
    e = rpc_error(health_check, stubs, s.channel())
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    assert serving(stubs, s.channel(), bearer("tok-only-read"))
    e = rpc_error(serving, stubs, s.channel(), bearer("tok-only-ingest"))
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED and "'read'" in e.details()


def test_wrong_key_and_huge_header(stubs, churnd_factory, tokens):
    s = churnd_factory(args=["--auth-tokens", str(tokens)])
    ch = s.channel()
    get = "/churn.v1.ScoringService/GetScore"
    for md in ([("x-authorization", "Bearer tok-only-read")], [("token", "tok-only-read")],
               [("authorization", "tok-only-read")], [("authorization", "Basic dG9rOng=")],
               [("authorization", "Bearer tok-only-read"),
                ("authorization", "Bearer tok-only-read")]):
        code, details = call_status(ch, get, "unary", md)
        assert code == grpc.StatusCode.UNAUTHENTICATED, (md, code, details)
    code, details = call_status(ch, get, "unary", bearer("x" * 8000))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "over 4096 bytes" in details, details
    # beyond the metadata limit the transport refuses it before any check
    code, _ = call_status(ch, get, "unary", bearer("x" * 40000))
    assert code != grpc.StatusCode.OK and code != grpc.StatusCode.INVALID_ARGUMENT, code
    assert_serving(stubs, s)
    assert call_status(s.channel(), get, "unary", bearer("tok-only-read"))[0] \
        == grpc.StatusCode.INVALID_ARGUMENT


def test_certificate_subject_maps_to_roles(stubs, churnd_factory, certs, tokens):
    s = churnd_factory(args=tls_args(certs, mtls=True) + ["--auth-tokens", str(tokens)])
    ch = secure_channel(s, certs, "client")
    code, _ = call_status(ch, "/churn.v1.ScoringService/GetScore", "unary", [])
    assert code == grpc.StatusCode.INVALID_ARGUMENT, code
    code, details = call_status(ch, "/churn.v1.IngestService/DeleteCustomer", "unary", [])
    assert code == grpc.StatusCode.PERMISSION_DENIED and "client1" in details, details
    # a token sent on the same connection wins over the certificate
    code, _ = call_status(ch, "/churn.v1.IngestService/DeleteCustomer", "unary",
                          bearer("tok-only-admin"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, code


def test_malformed_token_files_exit_2_with_file_and_line(churnd_bin, tmp_path):
    good = token_line("ok", "t", ["read"])
    cases = [
        ("ok\n", ":1:", "expected 3 fields"),
        (good + "a b c d\n", ":2:", "expected 3 fields"),
        ("# c\n\nx abc read\n", ":3:", "64 hex digits"),
        (good + token_line("y", "u", ["writer"]), ":2:", "role 'writer'"),
        (good + token_line("ok", "v", ["read"]), ":2:", "twice"),
        ("x " + "g" * 64 + " read\n", ":1:", "64 hex digits"),
    ]
    for i, (text, where, why) in enumerate(cases):
        f = tmp_path / f"tokens{i}"
        f.write_text(text)
        rc, err = start_fails(churnd_bin, tmp_path, "--auth-tokens", str(f))
        assert rc == 2 and f"tokens{i}{where}" in err and why in err, (text, rc, err)
        assert hashlib.sha256(b"t").hexdigest() not in err
    rc, err = start_fails(churnd_bin, tmp_path, "--auth-tokens", str(tmp_path / "none"))
    assert rc == 2 and "none" in err, err


def test_sighup_reloads_the_tokens(stubs, churnd_factory, tmp_path):
    f = tmp_path / "tokens"
    f.write_text(token_line("first", "tok-1", ["read"]))
    s = churnd_factory(args=["--auth-tokens", str(f)])
    s.allow_stderr = r"auth_tokens_reload_refused"
    get = "/churn.v1.ScoringService/GetScore"
    assert call_status(s.channel(), get, "unary", bearer("tok-1"))[0] not in AUTH_CODES
    f.write_text(token_line("second", "tok-2", ["read"]))
    s.signal(signal.SIGHUP)
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while call_status(s.channel(), get, "unary", bearer("tok-1"))[0] not in AUTH_CODES:
        assert time.monotonic() < deadline, "SIGHUP did not reload the tokens"
        time.sleep(0.05)
    assert call_status(s.channel(), get, "unary", bearer("tok-2"))[0] not in AUTH_CODES
    # a broken file on SIGHUP keeps the tokens in force
    f.write_text("broken\n")
    s.signal(signal.SIGHUP)
    assert ":1:" in s.wait_log(r"auth_tokens_reload_refused")[0]
    assert call_status(s.channel(), get, "unary", bearer("tok-2"))[0] not in AUTH_CODES


def test_alert_actor_is_the_identity(stubs, api, alert_api, churnd_factory, tmp_path):
    f = tmp_path / "tokens"
    f.write_text(token_line("ops-anna", "tok-anna", ["operate", "read", "ingest"]) +
                 token_line("ops-ben", "tok-ben", ["operate"]))
    s = churnd_factory(args=["--auth-tokens", str(f)])
    pb, grpc_mod = alert_api
    md = bearer("tok-anna")

    class Authed:  # the helpers' channel, with the token on every call
        def __init__(self, server):
            self.address = server.address
            self._s = server

        def channel(self, options=None):
            ch = self._s.channel(options)
            return grpc.intercept_channel(ch, TokenInterceptor(md))
    authed = Authed(s)
    chat_intents(api, authed, ["cust-actor", "cust-actor-2"])
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while len(alerts := list_all(alert_api, authed)[0]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stub = grpc_mod.AlertServiceStub(s.channel())
    r = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(sequence=alerts[0].sequence,
                                                         actor="mallory", note="called them"),
                              timeout=RPC_TIMEOUT_S, metadata=md)
    assert r.alert.acknowledged_by == "ops-anna", r.alert
    text = str(r.alert)
    assert "client-supplied actor: mallory" in text and "called them" in text, text
    # another token on the same connection acts as itself, not as the connection's first caller
    r = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(sequence=alerts[1].sequence),
                              timeout=RPC_TIMEOUT_S, metadata=bearer("tok-ben"))
    assert r.alert.acknowledged_by == "ops-ben", r.alert


class TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor,
                       grpc.UnaryStreamClientInterceptor, grpc.StreamUnaryClientInterceptor):
    def __init__(self, md):
        self.md = md

    def _details(self, d):
        class D(grpc.ClientCallDetails):
            pass
        n = D()
        n.method, n.timeout, n.credentials = d.method, d.timeout, d.credentials
        n.metadata = list(d.metadata or []) + self.md
        n.wait_for_ready, n.compression = getattr(d, "wait_for_ready", None), \
            getattr(d, "compression", None)
        return n

    def intercept_unary_unary(self, cont, d, req):
        return cont(self._details(d), req)

    def intercept_stream_stream(self, cont, d, reqs):
        return cont(self._details(d), reqs)

    def intercept_unary_stream(self, cont, d, req):
        return cont(self._details(d), req)

    def intercept_stream_unary(self, cont, d, reqs):
        return cont(self._details(d), reqs)


# -- model files only from --model-dir -------------------------------------------------------

def test_reload_model_only_from_the_model_dir(stubs, api, churnd_factory, tmp_path):
    mdir = tmp_path / "models"
    mdir.mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (mdir / "escape.json").symlink_to(outside)
    (mdir / "sub").mkdir()
    os.mkfifo(mdir / "pipe.json")
    (mdir / "zero.json").symlink_to("/dev/zero")
    s = churnd_factory(args=["--model-dir", str(mdir), "--drain-timeout-ms", "2000"])
    stub = api.model_grpc.ModelServiceStub(s.channel())
    req = api.model_pb2.ReloadModelRequest
    cases = [
        ("../outside.json", "'..'"),
        (str(mdir / ".." / "outside.json"), "'..'"),
        (str(outside), "outside the directory"),
        ("escape.json", "outside the directory"),
        ("/dev/zero", "outside the directory"),
        ("zero.json", "outside the directory"),
        ("sub", "is a directory"),
        ("pipe.json", "is a FIFO"),
    ]
    for path, rule in cases:
        e = rpc_error(stub.ReloadModel, req(path=path), timeout=RPC_TIMEOUT_S)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and rule in e.details(), (path, e)
        assert "--model-dir" in e.details() and "{}" not in e.details()
        assert_serving(stubs, s)
    e = rpc_error(stub.ReloadModel, req(path="absent.json"), timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.NOT_FOUND, e
    # nothing is stuck on the FIFO: SIGTERM exits within the drain time (2 s) and a margin
    s.signal(signal.SIGTERM)
    assert s.wait(timeout=2.0 + 10.0) == 0
