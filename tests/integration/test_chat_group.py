"""The chat turns' group commit over the wire (issue 13): the answer of a turn follows ONE
commit that carries its conversation state, its chat signal and the score it answers with
(computed once, after applying the signal). So, once turns of several customers on several
streams are answered, each customer's GetScore is that turn's score, served from the store
without evaluating the model again, and it still is after a restart: what was answered was
durable. Model evaluations are counted by churn_model_evaluations_total, never timed."""

import threading

import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_data import api, demo_store  # noqa: F401
from test_engine_scores import index_built, metric, quiet  # noqa: F401

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
