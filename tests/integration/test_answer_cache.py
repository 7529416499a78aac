"""GetScore's answers kept encoded (issue 12), over the wire. An answer built from a stored
score is kept and sent again, byte for byte, while that stored score is still the one served
(counted by churn_answer_cache_lookups_total{result="hit"}, never by time); it is never sent
once what it describes changed: a new event of the customer, a model promotion, new tier
cut-offs, the customer's erasure (and an id reused after it gets its own answer), and it never goes to
another customer or to a request with another max_reasons. --answer-cache-mb=0 keeps
nothing and answers the same."""

import json
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_admin import admin_port, http_request
from fixtures_data import api, demo_store, ingest_stub, login, model_version, now_ms  # noqa: F401
from fixtures_data import start_on_store
from test_engine_scores import metric

QUIET = ["--sweep-interval-s", "0"]  # nothing scores but what a test causes
BUILT = r"score_index_built.*result=complete"
X, Y = "cust-0000042", "cust-0000777"


def lookups(server, result):
    return metric(server, "churn_answer_cache_lookups_total", result=result)


def get(api, server, cid, k=0):
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    return stub.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=cid, max_reasons=k),
                         timeout=RPC_TIMEOUT_S)


def kept_answer(api, server, cid, k=0):
    """GetScore of cid until an answer comes from the cache (a stored score with reasons is
    written by the keeper in the background, so the first calls build their answers):
    (the answer of the call before, the answer sent from the cache)."""
    deadline = time.monotonic() + RPC_TIMEOUT_S
    last = None
    while True:
        hits = lookups(server, "hit")
        resp = get(api, server, cid, k)
        if lookups(server, "hit") > hits and last is not None:
            return last, resp
        assert time.monotonic() < deadline, "no answer was ever sent from the cache"
        last = resp
        time.sleep(0.05)


def started(churnd_factory, demo_store, model=None, args=()):
    s = start_on_store(churnd_factory, demo_store.store, model or demo_store.logreg,
                       args=QUIET + list(args))
    s.wait_log(BUILT)
    return s


def test_a_kept_answer_is_the_same_bytes_while_its_stored_score_is_current(api, churnd_factory,
                                                                            demo_store):
    s = started(churnd_factory, demo_store)
    kept, sent = kept_answer(api, s, X)
    assert sent.SerializeToString() == kept.SerializeToString()
    assert sent.score.customer_id == X and len(sent.score.reasons) == 5
    assert all(r.explanation for r in sent.score.reasons), "the sentences are kept too"
    # another customer's GetScore never gets X's answer, kept or not
    for _ in range(3):
        assert get(api, s, Y).score.customer_id == Y
    _, y_sent = kept_answer(api, s, Y)
    assert y_sent.score.customer_id == Y
    assert get(api, s, X).SerializeToString() == kept.SerializeToString()
    assert metric(s, "churn_answer_cache_entries") >= 2
    assert metric(s, "churn_answer_cache_bytes") > len(kept.SerializeToString())
    # what a server without the cache answers, but for when it was computed
    ref = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                         args=QUIET + ["--answer-cache-mb", "0"])
    ref.wait_log(BUILT)
    for _ in range(5):
        fresh = get(api, ref, X)
    assert lookups(ref, "hit") == lookups(ref, "miss") == 0
    assert metric(ref, "churn_answer_cache_entries") == 0
    fresh.score.scored_at_ms = sent.score.scored_at_ms
    assert fresh.SerializeToString() == sent.SerializeToString()


def test_max_reasons_is_part_of_what_is_kept(api, churnd_factory, demo_store):
    s = started(churnd_factory, demo_store)
    _, five = kept_answer(api, s, X, 5)
    two = get(api, s, X, 2)
    assert len(two.score.reasons) == 2
    assert [r.feature for r in two.score.reasons] == [r.feature for r in five.score.reasons[:2]]
    _, two_sent = kept_answer(api, s, X, 2)
    assert len(two_sent.score.reasons) == 2
    # 0 asks for the default (5): the same answer as 5
    hits = lookups(s, "hit")
    assert get(api, s, X, 0).SerializeToString() == five.SerializeToString()
    assert lookups(s, "hit") == hits + 1
    assert len(get(api, s, X, 5).score.reasons) == 5
    for bad in (-1, 21):
        with pytest.raises(grpc.RpcError) as e:
            get(api, s, X, bad)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "max_reasons" in e.value.details()


def test_a_new_event_of_the_customer_makes_the_kept_answer_stale(api, churnd_factory,
                                                                 demo_store):
    s = started(churnd_factory, demo_store)
    kept, _ = kept_answer(api, s, X)
    at = now_ms() - 1000
    assert kept.score.freshness.last_event_at_ms < at
    ingest_stub(api, s.channel()).RecordEvents(iter([login(api, "ac-new-1", X, at)]),
                                               timeout=RPC_TIMEOUT_S)
    hits = lookups(s, "hit")
    after = get(api, s, X)
    assert lookups(s, "hit") == hits, "the answer of the record before the event was sent"
    assert after.score.freshness.last_event_at_ms == at
    assert after.score.scored_at_ms > kept.score.scored_at_ms
    # ... and the answer of the new record is kept in turn
    kept2, sent2 = kept_answer(api, s, X)
    assert sent2.score.freshness.last_event_at_ms == at
    assert sent2.SerializeToString() == kept2.SerializeToString()


def test_a_model_promotion_makes_every_kept_answer_stale(api, churnd_factory, demo_store):
    s = started(churnd_factory, demo_store)
    kept, _ = kept_answer(api, s, X)
    stale = lookups(s, "stale")
    models = api.model_grpc.ModelServiceStub(s.channel())
    models.ReloadModel(api.model_pb2.ReloadModelRequest(path=demo_store.gbdt),
                       timeout=RPC_TIMEOUT_S)
    gbdt = model_version(demo_store.gbdt)
    assert kept.score.model_version != gbdt
    after = get(api, s, X)
    assert after.score.model_version == gbdt
    assert lookups(s, "stale") == stale + 1
    # reloading the very same file is a new load: still nothing of the one before is sent
    _, sent = kept_answer(api, s, X)
    assert sent.score.model_version == gbdt
    models.ReloadModel(api.model_pb2.ReloadModelRequest(path=demo_store.gbdt),
                       timeout=RPC_TIMEOUT_S)
    hits = lookups(s, "hit")
    assert get(api, s, X).score.model_version == gbdt
    assert lookups(s, "hit") == hits


def test_new_tier_cuts_make_every_kept_answer_stale(api, churnd_factory, demo_store):
    # share-based value tiers (the default) get new cut-offs at the end of every sweep
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                       args=["--sweep-interval-s", "2", "--sweep-delay-s", "0"])
    s.wait_log(BUILT)
    s.wait_log("segments_updated")
    kept_answer(api, s, X)
    n = len(s.wait_log("segments_updated"))
    s.wait_log("segments_updated", count=n + 1)
    hits = lookups(s, "hit")
    get(api, s, X)
    assert lookups(s, "hit") == hits, "an answer kept under the cuts before was sent"


def test_an_erased_customer_gets_no_kept_answer_and_a_reused_id_its_own(api, churnd_factory,
                                                                         demo_store):
    s = started(churnd_factory, demo_store)
    kept, _ = kept_answer(api, s, X)
    kept_k2, _ = kept_answer(api, s, X, 2)
    entries = metric(s, "churn_answer_cache_entries")
    ing = ingest_stub(api, s.channel())
    ing.DeleteCustomer(api.ingest_pb2.DeleteCustomerRequest(customer_id=X),
                       timeout=RPC_TIMEOUT_S)
    # the erasure drops every kept answer of the customer at once
    assert metric(s, "churn_answer_cache_entries") == entries - 2
    for k in (0, 2):
        with pytest.raises(grpc.RpcError) as e:
            get(api, s, X, k)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # the id comes back as a new customer: its own answer, never the erased one's
    at = now_ms() - 2000
    ing.RecordEvents(iter([login(api, "ac-reborn-1", X, at)]), timeout=RPC_TIMEOUT_S)
    reborn = get(api, s, X)
    assert reborn.score.freshness.last_event_at_ms == at
    assert reborn.SerializeToString() != kept.SerializeToString()
    kept3, sent3 = kept_answer(api, s, X)
    assert sent3.score.freshness.last_event_at_ms == at
    assert sent3.SerializeToString() == kept3.SerializeToString() != kept.SerializeToString()
    assert get(api, s, X, 2).SerializeToString() != kept_k2.SerializeToString()


def test_an_unknown_or_near_miss_id_is_never_answered_from_the_cache(api, churnd_factory,
                                                                      demo_store):
    s = started(churnd_factory, demo_store)
    kept_answer(api, s, X)
    hits = lookups(s, "hit")
    for cid in (X[:-1], X + "0", X.upper(), X + " ", "cust-9999999"):
        with pytest.raises(grpc.RpcError) as e:
            get(api, s, cid)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, cid
        assert cid in e.value.details()
    assert lookups(s, "hit") == hits


def test_the_dashboard_shows_the_kept_answer_as_grpc_sends_it(api, churnd_factory, demo_store):
    # the dashboard runs GetScore in-process (max_reasons 8): a kept answer's bytes are decoded
    s = started(churnd_factory, demo_store)
    _, sent = kept_answer(api, s, X, 8)
    hits = lookups(s, "hit")
    status, _, body = http_request(admin_port(s), f"/api/customer?id={X}")
    assert status == 200, body
    assert lookups(s, "hit") == hits + 1, "the dashboard's GetScore did not take the kept bytes"
    shown = json.loads(body)["score"]
    assert shown["customer_id"] == X
    assert shown["probability"] == sent.score.probability
    assert [r["feature"] for r in shown["reasons"]] == [r.feature for r in sent.score.reasons]
    assert [r["explanation"] for r in shown["reasons"]] == \
        [r.explanation for r in sent.score.reasons]
