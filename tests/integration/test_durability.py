"""Durability of RecordEvents: a client streams events in completed calls (200 events a
stream) while the test kills churnd with SIGKILL at random moments (3 kills; 20 with
CHURN_LONG_TESTS=1). After each restart on the same data directory the store opens cleanly
and every event whose summary was received is there exactly once: the dedicated customers'
lifetime totals lie between "acknowledged" and "acknowledged + in doubt", re-sending the
acknowledged events gives only duplicates, and after re-sending the events in doubt (as a
client must) the totals are exact."""

import os
import random
import signal
import threading
import time

import grpc

from conftest import RPC_TIMEOUT_S, assert_serving
from fixtures_data import api, ingest_stub, login, mdb_dump  # noqa: F401

KILLS = 20 if os.environ.get("CHURN_LONG_TESTS") == "1" else 3
CUSTOMERS = [f"dur-{i:02d}" for i in range(10)]
PER_STREAM = 200


class Producer(threading.Thread):
    """Streams batches of new events until stopped; sorts them into acknowledged (summary
    received) and in doubt (the call failed)."""

    def __init__(self, api, address, first_batch, rng):
        super().__init__(daemon=True)
        self.api = api
        self.address = address
        self.batch_no = first_batch
        self.rng = rng
        self.stop = threading.Event()
        self.acked, self.doubt = [], []  # lists of (event_id, customer_id)
        self.acked_streams = 0
        self.unexpected = []

    def run(self):
        ch = grpc.insecure_channel(self.address, options=[("grpc.use_local_subchannel_pool", 1)])
        stub = ingest_stub(self.api, ch)
        try:
            while not self.stop.is_set():
                batch = [(f"ev-{self.batch_no}-{i}", self.rng.choice(CUSTOMERS))
                         for i in range(PER_STREAM)]
                self.batch_no += 1
                reqs = [login(self.api, eid, cid) for eid, cid in batch]
                try:
                    s = stub.RecordEvents(iter(reqs), timeout=RPC_TIMEOUT_S)
                except grpc.RpcError as e:
                    self.doubt += batch
                    if e.code() not in (grpc.StatusCode.UNAVAILABLE,
                                        grpc.StatusCode.CANCELLED,
                                        grpc.StatusCode.DEADLINE_EXCEEDED,
                                        grpc.StatusCode.INTERNAL):  # connection reset
                        self.unexpected.append(e)
                    time.sleep(0.05)
                    continue
                if (s.accepted, s.duplicates, s.rejected) != (PER_STREAM, 0, 0):
                    self.unexpected.append(s)
                self.acked += batch
                self.acked_streams += 1
        finally:
            ch.close()


def _logins(api, server):
    stub = ingest_stub(api, server.channel())
    out = {}
    for cid in CUSTOMERS:
        try:
            r = stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=cid),
                                 timeout=RPC_TIMEOUT_S)
            out[cid] = r.totals.logins
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
            out[cid] = 0
    return out


def _resend(api, server, events):
    """Send `events` in completed streams; return (accepted, duplicates)."""
    stub = ingest_stub(api, server.channel())
    acc = dup = 0
    for i in range(0, len(events), 1000):
        chunk = events[i:i + 1000]
        s = stub.RecordEvents(iter([login(api, e, c) for e, c in chunk]), timeout=60)
        assert s.rejected == 0, s
        assert s.accepted + s.duplicates == len(chunk)
        acc += s.accepted
        dup += s.duplicates
    return acc, dup


def _count(events):
    n = dict.fromkeys(CUSTOMERS, 0)
    for _, cid in events:
        n[cid] += 1
    return n


def test_acknowledged_events_survive_sigkill(stubs, api, churnd_factory):
    server = churnd_factory()
    rng = random.Random(int(os.environ.get("CHURN_DURABILITY_SEED", "20261122")))
    stored = dict.fromkeys(CUSTOMERS, 0)  # events known to be stored exactly once
    batch_no = 0
    total_acked_streams = 0
    for kill in range(KILLS):
        p = Producer(api, server.address, batch_no, rng)
        p.start()
        # Let at least one stream complete, then kill at a random moment.
        deadline = time.monotonic() + 60
        while p.acked_streams == 0 and p.is_alive():
            assert time.monotonic() < deadline, "no stream completed within 60 s"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        server.signal(signal.SIGKILL)
        assert server.wait() == -signal.SIGKILL
        p.stop.set()
        p.join(RPC_TIMEOUT_S + 30)
        assert not p.is_alive()
        assert not p.unexpected, p.unexpected[:3]
        batch_no = p.batch_no
        total_acked_streams += p.acked_streams

        server.returncode = None
        server.start()  # fails the test if the store does not open
        assert_serving(stubs, server)

        acked, doubt = _count(p.acked), _count(p.doubt)
        print(f"kill {kill}: {len(p.acked)} acknowledged, {len(p.doubt)} in doubt")
        got = _logins(api, server)
        for cid in CUSTOMERS:
            lo = stored[cid] + acked[cid]
            assert lo <= got[cid] <= lo + doubt[cid], \
                (f"kill {kill}: {cid} has {got[cid]} logins; acknowledged {lo}, "
                 f"in doubt {doubt[cid]}")
        # Every acknowledged event is there: re-sent, each is a duplicate.
        assert _resend(api, server, p.acked) == (0, len(p.acked))
        # The client re-sends what it was not told about; then the totals are exact.
        _resend(api, server, p.doubt)
        for cid in CUSTOMERS:
            stored[cid] += acked[cid] + doubt[cid]
        assert _logins(api, server) == stored, f"kill {kill}: an event is missing or doubled"
        server.close_channels()

    assert total_acked_streams >= KILLS
    assert sum(stored.values()) >= KILLS * PER_STREAM
    # A clean stop after all that, and a store LMDB's own tools read from end to end.
    assert server.stop() == 0
    dump = mdb_dump(server.data)
    assert b"dur-00" in dump
