"""The engine's one score per change (issue 12), over the wire: a chat turn evaluates the
model exactly once (counted by churn_model_evaluations_total on /metrics: the turn's answer,
its escalation alert and the rescore its chat signal causes all use that one score), the
answer carries the score after the turn's own signal (equal to GetScore once the signal is
committed, not one turn behind), and an escalating turn's suggested action is the playbook's,
the same as its alert's."""

import importlib
import queue
import time

import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_admin import ADMIN_LINE, http_request, parse_exposition
from fixtures_data import api, demo_store, start_on_store  # noqa: F401

CHURN_TEXT = "I'm cancelling my subscription, this is the third time"
CUSTOMER = "cust-0000042"


def scrape(server):
    """/metrics of the server's latest start (a restart logs a new admin port)."""
    port = int(ADMIN_LINE.findall(server.stderr())[-1])
    status, _, body = http_request(port, "/metrics")
    assert status == 200, body
    return body


def metric(server, name, **labels):
    """The value of one series of the exposition (0 when absent)."""
    want = set(labels.items())
    for (n, pairs), v in parse_exposition(scrape(server)).items():
        if n == name and want <= pairs:
            return v
    return 0.0


def rescores_settled(server, base, n):
    """Wait until n more rescore requests were done or folded into a queued one."""
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while True:
        done = (metric(server, "churn_rescores_total", result="done") +
                metric(server, "churn_rescores_total", result="coalesced"))
        if done - base >= n and metric(server, "churn_rescore_queue_depth") == 0:
            return
        assert time.monotonic() < deadline, f"{done - base} of {n} rescores settled"
        time.sleep(0.05)


def rescore_requests(server):
    return (metric(server, "churn_rescores_total", result="done") +
            metric(server, "churn_rescores_total", result="coalesced"))


def index_built(server):
    """Wait until the score index's first build is complete (every customer scored once)."""
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while metric(server, "churn_score_index_builds_total") < 1:
        assert time.monotonic() < deadline, "the score index was not built"
        time.sleep(0.05)
    return server


@pytest.fixture
def quiet(churnd_factory, demo_store):
    """churnd on the demo store with no sweep, its index built: from then on nothing scores
    but what a test causes."""
    return index_built(start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                                      args=["--sweep-interval-s", "0"]))


def turns(api, conv, n, text=CHURN_TEXT, customer=CUSTOMER):
    pb = api.chat_pb2
    return [pb.AnalyzeChatRequest(conversation_id=conv, turn_sequence=i + 1,
                                  role=pb.CHAT_ROLE_CUSTOMER, text=text, customer_id=customer)
            for i in range(n)]


def test_a_chat_turn_evaluates_the_model_once(api, quiet):
    ch = quiet.channel()
    scoring = api.scoring_grpc.ScoringServiceStub(ch)
    scoring.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=CUSTOMER), timeout=RPC_TIMEOUT_S)
    evals0, rescores0 = metric(quiet, "churn_model_evaluations_total"), rescore_requests(quiet)
    n = 6  # every turn says it is cancelling: each writes a chat signal, each is rescored
    chat = api.chat_grpc.ChatServiceStub(ch)
    pending = queue.Queue()
    stream = chat.AnalyzeChat(iter(pending.get, None), timeout=RPC_TIMEOUT_S)
    answers = []
    for i, t in enumerate(turns(api, "once", n)):
        pending.put(t)
        answers.append(next(stream))
        rescores_settled(quiet, rescores0, i + 1)  # its signal is committed and rescored
    pending.put(None)
    assert list(stream) == []
    assert answers[0].escalation.escalate
    assert all(a.WhichOneof("score_result") == "score" for a in answers)
    assert metric(quiet, "churn_model_evaluations_total") - evals0 == n
    # each answer's score is the one after the turn's own signal: the last is what GetScore
    # says now that every signal is committed
    now = scoring.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=CUSTOMER),
                           timeout=RPC_TIMEOUT_S).score
    assert answers[-1].score.probability == pytest.approx(now.probability, abs=1e-12)
    assert answers[-1].score.risk_tier == now.risk_tier


def test_the_answer_moves_with_its_own_turn(api, quiet):
    """The first churn-intent turn's answer already carries the intent in its score (the
    score taken before the turn would not)."""
    ch = quiet.channel()
    scoring = api.scoring_grpc.ScoringServiceStub(ch)
    before = scoring.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=CUSTOMER),
                              timeout=RPC_TIMEOUT_S).score
    base = rescore_requests(quiet)
    chat = api.chat_grpc.ChatServiceStub(ch)
    (a,) = list(chat.AnalyzeChat(iter(turns(api, "moves", 1)), timeout=RPC_TIMEOUT_S))
    assert a.escalation.escalate
    assert a.score.probability != before.probability
    rescores_settled(quiet, base, 1)
    after = scoring.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=CUSTOMER),
                             timeout=RPC_TIMEOUT_S).score
    assert a.score.probability == pytest.approx(after.probability, abs=1e-12)


COUPON_PLAYBOOKS = """\
[playbook intent-coupon]
match = cause:churn_intent
action = coupon
coupon_value = 20
detail = Offer 20% off the next three months
owner = retention-desk
priority = 10
"""


def test_the_escalation_action_is_the_playbooks(api, churnd_factory, demo_store, tmp_path):
    book = tmp_path / "coupon.playbooks"
    book.write_text(COUPON_PLAYBOOKS)
    server = index_built(start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                                        args=["--sweep-interval-s", "0", "--playbooks",
                                              str(book)]))
    chat = api.chat_grpc.ChatServiceStub(server.channel())
    (a,) = list(chat.AnalyzeChat(iter(turns(api, "coupon", 1)), timeout=RPC_TIMEOUT_S))
    assert a.escalation.escalate
    act = a.suggested_action
    assert act.kind == api.common_pb2.ACTION_KIND_COUPON
    assert act.coupon_value == 20 and act.playbook_id == "intent-coupon"
    assert act.detail == "Offer 20% off the next three months"
    # the alert it raised suggests the same (the answer follows the alert's commit)
    pb = importlib.import_module("churn.v1.alert_pb2")
    grpc_mod = importlib.import_module("churn.v1.alert_pb2_grpc")
    stub = grpc_mod.AlertServiceStub(server.channel())
    listed = stub.ListAlerts(pb.ListAlertsRequest(), timeout=RPC_TIMEOUT_S).alerts
    assert [x.suggested_action.kind for x in listed] == [act.kind]
    assert listed[0].playbook_id == "intent-coupon"
    assert listed[0].suggested_action.coupon_value == act.coupon_value


# -- ListAtRiskCustomers from the index ---------------------------------------------------------

def at_risk(api, server, **req):
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    return stub.ListAtRiskCustomers(api.scoring_pb2.ListAtRiskCustomersRequest(**req),
                                    timeout=RPC_TIMEOUT_S)


def test_index_pages_are_stable_and_tokens_checked(api, quiet):
    import grpc
    from conftest import rpc_error
    every = api.scoring_pb2.AtRiskFilter(risk_tiers=[1, 2, 3])
    seen, token = [], ""
    while True:
        p = at_risk(api, quiet, page_size=97, page_token=token, filter=every, max_reasons=1)
        seen += [s.customer_id for s in p.scores]
        token = p.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == p.total_size
    # an altered token is refused by name, as is one from an earlier start
    p1 = at_risk(api, quiet, page_size=5, filter=every)
    t = p1.next_page_token
    altered = t[:-1] + ("0" if t[-1] != "0" else "1")
    stub = api.scoring_grpc.ScoringServiceStub(quiet.channel())
    for bad in (altered, "i1.1.1.0.0.00." + "0" * 16, "12"):
        err = rpc_error(stub.ListAtRiskCustomers, api.scoring_pb2.ListAtRiskCustomersRequest(
            page_size=5, page_token=bad, filter=every), timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.details()
    # a token from before a restart (the index was rebuilt) is refused too
    quiet.close_channels()
    assert quiet.stop() == 0
    quiet.returncode = None
    quiet.start()
    index_built(quiet)
    stub = api.scoring_grpc.ScoringServiceStub(quiet.channel())
    err = rpc_error(stub.ListAtRiskCustomers, api.scoring_pb2.ListAtRiskCustomersRequest(
        page_size=5, page_token=t, filter=every), timeout=RPC_TIMEOUT_S)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.details()


def test_an_erased_customer_leaves_every_listing_at_once(api, quiet):
    every = api.scoring_pb2.AtRiskFilter(risk_tiers=[1, 2, 3])
    p = at_risk(api, quiet, page_size=3, filter=every)
    top = p.scores[0].customer_id
    ing = api.ingest_grpc.IngestServiceStub(quiet.channel())
    ing.DeleteCustomer(api.ingest_pb2.DeleteCustomerRequest(customer_id=top),
                       timeout=RPC_TIMEOUT_S)
    q = at_risk(api, quiet, page_size=3, filter=every)
    assert top not in [s.customer_id for s in q.scores]
    assert q.total_size == p.total_size - 1
    # and a page token taken before the erase goes on without it
    r = at_risk(api, quiet, page_size=3, page_token=p.next_page_token, filter=every)
    assert top not in [s.customer_id for s in r.scores]
