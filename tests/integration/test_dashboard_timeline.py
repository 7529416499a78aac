"""The customer page's events timeline (issue 15): GET /api/timeline lists a customer's history
as the store keeps it, newest first and paged. Events sent over gRPC at known times come back
as the day buckets, plan change and first event the test computes itself from what it sent;
a churn-intent chat adds the day's chat signal and the alert's "raised" moment, an
acknowledgement from the dashboard its "acknowledged" moment; pages of every size concatenate
to the whole list with nothing repeated or skipped, even when newer entries arrive between
pages; lifetime totals match GetCustomer. Hostile input: an unknown customer (404), a missing,
empty or oversized id, bad or huge limits and forged page tokens (400 naming the parameter);
the page renders the timeline in a real browser with ids shown as text."""

import json
import time
import urllib.parse

import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_admin import ADMIN_LINE, admin_port, http_request
from fixtures_dashboard import Browser
from fixtures_data import api, demo_store, event, ingest_stub, now_ms, start_on_store  # noqa: F401
from test_alerts import alert_api, chat_intents  # noqa: F401

DAY_MS = 86400 * 1000
H_MS = 3600 * 1000


@pytest.fixture
def dash(churnd_factory, demo_store):
    """A churnd serving the demo store's model: scores, alerts."""
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    return s, admin_port(s)


@pytest.fixture
def plain(churnd_factory, demo_store):
    """A churnd on the demo store without a model: no score moves, so no alert is raised
    behind the test's back and the timeline holds exactly what the test sent."""
    s = start_on_store(churnd_factory, demo_store.store)
    return s, admin_port(s)


def timeline(port, cid, **params):
    q = urllib.parse.urlencode(dict(id=cid, **params))
    status, _, body = http_request(port, "/api/timeline?" + q)
    return status, json.loads(body)


def whole(port, cid, limit):
    """Every entry, page by page (@limit per page), and the number of pages."""
    out, token, pages = [], None, 0
    while True:
        params = {"limit": limit} if token is None else {"limit": limit, "page_token": token}
        status, doc = timeline(port, cid, **params)
        assert status == 200, doc
        assert len(doc["entries"]) <= limit
        out += doc["entries"]
        pages += 1
        token = doc["next_page_token"]
        if not token:
            return out, pages
        assert pages < 1000


def send_history(api, server, cid):
    """Events on the three days before today; returns what the timeline must show (computed
    here from what was sent) and the first event's time."""
    pb = api.ingest_pb2
    E = pb.Event
    today = now_ms() // DAY_MS
    d3, d2, d1 = (today - 3) * DAY_MS, (today - 2) * DAY_MS, (today - 1) * DAY_MS
    evs = [
        event(api, f"{cid}-1", cid, d3 + 10 * H_MS, login=E.Login()),
        event(api, f"{cid}-2", cid, d3 + 11 * H_MS, login=E.Login()),
        event(api, f"{cid}-3", cid, d3 + 12 * H_MS, session=E.Session(minutes=30)),
        event(api, f"{cid}-4", cid, d2 + 9 * H_MS, order=E.Order(
            order_id="o1", amount=40.0, status=pb.ORDER_STATUS_COMPLETED)),
        event(api, f"{cid}-5", cid, d2 + 15 * H_MS, order=E.Order(
            order_id="o2", amount=10.0, status=pb.ORDER_STATUS_COMPLETED)),
        event(api, f"{cid}-6", cid, d1 + 8 * H_MS, support_ticket=E.SupportTicket(
            ticket_id="t1", action=pb.TICKET_ACTION_OPENED)),
        event(api, f"{cid}-7", cid, d1 + 9 * H_MS, review=E.Review(rating=4)),
        event(api, f"{cid}-8", cid, d1 + 10 * H_MS, review=E.Review(rating=1)),
        event(api, f"{cid}-9", cid, d1 + 13 * H_MS, plan_change=E.PlanChange(
            direction=pb.PLAN_CHANGE_DIRECTION_UPGRADE, from_plan="basic", to_plan="pro",
            monthly_value=30.0)),
    ]
    r = ingest_stub(api, server.channel()).RecordEvents(iter(evs), timeout=RPC_TIMEOUT_S)
    assert r.accepted == len(evs), r
    expected = {
        ("activity", "logins", d3, 2.0, None),
        ("activity", "sessions", d3, 1.0, 30.0),
        ("activity", "orders_completed", d2, 2.0, 50.0),
        ("activity", "tickets_opened", d1, 1.0, None),
        ("activity", "reviews", d1, 2.0, 2.5),
        ("activity", "reviews_negative", d1, 1.0, None),
        ("plan", "upgrade", d1 + 13 * H_MS, 30.0, None),
        ("first_seen", "first_seen", d3 + 10 * H_MS, 1.0, None),
    }
    return expected, d3 + 10 * H_MS


def as_tuple(e):
    return (e["kind"], e["what"], e["at_ms"], e["count"], e["amount"])


def test_the_timeline_is_what_was_sent_newest_first(plain, api):
    server, port = plain
    expected, _ = send_history(api, server, "tl-1")
    status, doc = timeline(port, "tl-1", limit=500)
    assert status == 200, doc
    got = [as_tuple(e) for e in doc["entries"]]
    assert set(got) == expected and len(got) == len(expected), got
    assert [e["at_ms"] for e in doc["entries"]] == sorted(
        (e["at_ms"] for e in doc["entries"]), reverse=True)
    assert doc["total"] == len(expected) and doc["next_page_token"] == ""
    [plan] = [e for e in doc["entries"] if e["kind"] == "plan"]
    assert plan["detail"] == "pro"
    for e in doc["entries"]:
        if e["kind"] == "activity":
            assert e["day"] == time.strftime("%Y-%m-%d", time.gmtime(e["at_ms"] / 1000))
    # the lifetime totals are the record's, as GetCustomer answers them
    c = ingest_stub(api, server.channel()).GetCustomer(
        api.ingest_pb2.GetCustomerRequest(customer_id="tl-1"), timeout=RPC_TIMEOUT_S)
    life = doc["lifetime"]
    assert life["events"] == c.totals.events == 9
    assert (life["logins"], life["orders_completed"], life["reviews"]) == (2, 2, 2)
    assert life["spend"] == pytest.approx(c.totals.revenue) == 50.0
    assert doc["first_seen_ms"] == c.first_seen_at_ms
    assert doc["days_held"] == 3


def test_pages_of_every_size_make_the_whole_list(plain, api):
    server, port = plain
    send_history(api, server, "tl-2")
    full, pages = whole(port, "tl-2", 500)
    assert pages == 1
    for limit in (1, 2, 3, 7):
        got, pages = whole(port, "tl-2", limit)
        assert got == full
        assert pages == -(-len(full) // limit)
    # newer entries arriving between pages neither repeat nor shift what the cursor holds
    status, first = timeline(port, "tl-2", limit=3)
    assert status == 200
    pb = api.ingest_pb2
    ingest_stub(api, server.channel()).RecordEvents(iter([event(
        api, "tl-2-late", "tl-2", now_ms() - 60_000, login=pb.Event.Login())]),
        timeout=RPC_TIMEOUT_S)
    status, rest = timeline(port, "tl-2", limit=500, page_token=first["next_page_token"])
    assert status == 200, rest
    assert first["entries"] + rest["entries"] == full


def test_chat_and_alert_moments_appear(dash, api):
    server, port = dash
    send_history(api, server, "tl-3")
    [answer] = chat_intents(api, server, ["tl-3"], prefix="tl")
    seq = answer.escalation.alert_sequence
    assert seq >= 1
    status, _, body = http_request(port, "/api/act", method="POST",
                                   body=json.dumps({"sequence": seq, "action": "acknowledge",
                                                    "note": "called them"}),
                                   headers={"Content-Type": "application/json"})
    assert status == 200, body
    deadline = time.monotonic() + 60  # a ceiling: the chat signal is saved off the call path
    while True:
        status, doc = timeline(port, "tl-3", limit=500)
        assert status == 200, doc
        whats = {(e["kind"], e["what"]) for e in doc["entries"]}
        if ("chat", "churn_intents") in whats or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ("chat", "churn_intents") in whats, whats
    mine = [e for e in doc["entries"] if e["kind"] == "alert" and e["alert_id"] == seq]
    moments = {e["what"]: e for e in mine}
    assert {"raised", "acknowledged"} <= set(moments), mine
    assert moments["raised"]["detail"].startswith("churn_intent")
    assert "dashboard" in moments["acknowledged"]["detail"]
    assert moments["acknowledged"]["at_ms"] >= moments["raised"]["at_ms"]
    # newest first: the acknowledgement comes before the raise
    assert mine.index(moments["acknowledged"]) < mine.index(moments["raised"])
    # what the engine does on its own (rescoring) may add other alerts, never other customers'
    status, other = timeline(port, "tl-1-never-sent")
    assert status == 404


def alert_entries(port, cid, alert_id=None):
    status, doc = timeline(port, cid, limit=500)
    assert status == 200, doc
    return [e for e in doc["entries"]
            if e["kind"] == "alert" and (alert_id is None or e["alert_id"] == alert_id)]


def test_every_alert_revision_is_an_entry_and_leaves_with_the_customer(churnd_factory,
                                                                       demo_store, api):
    """Issue 15: the log's per-customer index lists every revision of the customer's alerts,
    older ones included (two updates are two entries, each at its moment, with its trigger
    count), only theirs; the privacy erase takes them with the customer, so a new customer
    under the same id starts with none."""
    server = start_on_store(churnd_factory, demo_store.store,
                            args=["--alert-update-interval-s", "0"])
    port = admin_port(server)
    for cid in ("tl-rev", "tl-other"):
        send_history(api, server, cid)
    answers = chat_intents(api, server, ["tl-rev", "tl-other"], prefix="rev1")
    seq = answers[0].escalation.alert_sequence
    status, _, body = http_request(port, "/api/act", method="POST",
                                   body=json.dumps({"sequence": seq, "action": "acknowledge",
                                                    "note": "first call"}),
                                   headers={"Content-Type": "application/json"})
    assert status == 200, body
    chat_intents(api, server, ["tl-rev"], prefix="rev2")
    chat_intents(api, server, ["tl-rev"], prefix="rev3")
    deadline = time.monotonic() + 60  # a ceiling: the engine commits the updates off the call
    while len(alert_entries(port, "tl-rev", seq)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    mine = alert_entries(port, "tl-rev", seq)
    oldest_first = list(reversed(mine))
    assert [e["what"] for e in oldest_first] == ["raised", "acknowledged", "updated",
                                                 "updated"], mine
    assert [e["revision"] for e in oldest_first] == [1, 2, 3, 4], mine
    assert "dashboard" in oldest_first[1]["detail"]  # who acknowledged
    assert oldest_first[2]["detail"].endswith("trigger 2"), oldest_first[2]
    assert oldest_first[3]["detail"].endswith("trigger 3"), oldest_first[3]
    assert all(a["at_ms"] <= b["at_ms"] for a, b in zip(oldest_first, oldest_first[1:]))
    assert alert_entries(port, "tl-rev") == mine, "another alert in tl-rev's timeline"
    other = alert_entries(port, "tl-other")
    assert [e["what"] for e in other] == ["raised"] and other[0]["alert_id"] != seq
    # a page boundary inside the revisions repeats and skips nothing
    every, pages = whole(port, "tl-rev", 3)
    assert [e for e in every if e["kind"] == "alert"] == mine and pages > 1

    ing = api.ingest_grpc.IngestServiceStub(server.channel())
    ing.DeleteCustomer(api.ingest_pb2.DeleteCustomerRequest(customer_id="tl-rev"),
                       timeout=RPC_TIMEOUT_S)
    assert timeline(port, "tl-rev")[0] == 404
    send_history(api, server, "tl-rev")  # a new customer under the same id
    assert alert_entries(port, "tl-rev") == [], "the erased customer's alerts came back"
    assert alert_entries(port, "tl-other") == other
    # and after a restart (the index reopened and checked against the log)
    assert server.stop() == 0
    server.start()
    port = int(ADMIN_LINE.findall(server.stderr())[-1])  # the new run's admin port
    assert alert_entries(port, "tl-rev") == []
    assert alert_entries(port, "tl-other") == other


HOSTILE = [
    ("id=", "id"), ("", "id"), ("id=" + "x" * 129, "id"),
    ("id=tl-4&limit=0", "limit"), ("id=tl-4&limit=-1", "limit"), ("id=tl-4&limit=501", "limit"),
    ("id=tl-4&limit=" + "9" * 30, "limit"), ("id=tl-4&limit=abc", "limit"),
    ("id=tl-4&limit=", "limit"), ("id=tl-4&limit=1e2", "limit"), ("id=tl-4&limit=%2010", "limit"),
    ("id=tl-4&page_token=", "page_token"), ("id=tl-4&page_token=x", "page_token"),
    ("id=tl-4&page_token=n%3A", "page_token"), ("id=tl-4&page_token=n%3A0", "page_token"),
    ("id=tl-4&page_token=n%3A01", "page_token"), ("id=tl-4&page_token=p%3A1%3A2", "page_token"),
    ("id=tl-4&page_token=n%3A-5", "page_token"),
    ("id=tl-4&page_token=n%3A99999999999999999999999", "page_token"),
    ("id=tl-4&offset=3", "offset"),
]


def test_hostile_parameters_are_400_naming_them(plain, api):
    server, port = plain
    send_history(api, server, "tl-4")
    for query, param in HOSTILE:
        status, headers, body = http_request(port, "/api/timeline?" + query)
        assert status == 400, (query, body)
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"].startswith(param + ":"), (query, body)
    # unknown customers, including ones made of markup, are 404 with the id never echoed raw
    for cid in ["nobody", "<script>alert(1)</script>", "ü" * 20]:
        status, doc = timeline(port, cid)
        assert status == 404, doc
        assert doc["error"] == "customer_id: no such customer"
    # the server keeps serving
    status, doc = timeline(port, "tl-4", limit=500)
    assert status == 200 and doc["total"] == 8


def test_the_customer_page_shows_the_timeline(dash, api, tmp_path):
    server, port = dash
    send_history(api, server, "tl-<b>5</b>")
    browser = Browser(str(tmp_path))
    try:
        browser.goto(f"http://127.0.0.1:{port}/")
        browser.wait_for("document.querySelector('#status').textContent.startsWith('updated')",
                         "the first update")
        browser.eval("showCustomer('tl-<b>5</b>')")
        # the events (alert moments, if the model raised one, come on their own lines)
        rows = browser.wait_for(
            "document.querySelectorAll('#timeline li:not([data-kind=alert])').length === 8 && "
            "[...document.querySelectorAll('#timeline li:not([data-kind=alert])')]"
            ".map(li => li.textContent)", "the timeline's 8 entries")
        assert "upgrade" in rows[0] and "pro" in rows[0], rows
        assert "2 · spend 50" in next(r for r in rows if "orders completed" in r), rows
        # the id is text, never markup
        assert browser.eval("document.querySelector('#customer-h').textContent") == \
            "Customer tl-<b>5</b>"
        assert browser.eval("document.querySelector('#customer-h b, #timeline b')") is None
        browser.screenshot(tmp_path / "customer-timeline.png")
        assert browser.console_errors() == []
    finally:
        browser.close()
