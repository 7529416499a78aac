"""ChatService over the wire: AnalyzeText (a complaint with evidence whose byte offsets slice
the text to the term, unsupported languages, empty text, invalid UTF-8, text over the 64 KiB
limit) and AnalyzeChat (churn intent escalates in the same response, agent turns are context,
replays, a request for a human, one escalation per cause, bad turns answered with an error
while the stream goes on, a conversation that continues after a reconnect and after a
restart, ten concurrent streams, the customer's refreshed score)."""

import threading
import time

import grpc
import pytest

from conftest import RPC_TIMEOUT_S, assert_serving, rpc_error
from fixtures_data import api, demo_store, pb_bytes_field, start_on_store  # noqa: F401

CHURN_TEXT = "I'm cancelling my subscription, this is the third time"
HUMAN_TEXT = "let me talk to a real person"


def chat_stub(api, server):
    return api.chat_grpc.ChatServiceStub(server.channel())


def analyze_text(api, server, text, language=""):
    return chat_stub(api, server).AnalyzeText(
        api.chat_pb2.AnalyzeTextRequest(text=text, language=language), timeout=RPC_TIMEOUT_S)


class Conv:
    """Builds the turns of one conversation."""

    def __init__(self, api, conversation_id, customer_id="cust-chat"):
        self.pb = api.chat_pb2
        self.cid = conversation_id
        self.customer = customer_id

    def turn(self, seq, text, role="customer", **kw):
        roles = {"customer": self.pb.CHAT_ROLE_CUSTOMER, "agent": self.pb.CHAT_ROLE_AGENT,
                 "bot": self.pb.CHAT_ROLE_BOT, None: self.pb.CHAT_ROLE_UNSPECIFIED}
        kw.setdefault("customer_id", self.customer)
        return self.pb.AnalyzeChatRequest(conversation_id=self.cid, turn_sequence=seq,
                                          role=roles[role], text=text, **kw)


def run_chat(api, server, turns, timeout=RPC_TIMEOUT_S):
    answers = list(chat_stub(api, server).AnalyzeChat(iter(turns), timeout=timeout))
    assert len(answers) == len(turns), "one answer per turn"
    for t, a in zip(turns, answers):
        assert (a.conversation_id, a.turn_sequence) == (t.conversation_id, t.turn_sequence)
    return answers


# -- AnalyzeText -----------------------------------------------------------------------------

def test_analyze_text_complaint_with_evidence_offsets(stubs, api, server):
    text = "Zoë here — this is the worst service ever, I am still waiting and very angry :("
    raw = text.encode("utf-8")
    r = analyze_text(api, server, text, "en")
    assert r.language == "en"
    assert r.sentiment.compound < -0.05
    assert r.sentiment.negative > r.sentiment.positive
    for share in (r.sentiment.positive, r.sentiment.negative, r.sentiment.neutral):
        assert 0.0 <= share <= 1.0
    assert r.evidence, "a complaint has evidence"
    terms = [e.term for e in r.evidence]
    assert "worst" in terms and "still waiting" in terms, terms
    starts = [e.byte_start for e in r.evidence]
    assert starts == sorted(starts), "evidence in text order"
    for e in r.evidence:
        assert 0 <= e.byte_start < e.byte_end <= len(raw), e
        piece = raw[e.byte_start:e.byte_end].decode("utf-8")  # offsets are on characters
        if not e.modifiers.stem_match:
            assert piece.lower() == e.term, (piece, e)
    phrase = [e for e in r.evidence if e.term == "still waiting"][0]
    assert phrase.kind == api.common_pb2.EVIDENCE_KIND_PHRASE
    assert phrase.contribution < 0
    assert sum(e.contribution for e in r.evidence) < 0


def test_analyze_text_flags_intent(stubs, api, server):
    r = analyze_text(api, server, CHURN_TEXT)
    assert r.flags.churn_intent and r.sentiment.compound < -0.05
    r = analyze_text(api, server, HUMAN_TEXT)
    assert r.flags.human_requested
    r = analyze_text(api, server, "Thanks, that was resolved quickly, great support!")
    assert r.sentiment.compound > 0.05 and not r.flags.churn_intent


def test_analyze_text_bad_input(stubs, api, server):
    stub = chat_stub(api, server)
    req = api.chat_pb2.AnalyzeTextRequest
    # Empty text: neutral, nothing found.
    r = stub.AnalyzeText(req(text=""), timeout=RPC_TIMEOUT_S)
    assert r.sentiment.compound == 0.0 and not r.evidence
    assert not (r.flags.churn_intent or r.flags.human_requested or r.flags.hard_trigger)
    # Unsupported languages are refused, naming the supported ones.
    for lang in ("fr", "de-DE", "xx", "e" * 40):
        err = rpc_error(stub.AnalyzeText, req(text="hello", language=lang), timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        assert "en" in err.details() and "language" in err.details(), err.details()
    # Over 64 KiB.
    err = rpc_error(stub.AnalyzeText, req(text="angry " * (70 * 1024 // 6)),
                    timeout=RPC_TIMEOUT_S)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    # Invalid UTF-8, sent as raw bytes (a proto3 string field must be UTF-8).
    raw = server.channel().unary_unary("/churn.v1.ChatService/AnalyzeText")
    for bad in (b"ab\xc3\x28", b"\xff\xfe", b"ok \xed\xa0\x80 surrogate", b"\xc0\xaf"):
        err = rpc_error(raw, pb_bytes_field(1, bad), timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (bad, err)
        assert err.details()
    assert_serving(stubs, server)
    # Still analyzes after all that.
    assert analyze_text(api, server, "terrible").sentiment.compound < 0


def test_analyze_text_at_the_limit(stubs, api, server):
    sentence = "The app is slow and I am not happy. "
    text = (sentence * (65536 // len(sentence) + 1))[:65536]
    assert len(text.encode()) == 65536
    r = analyze_text(api, server, text)
    assert r.sentiment.compound < 0


# -- AnalyzeChat -----------------------------------------------------------------------------

def test_churn_intent_escalates_in_the_same_response(stubs, api, server):
    c = Conv(api, "conv-intent")
    a = run_chat(api, server, [c.turn(1, "Hi, my invoice looks wrong"), c.turn(2, CHURN_TEXT)])
    assert a[0].counted and a[0].customer_turns == 1
    assert not a[0].escalation.escalate and not a[0].churn_intent_seen
    e = a[1].escalation
    assert e.escalate
    assert e.reason == api.common_pb2.ESCALATION_REASON_CHURN_INTENT
    assert 0.0 < e.confidence <= 1.0 and e.message
    assert list(e.active_reasons) == [api.common_pb2.ESCALATION_REASON_CHURN_INTENT]
    assert a[1].flags.churn_intent and a[1].churn_intent_seen
    assert a[1].sentiment.compound < -0.05
    assert a[1].customer_turns == 2 and a[1].consecutive_negative_turns >= 1
    assert 0.0 <= a[1].dissatisfaction <= 1.0
    assert a[1].language == "en" and a[1].analyzed_at_ms > 0


def test_agent_and_bot_turns_are_context(stubs, api, server):
    c = Conv(api, "conv-agent")
    a = run_chat(api, server, [
        c.turn(1, "Hello, how can I help?", role="bot"),
        c.turn(2, "This is terrible, I'm cancelling my subscription", role="agent"),
        c.turn(3, "I need to change my address"),
        c.turn(4, "Let me talk to a real person", role="bot"),
        c.turn(5, "Thanks"),
    ])
    for x in (a[0], a[1], a[3]):
        assert not x.counted and not x.escalation.escalate, x
        assert x.WhichOneof("score_result") is None
    assert not a[2].churn_intent_seen
    assert [x.customer_turns for x in (a[2], a[4])] == [1, 2]
    assert not any(x.escalation.escalate for x in a)


def test_replayed_turns_are_not_counted_twice(stubs, api, server):
    c = Conv(api, "conv-replay")
    turns = [c.turn(1, "My order is late"), c.turn(2, CHURN_TEXT), c.turn(3, "Still nothing")]
    a = run_chat(api, server, turns + [turns[1], turns[0]] + [c.turn(4, "hello?")])
    assert [x.replayed for x in a] == [False, False, False, True, True, False]
    assert a[2].customer_turns == 3
    assert a[3].customer_turns == 3 and a[4].customer_turns == 3
    assert a[5].customer_turns == 4
    assert not a[3].HasField("error") and not a[4].HasField("error")
    # Churn intent escalated once, at turn 2; the replays fire nothing.
    intent = api.common_pb2.ESCALATION_REASON_CHURN_INTENT
    assert [x.escalation.escalate and x.escalation.reason == intent for x in a] == \
        [False, True, False, False, False, False]
    assert not a[3].escalation.escalate and not a[4].escalation.escalate


def test_a_replay_resends_the_stored_assessment(stubs, api, server):
    c = Conv(api, "conv-replay-2")
    a = run_chat(api, server, [c.turn(1, CHURN_TEXT), c.turn(1, CHURN_TEXT)])
    assert a[1].replayed
    assert a[1].sentiment.compound == pytest.approx(a[0].sentiment.compound)
    assert [e.term for e in a[1].evidence] == [e.term for e in a[0].evidence]
    assert a[1].flags.churn_intent


def test_human_request_and_one_escalation_per_cause(stubs, api, server):
    c = Conv(api, "conv-hyst")
    R = api.common_pb2
    a = run_chat(api, server, [
        c.turn(1, HUMAN_TEXT),
        c.turn(2, HUMAN_TEXT + " now"),
        c.turn(3, CHURN_TEXT),
        c.turn(4, "I will cancel my subscription, I said it already"),
        c.turn(5, "Can I talk to a person please"),
    ])
    assert a[0].escalation.escalate and a[0].flags.human_requested
    assert a[0].escalation.reason == R.ESCALATION_REASON_HUMAN_REQUESTED
    assert not a[1].escalation.escalate, "a second request for a human does not re-escalate"
    assert R.ESCALATION_REASON_HUMAN_REQUESTED in a[1].escalation.active_reasons
    assert a[2].escalation.escalate
    assert a[2].escalation.reason == R.ESCALATION_REASON_CHURN_INTENT, "a new cause escalates"
    for x in a[3:]:
        assert x.escalation.reason != R.ESCALATION_REASON_CHURN_INTENT
        assert x.escalation.reason != R.ESCALATION_REASON_HUMAN_REQUESTED
    reasons = [x.escalation.reason for x in a if x.escalation.escalate]
    assert len(reasons) == len(set(reasons)), f"a cause escalated twice: {reasons}"
    assert {R.ESCALATION_REASON_HUMAN_REQUESTED, R.ESCALATION_REASON_CHURN_INTENT} <= \
        set(a[4].escalation.active_reasons)


def test_active_reasons_are_in_escalation_order(stubs, api, server):
    c = Conv(api, "conv-order")
    R = api.common_pb2
    a = run_chat(api, server, [c.turn(1, HUMAN_TEXT), c.turn(2, CHURN_TEXT)])
    assert [x.escalation.reason for x in a] == [R.ESCALATION_REASON_HUMAN_REQUESTED,
                                                R.ESCALATION_REASON_CHURN_INTENT]
    assert list(a[1].escalation.active_reasons)[:2] == [R.ESCALATION_REASON_HUMAN_REQUESTED,
                                                        R.ESCALATION_REASON_CHURN_INTENT]


def test_bad_turns_get_an_error_and_the_stream_goes_on(stubs, api, server):
    pb = api.chat_pb2
    c = Conv(api, "conv-bad")
    turns = [
        c.turn(1, "hello"),
        c.turn(2, "hello", role=None),                       # role unset
        c.turn(3, "hello", language="fr"),                   # unsupported language
        pb.AnalyzeChatRequest(customer_id="cust-chat", turn_sequence=4, text="x",
                              role=pb.CHAT_ROLE_CUSTOMER),   # no conversation id
        c.turn(5, "hello", customer_id=""),                  # no customer id
        c.turn(6, "x" * (65 * 1024)),                        # text over 64 KiB
        c.turn(7, CHURN_TEXT),
    ]
    a = run_chat(api, server, turns)
    assert not a[0].HasField("error") and not a[6].HasField("error")
    for x, field, code in [(a[1], "role", grpc.StatusCode.INVALID_ARGUMENT),
                           (a[2], "language", grpc.StatusCode.INVALID_ARGUMENT),
                           (a[3], "conversation_id", grpc.StatusCode.INVALID_ARGUMENT),
                           (a[4], "customer_id", grpc.StatusCode.INVALID_ARGUMENT),
                           (a[5], "text", grpc.StatusCode.RESOURCE_EXHAUSTED)]:
        assert x.HasField("error"), x
        assert x.error.code == code.value[0], x.error
        assert field in x.error.message, x.error
        assert not x.counted and not x.escalation.escalate
    assert "en" in a[2].error.message
    assert a[6].customer_turns == 2 and a[6].escalation.escalate
    assert_serving(stubs, server)


def test_invalid_utf8_turn(stubs, api, server):
    """Raw bytes in the text: refused (as the turn's error, or as the stream's status),
    never a crash."""
    pb = api.chat_pb2
    good = Conv(api, "conv-utf8").turn(1, "hello").SerializeToString()
    bad = (pb_bytes_field(1, b"conv-utf8") + pb_bytes_field(2, b"cust-chat") +
           bytes([0x18, 2, 0x20, 1]) + pb_bytes_field(5, b"bad \xc3\x28 text"))
    call = server.channel().stream_stream("/churn.v1.ChatService/AnalyzeChat")
    try:
        answers = [pb.AnalyzeChatResponse.FromString(b)
                   for b in call(iter([good, bad]), timeout=RPC_TIMEOUT_S)]
        assert len(answers) == 2 and answers[1].HasField("error"), answers
        assert answers[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    assert_serving(stubs, server)


def test_conversation_continues_after_reconnect(stubs, api, server):
    """Ten conversations, each: two turns on one connection, then at once the third on a
    new connection. Every third turn must see the state the first two left."""
    got = []
    for k in range(10):
        c = Conv(api, f"conv-reconnect-{k}")
        a = run_chat(api, server, [c.turn(1, "My package never arrived"), c.turn(2, CHURN_TEXT)])
        assert a[1].customer_turns == 2 and a[1].escalation.escalate
        ch = grpc.insecure_channel(server.address,
                                   options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            b = list(api.chat_grpc.ChatServiceStub(ch).AnalyzeChat(
                iter([c.turn(3, "Still waiting"), c.turn(2, CHURN_TEXT)]), timeout=RPC_TIMEOUT_S))
        finally:
            ch.close()
        got.append((b[0].customer_turns, b[0].churn_intent_seen, b[1].replayed))
    assert got == [(3, True, True)] * 10, got


def test_conversation_continues_after_a_later_reconnect_and_a_restart(stubs, api,
                                                                      churnd_factory):
    server = churnd_factory()
    R = api.common_pb2
    c = Conv(api, "conv-durable")
    a = run_chat(api, server, [c.turn(1, "My package never arrived"), c.turn(2, CHURN_TEXT)])
    assert a[1].customer_turns == 2 and a[1].escalation.escalate
    server.close_channels()

    # A restart on the same data directory (a drained stop saves every conversation).
    assert server.stop() == 0
    server.check_clean()
    server.returncode = None
    server.start()
    d = run_chat(api, server, [c.turn(3, "I am cancelling my subscription today"),
                               c.turn(2, CHURN_TEXT)])
    assert d[0].customer_turns == 3, "the tracker state survived the restart"
    assert d[0].churn_intent_seen
    assert not (d[0].escalation.escalate and
                d[0].escalation.reason == R.ESCALATION_REASON_CHURN_INTENT), \
        "churn intent escalated again after the restart"
    assert R.ESCALATION_REASON_CHURN_INTENT in d[0].escalation.active_reasons
    assert d[1].replayed
    server.close_channels()

    # A new connection after the state was saved (the restart above): it goes on.
    assert server.stop() == 0
    server.returncode = None
    server.start()
    ch = server.channel(options=[("grpc.use_local_subchannel_pool", 1)])
    b = list(api.chat_grpc.ChatServiceStub(ch).AnalyzeChat(
        iter([c.turn(4, "Still waiting"), c.turn(1, "My package never arrived")]),
        timeout=RPC_TIMEOUT_S))
    assert b[0].customer_turns == 4 and b[0].churn_intent_seen
    assert b[1].replayed
    assert_serving(stubs, server)


def test_ten_concurrent_chat_streams(stubs, api, server):
    results, errors = {}, []

    def one(i):
        try:
            c = Conv(api, f"conv-par-{i}", f"cust-par-{i}")
            turns = []
            for seq in range(1, 21):
                role = "agent" if seq % 4 == 0 else "customer"
                text = CHURN_TEXT if seq == 10 else f"turn {seq}: still waiting for my refund"
                turns.append(c.turn(seq, text, role=role))
            ch = server.channel(options=[("grpc.use_local_subchannel_pool", 1)])
            answers = list(api.chat_grpc.ChatServiceStub(ch).AnalyzeChat(
                iter(turns), timeout=60))
            results[i] = (turns, answers)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(results) == 10
    for i, (turns, answers) in results.items():
        assert [a.turn_sequence for a in answers] == list(range(1, 21))
        assert all(a.conversation_id == f"conv-par-{i}" for a in answers)
        assert answers[-1].customer_turns == 15
        assert answers[9].escalation.escalate
        assert answers[9].escalation.reason == api.common_pb2.ESCALATION_REASON_CHURN_INTENT
    assert_serving(stubs, server)


def test_customer_turns_carry_the_refreshed_score(stubs, api, churnd_factory, demo_store):
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    c = Conv(api, "conv-scored", "cust-0000042")
    a = run_chat(api, server, [c.turn(1, CHURN_TEXT), c.turn(2, "ok", role="agent"),
                               Conv(api, "conv-unknown", "nobody").turn(1, "hello")])
    assert a[0].WhichOneof("score_result") == "score", a[0]
    s = a[0].score
    assert s.customer_id == "cust-0000042" and 0.0 <= s.probability <= 1.0
    assert s.model_version
    assert a[1].WhichOneof("score_result") is None
    assert a[2].WhichOneof("score_result") == "score_error"
    assert a[2].score_error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert not a[2].HasField("error")


def test_calm_turns_write_one_chat_signal_escalations_write_theirs(stubs, api, server):
    """A customer turn's chat signal reaches the record only when it would change it: the
    first turn, then escalations, churn intent and rising dissatisfaction. The signals are
    written in turn order, so once the escalation's is there every earlier one is too."""
    from fixtures_data import ingest_stub
    c = Conv(api, "conv-signals", customer_id="cust-signals")
    calm = [c.turn(i, "thanks, that works now") for i in range(1, 7)]
    run_chat(api, server, calm + [c.turn(7, CHURN_TEXT)])
    ing = ingest_stub(api, server.channel())
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while True:  # the signals go through the ingestion writer after the answers
        try:
            t = ing.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id="cust-signals"),
                                timeout=RPC_TIMEOUT_S).totals
            if t.chat_escalations >= 1:
                break
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
        assert time.monotonic() < deadline, "the escalation never reached the record"
        time.sleep(0.05)
    assert t.events == 2, t  # the first calm turn and the churn-intent turn


class LiveChat:
    """One AnalyzeChat stream driven turn by turn: send() returns that turn's answer."""

    def __init__(self, api, server):
        import queue
        self.q = queue.Queue()
        self.answers = chat_stub(api, server).AnalyzeChat(iter(self.q.get, None),
                                                          timeout=RPC_TIMEOUT_S)

    def send(self, turn):
        self.q.put(turn)
        return next(self.answers)

    def close(self):
        self.q.put(None)
        assert list(self.answers) == []


def wait_for_events(api, server, customer_id, at_least):
    from fixtures_data import ingest_stub
    ing = ingest_stub(api, server.channel())
    deadline = time.monotonic() + RPC_TIMEOUT_S
    while True:
        t = ing.GetCustomer(api.ingest_pb2.GetCustomerRequest(customer_id=customer_id),
                            timeout=RPC_TIMEOUT_S).totals
        if t.events >= at_least:
            return t
        assert time.monotonic() < deadline, f"{customer_id} never had {at_least} events"
        time.sleep(0.02)


def test_a_conversation_reuses_its_score_until_the_record_changes(stubs, api, churnd_factory,
                                                                   demo_store):
    """The customer's score is computed once and reused by the conversation's later turns
    while the stored record is unchanged (scored_at_ms stays); an event for the customer
    changes the record, and the next turn carries a new score."""
    from fixtures_data import ingest_stub, login
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg)
    cust = "cust-0000042"
    before = ingest_stub(api, server.channel()).GetCustomer(
        api.ingest_pb2.GetCustomerRequest(customer_id=cust), timeout=RPC_TIMEOUT_S).totals.events
    c = Conv(api, "conv-reuse", cust)
    chat = LiveChat(api, server)
    chat.send(c.turn(1, "thanks, that works now"))
    wait_for_events(api, server, cust, before + 1)  # the first turn's chat signal landed
    first = chat.send(c.turn(2, "thanks, that works now")).score
    time.sleep(0.01)
    again = chat.send(c.turn(3, "thanks, that works now")).score
    assert again.scored_at_ms == first.scored_at_ms, "the unchanged record's score is reused"
    assert again.probability == first.probability and again.reasons == first.reasons
    r = ingest_stub(api, server.channel()).RecordEvents(
        iter([login(api, "reuse-login-1", cust)]), timeout=RPC_TIMEOUT_S)
    assert r.accepted == 1, r
    time.sleep(0.01)
    fresh = chat.send(c.turn(4, "thanks, that works now")).score
    assert fresh.scored_at_ms > first.scored_at_ms, "a changed record is scored again"
    chat.close()
    assert_serving(stubs, server)


def test_score_reuse_off_scores_every_turn(stubs, api, churnd_factory, demo_store):
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--chat-score-reuse-s", "0"])
    c = Conv(api, "conv-no-reuse", "cust-0000042")
    chat = LiveChat(api, server)
    chat.send(c.turn(1, "thanks, that works now"))
    stamps = []
    for seq in range(2, 5):
        time.sleep(0.01)
        stamps.append(chat.send(c.turn(seq, "thanks, that works now")).score.scored_at_ms)
    chat.close()
    assert stamps == sorted(set(stamps)), f"every turn scored anew: {stamps}"
