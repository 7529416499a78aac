"""Backups, restores and upgrades over the wire (issue 18, docs/OPERATIONS.md).

A real churnd on a copy of the demo store: AdminService.Backup during sustained ingestion and
chat, restored with `churnctl restore` and served by a second churnd (every event acknowledged
before the backup is in it exactly once, the backup's event sequence is exactly what it holds,
same scores, same alerts, a watcher resumes from its sequence); a second backup refused while
one runs and a SIGKILL in the middle of one (both made deterministic by a served model file
that is a FIFO: the backup waits on it), a flipped byte refused naming the file, a full disk
(a small tmpfs) failing cleanly while serving goes on, an erased customer absent from the
backup's bytes, scheduled backups and their pruning, bad options, and a store of the previous
format (tests/data/store) served and upgraded.
"""

import errno
import importlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, SOURCE_ROOT, assert_serving, rpc_error
from fixtures_admin import parse_exposition, scrape
from fixtures_data import api, demo_store, event, login, now_ms, start_on_store  # noqa: F401
from test_alerts import CHURN_TEXT, Watcher, alert_api, list_all  # noqa: F401

DEMO_IDS = [f"cust-{i:07d}" for i in range(0, 2000, 97)]


@pytest.fixture(scope="session")
def admin(stubs):
    return (importlib.import_module("churn.v1.admin_pb2"),
            importlib.import_module("churn.v1.admin_pb2_grpc"))


def backup(admin, server, out_dir, timeout=120):
    pb, grpc_mod = admin
    stub = grpc_mod.AdminServiceStub(server.channel())
    return stub.Backup(pb.BackupRequest(out_dir=str(out_dir)), timeout=timeout)


def churnctl(churnctl_bin, *args, timeout=120, cwd=None):
    return subprocess.run([os.path.abspath(churnctl_bin), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def restore(churnctl_bin, backup_dir, data_dir, *extra):
    r = churnctl(churnctl_bin, "restore", backup_dir, "--data", data_dir, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def start_restored(churnd_factory, data_dir, model=None, args=()):
    """A churnd whose data directory is `data_dir` (moved into its work directory)."""
    s = churnd_factory(args=list(args) + (["--model", model] if model else []), start=False)
    shutil.move(str(data_dir), s.data)
    return s.start()


def scores(api, server, ids):
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    out = {}
    for c in ids:
        r = stub.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=c), timeout=RPC_TIMEOUT_S)
        out[c] = (round(r.score.probability, 6), r.score.risk_tier, r.score.model_version)
    return out


def lifetime_events(api, server, ids):
    """The events the store has counted for the customers `ids`, summed."""
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    return sum(stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=c),
                                timeout=RPC_TIMEOUT_S).totals.events for c in ids)


def replay(api, server, batches):
    """Send every batch again; return the set of event ids the store already had."""
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    dups = set()
    for ids, reqs in batches:
        r = stub.RecordEvents(iter(reqs), timeout=60)
        assert r.rejected == 0, r
        assert r.duplicates + r.accepted == len(reqs)
        if r.duplicates == len(reqs):
            dups.update(ids)
        else:  # a batch is one transaction: all of it or none of it was in the store
            assert r.duplicates == 0, f"a batch half in the backup: {r}"
    return dups


class Load:
    """Sustained ingestion (batches of 40 logins for new customers) and chat (churn-intent
    turns for demo customers) on two threads, recording when each batch was acknowledged."""

    def __init__(self, api, server):
        self.api, self.server = api, server
        self.stop = threading.Event()
        self.batches = []  # (ids, requests, ack time)
        self.errors = []
        self.chats = 0
        self.threads = [threading.Thread(target=self._ingest, daemon=True),
                        threading.Thread(target=self._chat, daemon=True)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(120)

    def _ingest(self):
        stub = self.api.ingest_grpc.IngestServiceStub(self.server.channel())
        n = 0
        try:
            while not self.stop.is_set():
                ids = [f"load-{n}-{i}" for i in range(40)]
                reqs = [login(self.api, e, f"bk-{(n * 40 + i) % 300}") for i, e in enumerate(ids)]
                r = stub.RecordEvents(iter(reqs), timeout=60)
                assert r.accepted == len(reqs), r
                self.batches.append((ids, reqs, time.monotonic()))
                n += 1
        except Exception as e:  # reported by the test
            self.errors.append(e)

    def _chat(self):
        pb = self.api.chat_pb2
        stub = self.api.chat_grpc.ChatServiceStub(self.server.channel())
        k = 0
        try:
            while not self.stop.is_set():
                c = DEMO_IDS[k % len(DEMO_IDS)]
                turn = pb.AnalyzeChatRequest(conversation_id=f"bk-conv-{k}", turn_sequence=1,
                                             role=pb.CHAT_ROLE_CUSTOMER, text=CHURN_TEXT,
                                             customer_id=c)
                assert len(list(stub.AnalyzeChat(iter([turn]), timeout=60))) == 1
                self.chats += 1
                k += 1
        except Exception as e:
            self.errors.append(e)

    def wait_batches(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while len(self.batches) < n and not self.errors:
            assert time.monotonic() < deadline, "ingestion stalled"
            time.sleep(0.02)
        assert not self.errors, self.errors


def test_backup_during_ingestion_and_chat_restores_exactly_what_was_acknowledged(
        api, admin, alert_api, stubs, demo_store, churnd_factory, churnctl_bin, tmp_path):
    src = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    before = backup(admin, src, tmp_path / "b0")  # the sequence before the test's events
    chatted_before = lifetime_events(api, src, DEMO_IDS)
    with Load(api, src) as load:
        load.wait_batches(5)
        called = time.monotonic()
        b = backup(admin, src, tmp_path / "b1")
        returned = time.monotonic()
        load.wait_batches(len(load.batches) + 5)
    assert not load.errors, load.errors
    assert load.chats > 0
    acked_before = {e for ids, _, at in load.batches if at < called for e in ids}
    after_done = {e for ids, _, at in load.batches if at > returned for e in ids}
    assert acked_before and after_done
    assert b.event_sequence > before.event_sequence
    assert {f.name for f in b.files} == {"data.mdb", "models/model-logreg.json"}
    assert b.model_registry_id >= 1 and b.registry_models >= 1

    # the same scores for the customers the load did not touch (no sweep runs in either)
    untouched = [f"cust-{i:07d}" for i in range(1, 2000, 101)]
    assert not set(untouched) & set(DEMO_IDS)
    want = scores(api, src, untouched)
    alerts_src, _ = list_all(alert_api, src)
    r = restore(churnctl_bin, tmp_path / "b1", tmp_path / "restored")
    assert r["event_seq"] == b.event_sequence and r["alert_seq"] == b.alert_sequence
    assert r["model_path"] == demo_store.logreg  # already there with the same bytes
    dst = start_restored(churnd_factory, tmp_path / "restored")
    assert scores(api, dst, untouched) == want, "the registry's model serves the same scores"

    # the alerts up to the backup's sequence, and nothing after it
    alerts_dst, head = list_all(alert_api, dst)
    assert head == b.alert_sequence
    assert {(a.sequence, a.customer_id) for a in alerts_dst} == {
        (a.sequence, a.customer_id) for a in alerts_src if a.sequence <= b.alert_sequence}
    # a watcher resumes from its sequence: the rest of the backlog, then what is new
    if b.alert_sequence >= 2:
        w = Watcher(alert_api, dst, after_sequence=b.alert_sequence - 2)
        backlog = w.caught_up()
        assert [a.revision_sequence for a in backlog][-1] == b.alert_sequence
        assert all(a.revision_sequence > b.alert_sequence - 2 for a in backlog)
        w.cancel()

    # every event acknowledged before the call is there once; the sequence is exact
    # (the chat hook's churn-intent signals are events too: the chatted customers' totals)
    signals = lifetime_events(api, dst, DEMO_IDS) - chatted_before
    assert 0 < signals <= load.chats
    dups = replay(api, dst, [(ids, reqs) for ids, reqs, _ in load.batches])
    assert acked_before <= dups, f"{len(acked_before - dups)} acknowledged events missing"
    assert len(dups) + signals == b.event_sequence - before.event_sequence
    assert not (after_done & dups), "events acknowledged after the backup returned are in it"
    stub = api.ingest_grpc.IngestServiceStub(dst.channel())
    per_customer = {}
    for ids, reqs, _ in load.batches:
        for e, q in zip(ids, reqs):
            if e in dups:
                per_customer[q.event.customer_id] = per_customer.get(q.event.customer_id, 0) + 1
    for c in list(per_customer)[:20]:
        g = stub.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=c), timeout=30)
        # the replay added the events that were not in the backup: count what was
        sent = sum(1 for ids, reqs, _ in load.batches for q in reqs
                   if q.event.customer_id == c)
        assert g.totals.events == sent, "each event counted exactly once after the replay"
    assert_serving(stubs, src)


def test_restore_onto_a_new_machine_serves_the_model_from_the_model_dir(
        api, admin, demo_store, churnd_factory, churnctl_bin, tmp_path):
    """The machine is lost with the model file the registry names: `restore --model-dir`
    puts the backup's copy into the new store's model directory, and churnd serves it from
    there (logged model_relocated) with the same scores. A file of that name with other bytes
    is never served in its place. Before the fix the restored churnd served no model."""
    old_machine = tmp_path / "old-machine"
    old_machine.mkdir()
    shutil.copy(demo_store.logreg, old_machine / "model.json")
    src = start_on_store(churnd_factory, demo_store.store, str(old_machine / "model.json"))
    ids = [f"cust-{i:07d}" for i in range(3, 2000, 211)]
    want = scores(api, src, ids)
    backup(admin, src, tmp_path / "b")
    src.stop()
    shutil.rmtree(old_machine)  # the machine is gone

    models = tmp_path / "new-machine-models"  # churnd's --model-dir there
    r = restore(churnctl_bin, tmp_path / "b", tmp_path / "restored", "--model-dir", models)
    assert r["model_path"] == str(models / "model.json")
    dst = start_restored(churnd_factory, tmp_path / "restored", args=["--model-dir", str(models)])
    assert scores(api, dst, ids) == want
    assert "model_relocated" in dst.stderr(), dst.stderr()

    # the same restore, then other bytes under the model's name: refused, not served
    other = tmp_path / "other-models"
    restore(churnctl_bin, tmp_path / "b", tmp_path / "other", "--model-dir", other)
    shutil.copy(demo_store.gbdt, other / "model.json")
    dst2 = start_restored(churnd_factory, tmp_path / "other", args=["--model-dir", str(other)])
    stub = api.scoring_grpc.ScoringServiceStub(dst2.channel())
    with pytest.raises(grpc.RpcError) as e:
        stub.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=ids[0]), timeout=RPC_TIMEOUT_S)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    err = dst2.stderr()
    assert "model_not_relocated" in err and "altered" in err, err


def fifo_model(path):
    """Replace the served model file at `path` by a FIFO (its bytes returned): a backup then
    waits in the model copy until feed() writes them."""
    with open(path, "rb") as f:
        data = f.read()
    tmp = str(path) + ".fifo"
    os.mkfifo(tmp)
    os.rename(tmp, path)
    return data


def feed(path, data, timeout=60):
    """Write `data` into the FIFO at `path` once the backup has opened it for reading."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:  # ENXIO: no reader yet (the backup is still on data.mdb)
            if e.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def wait_partial(parent, name, server, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in os.listdir(parent):
            if d.startswith(name + ".partial.") and os.path.exists(
                    os.path.join(parent, d, "data.mdb")):
                return os.path.join(parent, d)
        time.sleep(0.02)
    pytest.fail(f"the backup never reached its model file:\n{server.stderr()}")


def test_second_backup_refused_and_sigkill_leaves_nothing_restorable(
        api, admin, stubs, demo_store, churnd_factory, churnctl_bin, tmp_path):
    model = tmp_path / "model.json"
    shutil.copy(demo_store.logreg, model)
    srv = start_on_store(churnd_factory, demo_store.store, str(model))
    data = fifo_model(model)
    first = {}
    t = threading.Thread(target=lambda: first.update(r=backup(admin, srv, tmp_path / "one")))
    t.start()
    try:
        wait_partial(tmp_path, "one", srv)
        e = rpc_error(backup, admin, srv, tmp_path / "two")
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"a backup is already running (to {tmp_path}/one, since " in e.details()
        r = churnctl(churnctl_bin, "--server", srv.address, "backup", "--out", tmp_path / "two")
        assert r.returncode == 1 and "already running" in r.stderr, r.stderr
        assert_serving(stubs, srv)  # and scoring too, while the backup waits
        api.scoring_grpc.ScoringServiceStub(srv.channel()).GetScore(
            api.scoring_pb2.GetScoreRequest(customer_id=DEMO_IDS[0]), timeout=RPC_TIMEOUT_S)
    finally:
        feed(model, data)
        t.join(60)
    assert {f.name for f in first["r"].files} == {"data.mdb", "models/model.json"}
    assert not os.path.exists(tmp_path / "two")
    os.unlink(model)
    with open(model, "wb") as f:
        f.write(data)

    # SIGKILL in the middle: nothing a restore accepts, under either name
    data = fifo_model(model)
    killed = threading.Thread(target=lambda: pytest.raises(
        grpc.RpcError, backup, admin, srv, tmp_path / "three"), daemon=True)
    killed.start()
    partial = wait_partial(tmp_path, "three", srv)
    srv.signal(signal.SIGKILL)
    srv.wait()
    killed.join(60)
    os.unlink(model)
    with open(model, "wb") as f:
        f.write(data)
    assert not os.path.exists(tmp_path / "three")
    for d in (tmp_path / "three", partial):
        r = churnctl(churnctl_bin, "restore", d, "--data", tmp_path / "r")
        assert r.returncode == 1, r.stderr
        assert "not a backup, or an interrupted one" in r.stderr
    assert not os.path.exists(tmp_path / "r" / "data.mdb")
    # the store itself is fine: churnd starts on it again and a backup now succeeds
    srv.start()
    assert backup(admin, srv, tmp_path / "four").customers >= 2000


def flip(path, at):
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x20]))


def test_churnctl_backup_and_a_flipped_byte_refused_naming_the_file(
        api, stubs, demo_store, churnd_factory, churnctl_bin, tmp_path):
    srv = start_on_store(churnd_factory, demo_store.store, demo_store.gbdt)
    # --out is relative: churnctl makes it absolute
    r = churnctl(churnctl_bin, "--server", srv.address, "backup", "--out", "b", "--json",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["dir"] == str(tmp_path / "b") and made["customers"] == 2000
    v = churnctl(churnctl_bin, "backup", "--verify", tmp_path / "b")
    assert v.returncode == 0 and "backup verified" in v.stdout, v.stderr
    for name, at in (("data.mdb", 9000), ("models/model-gbdt.json", 100)):
        shutil.copytree(tmp_path / "b", tmp_path / "c")
        flip(tmp_path / "c" / name, at)
        r = churnctl(churnctl_bin, "restore", tmp_path / "c", "--data", tmp_path / "r")
        assert r.returncode == 1
        assert f"{tmp_path}/c/{name}: damaged (SHA-256" in r.stderr, r.stderr
        assert not os.path.exists(tmp_path / "r" / "data.mdb")
        shutil.rmtree(tmp_path / "c")
    r = churnctl(churnctl_bin, "restore", tmp_path / "b", "--data", srv.data)
    assert r.returncode == 1 and "already holds a store" in r.stderr
    assert_serving(stubs, srv)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs under tmp_path (skipped where mounting is not allowed)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_disk_full_during_a_backup_fails_cleanly_and_serving_goes_on(
        api, admin, stubs, demo_store, churnd_factory, small_disk, tmp_path):
    srv = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    srv.allow_stderr = r"backup_failed"
    e = rpc_error(backup, admin, srv, small_disk / "b")
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the disk is full" in e.details() and "data.mdb" in e.details()
    assert os.listdir(small_disk) == [], "nothing is left on the full disk"
    srv.wait_log(r"backup_failed .*serving goes on")
    assert_serving(stubs, srv)
    stub = api.ingest_grpc.IngestServiceStub(srv.channel())
    assert stub.RecordEvents(iter([login(api, "after-full", DEMO_IDS[1])]), timeout=30).accepted
    api.scoring_grpc.ScoringServiceStub(srv.channel()).GetScore(
        api.scoring_pb2.GetScoreRequest(customer_id=DEMO_IDS[1]), timeout=RPC_TIMEOUT_S)
    before = time.time()
    ok = backup(admin, srv, tmp_path / "elsewhere")
    assert ok.event_sequence > 0
    # each backup counted on /metrics by result, with the last success's time, length, size
    m = parse_exposition(scrape(srv))
    assert m[("churn_backups_total", frozenset({("result", "failed")}))] == 1
    assert m[("churn_backups_total", frozenset({("result", "ok")}))] == 1
    assert m[("churn_backups_total", frozenset({("result", "refused")}))] == 0
    last = m[("churn_backup_last_success_timestamp_seconds", frozenset())]
    assert before - 1 <= last <= time.time() + 1
    assert m[("churn_backup_last_bytes", frozenset())] == sum(f.size_bytes for f in ok.files)
    assert 0 <= m[("churn_backup_last_duration_seconds", frozenset())] <= time.time() - before + 1


def test_a_customer_erased_before_the_backup_is_not_in_it(
        api, admin, churnd_factory, churnctl_bin, tmp_path):
    srv = churnd_factory()
    secret, kept = "erase-me-0042", "keep-me-0043"
    stub = api.ingest_grpc.IngestServiceStub(srv.channel())
    for c in (secret, kept):
        r = stub.RecordEvents(iter([login(api, f"{c}-e{i}", c) for i in range(30)]), timeout=30)
        assert r.accepted == 30
    stub.DeleteCustomer(api.ingest_pb2.DeleteCustomerRequest(customer_id=secret), timeout=30)
    with open(os.path.join(srv.data, "data.mdb"), "rb") as f:
        assert secret.encode() in f.read(), "premise: the live file keeps freed pages"
    backup(admin, srv, tmp_path / "b")
    with open(tmp_path / "b" / "data.mdb", "rb") as f:
        raw = f.read()
    assert secret.encode() not in raw and kept.encode() in raw
    restore(churnctl_bin, tmp_path / "b", tmp_path / "r")
    dump = subprocess.run(["mdb_dump", "-a", "-p", str(tmp_path / "r")], capture_output=True,
                          text=True, check=True).stdout
    assert secret not in dump and kept in dump


def test_scheduled_backups_are_logged_and_pruned(churnd_factory, churnctl_bin, tmp_path):
    bdir = tmp_path / "backups"
    srv = churnd_factory(args=["--backup-every", "1s", "--backup-dir", str(bdir),
                               "--backup-keep", "2"])
    srv.wait_log(r"backup_scheduled_done", count=4, timeout=60)
    srv.wait_log(r"backup_removed .*beyond --backup-keep", count=2, timeout=60)
    srv.stop()
    names = sorted(os.listdir(bdir))
    assert len(names) == 2 and all(n.startswith("churnd-backup-") for n in names), names
    for n in names:
        r = churnctl(churnctl_bin, "backup", "--verify", bdir / n)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args, message", [
    (["--backup-every", "1h"], "--backup-every needs --backup-dir"),
    (["--backup-every", "5"], "backup-every"),
    (["--backup-keep", "0"], "backup-keep"),
])
def test_bad_backup_options(churnd_bin, tmp_path, args, message):
    r = subprocess.run([churnd_bin, "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                        *args], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


def test_backup_call_bad_requests(admin, stubs, churnd_factory, tmp_path):
    srv = churnd_factory()
    for out, code, text in (
            ("relative/dir", grpc.StatusCode.INVALID_ARGUMENT, "not an absolute path"),
            ("", grpc.StatusCode.INVALID_ARGUMENT, "no --backup-dir"),
            (str(tmp_path), grpc.StatusCode.ALREADY_EXISTS, "already exists"),
            (str(tmp_path / "no" / "such"), grpc.StatusCode.NOT_FOUND, "no directory")):
        e = rpc_error(backup, admin, srv, out)
        assert e.code() == code and text in e.details(), (out, e.details())
    # one backup right after another: the first is over when its answer arrives
    for i in range(5):
        assert backup(admin, srv, tmp_path / f"next-{i}").store_format == 2
    assert_serving(stubs, srv)


def test_a_store_of_the_previous_format_is_served_and_upgraded(api, churnd_factory):
    s = churnd_factory(start=False)
    os.makedirs(s.data)
    dump = os.path.join(SOURCE_ROOT, "tests", "data", "store", "format1.dump")
    with open(dump) as f:
        text = "".join(l for l in f if not l.startswith("db_pagesize="))
    subprocess.run(["mdb_load", s.data], input=text, text=True, check=True)
    s.start()
    s.wait_log(r"store_upgraded .*from_format=1 to_format=2 event_seq=7")
    g = api.ingest_grpc.IngestServiceStub(s.channel()).GetCustomer(
        api.ingest_pb2.GetCustomerRequest(customer_id="fx-alice"), timeout=30)
    assert g.totals.events == 4 and g.customer.plan == "basic"
