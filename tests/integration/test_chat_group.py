"""The chat turns' group commit over the wire (issue 13): the answer of a turn follows ONE
commit that carries its conversation state, its chat signal and the score it answers with
(computed once, after applying the signal). So, once turns of several customers on several
streams are answered, each customer's GetScore is that turn's score, served from the store
without evaluating the model again, and it still is after a restart: what was answered was
durable. Model evaluations are counted by churn_model_evaluations_total, never timed. And a
group whose commit fails (the store's map full at its cap) fails its answers: the stream ends
UNAVAILABLE naming the turn to resend from, the server goes on serving, every answered turn
is still a replay after a restart with room, and the named turn never was processed. An
escalating turn's alert, conversation state, chat signal and score are ONE commit (the alert
engine's commit rides the chat saver's; counted by churn_store_commit_seconds, never timed),
and a SIGKILL right after its answer loses none of them."""

import re
import signal
import threading

import grpc
import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_data import api, demo_store, login  # noqa: F401
from test_alerts import alert_api, list_all  # noqa: F401
from test_hardening_engine import log_head
from test_engine_scores import (CHURN_TEXT, index_built, metric, quiet,  # noqa: F401
                                rescore_requests, rescores_settled)

CUSTOMERS = ["cust-0000011", "cust-0000012", "cust-0000013", "cust-0000014"]
TEXT = "Hi, my invoice is wrong again and nobody answers my emails"


def first_turn(api, customer):
    pb = api.chat_pb2
    return pb.AnalyzeChatRequest(conversation_id="group-" + customer, turn_sequence=1,
                                 role=pb.CHAT_ROLE_CUSTOMER, text=TEXT, customer_id=customer)


def get_scores(api, server):
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    return {c: stub.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=c),
                             timeout=RPC_TIMEOUT_S).score for c in CUSTOMERS}


def test_turns_of_several_customers_answer_with_the_score_they_store(api, quiet):
    chat = api.chat_grpc.ChatServiceStub(quiet.channel())
    evals0 = metric(quiet, "churn_model_evaluations_total")
    answers, errors = {}, []

    def talk(customer):  # one stream per customer, all at once
        try:
            (answers[customer],) = list(chat.AnalyzeChat(iter([first_turn(api, customer)]),
                                                         timeout=RPC_TIMEOUT_S))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=talk, args=(c,)) for c in CUSTOMERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(a.WhichOneof("score_result") == "score" for a in answers.values())
    assert not any(a.escalation.escalate for a in answers.values()), "no alert in this test"
    assert metric(quiet, "churn_model_evaluations_total") - evals0 == len(CUSTOMERS)

    # answered after the commit of the signal and the score: GetScore serves that score
    scores = get_scores(api, quiet)
    assert metric(quiet, "churn_model_evaluations_total") - evals0 == len(CUSTOMERS), \
        "GetScore evaluated the model: the turn's score was not stored with its signal"
    for c in CUSTOMERS:
        assert scores[c].probability == pytest.approx(answers[c].score.probability, abs=1e-12)
        assert scores[c].risk_tier == answers[c].score.risk_tier

    # durable: after a restart the same scores are served, still without an evaluation
    quiet.close_channels()
    assert quiet.stop() == 0
    quiet.returncode = None
    quiet.start()
    index_built(quiet)
    evals1 = metric(quiet, "churn_model_evaluations_total")
    again = get_scores(api, quiet)
    assert metric(quiet, "churn_model_evaluations_total") == evals1
    for c in CUSTOMERS:
        assert again[c].probability == pytest.approx(answers[c].score.probability, abs=1e-12)
    # and the turns are replays now: nothing counted or scored twice
    chat = api.chat_grpc.ChatServiceStub(quiet.channel())
    for c in CUSTOMERS:
        (r,) = list(chat.AnalyzeChat(iter([first_turn(api, c)]), timeout=RPC_TIMEOUT_S))
        assert r.replayed
    assert metric(quiet, "churn_model_evaluations_total") == evals1


def fill_until_refused(api, server):
    """Ingest new customers (long ids: the map fills sooner) until a batch is refused."""
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    pad = "x" * 100
    for batch in range(200):
        reqs = [login(api, f"fill-{batch}-{i}-{pad}", f"c-{batch}-{i}-{pad}") for i in range(500)]
        try:
            stub.RecordEvents(iter(reqs), timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as e:
            return e
    pytest.fail("a 16 MiB map never filled")


def test_a_failed_group_commit_fails_its_answers_and_loses_nothing_answered(api, churnd_factory):
    s = churnd_factory(args=["--map-size-max-mb", "16"])
    s.allow_stderr = r"store_group_commit_failed|chat_turns_not_saved|chat_answer_not_durable"
    pb = api.chat_pb2
    early = [pb.AnalyzeChatRequest(conversation_id=f"early-{i}", turn_sequence=1,
                                   role=pb.CHAT_ROLE_CUSTOMER, text=TEXT,
                                   customer_id=f"early-{i}", ends_conversation=True)
             for i in range(50)]
    chat = api.chat_grpc.ChatServiceStub(s.channel())
    assert [a.replayed for a in chat.AnalyzeChat(iter(early), timeout=RPC_TIMEOUT_S)] == \
        [False] * len(early)
    refused = fill_until_refused(api, s)
    assert refused.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
    turns = [pb.AnalyzeChatRequest(conversation_id=f"full-{i}", turn_sequence=1,
                                   role=pb.CHAT_ROLE_CUSTOMER, text=TEXT,
                                   customer_id=f"chat-{i}-" + "y" * 100, ends_conversation=True)
             for i in range(3000)]
    chat = api.chat_grpc.ChatServiceStub(s.channel())
    answered = []
    with pytest.raises(grpc.RpcError) as failed:
        for a in chat.AnalyzeChat(iter(turns), timeout=RPC_TIMEOUT_S):
            answered.append(a.conversation_id)
    e = failed.value
    assert e.code() == grpc.StatusCode.UNAVAILABLE, e
    m = re.search(r"the turn \(its conversation state and chat signal\) could not be made "
                  r"durable .*resend from turn_sequence (\d+)", e.details())
    assert m, e.details()
    assert int(m.group(1)) == 1
    # the server goes on: a text is analyzed on a new stream of the same channel
    text = api.chat_grpc.ChatServiceStub(s.channel()).AnalyzeText(
        pb.AnalyzeTextRequest(text="thanks, all good"), timeout=RPC_TIMEOUT_S)
    assert text.sentiment.compound > 0

    # with room again: every answered turn is a replay (those before the full store too), the
    # first unanswered one is new
    s.close_channels()
    assert s.stop() == 0
    s.returncode = None
    idx = s.args.index("--map-size-max-mb")
    s.args[idx + 1] = "64"
    s.start()
    chat = api.chat_grpc.ChatServiceStub(s.channel())
    first_unanswered = turns[len(answered)]
    again = list(chat.AnalyzeChat(iter(early + turns[:len(answered)] + [first_unanswered]),
                                  timeout=RPC_TIMEOUT_S))
    assert [a.replayed for a in again] == [True] * (len(early) + len(answered)) + [False]
    assert not again[-1].HasField("error"), again[-1].error


def alerts_of(alert_api, server, customer):
    return [x for x in list_all(alert_api, server)[0] if x.customer_id == customer]


def commits(server):
    return metric(server, "churn_store_commit_seconds_count")


def test_an_escalating_turn_is_one_commit_and_survives_a_sigkill(api, alert_api, quiet):
    pb = api.chat_pb2
    customer = CUSTOMERS[0]
    turn = pb.AnalyzeChatRequest(conversation_id="one-commit", turn_sequence=1,
                                 role=pb.CHAT_ROLE_CUSTOMER, text=CHURN_TEXT,
                                 customer_id=customer)
    head0 = log_head(alert_api, quiet)
    c0, r0 = commits(quiet), rescore_requests(quiet)
    chat = api.chat_grpc.ChatServiceStub(quiet.channel())
    (a,) = list(chat.AnalyzeChat(iter([turn]), timeout=RPC_TIMEOUT_S))
    assert a.escalation.escalate and a.escalation.alert_sequence > 0, a
    # the turn's signal queues one rescore, which stores its snapshot in one commit and may
    # raise or update a score alert (one commit each); everything else is the turn's ONE commit
    rescores_settled(quiet, r0, 1)
    changes = log_head(alert_api, quiet) - head0  # the escalation's and the rescore's
    assert changes >= 1
    assert commits(quiet) - c0 == 1 + 1 + (changes - 1), \
        "the escalation's alert was not committed with its turn"

    # SIGKILL right after: the alert, the turn (a replay now) and the score it answered with
    quiet.signal(signal.SIGKILL)
    assert quiet.wait() == -signal.SIGKILL
    quiet.returncode = None
    quiet.close_channels()
    quiet.start()
    index_built(quiet)
    listed = alerts_of(alert_api, quiet, customer)
    assert a.escalation.alert_sequence in {x.sequence for x in listed}, \
        "the answered escalation's alert is lost"
    chat = api.chat_grpc.ChatServiceStub(quiet.channel())
    (again,) = list(chat.AnalyzeChat(iter([turn]), timeout=RPC_TIMEOUT_S))
    assert again.replayed, "the answered turn's state was lost"
    assert get_scores(api, quiet)[customer].probability == \
        pytest.approx(a.score.probability, abs=1e-12), "the answered turn's score was lost"
