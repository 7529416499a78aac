"""The model registry over the wire: the served model survives a restart (also one loaded with
ReloadModel), --model registers and promotes only a file the registry has not seen, ListModels /
PromoteModel / RollbackModel and their refusals (a missing id NOT_FOUND, nothing earlier or a
never-served id FAILED_PRECONDITION, each with the reason), an entry whose file is gone or
altered is refused at start (logged, remembered, the model served before it serves) and on
promotion (the serving model keeps serving), `churnctl models list / promote / rollback`, and a
promotion followed by a rescore of every customer raises no TIER_WORSENED / PROBABILITY_JUMP
storm."""

import json
import os
import shutil
import signal
import subprocess
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_data import api, demo_store, model_version, start_on_store  # noqa: F401
from test_alerts import _cancel, _lowest_risk, _record, alert_api, list_all  # noqa: F401


@pytest.fixture
def model_files(demo_store, tmp_path):
    """Private copies of the demo models (tests alter and remove them)."""
    out = {}
    for name, src in (("logreg", demo_store.logreg), ("gbdt", demo_store.gbdt)):
        dst = str(tmp_path / f"{name}.json")
        shutil.copy(src, dst)
        out[name] = dst
    return out


def stub(api, server):
    return api.model_grpc.ModelServiceStub(server.channel())


def info(api, server):
    return stub(api, server).GetModelInfo(api.model_pb2.GetModelInfoRequest(),
                                          timeout=RPC_TIMEOUT_S)


def listed(api, server):
    return stub(api, server).ListModels(api.model_pb2.ListModelsRequest(), timeout=RPC_TIMEOUT_S)


def restart(server, args=None):
    """Stop cleanly and start again on the same data directory, with `args` replacing the
    --model flag (None: keep the arguments)."""
    assert server.stop() == 0
    server.close_channels()
    if args is not None:
        base = []
        it = iter(server.args)
        for a in it:
            if a == "--model":
                next(it)
                continue
            base.append(a)
        server.args = base + list(args)
    return server.start()


def test_the_served_model_survives_a_restart(api, churnd_factory, demo_store, model_files):
    s = start_on_store(churnd_factory, demo_store.store, model_files["logreg"])
    r = listed(api, s)
    assert len(r.models) == 1 and r.models[0].serving
    first = r.models[0]
    assert first.origin == api.model_pb2.MODEL_ORIGIN_FLAG
    assert first.version == model_version(model_files["logreg"])
    assert first.file_hash.startswith("fnv1a64:") and first.checksum.startswith("fnv1a64:")
    assert first.size_bytes == os.path.getsize(model_files["logreg"])
    # a model loaded at run time was forgotten on restart before the registry
    stub(api, s).ReloadModel(api.model_pb2.ReloadModelRequest(path=model_files["gbdt"]),
                             timeout=RPC_TIMEOUT_S)
    restart(s, args=[])
    m = info(api, s)
    assert m.model.version == model_version(model_files["gbdt"])
    assert m.registry.serving and m.registry.id == 2
    assert m.registry.origin == api.model_pb2.MODEL_ORIGIN_RELOAD
    r = listed(api, s)
    assert [e.id for e in r.models] == [1, 2] and r.serving_id == 2
    # SIGHUP re-reads the file serving now, even without --model
    n = len([l for l in s.stderr().splitlines() if "model_loaded" in l])
    s.signal(signal.SIGHUP)
    assert model_files["gbdt"] in s.wait_log(r"model_loaded", count=n + 1)[-1]
    assert r.models[0].retired_at_ms >= r.models[0].promoted_at_ms > 0
    # --model naming the file the registry already has does not override its choice ...
    restart(s, args=["--model", model_files["logreg"]])
    assert info(api, s).model.version == model_version(model_files["gbdt"])
    # ... a file it has not seen (new bytes) does, and is registered and promoted
    doc = json.load(open(model_files["logreg"]))
    newer = model_files["logreg"].replace(".json", "-copy.json")
    with open(newer, "w") as f:
        json.dump(doc, f, indent=1)
    restart(s, args=["--model", newer])
    m = info(api, s)
    assert m.registry.id == 3 and m.registry.path == newer
    assert m.registry.origin == api.model_pb2.MODEL_ORIGIN_FLAG


def test_list_promote_and_rollback(stubs, api, churnd_factory, demo_store, model_files):
    s = start_on_store(churnd_factory, demo_store.store, model_files["logreg"])
    pb = api.model_pb2
    # a dry run does not register anything
    stub(api, s).ReloadModel(pb.ReloadModelRequest(path=model_files["gbdt"], dry_run=True),
                             timeout=RPC_TIMEOUT_S)
    assert len(listed(api, s).models) == 1
    stub(api, s).ReloadModel(pb.ReloadModelRequest(path=model_files["gbdt"]),
                             timeout=RPC_TIMEOUT_S)
    v_lr, v_gb = model_version(model_files["logreg"]), model_version(model_files["gbdt"])
    r = stub(api, s).PromoteModel(pb.PromoteModelRequest(version=v_lr), timeout=RPC_TIMEOUT_S)
    assert r.old_version == v_gb and r.model.id == 1 and r.model.serving
    assert info(api, s).model.version == v_lr
    r = stub(api, s).RollbackModel(pb.RollbackModelRequest(), timeout=RPC_TIMEOUT_S)
    assert r.old_version == v_lr and r.model.id == 2
    assert info(api, s).model.version == v_gb
    r = stub(api, s).RollbackModel(pb.RollbackModelRequest(id=1), timeout=RPC_TIMEOUT_S)
    assert r.model.id == 1 and info(api, s).model.version == v_lr
    # bad requests, each with its reason; the serving model keeps serving
    e = rpc_error(stub(api, s).RollbackModel, pb.RollbackModelRequest(id=99),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.NOT_FOUND and "no model with registry id 99" in e.details()
    e = rpc_error(stub(api, s).RollbackModel, pb.RollbackModelRequest(id=1),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "serving now" in e.details()
    e = rpc_error(stub(api, s).PromoteModel, pb.PromoteModelRequest(id=42),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = rpc_error(stub(api, s).PromoteModel, pb.PromoteModelRequest(version="no-such"),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.NOT_FOUND and "no-such" in e.details()
    e = rpc_error(stub(api, s).PromoteModel, pb.PromoteModelRequest(), timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info(api, s).model.version == v_lr
    assert_serving(stubs, s)


def test_rollback_with_nothing_earlier_is_refused(api, churnd_factory, demo_store, model_files):
    s = start_on_store(churnd_factory, demo_store.store, model_files["logreg"])
    e = rpc_error(stub(api, s).RollbackModel, api.model_pb2.RollbackModelRequest(),
                  timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no earlier model to roll back to" in e.details()


def test_an_altered_or_gone_file_is_refused(stubs, api, churnd_factory, demo_store, model_files):
    s = start_on_store(churnd_factory, demo_store.store, model_files["logreg"])
    pb = api.model_pb2
    stub(api, s).ReloadModel(pb.ReloadModelRequest(path=model_files["gbdt"]),
                             timeout=RPC_TIMEOUT_S)
    # the served file altered behind churnd's back: at the next start it is refused, logged
    # and remembered, and the model served before it serves
    with open(model_files["gbdt"], "a") as f:
        f.write(" ")
    restart(s, args=[])
    assert info(api, s).model.version == model_version(model_files["logreg"])
    line = s.wait_log(r"model_refused")[0]
    assert "altered" in line
    r = listed(api, s)
    assert r.serving_id == 1 and "altered" in r.models[1].refused_reason
    # promoting it is refused too, with the reason; the serving model keeps serving
    e = rpc_error(stub(api, s).PromoteModel, pb.PromoteModelRequest(id=2), timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "altered" in e.details()
    # the file gone: the same
    os.unlink(model_files["gbdt"])
    e = rpc_error(stub(api, s).PromoteModel, pb.PromoteModelRequest(id=2), timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "gone" in e.details()
    assert info(api, s).model.version == model_version(model_files["logreg"])
    assert_serving(stubs, s)
    # every registered file gone: no model, and the server still starts and says why
    os.unlink(model_files["logreg"])
    restart(s, args=[])
    e = rpc_error(stub(api, s).GetModelInfo, pb.GetModelInfoRequest(), timeout=RPC_TIMEOUT_S)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(s.wait_log(r"model_refused.*gone")) >= 1
    s.allow_stderr = r"model_refused"


def test_churnctl_models(api, churnd_factory, churnctl_bin, demo_store, model_files):
    s = start_on_store(churnd_factory, demo_store.store, model_files["logreg"])
    stub(api, s).ReloadModel(api.model_pb2.ReloadModelRequest(path=model_files["gbdt"]),
                             timeout=RPC_TIMEOUT_S)

    def ctl(*args):
        return subprocess.run([churnctl_bin, "--server", s.address, *args], capture_output=True,
                              text=True, timeout=60)

    r = ctl("models", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "VERSION", "KIND"]
    assert any(l.startswith("* 2") or l.split()[0] == "*2" for l in lines[1:]), r.stdout
    r = ctl("models", "list", "--json")
    doc = json.loads(r.stdout)
    assert doc["serving_id"] == 2 and len(doc["models"]) == 2
    r = ctl("models", "rollback")
    assert r.returncode == 0, r.stderr
    assert "serving model 1" in r.stdout
    r = ctl("models", "promote", "2")
    assert r.returncode == 0, r.stderr
    assert info(api, s).registry.id == 2
    r = ctl("models", "rollback", "99")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr and "99" in r.stderr
    r = ctl("models", "promote", "x1")  # a version nobody registered
    assert r.returncode == 1 and "no registered model 'x1'" in r.stderr
    r = ctl("models", "promote", "0")
    assert r.returncode == 2 and "'0' is not a registry id" in r.stderr
    r = ctl("models", "frobnicate")
    assert r.returncode == 2 and "frobnicate" in r.stderr


def _rescore_alerts(alert_api, server):
    alerts, _ = list_all(alert_api, server)
    pb = alert_api[0]
    return [a for a in alerts if a.cause in (pb.ALERT_CAUSE_TIER_WORSENED,
                                             pb.ALERT_CAUSE_PROBABILITY_JUMP)]


def test_a_promotion_raises_no_alert_storm(api, alert_api, churnd_factory, demo_store,
                                           model_files):
    """Every customer gets a baseline from a sweep under one model; after a promotion to a
    model whose probabilities differ a lot, the next sweep rescores everyone: a new baseline,
    not 2,000 jumps. Counted over the wire."""
    s = start_on_store(churnd_factory, demo_store.store, model_files["gbdt"],
                       args=["--sweep-interval-s", "3", "--sweep-delay-s", "1"])
    s.wait_log(r"sweep_finished", timeout=180)
    before = len(_rescore_alerts(alert_api, s))
    pb = api.model_pb2
    # the two models disagree for many customers: without the baseline rule this is a storm
    sc = api.scoring_grpc.ScoringServiceStub(s.channel())
    ids = [f"cust-{i:07d}" for i in range(1, 1001)]
    p_a = [x.score.probability for x in sc.BatchGetScores(
        api.scoring_pb2.BatchGetScoresRequest(customer_ids=ids), timeout=RPC_TIMEOUT_S).results]
    stub(api, s).ReloadModel(pb.ReloadModelRequest(path=model_files["logreg"]),
                             timeout=RPC_TIMEOUT_S)
    p_b = [x.score.probability for x in sc.BatchGetScores(
        api.scoring_pb2.BatchGetScoresRequest(customer_ids=ids), timeout=RPC_TIMEOUT_S).results]
    jumps = sum(1 for a, b in zip(p_a, p_b) if b - a > 0.15)
    assert jumps >= 20, f"the models agree too well for this test ({jumps} jumps)"
    n = len(s.wait_log(r"sweep_finished", timeout=180))
    s.wait_log(r"sweep_finished", count=n + 2, timeout=240)
    after = len(_rescore_alerts(alert_api, s))
    assert after - before == 0, f"{after - before} alerts raised by a model change"
    # a customer who does move later gets an alert, and it says the model moved the score too
    c = _lowest_risk(api, s)[0]
    _record(api, s, [_cancel(api, "registry-cancel-1", c)])
    for _ in range(200):
        raised = [a for a in _rescore_alerts(alert_api, s) if a.customer_id == c]
        if raised:
            break
        time.sleep(0.05)
    assert raised, "the cancellation raised no alert"
    told = [m for m in raised[-1].what_moved if m.feature == "model"]
    assert told and "the served model changed at" in told[0].explanation, raised[-1]
    assert "not a change in the customer" in told[0].explanation
