"""The engine-side promises of the hardening pass (issue 13), over the wire.

WatchAlerts resumes from any position: a watcher that reads as fast as the server sends
reaches the head from 1,000, 1,500, 3,000 or 10,000 changes behind it (the backlog is sent at
the client's pace, never cut every 1,024 changes), also while new alerts keep coming (that
only a watcher that does not read is ended as too slow is in test_alerts.py).

AnalyzeChat answers follow the durable commit of what they report: chat streams of
conversations (a plain turn, then a churn-intent turn that escalates) run while churnd is
SIGKILLed at a random moment (3 kills; 20 with CHURN_LONG_TESTS=1); after each restart every
escalation that was answered has its alert, and every answered turn sent again is answered
replayed=true.

Turn sequencing: 0 and values above 2^63-1 are refused (2^64-1 no longer poisons the
conversation), a lower turn that was never processed is refused rather than answered as a
replay (also after a restart), and an escalation names its alert (Escalation.alert_sequence).

tools/chaos with 3 kills keeps every promise (its figure of record, 50 kills, is in
docs/TESTING.md).
"""

import json
import os
import random
import signal
import subprocess
import threading
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, SOURCE_ROOT, Churnd, assert_serving
from fixtures_data import api  # noqa: F401
from test_alerts import (CHURN_TEXT, Watcher, alert_api, alert_stub, chat_intents,  # noqa: F401
                         list_all)

LOG_ALERTS = 10_500  # more than 10,000 behind the head, with room to spare


def raise_alerts(api, server, n, prefix):
    """n CHURN_INTENT alerts, one per new customer, in streams of 500 turns."""
    customers = [f"{prefix}-{i:06d}" for i in range(n)]
    for i in range(0, n, 500):
        chat_intents(api, server, customers[i:i + 500], prefix=f"{prefix}{i}")
    return customers


@pytest.fixture(scope="module")
def long_log(api, alert_api, churnd_bin, tmp_path_factory):
    """One server whose alert log holds LOG_ALERTS changes (shared by the position tests)."""
    server = Churnd(churnd_bin, str(tmp_path_factory.mktemp("long-log"))).start()
    try:
        raise_alerts(api, server, LOG_ALERTS, "log")
        wait_head(alert_api, server, LOG_ALERTS)
        yield server
    finally:
        server.close_channels()
        server.stop()
    server.check_clean()


def log_head(alert_api, server):
    pb = alert_api[0]
    return alert_stub(alert_api, server).ListAlerts(pb.ListAlertsRequest(page_size=1),
                                                    timeout=RPC_TIMEOUT_S).head_sequence


def wait_head(alert_api, server, n, timeout=120):
    """Wait until the alert log's head reaches n (the engine works off the request path)."""
    deadline = time.monotonic() + timeout
    while (head := log_head(alert_api, server)) < n:
        assert time.monotonic() < deadline, f"the log reached only {head} of {n}"
        time.sleep(0.1)
    return head


# -- item 1: WatchAlerts from any position -----------------------------------------------------

@pytest.mark.parametrize("behind", [1_000, 1_500, 3_000, 10_000])
def test_a_prompt_watcher_reaches_the_head_from_any_position(alert_api, long_log, behind):
    pb = alert_api[0]
    head = log_head(alert_api, long_log)
    w = Watcher(alert_api, long_log, after_sequence=head - behind, timeout=120)
    backlog = w.caught_up()  # also: backlog_delivered == len(backlog)
    assert [a.revision_sequence for a in backlog] == list(range(head - behind + 1, head + 1))
    assert all(a.change == pb.ALERT_CHANGE_RAISED for a in backlog)
    assert w.quiet(0.3) and w.error is None
    w.cancel()


def test_a_prompt_watcher_reaches_the_head_while_alerts_keep_coming(api, alert_api, long_log):
    head = log_head(alert_api, long_log)
    w = Watcher(alert_api, long_log, after_sequence=head - 10_000, timeout=120)
    more = threading.Thread(target=raise_alerts, args=(api, long_log, 1_500, "live"))
    more.start()
    got = []
    while True:
        m = w.next(timeout=60)
        if m.WhichOneof("event") == "alert":
            got.append(m.alert.revision_sequence)
            if got[-1] == head + 1_500:
                break
    more.join()
    assert got == list(range(head - 10_000 + 1, head + 1_500 + 1)), "a gap or a duplicate"
    assert w.error is None
    w.cancel()


# -- item 2: chat answers follow the durable commit ------------------------------------------

KILLS = 20 if os.environ.get("CHURN_LONG_TESTS") == "1" else 3
PLAIN_TEXT = "Hi, I have a question about my invoice"
CONVERSATIONS_PER_STREAM = 40


class ChatProducer(threading.Thread):
    """Streams of conversations (turn 1 plain, turn 2 churn intent) until stopped or the
    server is gone; records every answer received: answered[conversation] = (customer,
    highest turn answered) and the customers whose escalation was answered."""

    def __init__(self, api, address, name, rng):
        super().__init__(daemon=True)
        self.api, self.address, self.name, self.rng = api, address, name, rng
        self.stop = threading.Event()
        self.answered = {}
        self.escalated = set()
        self.answers = 0
        self.unexpected = []

    def turns(self, stream_no):
        pb = self.api.chat_pb2
        out = []
        for i in range(CONVERSATIONS_PER_STREAM):
            conv = f"{self.name}-{stream_no}-{i}"
            for seq, text in ((1, PLAIN_TEXT), (2, CHURN_TEXT)):
                out.append(pb.AnalyzeChatRequest(conversation_id=conv, turn_sequence=seq,
                                                 role=pb.CHAT_ROLE_CUSTOMER, text=text,
                                                 customer_id=f"cust-{conv}"))
        return out

    def run(self):
        ch = grpc.insecure_channel(self.address, options=[("grpc.use_local_subchannel_pool", 1)])
        stub = self.api.chat_grpc.ChatServiceStub(ch)
        stream_no = 0
        try:
            while not self.stop.is_set():
                stream_no += 1
                try:
                    for a in stub.AnalyzeChat(iter(self.turns(stream_no)), timeout=60):
                        self.record(a)
                except grpc.RpcError as e:
                    if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                                        grpc.StatusCode.INTERNAL):  # connection reset
                        self.unexpected.append(e)
                    return
        finally:
            ch.close()

    def record(self, a):
        if a.HasField("error") or a.replayed:
            self.unexpected.append(a)
            return
        self.answers += 1
        cust = f"cust-{a.conversation_id}"
        self.answered[a.conversation_id] = (cust, a.turn_sequence)
        if a.escalation.escalate:
            self.escalated.add(cust)


def resend_answered(api, server, answered):
    """Every answered turn again, in order (500 conversations a stream: a stream holds at most
    1,000): the answers (one per turn) that are not replayed."""
    pb = api.chat_pb2
    convs = sorted(answered.items())
    stub = api.chat_grpc.ChatServiceStub(server.channel())
    fresh = []
    for i in range(0, len(convs), 500):
        turns = [pb.AnalyzeChatRequest(conversation_id=conv, turn_sequence=seq,
                                       customer_id=cust, role=pb.CHAT_ROLE_CUSTOMER,
                                       text=PLAIN_TEXT if seq == 1 else CHURN_TEXT)
                 for conv, (cust, last) in convs[i:i + 500] for seq in range(1, last + 1)]
        answers = list(stub.AnalyzeChat(iter(turns), timeout=120))
        assert len(answers) == len(turns)
        fresh += [(a.conversation_id, a.turn_sequence) for a in answers if not a.replayed]
    return fresh


def test_answered_chat_turns_survive_sigkill(stubs, api, alert_api, churnd_factory):
    server = churnd_factory()
    rng = random.Random(int(os.environ.get("CHURN_DURABILITY_SEED", "20261207")))
    total = 0
    for kill in range(KILLS):
        producers = [ChatProducer(api, server.address, f"k{kill}p{j}", rng) for j in range(4)]
        for p in producers:
            p.start()
        deadline = time.monotonic() + 60
        while not any(p.escalated for p in producers):
            assert time.monotonic() < deadline, "no escalation answered within 60 s"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        server.signal(signal.SIGKILL)
        assert server.wait() == -signal.SIGKILL
        for p in producers:
            p.stop.set()
            p.join(RPC_TIMEOUT_S + 30)
            assert not p.is_alive()
            assert not p.unexpected, p.unexpected[:3]

        server.returncode = None
        server.start()
        assert_serving(stubs, server)
        escalated = set().union(*(p.escalated for p in producers))
        answered = {k: v for p in producers for k, v in p.answered.items()}
        listed, _ = list_all(alert_api, server)
        missing = escalated - {a.customer_id for a in listed}
        assert not missing, f"kill {kill}: {len(missing)} of {len(escalated)} answered " \
                            f"escalations have no alert, e.g. {sorted(missing)[:3]}"
        fresh = resend_answered(api, server, answered)
        assert not fresh, f"kill {kill}: {len(fresh)} answered turns were processed again " \
                          f"after the restart, e.g. {fresh[:3]}"
        total += sum(p.answers for p in producers)
        print(f"kill {kill}: {len(escalated)} escalations answered, {len(answered)} "
              "conversations: all alerted and replayed")
    assert total > 0


# -- item 6: turn sequencing; item 9: Escalation.alert_sequence ------------------------------

def chat_turn(api, conv, seq, text=PLAIN_TEXT, customer="cust-seq"):
    pb = api.chat_pb2
    return pb.AnalyzeChatRequest(conversation_id=conv, turn_sequence=seq, customer_id=customer,
                                 role=pb.CHAT_ROLE_CUSTOMER, text=text)


def chat(api, server, turns):
    stub = api.chat_grpc.ChatServiceStub(server.channel())
    answers = list(stub.AnalyzeChat(iter(turns), timeout=RPC_TIMEOUT_S))
    assert [(a.conversation_id, a.turn_sequence) for a in answers] == \
        [(t.conversation_id, t.turn_sequence) for t in turns], "one answer per turn, in order"
    return answers


def assert_refused(answer, *words):
    assert answer.HasField("error"), answer
    assert answer.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], answer.error
    assert answer.error.message.startswith("turn_sequence: "), answer.error
    for w in words:
        assert w in answer.error.message, answer.error
    assert not answer.replayed and not answer.counted and not answer.escalation.escalate


def test_turn_sequence_zero_is_refused_and_the_stream_goes_on(api, server):
    a = chat(api, server, [chat_turn(api, "seq-zero", 0, CHURN_TEXT),
                           chat_turn(api, "seq-zero", 1, CHURN_TEXT)])
    assert_refused(a[0], "out of range")
    assert not a[1].HasField("error") and not a[1].replayed
    assert a[1].customer_turns == 1 and a[1].escalation.escalate, "turn 0 changed nothing"


def test_a_turn_never_processed_is_not_taken_for_a_replay(api, churnd_factory):
    server = churnd_factory()
    conv = "seq-gap"
    a = chat(api, server, [chat_turn(api, conv, s) for s in (1, 2, 5)] +
             [chat_turn(api, conv, 3), chat_turn(api, conv, 5), chat_turn(api, conv, 2)])
    assert [x.HasField("error") for x in a[:3]] == [False] * 3
    assert_refused(a[3], "3 was never processed", "last turn 5")
    assert a[4].replayed and a[5].replayed
    assert a[4].customer_turns == 3
    server.close_channels()
    # the window of processed turns is kept with the conversation: the same after a restart
    server.signal(signal.SIGKILL)
    server.wait()
    server.returncode = None
    server.start()
    b = chat(api, server, [chat_turn(api, conv, 4), chat_turn(api, conv, 1),
                           chat_turn(api, conv, 6)])
    assert_refused(b[0], "4 was never processed")
    assert b[1].replayed and not b[2].replayed and b[2].customer_turns == 4
    # further back than the window, nothing can be told: refused, not a claimed replay
    c = chat(api, server, [chat_turn(api, conv, 100), chat_turn(api, conv, 7)])
    assert not c[0].HasField("error")
    assert_refused(c[1], "more than 64 turns behind")


def test_the_largest_turn_sequence_does_not_poison_the_conversation(api, server):
    conv = "seq-max"
    a = chat(api, server, [chat_turn(api, conv, 1), chat_turn(api, conv, 2**64 - 1),
                           chat_turn(api, conv, 2**63), chat_turn(api, conv, 2, CHURN_TEXT),
                           chat_turn(api, conv, 2**63 - 1), chat_turn(api, conv, 3)])
    assert_refused(a[1], "out of range")
    assert_refused(a[2], "out of range")
    assert not a[3].replayed and a[3].escalation.escalate, "churn intent still escalates"
    assert a[3].customer_turns == 2
    # the top number would leave none for a later turn: refused unless the turn ends it all
    assert_refused(a[4], "9223372036854775807 is the top of the range",
                   "allowed only on a turn with ends_conversation")
    assert not a[5].HasField("error") and not a[5].replayed and a[5].customer_turns == 3
    last = chat_turn(api, conv, 2**63 - 1)
    last.ends_conversation = True
    b = chat(api, server, [last])
    assert not b[0].HasField("error") and not b[0].replayed and b[0].customer_turns == 4


def test_an_escalation_names_its_alert(api, alert_api, server):
    first = chat(api, server, [chat_turn(api, "seq-alert-1", 1, CHURN_TEXT, "cust-alert-seq")])[0]
    assert first.escalation.escalate and first.escalation.alert_sequence > 0
    listed, _ = list_all(alert_api, server)
    mine = [a for a in listed if a.customer_id == "cust-alert-seq"]
    assert [a.sequence for a in mine] == [first.escalation.alert_sequence]
    # a second conversation of the customer escalating on the same cause updates that alert
    again = chat(api, server, [chat_turn(api, "seq-alert-2", 1, CHURN_TEXT, "cust-alert-seq")])[0]
    assert again.escalation.escalate
    assert again.escalation.alert_sequence in (0, first.escalation.alert_sequence)
    # a turn that does not escalate names no alert
    calm = chat(api, server, [chat_turn(api, "seq-alert-3", 1, PLAIN_TEXT, "cust-alert-seq")])[0]
    assert not calm.escalation.escalate and calm.escalation.alert_sequence == 0


# -- tools/chaos -------------------------------------------------------------------------------

def test_chaos_keeps_every_promise(stubs, churnd_bin, tmp_path):
    res = subprocess.run([os.path.join(SOURCE_ROOT, "tools", "chaos"), "--kills", "3",
                          "--churnd", churnd_bin, "--stubs", stubs.directory,
                          "--work", str(tmp_path), "--max-seconds", "300"],
                         capture_output=True, text=True, timeout=600)
    summary = json.loads(res.stdout)
    assert res.returncode == 0 and summary["ok"], f"{res.stdout}\n{res.stderr[-3000:]}"
    assert summary["kills"] == 3
    assert summary["broken"] == dict.fromkeys(summary["broken"], 0)
    assert summary["events_acknowledged"] > 0 and summary["escalations_answered"] > 0
    assert summary["watcher_revisions"] == summary["alert_log_head"] > 0
    assert summary["calls"]["scores"] > 0
