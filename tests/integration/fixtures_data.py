"""Shared data fixtures and helpers of the ingest, scoring, chat and durability tests.

Imported by those test modules (fixtures are re-exported with `from fixtures_data import
...`); conftest.py stays the harness. Provides:

- `api`: the generated churn.v1 modules the conftest `Stubs` does not expose (ingest, chat,
  model, common), one namespace.
- `demo_store` (session): a synth store of 2,000 customers over 365 days and two models
  trained on it with churnctl (logistic regression and gradient-boosted trees: two
  versions), built once per run: the xdist workers of one run share it (the first to ask
  builds it under a lock, the others wait and reuse it; it is read, never written).
- `start_on_store()`: start a churnd (through the harness's factory) on a private copy of a
  store, optionally with --model.
- event builders, the model-file checksum (so that a test can write a file that is
  well-formed except for one deliberate fault), `mdb_dump` of a data directory.
"""

import fcntl
import importlib
import json
import os
import shutil
import subprocess
import time
import types

import pytest

SYNTH_CUSTOMERS = 2000
SYNTH_DAYS = 365  # the store keeps 365 days: full 180-day windows at 90-day cutoffs
DAY_MS = 86400 * 1000


# -- generated modules ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def api(stubs):
    """churn.v1 message and stub modules (the stubs fixture put them on sys.path)."""
    imp = importlib.import_module
    return types.SimpleNamespace(
        ingest_pb2=imp("churn.v1.ingest_pb2"), ingest_grpc=imp("churn.v1.ingest_pb2_grpc"),
        chat_pb2=imp("churn.v1.chat_pb2"), chat_grpc=imp("churn.v1.chat_pb2_grpc"),
        model_pb2=imp("churn.v1.model_pb2"), model_grpc=imp("churn.v1.model_pb2_grpc"),
        common_pb2=imp("churn.v1.common_pb2"),
        scoring_pb2=stubs.scoring_pb2, scoring_grpc=stubs.scoring_grpc)


def ingest_stub(api, channel):
    return api.ingest_grpc.IngestServiceStub(channel)


def now_ms():
    return int(time.time() * 1000)


# -- demo store and models ------------------------------------------------------------------

def tool_path(churnctl_bin, *rel):
    """A program of the same build as churnctl (build/tools/...)."""
    return os.path.join(os.path.dirname(churnctl_bin), *rel)


_DEMO = {}  # built once per session, whichever test module asks first


@pytest.fixture(scope="session")
def demo_store(churnctl_bin, tmp_path_factory):
    """(store dir, logistic model path, gbdt model path), built once per session. Servers
    must run on a copy (start_on_store): the store itself is shared."""
    if churnctl_bin not in _DEMO:
        _DEMO[churnctl_bin] = _shared_demo(churnctl_bin, tmp_path_factory)
    return _DEMO[churnctl_bin]


def _shared_demo(churnctl_bin, tmp_path_factory):
    """The demo of this run: built by the first xdist worker that asks (the others wait on
    the lock), or by this process alone outside xdist."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return _build_demo(churnctl_bin, str(tmp_path_factory.mktemp("demo")))
    d = tmp_path_factory.getbasetemp().parent / f"demo-{run}"
    d.mkdir(exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (d / "built").exists():
            return _demo_paths(str(d))
        demo = _build_demo(churnctl_bin, str(d))
        (d / "built").write_text("")
        return demo


def _demo_paths(d):
    return types.SimpleNamespace(store=os.path.join(d, "store"),
                                 logreg=os.path.join(d, "model-logreg.json"),
                                 gbdt=os.path.join(d, "model-gbdt.json"), dir=d)


def _build_demo(churnctl_bin, d):
    store = os.path.join(d, "store")
    shutil.rmtree(store, ignore_errors=True)  # a worker that failed half-way left it
    synth = tool_path(churnctl_bin, "synth", "synth")
    r = subprocess.run([synth, "--customers", str(SYNTH_CUSTOMERS), "--days", str(SYNTH_DAYS),
                        "--store", store], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"synth failed:\n{r.stdout}\n{r.stderr}"
    models = []
    for algo in ("logreg", "gbdt"):
        out = os.path.join(d, f"model-{algo}.json")
        r = subprocess.run([churnctl_bin, "train", "--store", store, "--out", out, "--folds",
                            "3", "--trees", "50", "--algo", algo],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"churnctl train failed:\n{r.stdout}\n{r.stderr}"
        models.append(out)
    return _demo_paths(d)


def start_on_store(factory, store=None, model=None, args=()):
    """Start a churnd whose data directory is a private copy of `store` (or empty)."""
    s = factory(args=list(args) + (["--model", model] if model else []), start=False)
    if store:
        shutil.copytree(store, s.data)
    return s.start()


def model_version(path):
    with open(path) as f:
        return json.load(f)["version"]


# -- model files with a deliberate fault ----------------------------------------------------

def _jansson_real(v):
    """A double as jansson prints it with JSON_REAL_PRECISION(17)."""
    s = "%.17g" % v
    if "." not in s and "e" not in s and "n" not in s:
        s += ".0"
    if "e" in s:
        mant, exp = s.split("e")
        s = mant + "e" + ("-" if exp.startswith("-") else "") + exp.lstrip("+-").lstrip("0")
    return s


def _canonical(o):
    if isinstance(o, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _canonical(o[k])
                              for k in sorted(o)) + "}"
    if isinstance(o, list):
        return "[" + ",".join(_canonical(x) for x in o) + "]"
    if isinstance(o, bool):
        return "true" if o else "false"
    if o is None:
        return "null"
    if isinstance(o, int):
        return str(o)
    if isinstance(o, float):
        return _jansson_real(o)
    return json.dumps(o, ensure_ascii=False)


def model_checksum(doc):
    """The model file's checksum: FNV-1a 64 over the canonical JSON without "checksum"."""
    text = _canonical({k: v for k, v in doc.items() if k != "checksum"}).encode()
    h = 0xcbf29ce484222325
    for c in text:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "fnv1a64:%016x" % h


def write_model_variant(src, dst, mutate):
    """Copy model `src` to `dst` after `mutate(doc)`, with a correct checksum, so that the
    loader gets past the checksum to the fault."""
    with open(src) as f:
        doc = json.load(f)
    assert model_checksum(doc) == doc["checksum"], "checksum recipe out of date"
    mutate(doc)
    doc["checksum"] = model_checksum(doc)
    with open(dst + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(dst + ".tmp", dst)
    return dst


def only_these_coefficients(weights, intercept):
    """A write_model_variant mutation of a logistic-regression model: every coefficient 0
    but the value columns of the features in @weights ({name: coefficient on the standardised
    scale}), and @intercept. A model of a few features on purpose, for tests of what follows
    a score (alerts), not of the demo model."""
    def mutate(doc):
        names = []
        for f in doc["features"]:
            width = len(f["categories"]) + 1 if f["type"] == "categorical" else 1
            width += 1 if f.get("missing", {}).get("indicator") else 0
            names += [f["name"]] * width
        coef = [0.0] * len(doc["logistic_regression"]["coefficients"])
        assert len(names) == len(coef), "the coefficient layout changed"
        for name, w in weights.items():
            coef[names.index(name)] = w
        doc["logistic_regression"]["coefficients"] = coef
        doc["logistic_regression"]["intercept"] = intercept
    return mutate


def write_truncated(src, dst, keep=0.5):
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data[:int(len(data) * keep)])
    return dst


# -- events ---------------------------------------------------------------------------------

def event(api, event_id, customer_id, at_ms=None, **kind):
    """A RecordEventsRequest with one event; `kind` is e.g. login=Event.Login()."""
    E = api.ingest_pb2.Event
    return api.ingest_pb2.RecordEventsRequest(event=E(
        event_id=event_id, customer_id=customer_id,
        occurred_at_ms=at_ms if at_ms is not None else now_ms() - 3600 * 1000, **kind))


def login(api, event_id, customer_id, at_ms=None):
    return event(api, event_id, customer_id, at_ms, login=api.ingest_pb2.Event.Login())


def long_standing(api, server, *customer_ids, days=170):
    """Make the server's store one that has observed `days` of history (an anchor customer's
    login that long ago: the store's data start) and the customers ones who signed up a year
    ago, so their windowed features are observed counts. Without that, a fresh store and a
    new customer have windows nobody observed, and those are missing, never zero
    (docs/FEATURES.md, "Observed history")."""
    stub = ingest_stub(api, server.channel())
    t = now_ms()
    stub.UpsertCustomers(api.ingest_pb2.UpsertCustomersRequest(customers=[
        api.ingest_pb2.Customer(customer_id=c, signup_at_ms=t - 365 * DAY_MS)
        for c in customer_ids]), timeout=60)
    r = stub.RecordEvents(iter([login(api, "history-anchor", "history-anchor",
                                      t - days * DAY_MS)]), timeout=60)
    assert r.accepted + r.duplicates == 1


def one_of_each_kind(api, customer_id, prefix="k", at_ms=None):
    """Nine valid events, one of every kind (the churn event last)."""
    pb = api.ingest_pb2
    E = pb.Event
    kinds = [
        dict(login=E.Login()),
        dict(session=E.Session(minutes=30)),
        dict(order=E.Order(order_id="o-1", amount=50.0, currency="EUR",
                           status=pb.ORDER_STATUS_COMPLETED)),
        dict(listing_update=E.ListingUpdate(listing_id="l-1", active_listings=3)),
        dict(support_ticket=E.SupportTicket(ticket_id="t-1", action=pb.TICKET_ACTION_OPENED,
                                            category="billing")),
        dict(review=E.Review(rating=2, text="slow and buggy")),
        dict(plan_change=E.PlanChange(direction=pb.PLAN_CHANGE_DIRECTION_DOWNGRADE,
                                      from_plan="pro", to_plan="basic", monthly_value=10.0)),
        dict(custom=E.Custom(name="api_calls", value=12.0)),
        dict(churn=E.Churn(reason="price")),
    ]
    return [event(api, f"{prefix}-{i}", customer_id, at_ms, **k) for i, k in enumerate(kinds)]


def features_of(resp):
    """GetCustomerResponse features as {name: number, category or None (missing)}."""
    out = {}
    for f in resp.features:
        which = f.WhichOneof("value")
        out[f.name] = getattr(f, which) if which else None
    return out


# -- raw bytes ------------------------------------------------------------------------------

def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_bytes_field(number, payload):
    """A length-delimited field (wire type 2) with arbitrary bytes: how a client that does
    not check UTF-8 sends a bad string."""
    return pb_varint(number << 3 | 2) + pb_varint(len(payload)) + payload


def pb_varint_field(number, value):
    return pb_varint(number << 3) + pb_varint(value)


def mdb_dump(data_dir):
    """Every key and value of every database of the LMDB environment (`mdb_dump -a`, whose
    data lines are hex), decoded: one bytes object per key or value, joined by newlines."""
    r = subprocess.run(["mdb_dump", "-a", data_dir], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    lines = r.stdout.decode("ascii").splitlines()
    assert any(l.startswith("database=customers") for l in lines), "no customers database"
    return b"\n".join(bytes.fromhex(l[1:]) for l in lines if l.startswith(" "))
