"""churnd's own metric families (issue 14), each changed by calls over the wire and read back
from a scrape: events by result (accepted, duplicate, rejected by the field named), served
scores (the probability histogram and the count per risk tier), chat turns by role and
escalations by reason, alert changes by cause and change, watchers cut for being slow, store
commit latency and group-commit sizes; `promtool check metrics` accepts the exposition with
every family present."""

import subprocess

import grpc
import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_admin import parse_exposition, scrape
from fixtures_data import api, demo_store, event, login, now_ms, start_on_store  # noqa: F401
from test_alerts import Watcher, alert_api, alert_stub, chat_intents, wait_listed  # noqa: F401

KNOWN = ["cust-0000001", "cust-0000042", "cust-0000777"]
FAMILIES = ["churn_events_total", "churn_score_probability", "churn_scores_served_total",
            "churn_chat_turns_total", "churn_chat_escalations_total", "churn_alert_changes_total",
            "churn_alert_watchers_cut_total", "churn_store_commit_seconds",
            "churn_store_group_commit_events"]


@pytest.fixture
def scored(churnd_factory, demo_store):
    return start_on_store(churnd_factory, demo_store.store, demo_store.logreg)


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """The sum over every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


class Delta:
    """Scrapes before and after: after(name, labels) - before(name, labels)."""

    def __init__(self, server):
        self.server = server
        self.before = parse_exposition(scrape(server))

    def __call__(self, name, **labels):
        after = parse_exposition(scrape(self.server))
        return total(after, name, **labels) - total(self.before, name, **labels)


def test_events_by_result_and_the_commits_that_applied_them(api, scored):
    d = Delta(scored)
    E = api.ingest_pb2.Event
    stub = api.ingest_grpc.IngestServiceStub(scored.channel())
    reqs = [login(api, f"mf-{i}", "cust-0000042") for i in range(3)] + [
        login(api, "mf-0", "cust-0000042"),  # the same event again: a duplicate
        event(api, "mf-neg", "cust-0000042", order=E.Order(order_id="o", amount=-1.0,
                                                           currency="EUR")),
        event(api, "mf-future", "cust-0000042", at_ms=now_ms() + 86400 * 1000,
              login=E.Login()),
        api.ingest_pb2.RecordEventsRequest(event=E(event_id="mf-nokind",
                                                   customer_id="cust-0000042",
                                                   occurred_at_ms=now_ms() - 1000))]
    r = stub.RecordEvents(iter(reqs), timeout=RPC_TIMEOUT_S)
    assert (r.accepted, r.duplicates, r.rejected) == (3, 1, 3)
    assert d("churn_events_total", result="accepted") == 3
    assert d("churn_events_total", result="duplicate") == 1
    assert d("churn_events_total", result="rejected") == 3
    assert d("churn_events_total", result="rejected", reason="order") == 1
    assert d("churn_events_total", result="rejected", reason="occurred_at_ms") == 1
    assert d("churn_events_total", result="rejected") - \
        d("churn_events_total", result="rejected", reason="order") - \
        d("churn_events_total", result="rejected", reason="occurred_at_ms") == 1
    # at least one durable commit applied them; the group sizes add up to what reached the store
    assert d("churn_store_commit_seconds_count") >= 1
    assert d("churn_store_commit_seconds_sum") > 0
    assert d("churn_store_group_commit_events_count") >= 1
    assert d("churn_store_group_commit_events_sum") >= 5


def test_served_scores_by_probability_and_tier(api, scored):
    d = Delta(scored)
    sc = api.scoring_grpc.ScoringServiceStub(scored.channel())
    got = [sc.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=c), timeout=RPC_TIMEOUT_S)
           for c in KNOWN]
    assert d("churn_score_probability_count") == len(KNOWN)
    assert d("churn_score_probability_sum") == pytest.approx(
        sum(s.score.probability for s in got), abs=1e-6)
    tiers = {1: "low", 2: "medium", 3: "high"}
    for t, name in tiers.items():
        want = sum(1 for s in got if s.score.risk_tier == t)
        assert d("churn_scores_served_total", tier=name) == want, name
    # one bucket holds each probability: the cumulative count at le=0.5 counts those <= 0.5
    assert d("churn_score_probability_bucket", le="0.5") == \
        sum(1 for s in got if s.score.probability <= 0.5)
    # a customer that does not exist is not a served score
    with pytest.raises(grpc.RpcError):
        sc.GetScore(api.scoring_pb2.GetScoreRequest(customer_id="nobody"), timeout=RPC_TIMEOUT_S)
    assert d("churn_score_probability_count") == len(KNOWN)


def test_chat_turns_escalations_and_alert_changes(api, alert_api, scored):
    d = Delta(scored)
    pb = api.chat_pb2
    turns = [pb.AnalyzeChatRequest(conversation_id="mf-conv", turn_sequence=1,
                                   role=pb.CHAT_ROLE_AGENT, text="Hello, how can I help?",
                                   customer_id="cust-0000001")]
    list(api.chat_grpc.ChatServiceStub(scored.channel()).AnalyzeChat(iter(turns),
                                                                     timeout=RPC_TIMEOUT_S))
    chat_intents(api, scored, ["cust-0000001"], prefix="mf")
    assert d("churn_chat_turns_total", role="agent") == 1
    assert d("churn_chat_turns_total", role="customer") == 1
    assert d("churn_chat_escalations_total", reason="churn_intent") == 1
    assert d("churn_chat_escalations_total") == 1
    (alert,), _ = wait_listed(alert_api, scored, 1)
    assert d("churn_alert_changes_total", cause="churn_intent", change="raised") == 1
    stub = alert_stub(alert_api, scored)
    stub.AcknowledgeAlert(alert_api[0].AcknowledgeAlertRequest(sequence=alert.sequence,
                                                               actor="mf"),
                          timeout=RPC_TIMEOUT_S)
    assert d("churn_alert_changes_total", cause="churn_intent", change="acknowledged") == 1
    assert d("churn_alert_changes_total") == 2


def test_a_watcher_cut_for_being_slow_is_counted(api, alert_api, churnd_factory):
    server = churnd_factory()
    d = Delta(server)
    tiny_window = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)]
    slow = Watcher(alert_api, server, read=False, options=tiny_window, timeout=60,
                   after_sequence=0)
    customers = [f"mf-flood-{i:04d}" for i in range(2600)]  # beyond the live window (2,048)
    for i in range(0, len(customers), 250):
        chat_intents(api, server, customers[i:i + 250], prefix=f"mf{i}")
    wait_listed(alert_api, server, len(customers))
    assert d("churn_alert_watchers_cut_total") == 0, "not cut before it is too slow"
    with pytest.raises(grpc.RpcError) as ei:
        for _ in slow.call:
            pass
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert d("churn_alert_watchers_cut_total") == 1
    assert d("churn_chat_escalations_total", reason="churn_intent") == len(customers)


def test_promtool_accepts_every_family(api, scored):
    sc = api.scoring_grpc.ScoringServiceStub(scored.channel())
    sc.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=KNOWN[0]), timeout=RPC_TIMEOUT_S)
    text = scrape(scored)
    typed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert set(FAMILIES) <= typed, set(FAMILIES) - typed
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_open_grpc_connections_are_counted(stubs, churnd_factory):
    from conftest import health_check
    server = churnd_factory()
    before = value(parse_exposition(scrape(server)), "churn_open_connections", listener="grpc")
    # channels with their own subchannel pool: one TCP connection each
    chans = [server.channel(options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(3)]
    for ch in chans:
        health_check(stubs, ch)
    after = value(parse_exposition(scrape(server)), "churn_open_connections", listener="grpc")
    assert after - before == 3
    server.close_channels()
