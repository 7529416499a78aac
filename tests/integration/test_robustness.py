"""Bad and unusual traffic: deadlines, client cancellation mid-stream, messages over the
size limits, garbage bytes, unknown methods, 200 concurrent connections and SIGTERM with
many open streams. After each, the server must still answer Health/Check."""

import os
import random
import signal
import socket
import threading
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, health_check, rpc_error


def raw_unary(channel, method):
    """A unary call that sends and receives raw bytes."""
    return channel.unary_unary(method)


def encode_check_request(stubs, service):
    return stubs.health_pb2.HealthCheckRequest(service=service).SerializeToString()


# -- deadlines and cancellation -------------------------------------------------------------

def test_watch_deadline_exceeded(stubs, server):
    stub = stubs.health_grpc.HealthStub(server.channel())
    call = stub.Watch(stubs.health_pb2.HealthCheckRequest(), timeout=1.0)
    assert next(call).status == stubs.health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as ei:
        next(call)
    assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert_serving(stubs, server)
    # The server ends the call too (it may log it as CANCELLED: core reports an expired
    # deadline as a cancellation).
    server.wait_log(r"Watch.*status=(DEADLINE_EXCEEDED|CANCELLED)")


def test_unary_with_expired_deadline(stubs, server):
    """A deadline too short to make the round trip fails cleanly, on either side."""
    ch = server.channel()
    for _ in range(20):
        try:
            health_check(stubs, ch, timeout=0.0001)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    assert_serving(stubs, server)


def test_client_cancels_streams_mid_way(stubs, churnd_factory):
    server = churnd_factory(args=["--log-level", "debug"])
    ch = server.channel()
    health = stubs.health_grpc.HealthStub(ch)
    watches = []
    for _ in range(5):
        call = health.Watch(stubs.health_pb2.HealthCheckRequest(), timeout=60)
        assert next(call).status == stubs.health_pb2.HealthCheckResponse.SERVING
        watches.append(call)

    # A reflection stream with one answer received and the request side still open.
    pb2 = stubs.refl_v1_pb2
    refl = stubs.refl_v1_grpc.ServerReflectionStub(ch)
    sent = threading.Event()

    def requests():
        yield pb2.ServerReflectionRequest(list_services="")
        sent.wait(60)

    rcall = refl.ServerReflectionInfo(requests(), timeout=60)
    assert next(rcall).WhichOneof("message_response") == "list_services_response"

    for call in watches + [rcall]:
        call.cancel()
        with pytest.raises(grpc.RpcError) as ei:
            next(call)
        assert ei.value.code() == grpc.StatusCode.CANCELLED
    sent.set()

    # The server notices: every cancelled call is logged as ended, and none is left open.
    server.wait_log(r"Watch.*status=CANCELLED", count=5)
    server.wait_log(r"ServerReflectionInfo.*status=CANCELLED", count=1)
    assert_serving(stubs, server)
    server.wait_log(r"Check status=OK")
    time.sleep(0.5)  # the call is logged just before it stops counting as active
    server.close_channels()
    assert server.stop() == 0
    draining = [l for l in server.stderr().splitlines() if "draining" in l]
    assert draining and "active_calls=0" in draining[0], server.stderr()


# -- size limits ---------------------------------------------------------------------------

def test_health_check_just_under_its_limit_is_read(stubs, server):
    body = encode_check_request(stubs, "x" * 1000)
    assert len(body) <= 1024
    err = rpc_error(raw_unary(server.channel(), "/grpc.health.v1.Health/Check"), body,
                    timeout=RPC_TIMEOUT_S)
    assert err.code() == grpc.StatusCode.NOT_FOUND, err  # decoded, service unknown


@pytest.mark.parametrize("size", [2 * 1024, 100 * 1024])
def test_health_check_over_size_limit(stubs, server, size):
    body = encode_check_request(stubs, "s" * size)
    assert len(body) > size
    call = raw_unary(server.channel(), "/grpc.health.v1.Health/Check")
    err = rpc_error(call, body, timeout=RPC_TIMEOUT_S)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert_serving(stubs, server)
    # The same channel still works too.
    assert health_check(stubs, server.channel()).status == 1


def test_a_message_over_every_limit(stubs, server):
    """5 MiB is over the server-wide limit and every method's own: refused, never served,
    whichever method it is sent to."""
    body = stubs.scoring_pb2.GetScoreRequest(customer_id="c" * (5 << 20)).SerializeToString()
    for method in ("/churn.v1.ScoringService/GetScore", "/grpc.health.v1.Health/Check"):
        err = rpc_error(raw_unary(server.channel(), method), body, timeout=60)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (method, err)
    assert_serving(stubs, server)


def test_default_limit_on_a_stream_message(stubs, server):
    """A 100 KiB message on the reflection bidi stream is refused, not buffered."""
    pb2 = stubs.refl_v1_pb2
    stub = stubs.refl_v1_grpc.ServerReflectionStub(server.channel())
    reqs = [pb2.ServerReflectionRequest(file_containing_symbol="x" * (100 * 1024))]
    with pytest.raises(grpc.RpcError) as ei:
        list(stub.ServerReflectionInfo(iter(reqs), timeout=RPC_TIMEOUT_S))
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_serving(stubs, server)


def test_metadata_over_the_limit(stubs, server):
    """Request headers over --max-metadata-bytes (16 KiB by default) are refused. (gRPC core
    1.51 ends the whole connection for it, other calls on it included.)"""
    stub = stubs.health_grpc.HealthStub(server.channel())
    with pytest.raises(grpc.RpcError) as ei:
        stub.Check(stubs.health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT_S,
                   metadata=[("x-big", "v" * (64 * 1024))])
    assert ei.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL,
                               grpc.StatusCode.UNAVAILABLE), ei.value
    assert_serving(stubs, server)
    # Ordinary metadata is fine (on a new connection: core closed that one).
    stub = stubs.health_grpc.HealthStub(
        server.channel(options=[("grpc.use_local_subchannel_pool", 1)]))
    resp = stub.Check(stubs.health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT_S,
                      metadata=[("x-customer-id", "c-1"), ("x-trace-bin", b"\x00\x01")])
    assert resp.status == stubs.health_pb2.HealthCheckResponse.SERVING


def test_compressed_requests_are_understood(stubs, server):
    ch = server.channel()
    stub = stubs.health_grpc.HealthStub(ch)
    resp = stub.Check(stubs.health_pb2.HealthCheckRequest(service="churn.v1.IngestService"),
                      timeout=RPC_TIMEOUT_S, compression=grpc.Compression.Gzip)
    assert resp.status == stubs.health_pb2.HealthCheckResponse.SERVING
    # A compressed message that inflates past Check's 1 KiB limit is still refused.
    body = encode_check_request(stubs, "z" * 50000)
    err = rpc_error(ch.unary_unary("/grpc.health.v1.Health/Check"), body,
                    timeout=RPC_TIMEOUT_S, compression=grpc.Compression.Gzip)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert_serving(stubs, server)


# -- garbage -------------------------------------------------------------------------------

# A proto3 string field must be valid UTF-8; protobuf-c does not check, so the transport
# does, and refuses the request with INVALID_ARGUMENT naming the field.
BAD_UTF8 = pytest.param(b"\x0a\x02\xc3\x28", id="utf8")

GARBAGE = [
    pytest.param(b"\xff" * 16, id="ff"),              # invalid varint / wire type
    pytest.param(b"\x0a\x05ab", id="short"),           # field longer than the message
    BAD_UTF8,                                         # service name not valid UTF-8
    pytest.param(b"\x0f", id="wiretype"),              # wire type 7 does not exist
    pytest.param(bytes(random.Random(7).getrandbits(8) for _ in range(700)), id="random"),
]


@pytest.mark.parametrize("body", GARBAGE)
@pytest.mark.parametrize("method", ["/grpc.health.v1.Health/Check",
                                    "/grpc.health.v1.Health/Watch"])
def test_garbage_request_body(stubs, server, method, body):
    ch = server.channel()
    if method.endswith("Watch"):
        call = ch.unary_stream(method)
        err = rpc_error(lambda: list(call(body, timeout=3)))
    else:
        err = rpc_error(raw_unary(ch, method), body, timeout=RPC_TIMEOUT_S)
    assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL), err
    assert err.details(), "the status should say what was wrong"
    assert_serving(stubs, server)


@pytest.mark.parametrize("body", [b"\xff" * 16, b"\x0a\x05ab", b"\x0f"])
def test_garbage_to_a_churn_method(stubs, server, body):
    """Its handler is not built yet: refused as garbage or as unimplemented, never a crash."""
    err = rpc_error(raw_unary(server.channel(), "/churn.v1.ScoringService/GetScore"), body,
                    timeout=RPC_TIMEOUT_S)
    assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL,
                          grpc.StatusCode.UNIMPLEMENTED), err
    assert_serving(stubs, server)


def test_garbage_on_a_bidi_stream(stubs, server):
    ch = server.channel()
    call = ch.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    good = stubs.refl_v1_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    with pytest.raises(grpc.RpcError) as ei:
        list(call(iter([good, b"\xff\xff\xff\xff"]), timeout=RPC_TIMEOUT_S))
    assert ei.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL)
    assert_serving(stubs, server)


def test_garbage_bytes_on_the_socket(stubs, server):
    """Not even HTTP/2: junk, a truncated preface, a preface then junk frames."""
    rng = random.Random(11)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for payload in [bytes(rng.getrandbits(8) for _ in range(4096)), preface[:10],
                    preface + bytes(rng.getrandbits(8) for _ in range(4096)),
                    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                s.recv(65536)
            except OSError:
                pass  # the server may reset the connection: that is fine
    assert_serving(stubs, server)


# -- unknown methods -----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["/churn.v1.ScoringService/NoSuchMethod",
                                    "/no.such.Service/Method",
                                    "/grpc.health.v1.Health/check",
                                    "/grpc.health.v1.Health/Check/extra"])
def test_unknown_method_is_unimplemented(stubs, server, method):
    ch = server.channel()
    err = rpc_error(raw_unary(ch, method), b"", timeout=RPC_TIMEOUT_S)
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED, err
    bidi = ch.stream_stream(method)
    with pytest.raises(grpc.RpcError) as ei:
        list(bidi(iter([b"", b"x"]), timeout=RPC_TIMEOUT_S))
    assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert_serving(stubs, server)


# -- load ----------------------------------------------------------------------------------

def _socket_count(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def test_200_concurrent_connections(stubs, server):
    n = 200
    # A local subchannel pool: each channel opens its own TCP connection.
    channels = [server.channel(options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(n)]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=60)
    assert _socket_count(server.proc.pid) >= n, "the channels should be separate connections"

    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        try:
            barrier.wait(timeout=60)
            stub = stubs.health_grpc.HealthStub(channels[i])
            statuses = [stub.Check(stubs.health_pb2.HealthCheckRequest(service=svc),
                                   timeout=60).status
                        for svc in ("", "churn.v1.IngestService", "")]
            results[i] = statuses
        except Exception as e:  # collected below
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    bad = [(i, r) for i, r in enumerate(results) if r != [1, 1, 1]]
    assert not bad, bad[:5]
    assert_serving(stubs, server)


def test_sigterm_with_many_open_streams(stubs, churnd_factory):
    drain_ms = 3000
    server = churnd_factory(drain_timeout_ms=drain_ms)
    n = 60
    channels = [server.channel(options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(6)]
    calls = []
    for i in range(n):
        ch = channels[i % len(channels)]
        if i % 3 == 2:
            pb2 = stubs.refl_v1_pb2
            stub = stubs.refl_v1_grpc.ServerReflectionStub(ch)
            hold = threading.Event()

            def reqs(hold=hold, pb2=pb2):
                yield pb2.ServerReflectionRequest(list_services="")
                hold.wait(120)

            call = stub.ServerReflectionInfo(reqs(), timeout=120)
            call.hold = hold
        else:
            stub = stubs.health_grpc.HealthStub(ch)
            call = stub.Watch(stubs.health_pb2.HealthCheckRequest(), timeout=120)
        next(call)  # the stream is open and answering
        calls.append(call)

    codes = [None] * n

    def drain(i):
        try:
            for _ in calls[i]:
                pass
            codes[i] = grpc.StatusCode.OK
        except grpc.RpcError as e:
            codes[i] = e.code()

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    rc = server.wait(timeout=drain_ms / 1000 + 60)
    elapsed = time.monotonic() - t0
    for t in threads:
        t.join(60)
    for call in calls:
        if hasattr(call, "hold"):
            call.hold.set()
    assert rc == 0, server.stderr()
    assert all(c is not None for c in codes), "a stream did not end"
    assert set(codes) == {grpc.StatusCode.UNAVAILABLE}, codes
    # Streams are ended at once, not after the drain timeout (generous for sanitizers).
    assert elapsed < drain_ms / 1000 + 30, elapsed


def test_sigterm_with_an_idle_connection_does_not_hit_the_drain_timeout(
        stubs, churnd_factory):
    server = churnd_factory(drain_timeout_ms=2000)
    ch = server.channel()
    assert health_check(stubs, ch).status == 1  # the connection stays open, idle
    server.signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0, server.stderr()
    # Nothing was in flight, so there was nothing to wait for until the drain timeout.
    assert "drain_timeout cancelled_calls=0" not in server.stderr(), server.stderr()
