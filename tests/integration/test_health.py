"""grpc.health.v1.Health over the wire: Check (overall, per service, unknown), Watch (the
current status at once, a server-stream round trip) and Watch across SIGTERM."""

import signal
import threading

import grpc
import pytest

from conftest import (CHURN_SERVICES, HEALTH_SERVICE, REFLECTION_SERVICES, RPC_TIMEOUT_S,
                      assert_serving, health_check, rpc_error)


def test_check_overall_and_per_service(stubs, server):
    """Without a model, scoring alone is NOT_SERVING (scores would fail); test_metrics.py
    sees it turn SERVING when a model is loaded."""
    ch = server.channel()
    serving = stubs.health_pb2.HealthCheckResponse.SERVING
    assert health_check(stubs, ch).status == serving
    for svc in CHURN_SERVICES + [HEALTH_SERVICE] + REFLECTION_SERVICES:
        want = (stubs.health_pb2.HealthCheckResponse.NOT_SERVING
                if svc == "churn.v1.ScoringService" else serving)
        assert health_check(stubs, ch, svc).status == want, svc


@pytest.mark.parametrize("name", ["nope", "churn.v1.NoSuchService", "churn.v1",
                                  "churn.v1.ScoringService/GetScore", " ", "é" * 10])
def test_check_unknown_service_is_not_found(stubs, server, name):
    err = rpc_error(health_check, stubs, server.channel(), name)
    assert err.code() == grpc.StatusCode.NOT_FOUND, err
    assert_serving(stubs, server)


def test_watch_sends_serving_at_once(stubs, server):
    """Server-stream round trip: the first message is the current status."""
    stub = stubs.health_grpc.HealthStub(server.channel())
    for svc in ["", "churn.v1.IngestService"]:
        call = stub.Watch(stubs.health_pb2.HealthCheckRequest(service=svc),
                          timeout=RPC_TIMEOUT_S)
        first = next(call)
        assert first.status == stubs.health_pb2.HealthCheckResponse.SERVING
        call.cancel()
        with pytest.raises(grpc.RpcError) as ei:
            next(call)
        assert ei.value.code() == grpc.StatusCode.CANCELLED
    assert_serving(stubs, server)


def test_watch_unknown_service_reports_service_unknown(stubs, server):
    """The health protocol: Watch of an unknown service streams SERVICE_UNKNOWN (it may
    be registered later) instead of failing the call."""
    stub = stubs.health_grpc.HealthStub(server.channel())
    call = stub.Watch(stubs.health_pb2.HealthCheckRequest(service="nope"),
                      timeout=RPC_TIMEOUT_S)
    first = next(call)
    assert first.status == stubs.health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    call.cancel()
    assert_serving(stubs, server)


def test_watch_sees_draining_and_ends_on_sigterm(stubs, churnd_factory):
    server = churnd_factory(drain_timeout_ms=3000)
    stub = stubs.health_grpc.HealthStub(server.channel())
    calls = []
    for svc in ("", "churn.v1.IngestService"):
        # The timeout only turns a hang into a failure; the stream must end long before.
        call = stub.Watch(stubs.health_pb2.HealthCheckRequest(service=svc), timeout=60)
        assert next(call).status == stubs.health_pb2.HealthCheckResponse.SERVING
        calls.append(call)

    server.signal(signal.SIGTERM)
    for call in calls:
        seen = []
        with pytest.raises(grpc.RpcError) as ei:
            for msg in call:
                seen.append(msg.status)
        assert ei.value.code() == grpc.StatusCode.UNAVAILABLE, (ei.value, seen)
        assert all(s == stubs.health_pb2.HealthCheckResponse.NOT_SERVING for s in seen), seen
    assert server.wait() == 0, server.stderr()


def test_check_while_watchers_come_and_go(stubs, server):
    """Checks keep answering while Watch streams open and close around them."""
    stub = stubs.health_grpc.HealthStub(server.channel())
    errors = []

    def watcher():
        try:
            for _ in range(10):
                call = stub.Watch(stubs.health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT_S)
                next(call)
                call.cancel()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=watcher) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(20):
        assert health_check(stubs, server.channel()).status == 1
    for t in threads:
        t.join()
    assert not errors, errors
    assert_serving(stubs, server)
