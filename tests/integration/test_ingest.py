"""IngestService over the wire: RecordEvents summaries (every event kind, duplicates in one
stream and across streams, every class of bad event rejected alone while the stream goes
on, the retention horizon, the clock skew, invalid UTF-8 and oversized messages), what
GetCustomer shows of the events, UpsertCustomers MERGE / REPLACE with per-item rejections,
DeleteCustomer as a privacy erase checked with mdb_dump, and a client stream cancelled
half-way. After every bad input the server must still answer Health/Check."""

import threading

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_data import api, demo_store  # noqa: F401 (fixtures)
from fixtures_data import (DAY_MS, event, features_of, ingest_stub, login, long_standing,
                           mdb_dump, now_ms, one_of_each_kind, pb_bytes_field, pb_varint_field,
                           start_on_store)

RECORD_EVENTS = "/churn.v1.IngestService/RecordEvents"
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def record(api, server, reqs, timeout=RPC_TIMEOUT_S):
    return ingest_stub(api, server.channel()).RecordEvents(iter(reqs), timeout=timeout)


def get_customer(api, server, customer_id, **kw):
    return ingest_stub(api, server.channel()).GetCustomer(
        api.ingest_pb2.GetCustomerRequest(customer_id=customer_id, **kw), timeout=RPC_TIMEOUT_S)


# -- events of every kind, duplicates ---------------------------------------------------------

def test_events_of_every_kind_are_counted_and_shown(stubs, api, server):
    long_standing(api, server, "cust-kinds")
    evs = one_of_each_kind(api, "cust-kinds")
    # Two replays inside the same stream: duplicates, not errors.
    reqs = evs[:3] + [evs[0]] + evs[3:] + [evs[5]]
    s = record(api, server, reqs)
    assert (s.received, s.accepted, s.duplicates, s.rejected) == (11, 9, 2, 0), s
    assert not s.rejections and not s.rejections_truncated
    assert s.committed_at_ms > 0

    c = get_customer(api, server, "cust-kinds")
    t = c.totals
    assert t.events == 9
    assert t.logins == 1
    assert t.session_minutes == pytest.approx(30.0)
    assert (t.orders_completed, t.orders_cancelled, t.orders_refunded) == (1, 0, 0)
    assert t.revenue == pytest.approx(50.0)
    assert t.tickets_opened == 1
    assert t.reviews == 1 and t.average_rating == pytest.approx(2.0)
    assert t.plan_changes == 1
    assert c.label.churned and c.label.reason == "price"
    assert c.label.source == api.ingest_pb2.CHURN_LABEL_SOURCE_CHURN_EVENT
    assert c.first_seen_at_ms > 0 and c.last_seen_at_ms >= c.first_seen_at_ms
    assert c.as_of_ms > 0

    f = features_of(c)
    assert len(c.features) == 55, sorted(f)  # the catalogue (docs/FEATURES.md)
    assert f["logins_30d"] == 1
    assert f["session_minutes_30d"] == pytest.approx(30.0)
    assert f["orders_90d"] == 1
    assert f["spend_90d"] == pytest.approx(50.0)
    assert f["tickets_30d"] == 1
    assert f["reviews_90d"] == 1
    assert f["active_listings"] == 3
    assert f["plan_monthly_value"] == pytest.approx(10.0)
    assert f["days_since_last_activity"] == pytest.approx(0.0, abs=1.0)
    for fv in c.features:
        assert fv.label and fv.unit, fv
    assert c.freshness.last_event_at_ms > 0
    # a customer first seen today: its 30-day windows were not observed, so they are
    # missing, not zero (and not one login scaled to thirty)
    record(api, server, [login(api, "new-1", "cust-new")])
    f = features_of(get_customer(api, server, "cust-new"))
    assert f["logins_30d"] is None and f["active_days_90d"] is None
    assert f["days_since_last_activity"] == pytest.approx(0.0, abs=1.0)
    assert_serving(stubs, server)


def test_duplicates_across_streams_change_nothing(stubs, api, server):
    long_standing(api, server, "cust-dup")
    evs = [login(api, f"dup-{i}", "cust-dup") for i in range(20)]
    s1 = record(api, server, evs[:10])
    assert (s1.accepted, s1.duplicates) == (10, 0)
    # A client whose stream broke resends everything: the acknowledged half is duplicate.
    s2 = record(api, server, evs)
    assert (s2.received, s2.accepted, s2.duplicates, s2.rejected) == (20, 10, 10, 0)
    s3 = record(api, server, list(reversed(evs)))
    assert (s3.accepted, s3.duplicates) == (0, 20)
    c = get_customer(api, server, "cust-dup")
    assert c.totals.events == 20 and c.totals.logins == 20
    assert features_of(c)["logins_30d"] == 20
    # The key is (customer_id, event_id): the same event id for another customer is new.
    s4 = record(api, server, [login(api, "dup-0", "cust-dup-other")])
    assert (s4.accepted, s4.duplicates) == (1, 0)
    assert get_customer(api, server, "cust-dup").totals.events == 20


# -- bad events --------------------------------------------------------------------------------

def _bad_events(api):
    """(request, expected event_id in the rejection, a word the reason must contain)."""
    pb = api.ingest_pb2
    E = pb.Event
    t = now_ms()
    long_id = "x" * 129
    return [
        (event(api, "b-1", "", login=E.Login()), "b-1", "customer_id"),
        (event(api, "", "cust-bad", login=E.Login()), "", "event_id"),
        (event(api, "b-3", "cust-bad"), "b-3", "event"),  # no kind set
        (pb.RecordEventsRequest(), "", "event"),  # no event at all
        (event(api, "b-5", "cust-bad", order=E.Order(order_id="o", amount=-1.0,
                                                     status=pb.ORDER_STATUS_COMPLETED)),
         "b-5", "amount"),
        (event(api, "b-6", "cust-bad", order=E.Order(order_id="o", amount=float("nan"),
                                                     status=pb.ORDER_STATUS_COMPLETED)),
         "b-6", "amount"),
        (event(api, "b-7", "cust-bad", session=E.Session(minutes=-3.0)), "b-7", "minutes"),
        (event(api, "b-8", "cust-bad", session=E.Session(minutes=float("nan"))), "b-8",
         "minutes"),
        (event(api, "b-9", "cust-bad", review=E.Review(rating=0)), "b-9", "rating"),
        (event(api, "b-10", "cust-bad", review=E.Review(rating=6)), "b-10", "rating"),
        (event(api, "b-11", "cust-bad", t + 3600 * 1000, login=E.Login()), "b-11",
         "occurred_at_ms"),
        (event(api, "b-12", "cust-bad", 0, login=E.Login()), "b-12", "occurred_at_ms"),
        (event(api, long_id, "cust-bad", login=E.Login()), long_id[:128], "event_id"),
        (event(api, "b-14", "c" * 129, login=E.Login()), "b-14", "customer_id"),
        (event(api, "b-15", "cust-bad", custom=E.Custom(name="Bad Name!", value=1.0)), "b-15",
         "name"),
    ]


def test_bad_events_are_rejected_alone_and_the_stream_goes_on(stubs, api, server):
    bad = _bad_events(api)
    reqs, index_of_bad = [], {}
    # good, bad, good, bad, ... so every bad event sits between accepted ones
    for i, (req, _, _) in enumerate(bad):
        reqs.append(login(api, f"good-{i}", "cust-bad"))
        index_of_bad[len(reqs)] = bad[i]
        reqs.append(req)
    reqs.append(login(api, "good-last", "cust-bad"))
    s = record(api, server, reqs)
    n_good = len(bad) + 1
    assert (s.received, s.accepted, s.duplicates, s.rejected) == \
        (len(reqs), n_good, 0, len(bad)), s
    assert len(s.rejections) == len(bad) and not s.rejections_truncated
    assert sorted(r.index for r in s.rejections) == sorted(index_of_bad), s.rejections
    for r in s.rejections:
        _, want_id, word = index_of_bad[r.index]
        assert r.event_id == want_id, r
        assert word in r.reason, r
        assert r.code in (3, 8, 11), r  # never OK, UNKNOWN or INTERNAL
    c = get_customer(api, server, "cust-bad")
    assert c.totals.events == n_good and c.totals.logins == n_good
    assert c.totals.reviews == 0 and c.totals.orders_completed == 0
    assert_serving(stubs, server)


def test_rejections_name_the_field_with_invalid_argument(stubs, api, server):
    bad = _bad_events(api)
    s = record(api, server, [b[0] for b in bad])
    assert s.rejected == len(bad)
    for r in s.rejections:
        assert r.code == INVALID_ARGUMENT, r
        assert r.field and r.field in r.reason, r


def test_unset_order_status_and_ticket_action_are_rejected(stubs, api, server):
    E = api.ingest_pb2.Event
    s = record(api, server, [
        event(api, "u-1", "cust-unset", order=E.Order(order_id="o-1", amount=5.0)),
        event(api, "u-2", "cust-unset", support_ticket=E.SupportTicket(ticket_id="t-1")),
    ])
    assert (s.accepted, s.rejected) == (0, 2), s


def test_rejections_are_listed_in_stream_order(stubs, api, server):
    E = api.ingest_pb2.Event
    s = record(api, server, [
        event(api, "o-1", "cust-order", review=E.Review(rating=9)),  # refused at commit
        event(api, "o-2", "cust-order"),                              # refused on arrival
    ])
    assert [r.index for r in s.rejections] == [0, 1], s


def test_many_bad_events_list_is_capped(stubs, api, server):
    reqs = [event(api, f"nk-{i}", "cust-cap") for i in range(150)]  # no kind: all rejected
    s = record(api, server, reqs)
    assert (s.received, s.rejected) == (150, 150)
    assert len(s.rejections) == 100 and s.rejections_truncated
    assert [r.index for r in s.rejections] == list(range(100))
    assert_serving(stubs, server)


def test_clock_skew_and_retention_horizon(stubs, api, server):
    long_standing(api, server, "cust-h")
    t = now_ms()
    s = record(api, server, [
        login(api, "h-recent", "cust-h", t - 2 * DAY_MS),
        login(api, "h-skew", "cust-h", t + 60 * 1000),          # within the 5 min skew
        login(api, "h-future", "cust-h", t + 2 * 3600 * 1000),  # beyond it
        login(api, "h-old", "cust-h", t - 200 * DAY_MS),        # before the 180-day horizon
        event(api, "h-old-order", "cust-h", t - 300 * DAY_MS,
              order=api.ingest_pb2.Event.Order(order_id="o-old", amount=70.0,
                                               status=api.ingest_pb2.ORDER_STATUS_COMPLETED)),
    ])
    assert (s.accepted, s.rejected) == (4, 1), s
    assert s.rejections[0].index == 2 and "occurred_at_ms" in s.rejections[0].reason
    c = get_customer(api, server, "cust-h")
    # Lifetime totals include the old events ...
    assert c.totals.events == 4
    assert c.totals.logins == 3
    assert c.totals.orders_completed == 1 and c.totals.revenue == pytest.approx(70.0)
    # ... the windowed features do not.
    f = features_of(c)
    assert f["logins_30d"] == 2
    assert f["orders_90d"] == 0
    assert f["spend_90d"] in (0, None)
    assert_serving(stubs, server)


def test_summary_counts_lifetime_only_and_customers_touched(stubs, api, server):
    t = now_ms()
    s = record(api, server, [login(api, "lo-1", "cust-lo-a", t - 200 * DAY_MS),
                             login(api, "lo-2", "cust-lo-b", t - DAY_MS)])
    assert s.accepted == 2
    assert s.lifetime_only == 1
    assert s.customers_touched == 2


def _raw_record(server, bodies):
    call = server.channel().stream_unary(RECORD_EVENTS)  # bytes in, bytes out
    return call(iter(bodies), timeout=RPC_TIMEOUT_S)


def test_invalid_utf8_rejects_only_its_event(stubs, api, server):
    """Issue 13: a string that is not UTF-8 rejects its own event (naming the field); the
    stream goes on and the good events of the same stream are recorded."""
    good = login(api, "utf-ok", "cust-utf8").SerializeToString()
    ok = api.ingest_pb2.RecordEventsResponse.FromString(_raw_record(server, [good]))
    assert ok.accepted == 1
    at = pb_varint_field(3, now_ms() - 1000)
    for ev, field in [
            (pb_bytes_field(1, b"ev-\xc3\x28") + pb_bytes_field(2, b"cust-utf8") + at,
             "event.event_id"),
            (pb_bytes_field(1, b"ev-2") + pb_bytes_field(2, b"cust-\xff\xfe") + at,
             "event.customer_id"),
            (pb_bytes_field(1, b"ev-3") + pb_bytes_field(2, b"cust-utf8") + at +
             pb_bytes_field(15, pb_varint_field(1, 3) + pb_bytes_field(2, b"bad \xed\xa0\x80")),
             "event.review.text")]:
        body = pb_bytes_field(1, ev)
        s = api.ingest_pb2.RecordEventsResponse.FromString(_raw_record(server, [good, body]))
        assert (s.received, s.duplicates, s.rejected) == (2, 1, 1), s
        assert s.rejections[0].index == 1 and s.rejections[0].field == field, s
        assert "invalid UTF-8" in s.rejections[0].reason, s
        assert_serving(stubs, server)
    assert get_customer(api, server, "cust-utf8").totals.events == 1


def test_message_over_the_size_limit(stubs, api, server):
    """RecordEvents takes messages up to 1 MiB: a bigger one fails the whole call, and what
    came before it in that stream is not acknowledged."""
    E = api.ingest_pb2.Event
    big = event(api, "big-1", "cust-big", review=E.Review(rating=1, text="bad " * 300000))
    assert big.ByteSize() > 1024 * 1024
    err = rpc_error(record, api, server, [login(api, "big-0", "cust-big"), big])
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert_serving(stubs, server)
    s = record(api, server, [login(api, "big-2", "cust-big")])
    assert s.accepted == 1


def test_review_text_over_64_kib_is_rejected_alone(stubs, api, server):
    E = api.ingest_pb2.Event
    long_review = event(api, "rv-1", "cust-rv", review=E.Review(rating=1, text="x" * 70000))
    assert long_review.ByteSize() < 1024 * 1024
    s = record(api, server, [long_review, login(api, "rv-2", "cust-rv")])
    assert (s.accepted, s.rejected) == (1, 1), s
    r = s.rejections[0]
    assert r.index == 0 and r.event_id == "rv-1" and "text" in r.reason
    assert r.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], r
    assert_serving(stubs, server)


def test_batched_messages(stubs, api, server):
    """Many events per message (`events`): numbered in stream order, event first."""
    pb = api.ingest_pb2
    E = pb.Event

    def ev(i, **kind):
        return event(api, f"bt-{i}", "cust-batch", **(kind or dict(login=E.Login()))).event

    reqs = [pb.RecordEventsRequest(event=ev(0), events=[ev(1), ev(2, review=E.Review(rating=9)),
                                                        ev(3)]),
            pb.RecordEventsRequest(events=[ev(i) for i in range(4, 1004)]),
            pb.RecordEventsRequest(events=[ev(1), ev(1004)])]
    s = record(api, server, reqs)
    assert (s.received, s.accepted, s.duplicates, s.rejected) == (1006, 1004, 1, 1), s
    assert s.rejections[0].index == 2 and s.rejections[0].event_id == "bt-2"
    assert get_customer(api, server, "cust-batch").totals.logins == 1004
    # Over 1,000 events in one message: the whole call.
    err = rpc_error(record, api, server,
                    [pb.RecordEventsRequest(events=[ev(2000 + i) for i in range(1001)])])
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert get_customer(api, server, "cust-batch").totals.logins == 1004
    assert_serving(stubs, server)


# -- GetCustomer -------------------------------------------------------------------------------

def test_get_customer_errors(stubs, api, server):
    stub = ingest_stub(api, server.channel())
    req = api.ingest_pb2.GetCustomerRequest
    for cid, code in [("", grpc.StatusCode.INVALID_ARGUMENT),
                      ("c" * 129, grpc.StatusCode.INVALID_ARGUMENT),
                      ("nobody", grpc.StatusCode.NOT_FOUND)]:
        err = rpc_error(stub.GetCustomer, req(customer_id=cid), timeout=RPC_TIMEOUT_S)
        assert err.code() == code, (cid, err)
        assert "customer" in err.details()
    assert_serving(stubs, server)


def test_get_customer_features_follow_the_logins(stubs, api, server):
    long_standing(api, server, "cust-l")
    t = now_ms()
    reqs = [login(api, f"l-now-{i}", "cust-l", t - (i % 20 + 1) * DAY_MS) for i in range(12)]
    reqs += [login(api, f"l-prev-{i}", "cust-l", t - (35 + i) * DAY_MS) for i in range(4)]
    assert record(api, server, reqs).accepted == 16
    c = get_customer(api, server, "cust-l")
    f = features_of(c)
    assert f["logins_30d"] == 12
    assert f["logins_prev_30d"] == 4
    assert f["login_decline_30d"] < 0  # more logins now than before: no decline
    assert c.totals.logins == 16
    # Point in time: as of 25 days ago, only the logins before then count.
    past = get_customer(api, server, "cust-l", as_of_ms=t - 25 * DAY_MS)
    assert features_of(past)["logins_30d"] < 12
    assert past.as_of_ms == t - 25 * DAY_MS


# -- UpsertCustomers ---------------------------------------------------------------------------

def test_upsert_merge_replace_and_per_item_rejection(stubs, api, server):
    pb = api.ingest_pb2
    stub = ingest_stub(api, server.channel())

    def upsert(customers, mode=pb.UPSERT_MODE_UNSPECIFIED):
        return stub.UpsertCustomers(pb.UpsertCustomersRequest(customers=customers, mode=mode),
                                    timeout=RPC_TIMEOUT_S)

    r = upsert([
        pb.Customer(customer_id="up-1", display_name="Ada", segment="smb", plan="pro",
                    country="DE", numeric_attributes={"seats": 3.0},
                    categorical_attributes={"industry": "retail"}),
        pb.Customer(customer_id=""),
        pb.Customer(customer_id="up-2", numeric_attributes={"seats": float("nan")}),
        pb.Customer(customer_id="up-3", segment="s" * 300),
        pb.Customer(customer_id="up-4", plan="basic"),
    ])
    st = [x.status for x in r.results]
    assert st == [pb.UPSERT_STATUS_CREATED, pb.UPSERT_STATUS_REJECTED, pb.UPSERT_STATUS_REJECTED,
                  pb.UPSERT_STATUS_REJECTED, pb.UPSERT_STATUS_CREATED], r
    assert (r.created, r.updated, r.unchanged, r.rejected) == (2, 0, 0, 3)
    assert [x.customer_id for x in r.results] == ["up-1", "", "up-2", "up-3", "up-4"]
    for x, word in zip(r.results[1:4], ["customer_id", "seats", "segment"]):
        assert x.error.code == INVALID_ARGUMENT and word in x.error.message, x
    assert r.committed_at_ms > 0
    for cid in ("up-2", "up-3"):
        err = rpc_error(stub.GetCustomer, pb.GetCustomerRequest(customer_id=cid),
                        timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.NOT_FOUND

    # MERGE (the default): empty fields keep the stored values, maps merge key by key.
    r = upsert([pb.Customer(customer_id="up-1", plan="basic", numeric_attributes={"nps": 7.0})])
    assert [x.status for x in r.results] == [pb.UPSERT_STATUS_UPDATED]
    c = get_customer(api, server, "up-1").customer
    assert (c.segment, c.plan, c.country) == ("smb", "basic", "DE")
    assert dict(c.numeric_attributes) == {"seats": 3.0, "nps": 7.0}
    assert dict(c.categorical_attributes) == {"industry": "retail"}
    # The same again changes nothing.
    r = upsert([pb.Customer(customer_id="up-1", plan="basic")], pb.UPSERT_MODE_MERGE)
    assert [x.status for x in r.results] == [pb.UPSERT_STATUS_UNCHANGED] and r.unchanged == 1

    # Events are kept by REPLACE; the attributes are replaced, empty fields included.
    assert record(api, server, [login(api, "up-ev", "up-1")]).accepted == 1
    r = upsert([pb.Customer(customer_id="up-1", plan="free")], pb.UPSERT_MODE_REPLACE)
    assert [x.status for x in r.results] == [pb.UPSERT_STATUS_UPDATED]
    got = get_customer(api, server, "up-1")
    c = got.customer
    assert (c.segment, c.plan, c.country) == ("", "free", "")
    assert not c.numeric_attributes and not c.categorical_attributes
    assert got.totals.logins == 1

    err = rpc_error(upsert, [])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(upsert, [pb.Customer(customer_id=f"many-{i}") for i in range(1001)])
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_serving(stubs, server)


def test_upsert_rejects_a_bad_attribute_key_naming_the_field(stubs, api, server):
    pb = api.ingest_pb2
    r = ingest_stub(api, server.channel()).UpsertCustomers(pb.UpsertCustomersRequest(
        customers=[pb.Customer(customer_id="key-1", numeric_attributes={"Bad-Key": 1.0})]),
        timeout=RPC_TIMEOUT_S)
    assert r.results[0].status == pb.UPSERT_STATUS_REJECTED, r
    assert r.results[0].error.field.startswith("numeric_attributes"), r


# -- DeleteCustomer ----------------------------------------------------------------------------

def _chat_turn(api, customer_id):
    pb = api.chat_pb2
    return pb.AnalyzeChatRequest(conversation_id=f"conv-of-{customer_id}",
                                 customer_id=customer_id, turn_sequence=1,
                                 role=pb.CHAT_ROLE_CUSTOMER,
                                 text="I am still waiting, this is terrible")


def test_delete_customer_erases_every_trace(stubs, api, server):
    pb = api.ingest_pb2
    victim, other = "erase-me-7f3a9c", "keep-me-5b1d2e"
    stub = ingest_stub(api, server.channel())
    stub.UpsertCustomers(pb.UpsertCustomersRequest(customers=[
        pb.Customer(customer_id=victim, display_name="Victim", segment="smb", plan="pro")]),
        timeout=RPC_TIMEOUT_S)
    evs = one_of_each_kind(api, victim, prefix="victim-ev")[:-1]
    assert record(api, server, evs + one_of_each_kind(api, other, prefix="other-ev")).accepted \
        == len(evs) + 9
    chat = api.chat_grpc.ChatServiceStub(server.channel())
    answers = list(chat.AnalyzeChat(iter([_chat_turn(api, victim)]), timeout=RPC_TIMEOUT_S))
    assert len(answers) == 1 and not answers[0].HasField("error")
    assert victim.encode() in mdb_dump(server.data)  # the dump does see the customer

    r = stub.DeleteCustomer(pb.DeleteCustomerRequest(customer_id=victim), timeout=RPC_TIMEOUT_S)
    assert r.customer_id == victim and r.record_erased and r.erased_at_ms > 0
    for call, req in [(stub.GetCustomer, pb.GetCustomerRequest(customer_id=victim)),
                      (stub.DeleteCustomer, pb.DeleteCustomerRequest(customer_id=victim))]:
        err = rpc_error(call, req, timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.NOT_FOUND, err
    # Dumped while the server runs (LMDB readers do not block the writer).
    dump = mdb_dump(server.data)
    assert victim.encode() not in dump
    assert b"Victim" not in dump
    assert other.encode() in dump
    assert get_customer(api, server, other).totals.events == 9
    # And with the server stopped.
    server.close_channels()
    assert server.stop() == 0
    dump = mdb_dump(server.data)
    assert victim.encode() not in dump and other.encode() in dump


def test_delete_customer_then_its_events_are_new_again(stubs, api, server):
    pb = api.ingest_pb2
    stub = ingest_stub(api, server.channel())
    evs = [login(api, f"again-{i}", "cust-again") for i in range(5)]
    assert record(api, server, evs).accepted == 5
    stub.DeleteCustomer(pb.DeleteCustomerRequest(customer_id="cust-again"), timeout=RPC_TIMEOUT_S)
    s = record(api, server, evs)
    assert (s.accepted, s.duplicates) == (5, 0), "the erase must drop the event ids too"
    assert get_customer(api, server, "cust-again").totals.events == 5
    for cid in ("", "c" * 129):
        err = rpc_error(stub.DeleteCustomer, pb.DeleteCustomerRequest(customer_id=cid),
                        timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_serving(stubs, server)


def test_delete_customer_reports_what_it_erased(stubs, api, server):
    pb = api.ingest_pb2
    assert record(api, server, [login(api, f"cnt-{i}", "cust-cnt") for i in range(3)]).accepted == 3
    chat = api.chat_grpc.ChatServiceStub(server.channel())
    list(chat.AnalyzeChat(iter([_chat_turn(api, "cust-cnt")]), timeout=RPC_TIMEOUT_S))
    r = ingest_stub(api, server.channel()).DeleteCustomer(
        pb.DeleteCustomerRequest(customer_id="cust-cnt"), timeout=RPC_TIMEOUT_S)
    assert r.record_erased
    assert r.event_ids_erased == 4  # three logins and the chat turn's signal
    assert r.conversations_erased == 1


def test_delete_customer_on_a_demo_store_whose_map_is_full(stubs, api, churnd_factory,
                                                          demo_store):
    """On the 2,000-customer synth store churnd's map is exactly the data's size, so the
    erase's first page copy does not fit: it must grow the map like any write (it once
    failed with INTERNAL "erasing alerts: MDB_BAD_TXN", issue 18)."""
    server = start_on_store(churnd_factory, demo_store.store)
    stub = ingest_stub(api, server.channel())
    pb = api.ingest_pb2
    for cid in ("cust-0000042", "cust-0001500"):
        events = get_customer(api, server, cid).totals.events
        r = stub.DeleteCustomer(pb.DeleteCustomerRequest(customer_id=cid), timeout=RPC_TIMEOUT_S)
        assert r.record_erased and 0 < r.event_ids_erased <= events, r
        err = rpc_error(stub.GetCustomer, pb.GetCustomerRequest(customer_id=cid),
                        timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.NOT_FOUND, err
    assert get_customer(api, server, "cust-0000043").totals.events > 0
    assert_serving(stubs, server)


# -- a stream cancelled half-way ---------------------------------------------------------------

def test_stream_cancelled_half_way(stubs, api, server):
    acked = [login(api, f"cx-a-{i}", "cust-cx") for i in range(50)]
    assert record(api, server, acked).accepted == 50

    unacked = [login(api, f"cx-b-{i}", "cust-cx") for i in range(600)]
    sent_all = threading.Event()
    release = threading.Event()

    def requests():
        yield from unacked
        sent_all.set()
        release.wait(RPC_TIMEOUT_S)  # never half-close: the summary is never asked for

    fut = ingest_stub(api, server.channel()).RecordEvents.future(requests(), timeout=60)
    assert sent_all.wait(RPC_TIMEOUT_S)
    fut.cancel()
    release.set()
    with pytest.raises(grpc.FutureCancelledError):
        fut.result()
    assert_serving(stubs, server)

    # What was acknowledged stays; the cancelled stream's events are each there at most
    # once, and resending them (as a client must) leaves each exactly once.
    c = get_customer(api, server, "cust-cx")
    assert 50 <= c.totals.events <= 650
    s = record(api, server, acked + unacked)
    assert s.accepted + s.duplicates == 650 and s.rejected == 0
    assert s.duplicates >= 50
    c = get_customer(api, server, "cust-cx")
    assert c.totals.events == 650 and c.totals.logins == 650
