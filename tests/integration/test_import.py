"""`churnctl import`: CSV and JSON Lines into a store directory (churnd stopped) and over gRPC
(--server), checked by reading the customers back from a real churnd with `churnctl call
GetCustomer`. Re-imports count as duplicates; an import killed half-way and run again ends
with exactly the totals of a clean import; every bad line lands in the reject file with its
line number and reason while the import goes on (fixtures in tests/data/import)."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import RPC_TIMEOUT_S, SOURCE_ROOT, assert_serving
from fixtures_data import api  # noqa: F401 (a fixture)

DATA = os.path.join(SOURCE_ROOT, "tests", "data", "import")
TIMEOUT_S = 300


def fixture(name):
    return os.path.join(DATA, name)


def run_import(churnctl_bin, *args, timeout=TIMEOUT_S):
    """Run `churnctl import ARGS --json --progress never`; return (process, summary or None)."""
    r = subprocess.run([churnctl_bin, "import", *args, "--json", "--progress", "never"],
                       capture_output=True, text=True, timeout=timeout)
    summary = json.loads(r.stdout) if r.stdout.strip() else None
    return r, summary


def rejects(path):
    """The reject file as [(line, reason, original)]."""
    with open(path, "rb") as f:
        out = []
        for raw in f.read().split(b"\n"):
            if raw:
                line, reason, orig = raw.split(b"\t", 2)
                out.append((int(line), reason.decode(), orig))
        return out


def get_customer(churnctl_bin, server, customer_id):
    r = subprocess.run([churnctl_bin, "--server", server.address, "call",
                        "IngestService/GetCustomer", json.dumps({"customer_id": customer_id})],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (customer_id, r.stderr)
    return json.loads(r.stdout)


def attrs(resp):
    c = resp["customer"]
    return ({a["key"]: a["value"] for a in c.get("numeric_attributes", [])},
            {a["key"]: a["value"] for a in c.get("categorical_attributes", [])})


def counts(summary, kind=None):
    s = summary[kind] if kind else summary
    return s["read"], s["accepted"], s["duplicates"], s["rejected"]


# ---- direct mode: CSV and JSON Lines into a store, read back from churnd --------------------

def test_csv_into_a_store_then_served_by_churnd(churnctl_bin, churnd_factory):
    srv = churnd_factory(start=False)
    r, s = run_import(churnctl_bin, "--customers", fixture("customers.csv"), "--store", srv.data)
    assert r.returncode == 0, r.stderr
    assert counts(s, "customers") == (3, 3, 0, 0)
    r, s = run_import(churnctl_bin, "--events", fixture("events.csv"), "--store", srv.data)
    assert r.returncode == 0, r.stderr
    assert counts(s) == (12, 12, 0, 0) and s["outcome"] == "complete"
    srv.start()

    c1 = get_customer(churnctl_bin, srv, "c1")
    assert c1["customer"]["segment"] == "smb" and c1["customer"]["country"] == "DE"
    assert int(c1["customer"]["signup_at_ms"]) == 1700000000000
    num, cat = attrs(c1)
    assert num == {"seats": 12.0} and cat == {"industry": "retail"}
    t = c1["totals"]
    assert int(t["events"]) == 4 and int(t["logins"]) == 1
    assert t["session_minutes"] == pytest.approx(12.5)
    assert int(t["orders_completed"]) == 1 and int(t["orders_refunded"]) == 1
    assert t["revenue"] == pytest.approx(49.90 - 10)

    c2 = get_customer(churnctl_bin, srv, "c2")
    num, cat = attrs(c2)
    assert cat == {"industry": "crafts, handmade"}  # a quoted field with a comma
    t = c2["totals"]
    assert int(t["events"]) == 5 and int(t["reviews"]) == 1  # the review text spans two lines
    assert int(t["tickets_opened"]) == 1 and int(t["tickets_resolved"]) == 1
    assert c2["customer"]["plan"] == "basic"  # the plan change event

    c3 = get_customer(churnctl_bin, srv, "c3")
    assert c3["label"]["churned"] is True and c3["label"]["reason"] == "price"


def test_jsonl_mixes_customers_and_events(churnctl_bin, churnd_factory, tmp_path):
    srv = churnd_factory(start=False)
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--events", fixture("mixed.jsonl"), "--store", srv.data,
                      "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr
    assert counts(s, "customers") == (1, 1, 0, 0)
    assert counts(s, "events") == (8, 5, 0, 3)
    got = rejects(rej)
    assert [(line, reason.split(":")[0]) for line, reason, _ in got] == [
        (5, "order.amount"), (6, "invalid JSON at column 83"), (7, "type")]
    assert "negative" in got[0][1] and "'warp'" in got[2][1]
    assert got[1][2].startswith(b'{"type":"login","event_id":"je5"')
    srv.start()
    j1 = get_customer(churnctl_bin, srv, "j1")
    assert j1["customer"]["plan"] == "pro" and j1["customer"]["segment"] == "smb"
    num, cat = attrs(j1)
    assert num == {"seats": 12.0} and cat == {"industry": "retail"}
    t = j1["totals"]
    assert int(t["events"]) == 5  # login, order, session, review, chat signal
    assert t["revenue"] == pytest.approx(19.99) and t["session_minutes"] == pytest.approx(7.5)


def test_reimport_counts_everything_as_duplicates(churnctl_bin, tmp_path):
    store = str(tmp_path / "store")
    for args in (["--customers", fixture("customers.csv")], ["--events", fixture("events.csv")],
                 ["--events", fixture("mixed.jsonl")]):
        r, first = run_import(churnctl_bin, *args, "--store", store)
        assert r.returncode == 0, r.stderr
        r, again = run_import(churnctl_bin, *args, "--store", store)
        assert r.returncode == 0, r.stderr
        assert again["read"] == first["read"]
        assert again["accepted"] == 0, (args, again)
        assert again["duplicates"] == first["accepted"] + first["duplicates"]
        assert again["rejected"] == first["rejected"]


# ---- bad input ------------------------------------------------------------------------------

def test_bad_csv_lines_are_rejected_and_the_import_goes_on(churnctl_bin, tmp_path):
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--events", fixture("events_bad.csv"),
                      "--store", str(tmp_path / "store"), "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr
    assert counts(s) == (13, 2, 0, 11)  # lines 2 and 14 are good, everything between is not
    got = rejects(rej)
    expect = [
        (3, "4 fields, expected 7"),
        (4, "unterminated quoted field"),
        (5, "order.amount: is negative"),
        (6, "type: unknown event type 'teleport'"),
        (7, "occurred_at_ms:"),
        (8, "customer_id: invalid UTF-8 at byte 1"),
        (9, "order.amount: is NaN"),
        (10, "rating: must be 1..5 (got 9)"),
        (11, "event_id: required"),
        (12, "amount: not a number ('12x')"),
        (13, "quote inside an unquoted field"),
    ]
    assert [line for line, _, _ in got] == [line for line, _ in expect]
    for (line, reason, _), (_, want) in zip(got, expect):
        assert reason.startswith(want), (line, reason)
    assert "in the future" in got[4][1]
    assert got[0][2] == b"x2,cx,1762128000000,login"
    assert got[1][2] == b'x3,cx,1762128000000,order,"12.5,completed,'  # only its own line
    assert got[5][2] == b"x7,c\xff\xfe,1762128000000,login,,,"  # the original bytes


def test_bom_and_crlf(churnctl_bin, tmp_path):
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--events", fixture("events_bom_crlf.csv"),
                      "--store", str(tmp_path / "store"), "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr  # the BOM did not spoil the first column's name
    assert counts(s) == (4, 3, 0, 1)
    assert rejects(rej) == [(4, "session.minutes: is negative", b"b3,cb,1762128000000,session,-5")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_16_mib_line_is_rejected_with_its_number(churnctl_bin, tmp_path, fmt):
    path = tmp_path / f"big.{fmt}"
    with open(path, "wb") as f:
        if fmt == "csv":
            f.write(b"event_id,customer_id,occurred_at_ms,type,text\n")
            f.write(b"g1,cg,1762128000000,login,\n")
            f.write(b"g2,cg,1762128000000,review," + b"x" * (16 << 20) + b"\n")
            f.write(b"g3,cg,1762128000000,login,\n")
        else:
            f.write(b'{"type":"login","event_id":"g1","customer_id":"cg",'
                    b'"occurred_at_ms":1762128000000}\n')
            f.write(b'{"type":"review","event_id":"g2","customer_id":"cg","rating":3,'
                    b'"occurred_at_ms":1762128000000,"text":"' + b"x" * (16 << 20) + b'"}\n')
            f.write(b'{"type":"login","event_id":"g3","customer_id":"cg",'
                    b'"occurred_at_ms":1762128000000}\n')
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--events", str(path), "--store", str(tmp_path / "store"),
                      "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr
    assert counts(s) == (3, 2, 0, 1)
    ((line, reason, orig),) = rejects(rej)
    assert line == (3 if fmt == "csv" else 2)
    assert reason.startswith("line longer than 1048576 bytes"), reason
    assert len(orig) == 1024  # cut to 1 KiB


def test_an_unclosed_quote_costs_one_line(churnctl_bin, tmp_path):
    path = tmp_path / "quote.csv"
    lines = ["event_id,customer_id,occurred_at_ms,type"]
    lines += [f"q{i},cq,1762128000000,login" for i in range(1, 50)]
    lines[10] = 'q10,"cq,1762128000000,login'  # line 11: the quote never closes
    path.write_text("\n".join(lines) + "\n")
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--events", str(path), "--store", str(tmp_path / "store"),
                      "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr
    assert counts(s) == (49, 48, 0, 1)
    ((line, reason, _),) = rejects(rej)
    assert line == 11 and reason.startswith("unterminated quoted field"), reason


def test_customer_csv_errors(churnctl_bin, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,segment,monthly_value,seats\n"
                    "k1,smb,10,3\n"
                    "k2,smb,-1,3\n"
                    ",smb,10,3\n"
                    "k4," + "s" * 65 + ",10,3\n"
                    "k5,smb,ten,3\n"
                    "k6,smb,10,4\n")
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--customers", str(path), "--store", str(tmp_path / "store"),
                      "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr
    assert counts(s, "customers") == (6, 2, 0, 4)
    assert [(line, reason.split(":")[0]) for line, reason, _ in rejects(rej)] == [
        (3, "monthly_value"), (4, "customer_id"), (5, "segment"), (6, "monthly_value")]


def test_one_attribute_name_rule_for_import_api_and_events(churnctl_bin, server, stubs, api,
                                                            tmp_path):
    """A name the API refuses is refused by the import too (CSV column, JSON key) and as a
    custom event: one rule, 1..64 bytes of [a-z0-9_], named in every message."""
    rule = "must be 1..64 bytes of [a-z0-9_]"
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,Seats\nk1,3\n")
    r, _ = run_import(churnctl_bin, "--customers", str(path), "--store", str(tmp_path / "s1"))
    assert r.returncode == 2 and "column 'Seats'" in r.stderr and rule in r.stderr, r.stderr
    path = tmp_path / "customers.jsonl"
    path.write_text('{"customer_id": "k1", "plan.tier": "gold"}\n')
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--customers", str(path), "--store", str(tmp_path / "s2"),
                      "--reject-file", str(rej))
    assert r.returncode == 0 and counts(s, "customers")[3] == 1, (r.stderr, s)
    (_, reason, _), = rejects(rej)
    assert "'plan.tier' " + rule in reason, reason
    pb = api.ingest_pb2
    stub = api.ingest_grpc.IngestServiceStub(server.channel())
    resp = stub.UpsertCustomers(pb.UpsertCustomersRequest(customers=[
        pb.Customer(customer_id="k1", numeric_attributes={"Seats": 3.0})]), timeout=RPC_TIMEOUT_S)
    assert rule in resp.results[0].error.message, resp
    E = pb.Event
    s = stub.RecordEvents(iter([pb.RecordEventsRequest(event=E(
        event_id="e1", customer_id="k1", occurred_at_ms=int(time.time() * 1000),
        custom=E.Custom(name="plan.tier", value=1.0)))]), timeout=RPC_TIMEOUT_S)
    assert s.rejected == 1 and rule in s.rejections[0].reason, s


def test_usage_errors(churnctl_bin, tmp_path):
    store = str(tmp_path / "store")
    cases = [
        ([], "give --customers FILE or --events FILE"),
        (["--events", fixture("events.csv")], "exactly one of --store"),
        (["--events", fixture("events.csv"), "--store", store, "--server", "127.0.0.1:1"],
         "exactly one of --store"),
        (["--events", str(tmp_path / "missing.csv"), "--store", store], "missing.csv"),
        (["--events", fixture("events.csv"), "--store", store, "--batch", "0"], "--batch"),
        (["--events", fixture("events.csv"), "--store", store, "--format", "xml"], "--format"),
        (["--events", fixture("customers.csv"), "--store", store], "unknown column 'segment'"),
    ]
    for args, message in cases:
        r = subprocess.run([churnctl_bin, "import", *args], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert message in r.stderr, (args, r.stderr)


def test_an_unusable_store_or_server_exits_1(churnctl_bin, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    r, _ = run_import(churnctl_bin, "--events", fixture("events.csv"), "--store", str(not_a_dir))
    assert r.returncode == 1, (r.returncode, r.stderr)
    r, s = run_import(churnctl_bin, "--events", fixture("events.csv"),
                      "--server", "127.0.0.1:1", "--batch", "5")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "UNAVAILABLE" in r.stderr or "cannot reach" in r.stderr, r.stderr
    assert s["outcome"] == "failed" and s["accepted"] == 0


def test_progress_line(churnctl_bin, tmp_path):
    r = subprocess.run([churnctl_bin, "import", "--events", fixture("events.csv"),
                        "--store", str(tmp_path / "s1"), "--progress", "always"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "rows/s" in r.stderr and "ETA" in r.stderr and "MiB" in r.stderr
    assert r.stdout.startswith("read 12, accepted 12, duplicates 0, rejected 0,")
    assert "rows/s" in r.stdout
    r = subprocess.run([churnctl_bin, "import", "--events", fixture("events.csv"),
                        "--store", str(tmp_path / "s2")],  # auto: stderr is not a terminal
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr


# ---- server mode -----------------------------------------------------------------------------

def test_server_mode(churnctl_bin, server, stubs, tmp_path):
    rej = tmp_path / "rejects.tsv"
    r, s = run_import(churnctl_bin, "--customers", fixture("customers.csv"),
                      "--server", server.address)
    assert r.returncode == 0, r.stderr
    assert counts(s, "customers") == (3, 3, 0, 0)
    r, s = run_import(churnctl_bin, "--events", fixture("events.csv"), "--server",
                      server.address, "--batch", "5")  # three streams of at most 5 events
    assert r.returncode == 0, r.stderr
    assert counts(s) == (12, 12, 0, 0)
    r, s = run_import(churnctl_bin, "--events", fixture("events.csv"), "--server",
                      server.address, "--batch", "5")
    assert counts(s) == (12, 0, 12, 0)
    c1 = get_customer(churnctl_bin, server, "c1")
    assert int(c1["totals"]["events"]) == 4
    assert c1["totals"]["revenue"] == pytest.approx(39.9)
    num, cat = attrs(c1)
    assert num["seats"] == 12.0 and cat == {"industry": "retail"}

    # the same reject lines as the direct import, plus the chat signal the API cannot carry
    r, s = run_import(churnctl_bin, "--events", fixture("events_bad.csv"), "--server",
                      server.address, "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr
    assert counts(s) == (13, 2, 0, 11)
    assert [line for line, _, _ in rejects(rej)] == list(range(3, 14))
    r, s = run_import(churnctl_bin, "--events", fixture("mixed.jsonl"), "--server",
                      server.address, "--reject-file", str(rej))
    assert r.returncode == 0, r.stderr
    assert counts(s, "events") == (8, 4, 0, 4)
    assert rejects(rej)[-1][0] == 9 and "chat_signal" in rejects(rej)[-1][1]
    assert_serving(stubs, server)


# ---- interrupted imports ---------------------------------------------------------------------

SYNTH_FILE_CUSTOMERS = 1500


@pytest.fixture(scope="module")
def synth_file(churnctl_bin, tmp_path_factory):
    """JSON Lines of SYNTH_FILE_CUSTOMERS synthetic customers (about 400k lines: an import
    interrupted after 20,000 rows is far from its end), generated once."""
    synth = os.environ.get("SYNTH") or os.path.join(os.path.dirname(churnctl_bin), "synth",
                                                    "synth")
    if not os.access(synth, os.X_OK):
        pytest.skip(f"no synth program at {synth} (set SYNTH)")
    path = str(tmp_path_factory.mktemp("synth") / "synth.jsonl")
    r = subprocess.run([synth, "--customers", str(SYNTH_FILE_CUSTOMERS), "--seed", "7", "--jsonl",
                        path],
                       capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    return path


def interrupt_after(churnctl_bin, args, sig, min_rows=20000):
    """Start an import, send @sig once its progress line shows @min_rows rows read; return
    (returncode, stdout, stderr). Rows are committed batch by batch as they are read, so by
    then every batch before the current one is durable."""
    p = subprocess.Popen([churnctl_bin, "import", *args, "--json", "--progress", "always"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, rows = b"", 0
    deadline = time.monotonic() + TIMEOUT_S
    while rows < min_rows and time.monotonic() < deadline:
        chunk = os.read(p.stderr.fileno(), 4096)
        if not chunk:
            break  # it ended before: the assertions below say so
        seen += chunk
        found = re.findall(rb"import: (\d+) rows", seen[-4096:])
        rows = int(found[-1]) if found else 0
    p.send_signal(sig)
    out, err = p.communicate(timeout=TIMEOUT_S)
    return p.returncode, out.decode(), (seen + err).decode("utf-8", "replace")


def sample_ids(n=None, step=79):
    n = n or SYNTH_FILE_CUSTOMERS
    return [f"cust-{i:07d}" for i in range(0, n, step)]


def totals_of(churnctl_bin, srv, ids):
    return {cid: get_customer(churnctl_bin, srv, cid)["totals"] for cid in ids}


def test_an_interrupted_import_rerun_adds_no_duplicates(churnctl_bin, churnd_factory,
                                                        synth_file):
    clean = churnd_factory(start=False)
    r, full = run_import(churnctl_bin, "--events", synth_file, "--store", clean.data)
    assert r.returncode == 0, r.stderr
    assert full["rejected"] == 0 and full["accepted"] == full["read"]

    killed = churnd_factory(start=False)
    args = ["--events", synth_file, "--store", killed.data, "--batch", "2000"]
    rc, out, err = interrupt_after(churnctl_bin, args, signal.SIGKILL)
    assert rc == -signal.SIGKILL, (rc, err)  # died half-way, nothing printed
    r, rerun = run_import(churnctl_bin, *args)
    assert r.returncode == 0, r.stderr
    assert rerun["read"] == full["read"] and rerun["rejected"] == 0
    assert rerun["duplicates"] > 0, "the killed import stored nothing: kill it later"
    assert rerun["accepted"] > 0, "the killed import finished: kill it sooner"
    assert rerun["accepted"] + rerun["duplicates"] == full["accepted"]

    clean.start()
    killed.start()
    ids = sample_ids()
    assert totals_of(churnctl_bin, killed, ids) == totals_of(churnctl_bin, clean, ids)


def test_ctrl_c_stops_after_a_commit_and_the_rerun_finishes(churnctl_bin, tmp_path, synth_file):
    store = str(tmp_path / "store")
    args = ["--events", synth_file, "--store", store]
    rc, out, err = interrupt_after(churnctl_bin, args, signal.SIGINT)
    assert rc == 130, (rc, err)
    first = json.loads(out)
    assert first["outcome"] == "interrupted" and "run the same import again" in err
    assert first["read"] >= 20000 and first["accepted"] > 0
    r, rerun = run_import(churnctl_bin, *args)
    assert r.returncode == 0, r.stderr
    # everything the interrupted run counted as stored is found again, exactly once
    assert rerun["duplicates"] == first["accepted"] + first["duplicates"]
    assert rerun["accepted"] + rerun["duplicates"] == rerun["read"]


def test_import_equals_synth_writing_the_store_itself(churnctl_bin, churnd_factory, tmp_path):
    """The same synthetic platform written by synth into a store and imported from its JSON
    Lines gives the same customers: attributes, totals, label and every feature (customer
    attributes go in before the plan changes that depend on them)."""
    synth = os.environ.get("SYNTH") or os.path.join(os.path.dirname(churnctl_bin), "synth",
                                                    "synth")
    if not os.access(synth, os.X_OK):
        pytest.skip(f"no synth program at {synth} (set SYNTH)")
    # synth --store applies with --now, the import with the real clock: keep both on the same
    # UTC day, or an event on the horizon's first day is a day bucket in one store and a
    # lifetime-only event in the other (a test run just after midnight saw that)
    real = int(time.time() * 1000)
    midnight = real - real % (86400 * 1000)
    now = max(midnight + 1000, real - 3600 * 1000)
    common = ["--customers", "300", "--seed", "3", "--now", str(now)]
    direct, imported = churnd_factory(start=False), churnd_factory(start=False)
    jsonl = str(tmp_path / "platform.jsonl")
    for out in (["--store", direct.data], ["--jsonl", jsonl]):
        r = subprocess.run([synth, *common, *out], capture_output=True, text=True,
                           timeout=TIMEOUT_S)
        assert r.returncode == 0, r.stderr
    r, s = run_import(churnctl_bin, "--events", jsonl, "--store", imported.data)
    assert r.returncode == 0 and s["rejected"] == 0, r.stderr
    direct.start()
    imported.start()

    def view(srv, cid, as_of):
        r = subprocess.run([churnctl_bin, "--server", srv.address, "call",
                            "IngestService/GetCustomer",
                            json.dumps({"customer_id": cid, "as_of_ms": as_of})],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        d.pop("last_score", None)
        features = {f["name"]: f for f in d.pop("features")}
        return d, features

    plan_changes = 0
    for i, as_of in ((i, as_of) for i in range(0, 300, 7)
                     for as_of in (now, now - 120 * 86400 * 1000)):
        cid = f"cust-{i:07d}"
        (a, fa), (b, fb) = view(direct, cid, as_of), view(imported, cid, as_of)
        assert a == b, cid
        assert fa.keys() == fb.keys()
        for name in fa:
            x, y = fa[name], fb[name]
            if "dissatisfaction" in name:  # synth writes dissatisfaction with 3 decimals
                assert x.get("number_value", 0) == pytest.approx(y.get("number_value", 0),
                                                                 abs=1e-3)
                continue
            assert x == y, (cid, as_of, name)
        plan_changes += int(a["totals"].get("plan_changes", 0))
    assert plan_changes > 0, "no plan change in the sample: the check proves less than it says"
