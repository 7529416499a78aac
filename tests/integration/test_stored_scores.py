"""Scores stored in LMDB beside the record (issue 12 item 4), over the wire. A restart with
current stored scores builds the index without evaluating the model (counted by
churn_model_evaluations_total and the build's log line, never by time) and answers GetScore
with the stored score, equal to one computed afresh and saying when it was computed; a stored
score of an older model or older tier cut-offs is never served as current; a record changed
after its score was stored is caught by the digest; an erased customer's score is gone from
every listing and from the store at once; a SIGKILL during the rebuild after a model change
leaves a store whose restart serves the same scores as a server that never stored any."""

import re
import shutil
import signal
import subprocess
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_data import api, demo_store  # noqa: F401 (fixtures)
from fixtures_data import mdb_dump, model_version, now_ms, start_on_store
from test_engine_scores import metric

KNOWN = ["cust-0000001", "cust-0000042", "cust-0000777", "cust-0001999"]
ALL = [f"cust-{i:07d}" for i in range(2001)]  # the demo store's ids, and one unknown
QUIET = ["--sweep-interval-s", "0"]  # nothing scores but what a test causes
BUILT = r"score_index_built.*result=complete"


def build_counts(server, count):
    """(customers, from_store, rescored) of the server's count-th complete index build."""
    line = server.wait_log(BUILT, count=count)[count - 1]
    m = re.search(r"customers=(\d+).*from_store=(\d+).*rescored=(\d+)", line)
    assert m, line
    return tuple(int(g) for g in m.groups())


def wait_stored(server, customers):
    """Until the keeper has stored the build's scores of all @customers (none dropped)."""
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while metric(server, "churn_scores_stored_total", result="written") < customers:
        assert time.monotonic() < deadline, "the build's scores were not all stored"
        time.sleep(0.05)
    assert metric(server, "churn_scores_stored_total", result="dropped") == 0, "the build waits"


def set_arg(server, flag, value):
    """Give `flag` the value `value` on the server's next start (a later flag wins)."""
    server.args += [flag, value]


def restart(server):
    assert server.stop() == 0, server.stderr()
    server.close_channels()
    started = now_ms()
    server.start()
    return started


def scoring(api, server):
    return api.scoring_grpc.ScoringServiceStub(server.channel())


def scores(api, server, ids):
    """{id: Score or the error code}, through BatchGetScores in chunks."""
    out = {}
    for i in range(0, len(ids), 200):
        resp = scoring(api, server).BatchGetScores(
            api.scoring_pb2.BatchGetScoresRequest(customer_ids=ids[i:i + 200]),
            timeout=RPC_TIMEOUT_S)
        for r in resp.results:
            out[r.customer_id] = r.score if r.HasField("score") else r.error.code
    return out


def same_score(a, b):
    """What a user reads of a score is the same (not when it was computed)."""
    assert a.probability == b.probability, (a, b)
    assert (a.risk_tier, a.value_tier, a.model_version) == \
        (b.risk_tier, b.value_tier, b.model_version), (a, b)
    assert a.priority == b.priority and a.customer_value == b.customer_value, (a, b)
    assert [(r.feature, r.contribution, r.explanation) for r in a.reasons] == \
        [(r.feature, r.contribution, r.explanation) for r in b.reasons], (a, b)


def reference(churnd_factory, store, model, args=()):
    """Scores of `store` from a churnd that neither reads nor writes stored scores."""
    ref = start_on_store(churnd_factory, store, model,
                         args=QUIET + ["--stored-scores=false"] + list(args))
    return ref


def test_a_restart_with_current_stored_scores_evaluates_nothing(api, churnd_factory,
                                                                 demo_store):
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg, args=QUIET)
    customers, from_store, rescored = build_counts(s, 1)
    assert customers >= 2000 and from_store == 0 and rescored == customers
    wait_stored(s, customers)
    before = scores(api, s, KNOWN)
    started = restart(s)
    assert build_counts(s, 2) == (customers, customers, 0)
    assert metric(s, "churn_model_evaluations_total") == 0, "the index came from the store"
    after = scores(api, s, KNOWN)
    assert metric(s, "churn_model_evaluations_total") == 0, "GetScore served stored scores"
    for cid in KNOWN:
        same_score(after[cid], before[cid])
        # the answer says when it was computed: before this start
        assert after[cid].scored_at_ms == before[cid].scored_at_ms < started
    one = scoring(api, s).GetScore(api.scoring_pb2.GetScoreRequest(customer_id=KNOWN[1]),
                                   timeout=RPC_TIMEOUT_S).score
    same_score(one, before[KNOWN[1]])
    # the stored score, reasons and all, is what a server that stores nothing computes
    ref = reference(churnd_factory, demo_store.store, demo_store.logreg)
    fresh = scores(api, ref, KNOWN)
    for cid in KNOWN:
        same_score(after[cid], fresh[cid])
        assert fresh[cid].scored_at_ms >= started


def stale_rebuilt(server, count, customers):
    """The count-th build took no score stored before the restart: every customer was
    evaluated by the build, or by a GetScore of KNOWN that came first and stored its score."""
    c, from_store, rescored = build_counts(server, count)
    assert c == customers and from_store + rescored == customers
    assert from_store <= len(KNOWN), "stored scores of the older model or cuts were loaded"


def test_an_older_model_or_older_cuts_is_never_served_as_current(api, churnd_factory,
                                                                 demo_store):
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                       args=QUIET + ["--risk-tiers", "threshold:0.5,0.2"])
    customers = build_counts(s, 1)[0]
    old = scores(api, s, KNOWN)
    set_arg(s, "--model", demo_store.gbdt)
    started = restart(s)
    gbdt = model_version(demo_store.gbdt)
    # served at once, while the index is rebuilt: never the older model's stored score
    during = scores(api, s, KNOWN)
    for cid in KNOWN:
        assert during[cid].model_version == gbdt != old[cid].model_version
        assert during[cid].scored_at_ms >= started
    stale_rebuilt(s, 2, customers)

    set_arg(s, "--risk-tiers", "threshold:0.02,0.01")
    started = restart(s)
    for cid, sc in scores(api, s, KNOWN).items():
        assert sc.scored_at_ms >= started, "a score under the older cuts was served"
        c = api.common_pb2
        want = (c.RISK_TIER_HIGH if sc.probability >= 0.02 else
                c.RISK_TIER_MEDIUM if sc.probability >= 0.01 else c.RISK_TIER_LOW)
        assert sc.risk_tier == want, sc
    stale_rebuilt(s, 3, customers)


def test_a_record_changed_after_its_score_was_stored_is_caught(api, churnd_factory, demo_store,
                                                              churnctl_bin, tmp_path):
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg, args=QUIET)
    customers = build_counts(s, 1)[0]
    before = scores(api, s, KNOWN)
    assert s.stop() == 0
    # the record changes behind churnd's back: its stored score's digest no longer matches
    events = tmp_path / "late.csv"
    events.write_text("event_id,customer_id,occurred_at_ms,type\n"
                      f"late-1,{KNOWN[2]},{now_ms() - 60000},login\n")
    r = subprocess.run([churnctl_bin, "import", "--events", str(events), "--store", s.data],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    s.close_channels()
    started = now_ms()
    s.start()
    assert build_counts(s, 2) == (customers, customers - 1, 1)
    after = scores(api, s, KNOWN)
    assert after[KNOWN[2]].scored_at_ms >= started, "the stale stored score was served"
    for cid in (KNOWN[0], KNOWN[1], KNOWN[3]):
        assert after[cid].scored_at_ms == before[cid].scored_at_ms


def listed(api, server):
    """Every customer id of every page of ListAtRiskCustomers, all tiers."""
    pb, c = api.scoring_pb2, api.common_pb2
    every = pb.AtRiskFilter(risk_tiers=[c.RISK_TIER_LOW, c.RISK_TIER_MEDIUM, c.RISK_TIER_HIGH])
    ids, token = [], ""
    while True:
        page = scoring(api, server).ListAtRiskCustomers(
            pb.ListAtRiskCustomersRequest(page_size=500, page_token=token, filter=every),
            timeout=RPC_TIMEOUT_S)
        ids += [x.customer_id for x in page.scores]
        token = page.next_page_token
        if not token:
            return ids


def test_an_erased_customer_is_gone_from_listings_and_the_store_at_once(api, churnd_factory,
                                                                        demo_store):
    s = start_on_store(churnd_factory, demo_store.store, demo_store.logreg, args=QUIET)
    customers = build_counts(s, 1)[0]
    victim = KNOWN[1]
    assert victim in listed(api, s)
    assert scores(api, s, [victim])[victim].probability > 0
    ing = api.ingest_grpc.IngestServiceStub(s.channel())
    ing.DeleteCustomer(api.ingest_pb2.DeleteCustomerRequest(customer_id=victim),
                       timeout=RPC_TIMEOUT_S)
    assert victim not in listed(api, s)
    assert scores(api, s, [victim])[victim] == grpc.StatusCode.NOT_FOUND.value[0]
    assert s.stop() == 0
    assert victim.encode() not in mdb_dump(s.data), "a trace of the erased customer is stored"
    s.close_channels()
    s.start()
    assert build_counts(s, 2) == (customers - 1, customers - 1, 0)
    assert victim not in listed(api, s)
    assert scores(api, s, [victim])[victim] == grpc.StatusCode.NOT_FOUND.value[0]


def test_a_sigkill_during_the_rebuild_then_a_restart_serve_correct_scores(api, churnd_factory,
                                                                          demo_store, tmp_path):
    """A promotion's rebuild, paced (--score-rebuild-rate) so that the SIGKILL lands inside it
    on any machine: some stored scores are the new model's, the rest the old one's. The
    restart serves exactly the scores of a fresh server on the same records with the new
    model. (It used to restart with another --model and race a kill against an unpaced
    rebuild of 40-240 ms, which a loaded machine could finish first every time.)"""
    models = {}
    for name, src in (("logreg", demo_store.logreg), ("gbdt", demo_store.gbdt)):
        models[name] = str(tmp_path / f"{name}.json")
        shutil.copy(src, models[name])
    s = start_on_store(churnd_factory, demo_store.store, models["logreg"],
                       args=QUIET + ["--score-rebuild-rate", str(REBUILD_RATE)])
    customers = build_counts(s, 1)[0]  # the first build is never paced
    assert s.stop() == 0
    before_kill = str(tmp_path / "before-kill")
    shutil.copytree(s.data, before_kill)  # the same records, for the reference
    s.close_channels()
    s.start()
    build_counts(s, 2)
    api.model_grpc.ModelServiceStub(s.channel()).ReloadModel(
        api.model_pb2.ReloadModelRequest(path=models["gbdt"]), timeout=RPC_TIMEOUT_S)
    deadline = time.monotonic() + 4 * RPC_TIMEOUT_S
    while metric(s, "churn_model_evaluations_total") < REBUILD_RATE // 2:
        assert time.monotonic() < deadline, "the rebuild did not start:\n" + s.stderr()[-3000:]
        time.sleep(0.05)
    s.signal(signal.SIGKILL)
    s.wait()
    # paced at REBUILD_RATE a second, the rebuild of the demo's 2,000 customers was under way
    assert len(re.findall(BUILT, s.stderr())) == 2, "premise: the kill came after the rebuild"
    s.close_channels()
    s.start()
    c, from_store, rescored = build_counts(s, 3)
    assert c == customers and from_store + rescored == customers
    assert rescored > 0, (from_store, rescored)  # the old model's scores were not current
    got = scores(api, s, ALL)
    ref = reference(churnd_factory, before_kill, models["gbdt"])
    want = scores(api, ref, ALL)
    assert got.keys() == want.keys()
    for cid in ALL:
        if isinstance(want[cid], int):
            assert got[cid] == want[cid], cid
        else:
            same_score(got[cid], want[cid])


def every_listed(api, server):
    """Every Score of every page of ListAtRiskCustomers, all tiers, by customer id."""
    pb, c = api.scoring_pb2, api.common_pb2
    every = pb.AtRiskFilter(risk_tiers=[c.RISK_TIER_LOW, c.RISK_TIER_MEDIUM, c.RISK_TIER_HIGH])
    out, token = {}, ""
    while True:
        page = scoring(api, server).ListAtRiskCustomers(
            pb.ListAtRiskCustomersRequest(page_size=1000, page_token=token, filter=every),
            timeout=RPC_TIMEOUT_S)
        for x in page.scores:
            assert x.customer_id not in out, "listed twice: " + x.customer_id
            out[x.customer_id] = x
        token = page.next_page_token
        if not token:
            return out


REBUILD_RATE = 100  # customers a second: the demo's 2,000 take 20 s to rebuild


def test_a_listing_during_a_rebuild_marks_the_previous_models_scores(api, churnd_factory,
                                                                     demo_store, churnctl_bin,
                                                                     tmp_path):
    models = {}
    for name, src in (("logreg", demo_store.logreg), ("gbdt", demo_store.gbdt)):
        models[name] = str(tmp_path / f"{name}.json")
        shutil.copy(src, models[name])
    old_v, new_v = model_version(models["logreg"]), model_version(models["gbdt"])
    s = start_on_store(churnd_factory, demo_store.store, models["logreg"],
                       args=QUIET + ["--score-rebuild-rate", str(REBUILD_RATE)])
    customers = build_counts(s, 1)[0]  # the first build is never paced
    # the listing below reads the stored scores; one still queued to the keeper would be
    # computed afresh for the listing (a later scored_at) while the store keeps the build's
    wait_stored(s, customers)
    before = every_listed(api, s)
    assert before and not any(x.previous_model for x in before.values())
    assert {x.model_version for x in before.values()} == {old_v}

    api.model_grpc.ModelServiceStub(s.channel()).ReloadModel(
        api.model_pb2.ReloadModelRequest(path=models["gbdt"]), timeout=RPC_TIMEOUT_S)
    during = every_listed(api, s)
    marked = [x for x in during.values() if x.previous_model]
    # the rebuild refreshes REBUILD_RATE customers a second: most are not reached yet
    assert len(marked) > len(during) // 2, (len(marked), len(during))
    for x in during.values():
        if x.previous_model:
            # the old model's own score, the one the customer is listed by: no reasons
            # (that model is gone), said to be the previous model's
            b = before[x.customer_id]
            assert x.model_version == old_v and not x.reasons
            assert (x.probability, x.priority, x.risk_tier, x.scored_at_ms) == \
                (b.probability, b.priority, b.risk_tier, b.scored_at_ms)
        else:
            assert x.model_version == new_v and x.reasons, x
    # GetScore answers with the serving model, never marked; that customer is then rescored
    cid = marked[0].customer_id
    one = scoring(api, s).GetScore(api.scoring_pb2.GetScoreRequest(customer_id=cid),
                                   timeout=RPC_TIMEOUT_S).score
    assert one.model_version == new_v and not one.previous_model and one.reasons
    again = every_listed(api, s)
    assert cid not in again or not again[cid].previous_model
    # churnctl says which rows are the previous model's
    r = subprocess.run([churnctl_bin, "--server", s.address, "at-risk", "--limit", "1000",
                        "--min-tier", "low"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"(previous model {old_v}, until the rebuild rescores it)" in r.stdout
    assert re.search(r"-- \d+ listed by the previous model's score", r.stdout), r.stdout[-500:]

    # the rebuild completes (paced: customers / REBUILD_RATE seconds at the least)
    s.wait_log(BUILT, timeout=customers / REBUILD_RATE + 4 * RPC_TIMEOUT_S, count=2)
    c, from_store, rescored = build_counts(s, 2)
    assert c == customers and from_store + rescored == customers
    after = every_listed(api, s)
    assert after and not any(x.previous_model for x in after.values())
    assert {x.model_version for x in after.values()} == {new_v}
    r = subprocess.run([churnctl_bin, "--server", s.address, "at-risk", "--limit", "1000",
                        "--min-tier", "low"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "previous model" not in r.stdout, r.stdout[-500:]


@pytest.mark.parametrize("value,why", [("-1", "-1 is out of range [0, 100000000]"),
                                       ("100000001", "out of range"),
                                       ("abc", "'abc' is not an integer"), ("", "")])
def test_a_bad_rebuild_rate_is_refused_by_name(churnd_bin, tmp_path, value, why):
    r = subprocess.run([churnd_bin, "--data", str(tmp_path / "d"), "--listen", "127.0.0.1:0",
                        "--score-rebuild-rate", value], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert "--score-rebuild-rate" in r.stderr and why in r.stderr, r.stderr
