"""The live dashboard (issue 15 item 1) in a real browser and over plain HTTP: Debian's
headless chromium opens the page of a churnd serving the synth demo store; every panel shows
the numbers the gRPC API answers; an alert raised by a chat appears in the live feed and is
acknowledged from the page (the change is seen over gRPC, with the token's identity as the
actor); customer ids holding HTML and script are shown as text. Over HTTP: each bad query
parameter is 400 naming it, no token 401, a read-only token acting 403, bad action bodies
400 naming the field, and the feed resumes from Last-Event-ID with no gap and no repeat.
Screenshots go to each test's tmp dir."""

import hashlib
import http.client
import json
import re
import signal
import subprocess

import pytest

from conftest import RPC_TIMEOUT_S, assert_serving
from fixtures_admin import admin_port, http_request
from fixtures_dashboard import Browser, read_events
from fixtures_data import api, demo_store, ingest_stub, start_on_store  # noqa: F401
from test_alerts import CHURN_TEXT, alert_api, chat_intents, list_all, wait_listed  # noqa: F401

READ, OPERATE = "read-token-1234", "operate-token-5678"
HOSTILE_ID = '<img src=x onerror="window.pwned=1">&<script>window.pwned=2</script>'


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(str(tmp_path_factory.mktemp("chromium")))
    yield b
    b.close()


@pytest.fixture
def dash(churnd_factory, demo_store):
    """A churnd on a copy of the demo store with the logistic model, and its admin port."""
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    return s, admin_port(s)


def open_page(browser, port):
    browser.goto(f"http://127.0.0.1:{port}/")
    browser.wait_for("document.querySelector('#status').textContent.startsWith('updated')",
                     "its first update")
    browser.wait_for("document.querySelectorAll('#model dd').length > 0", "the model panel")


def scoring(api, server):
    return api.scoring_grpc.ScoringServiceStub(server.channel())


# -- in the browser ---------------------------------------------------------------------------

def at_risk_total(api, stub, risk=(), value=()):
    pb = api.scoring_pb2
    return stub.ListAtRiskCustomers(pb.ListAtRiskCustomersRequest(
        page_size=1, filter=pb.AtRiskFilter(risk_tiers=list(risk), value_tiers=list(value))),
        timeout=RPC_TIMEOUT_S).total_size


def test_every_panel_shows_the_apis_numbers(browser, churnd_factory, demo_store, churnctl_bin,
                                           api, tmp_path):
    # the first sweep scores everyone into the index behind the key figures and the matrix,
    # and takes the day's snapshot behind the trends. Fixed value tiers: share-based ones are
    # recomputed at the end of each sweep, and the index keeps the tiers a score was given
    # until the customer is scored again, while the listing tiers with the new cut-offs
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--sweep-delay-s", "0", "--value-tiers", "threshold:2000,500"])
    server.wait_log("daily_snapshot_taken")
    port = admin_port(server)
    open_page(browser, port)
    pb = api.scoring_pb2
    stub = scoring(api, server)
    page = stub.ListAtRiskCustomers(pb.ListAtRiskCustomersRequest(page_size=20, max_reasons=3),
                                    timeout=RPC_TIMEOUT_S)
    c = api.common_pb2
    tiers = {"low": (c.RISK_TIER_LOW, c.VALUE_TIER_LOW),
             "medium": (c.RISK_TIER_MEDIUM, c.VALUE_TIER_MEDIUM),
             "high": (c.RISK_TIER_HIGH, c.VALUE_TIER_HIGH)}
    high = at_risk_total(api, stub, [c.RISK_TIER_HIGH])
    # how many of the synthetic customers are at risk depends on the clock (the demo ends
    # at the fixture's now): a full page when there are 20, else all of them
    assert page.total_size > 0 and len(page.scores) == min(20, page.total_size)
    rows = browser.eval("""[...document.querySelectorAll('#queue tbody tr')].map(tr =>
        [...tr.children].map(td => td.textContent))""")
    assert [r[0] for r in rows] == [s.customer_id for s in page.scores]
    assert [r[1] for r in rows] == [f"{100 * s.probability:.1f}%" for s in page.scores]
    assert [r[3] for r in rows] == [f"{round(s.priority):,}" for s in page.scores]
    assert [r[4] for r in rows] == ["; ".join(x.label or x.feature for x in s.reasons)
                                    for s in page.scores]
    kpi = browser.eval("""Object.fromEntries([...document.querySelectorAll('.kpi')].map(k =>
        [k.id, k.querySelector('b').textContent]))""")
    assert kpi["kpi-at-risk"] == f"{page.total_size:,}"
    assert kpi["kpi-high"] == f"{high:,}"
    # the risk x value matrix: each cell's count is what the listing with that filter counts
    cells = browser.eval("""Object.fromEntries([...document.querySelectorAll('#matrix button')]
        .map(b => [b.dataset.cell, b.textContent.split(' · ')[0]]))""")
    assert len(cells) == 9
    for cell, shown in cells.items():
        risk, value = cell.split("/")
        assert shown == f"{at_risk_total(api, stub, [tiers[risk][0]], [tiers[value][1]]):,}", cell
    # a click on a cell filters the queue to it
    browser.eval("document.querySelector('#matrix button[data-cell=\"high/high\"]').click()")
    hh = stub.ListAtRiskCustomers(pb.ListAtRiskCustomersRequest(page_size=20, filter=pb.AtRiskFilter(
        risk_tiers=[c.RISK_TIER_HIGH], value_tiers=[c.VALUE_TIER_HIGH])), timeout=RPC_TIMEOUT_S)
    want = [s.customer_id for s in hh.scores]
    browser.wait_for(f"JSON.stringify([...document.querySelectorAll('#queue tbody tr')].map(tr => "
                     f"tr.dataset.customer)) === {json.dumps(json.dumps(want, separators=(',', ':')))}",
                     "the queue filtered to high risk, high value")
    # trends: today's row is the stored snapshot churnctl reads
    r = subprocess.run([churnctl_bin, "report", "trends", "--store", server.data, "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    today = json.loads(r.stdout.splitlines()[-1])
    row = browser.wait_for(f"[...document.querySelectorAll('#trend-days tr[data-day=\"{today['day']}\"] td')]"
                           ".map(td => td.textContent)", "today's trend row")
    assert row[1] == str(today["at_risk"]["high"] + today["at_risk"]["medium"])
    assert row[2] == f"{round(today['revenue_at_risk']['total']):,}"
    info = api.model_grpc.ModelServiceStub(server.channel()).GetModelInfo(
        api.model_pb2.GetModelInfoRequest(), timeout=RPC_TIMEOUT_S)
    model = browser.eval("""Object.fromEntries([...document.querySelectorAll('#model dd')].map(d =>
        [d.dataset.field, d.textContent]))""")
    assert model["Version"] == info.model.version
    assert model["Cross-validated AUC"] == f"{info.model.metrics.auc:.3f}"
    # the customer page: the score the API gives, its reasons
    first = page.scores[0]
    browser.eval("document.querySelector('#queue tbody tr button').click()")
    text = browser.wait_for("!document.querySelector('#customer').hidden && "
                            "document.querySelector('#customer-score')?.textContent",
                            "the customer page")
    assert f"{100 * first.probability:.1f}%" in text
    assert browser.eval("document.querySelectorAll('#customer svg.chart circle').length") >= 1
    browser.screenshot(tmp_path / "dashboard-1280x800.png")
    # a phone-width screen: nothing wider than the screen
    browser.page("Emulation.setDeviceMetricsOverride", width=390, height=800,
                 deviceScaleFactor=1, mobile=True)
    try:
        assert browser.eval("document.documentElement.scrollWidth <= window.innerWidth")
        browser.screenshot(tmp_path / "dashboard-phone.png")
    finally:
        browser.page("Emulation.setDeviceMetricsOverride", width=1280, height=800,
                     deviceScaleFactor=1, mobile=False)
    assert browser.console_errors() == []


def test_live_feed_and_acknowledge_from_the_page(browser, churnd_factory, demo_store, api,
                                                 alert_api, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("retention-lead", OPERATE, ["read", "operate", "ingest"]))
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--auth-tokens", str(tokens)])
    port = admin_port(server)
    browser.goto(f"http://127.0.0.1:{port}/")
    # no token yet: the page asks for one, then signs in
    browser.wait_for("!document.querySelector('#login').hidden", "the token form")
    browser.eval(f"document.querySelector('#token').value = {json.dumps(OPERATE)};"
                 "document.querySelector('#login button').click()")
    browser.wait_for("document.querySelector('#status').textContent.startsWith('updated')",
                     "its first update")
    customer = browser.eval("document.querySelector('#queue tbody tr').dataset.customer")
    md = [("authorization", f"Bearer {OPERATE}")]
    stub = api.chat_grpc.ChatServiceStub(server.channel())
    pb = api.chat_pb2
    answers = list(stub.AnalyzeChat(iter([pb.AnalyzeChatRequest(
        conversation_id="dash-1", turn_sequence=1, role=pb.CHAT_ROLE_CUSTOMER,
        text=CHURN_TEXT, customer_id=customer)]), metadata=md, timeout=60))
    seq = answers[0].escalation.alert_sequence
    assert seq >= 1
    item = browser.wait_for(f"document.querySelector('#feed li[data-sequence=\"{seq}\"]')"
                            "?.textContent", "the new alert in the live feed")
    assert customer in item and "CHURN_INTENT" in item
    browser.wait_for(f"!!document.querySelector('#alerts tr[data-sequence=\"{seq}\"] "
                     "button[data-act=acknowledge]')", "the alert's Acknowledge button")
    browser.eval(f"document.querySelector('#alerts tr[data-sequence=\"{seq}\"] "
                 "button[data-act=acknowledge]').click()")
    browser.wait_for(f"document.querySelector('#alerts tr[data-sequence=\"{seq}\"] "
                     ".alert-status')?.textContent === 'ACKNOWLEDGED'", "the acknowledged status")
    apb, agrpc = alert_api
    r = agrpc.AlertServiceStub(server.channel()).ListAlerts(apb.ListAlertsRequest(
        filter=apb.AlertFilter(customer_ids=[customer])), metadata=md, timeout=RPC_TIMEOUT_S)
    [alert] = [a for a in r.alerts if a.sequence == seq]
    assert alert.status == apb.ALERT_STATUS_ACKNOWLEDGED
    assert alert.acknowledged_by == "retention-lead"
    browser.screenshot(tmp_path / "dashboard-acknowledged.png")
    assert browser.console_errors() == []


def test_html_and_script_in_ids_are_shown_as_text(browser, dash, api, tmp_path):
    server, port = dash
    ingest_stub(api, server.channel()).UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(
        customers=[api.ingest_pb2.Customer(customer_id=HOSTILE_ID)]), timeout=RPC_TIMEOUT_S)
    open_page(browser, port)
    chat_intents(api, server, [HOSTILE_ID], prefix="<b>conv</b>")
    browser.wait_for("[...document.querySelectorAll('#feed li')].some(li => "
                     f"li.textContent.includes({json.dumps(HOSTILE_ID)}))", "the hostile id")
    browser.wait_for("document.querySelectorAll('#alerts tbody tr').length > 0", "the alert")
    browser.eval("[...document.querySelectorAll('#alerts tbody button.link')].find(b => "
                 f"b.textContent === {json.dumps(HOSTILE_ID)}).click()")
    browser.wait_for(f"document.querySelector('#customer-h').textContent.includes("
                     f"{json.dumps(HOSTILE_ID)})", "the customer page of the hostile id")
    browser.wait_for("document.querySelectorAll('#customer-alerts li').length > 0",
                     "the customer's alerts")
    assert browser.eval("typeof window.pwned") == "undefined"
    assert browser.eval("document.querySelectorAll('main img, main script').length") == 0
    browser.screenshot(tmp_path / "dashboard-escaped.png")


# -- over HTTP --------------------------------------------------------------------------------

BAD_QUERIES = [
    ("/report?from=yesterday", "from"),
    ("/report?from=2026-12-07&to=2026-01-01", "to"),
    ("/report?top=0", "top"),
    ("/report?pages=2", "pages"),
    ("/api/queue?risk=extreme", "risk"),
    ("/api/queue?risk=high,", "risk"),
    ("/api/queue?value=gold", "value"),
    ("/api/queue?min_probability=1.5", "min_probability"),
    ("/api/queue?min_probability=abc", "min_probability"),
    ("/api/queue?min_probability=nan", "min_probability"),
    ("/api/queue?page_size=0", "page_size"),
    ("/api/queue?page_size=12x", "page_size"),
    ("/api/queue?page_token=zzz", "page_token"),
    ("/api/queue?segment=", "segment"),
    ("/api/queue?colour=red", "colour"),
    ("/api/alerts?status=pending", "status"),
    ("/api/alerts?order=random", "order"),
    ("/api/alerts?order=newest,oldest", "order"),
    ("/api/alerts?customer=" + "x" * 200, "customer"),
    ("/api/customer", "id"),
    ("/api/customer?id=", "id"),
    ("/api/customer?id=a&x=1", "x"),
    ("/api/model?verbose=1", "verbose"),
    ("/api/feed?after=-1", "after"),
    ("/api/feed?after=99999", "after"),
    ("/api/feed?since=3", "since"),
    ("/api/trends?days=0", "days"),
    ("/api/trends?days=4000", "days"),
    ("/api/trends?from=2026-01-01", "from"),
    ("/api/summary?tier=high", "tier"),
    ("/api/playbooks?all=1", "all"),
]


def test_bad_query_parameters_are_400_naming_them(dash, stubs):
    server, port = dash
    for path, param in BAD_QUERIES:
        status, headers, body = http_request(port, path)
        assert status == 400, (path, status, body)
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"].startswith(param + ":"), (path, body)
    assert_serving(stubs, server)


def test_unknown_customer_is_404_and_the_page_is_self_contained(dash):
    server, port = dash
    status, _, body = http_request(port, "/api/customer?id=nobody-here")
    assert status == 404 and "nobody-here" in json.loads(body)["error"]
    status, headers, page = http_request(port, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    # no CDN: every script and stylesheet comes from this listener
    assert "http://" not in page and "https://" not in page and "//" not in page.replace(
        "<!--", "").replace("-->", "")
    for asset in ("/assets/app.js", "/assets/app.css"):
        assert http_request(port, asset)[0] == 200
    assert http_request(port, "/assets/nope.js")[0] == 404


def token_line(name, token, roles):
    return f"{name} {hashlib.sha256(token.encode()).hexdigest()} {','.join(roles)}\n"


def test_tokens_401_and_read_only_403(churnd_factory, demo_store, api, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("viewer", READ, ["read"]) +
                      token_line("lead", OPERATE, ["read", "operate"]))
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--auth-tokens", str(tokens)])
    port = admin_port(server)
    assert http_request(port, "/")[0] == 200  # the page holds no data
    for path in ("/api/queue", "/api/alerts", "/api/model", "/api/feed", "/api/customer?id=x",
                 "/api/summary", "/api/trends", "/api/playbooks"):
        status, headers, _ = http_request(port, path)
        assert status == 401 and headers["www-authenticate"] == "Bearer", path
        assert http_request(port, path, headers={"Authorization": "Bearer wrong"})[0] == 401
    read = {"Authorization": f"Bearer {READ}", "Content-Type": "application/json"}
    assert http_request(port, "/api/queue?page_size=1", headers=read)[0] == 200
    body = json.dumps({"sequence": 1, "action": "acknowledge"})
    status, _, text = http_request(port, "/api/act", "POST", read, body=body)
    assert status == 403 and "operate" in text
    status, _, text = http_request(port, "/api/act", "POST", None, body=body)
    assert status == 401


ACT_BODIES = [
    (b"not json", "body"),
    (b"[1,2]", "body"),
    (b'{"action":"acknowledge"}', "sequence"),
    (b'{"sequence":0,"action":"acknowledge"}', "sequence"),
    (b'{"sequence":1}', "action"),
    (b'{"sequence":1,"action":"delete"}', "action"),
    (b'{"sequence":1,"action":"snooze"}', "until_ms"),
    (b'{"sequence":1,"action":"close","resolution":"maybe"}', "resolution"),
    (b'{"sequence":1,"action":"acknowledge","note":7}', "note"),
]


def test_alert_actions_refuse_bad_bodies(dash, api, alert_api, stubs):
    server, port = dash
    for body, field in ACT_BODIES:
        status, _, text = http_request(port, "/api/act", "POST", body=body)
        assert status == 400, (body, status, text)
        assert json.loads(text)["error"].startswith(field + ":"), (body, text)
    status, _, text = http_request(port, "/api/act", "POST",
                                   body=b'{"sequence":999999,"action":"acknowledge"}')
    assert status == 404, text
    status, _, text = http_request(port, "/api/act", "POST", body=b"x" * (65 * 1024))
    assert status == 413, text
    status, headers, _ = http_request(port, "/api/act")
    assert status == 405 and headers["allow"] == "POST"
    # a real action: acknowledge, then close; a second close is refused by the API
    chat_intents(api, server, ["cust-0000042"])
    [alert], _ = wait_listed(alert_api, server, 1)
    ok = {"sequence": alert.sequence, "action": "acknowledge", "note": "called"}
    status, _, text = http_request(port, "/api/act", "POST", body=json.dumps(ok))
    assert status == 200 and json.loads(text)["alert"]["status"] == "ALERT_STATUS_ACKNOWLEDGED"
    close = {"sequence": alert.sequence, "action": "close", "resolution": "saved"}
    assert http_request(port, "/api/act", "POST", body=json.dumps(close))[0] == 200
    status, _, text = http_request(port, "/api/act", "POST", body=json.dumps(close))
    assert status in (200, 409), text
    [now], _ = list_all(alert_api, server)
    assert now.status == alert_api[0].ALERT_STATUS_CLOSED
    assert now.acknowledged_by == "dashboard" and now.note == "called"
    assert_serving(stubs, server)


def test_playbook_effectiveness_is_the_outcome_report(dash, api, alert_api, churnctl_bin):
    server, port = dash
    customers = [f"cust-{i:07d}" for i in range(20, 26)]
    chat_intents(api, server, customers)
    alerts, _ = wait_listed(alert_api, server, len(customers))
    apb, agrpc = alert_api
    stub = agrpc.AlertServiceStub(server.channel())
    for i, a in enumerate(alerts):
        stub.RecordOutcome(apb.RecordOutcomeRequest(
            customer_id=a.customer_id, alert_sequence=a.sequence,
            outcome=apb.OUTCOME_RETAINED if i % 2 else apb.OUTCOME_CHURNED,
            actor="ana@example.com"), timeout=RPC_TIMEOUT_S)
    status, _, body = http_request(port, "/api/playbooks")
    assert status == 200, body
    page = json.loads(body)
    r = subprocess.run([churnctl_bin, "report", "outcomes", "--store", server.data, "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert page["outcomes"] == report["outcomes"] == len(customers)
    assert len(page["playbooks"]) == len(report["playbooks"]) >= 1
    for mine, theirs in zip(page["playbooks"], report["playbooks"]):
        assert mine["playbook"] == theirs["playbook"]
        for k in ("treated", "treated_retained", "control", "control_retained"):
            assert mine[k] == theirs[k], k
        for k in ("treated_rate", "control_rate", "diff", "diff_low", "diff_high"):
            assert (mine[k] is None) == (theirs[k] is None), k
            if mine[k] is not None:
                assert abs(mine[k] - theirs[k]) < 1e-5, k


def test_feed_resumes_from_last_event_id_without_gaps(dash, api, alert_api):
    server, port = dash
    customers = [f"cust-{i:07d}" for i in range(10, 16)]
    chat_intents(api, server, customers)
    alerts, head = wait_listed(alert_api, server, len(customers))
    everything = read_events(port, {"Last-Event-ID": "0"}, until=lambda ev: len(ev) >= head)
    assert [e[0] for e in everything] == list(range(1, head + 1))
    assert all(e[1] == "alert" and e[2]["sequence"] == e[0] for e in everything)
    assert sorted(e[2]["customer_id"] for e in everything) == customers
    # a reconnect after event 3 gets 4.. and nothing twice; then live changes follow
    rest = read_events(port, {"Last-Event-ID": "3"}, until=lambda ev: len(ev) >= head - 3)
    assert [e[0] for e in rest] == list(range(4, head + 1))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/api/feed")  # from the head: open across the server's stop
    r = c.getresponse()
    assert r.status == 200
    status, _, body = http_request(port, "/api/feed", headers={"Last-Event-ID": "x"})
    assert status == 400 and json.loads(body)["error"].startswith("Last-Event-ID:")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    c.close()


def test_the_report_page_is_churnctls_report(churnd_factory, demo_store, churnctl_bin, tmp_path):
    """GET /report serves the report `churnctl report html` writes from the same store: the
    same self-contained page, with the same customers listed at risk in the same order (after
    a sweep has materialized the scores the report lists)."""
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--sweep-interval-s", "3600", "--sweep-delay-s", "0"])
    server.wait_log(r"daily_snapshot_taken", timeout=180)
    port = admin_port(server)
    status, headers, page = http_request(port, "/report?top=25&from=2020-01-01")
    assert status == 200 and headers["content-type"].startswith("text/html"), (status, page)
    assert "<svg" in page and not re.search(r"<(script|link|img|iframe)\b", page, re.I)
    out = tmp_path / "report.html"
    r = subprocess.run([churnctl_bin, "report", "html", "--store", server.data, "--out",
                        str(out), "--top", "25", "--from", "2020-01-01"],
                       capture_output=True, text=True, timeout=RPC_TIMEOUT_S * 4)
    assert r.returncode == 0, r.stderr
    ids = re.findall(r"cust-\d{7}", page)
    assert ids and ids == re.findall(r"cust-\d{7}", out.read_text())
