"""Korean over the wire (issue 17): AnalyzeText picks the language by script when none is
given and says which it used, evidence offsets slice the original (also decomposed) Korean
text to the term, an unknown code is INVALID_ARGUMENT listing en, ko and auto; a Korean
conversation typed into `churnctl chat` escalates at the turn the customer says they are
leaving, with Korean evidence, in a stream that mixes English and Korean turns; `churnctl
sentiment` reads Korean lines."""

import json
import os
import subprocess
import unicodedata

import grpc

from conftest import RPC_TIMEOUT_S, SOURCE_ROOT, assert_serving, rpc_error
from fixtures_data import api  # noqa: F401
from test_chat import Conv, analyze_text, chat_stub, run_chat


def test_korean_text_is_detected_with_evidence_offsets(stubs, api, server):
    text = "안녕하세요, 배송이 아직도 안 왔어요ㅠㅠ 진짜 짜증나네요"
    raw = text.encode("utf-8")
    for lang in ("", "auto", "ko"):
        r = analyze_text(api, server, text, lang)
        assert r.language == "ko", (lang, r.language)
        assert r.sentiment.compound < -0.05
        terms = {e.term: raw[e.byte_start:e.byte_end].decode("utf-8") for e in r.evidence}
        assert terms.get("짜증나다") == "짜증나네요", terms
        assert terms.get("ㅠㅠ") == "ㅠㅠ", terms
    # Decomposed Hangul matches like the composed text; offsets are in the bytes sent.
    nfd = unicodedata.normalize("NFD", "정말 최고예요")
    r = analyze_text(api, server, nfd)
    assert r.language == "ko" and r.sentiment.compound > 0.05
    best = [e for e in r.evidence if e.term == "최고"][0]
    assert nfd.encode("utf-8")[best.byte_start:best.byte_end].decode("utf-8") == \
        unicodedata.normalize("NFD", "최고예요")
    # English still goes to English.
    assert analyze_text(api, server, "this is terrible").language == "en"


def test_korean_flags_and_unknown_codes(stubs, api, server):
    assert analyze_text(api, server, "그냥 탈퇴할게요").flags.churn_intent
    assert not analyze_text(api, server, "탈퇴 안 할게요").flags.churn_intent
    assert analyze_text(api, server, "상담원 연결해주세요").flags.human_requested
    assert analyze_text(api, server, "소비자원에 신고할게요").flags.hard_trigger
    stub = chat_stub(api, server)
    for lang in ("kr", "ko-KR", "jp"):
        err = rpc_error(stub.AnalyzeText, api.chat_pb2.AnalyzeTextRequest(text="안녕",
                                                                          language=lang),
                        timeout=RPC_TIMEOUT_S)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        assert "supported: en, ko, auto" in err.details(), err.details()
    # en asked for explicitly analyzes Korean with the English lexicons: nothing found
    r = analyze_text(api, server, "배송이 너무 늦어요", "en")
    assert r.language == "en" and not r.evidence
    assert_serving(stubs, server)


def test_a_mixed_stream_escalates_the_korean_conversation_at_its_turn(stubs, api, server):
    R = api.common_pb2
    ko = Conv(api, "conv-ko", "cust-ko")
    en = Conv(api, "conv-en", "cust-en")
    a = run_chat(api, server, [
        ko.turn(1, "안녕하세요, 주문한 물건이 아직 안 왔어요"),
        en.turn(1, "Hi, my invoice looks wrong"),
        ko.turn(2, "상담사님 답변이 너무 늦네요 ㅡㅡ", role="customer"),
        ko.turn(3, "죄송합니다 고객님, 확인해 보겠습니다", role="agent"),
        ko.turn(4, "됐고요 그냥 탈퇴할게요"),
    ])
    assert [x.language for x in a] == ["ko", "en", "ko", "ko", "ko"]
    assert not any(x.escalation.escalate for x in a[:4])
    assert a[2].sentiment.compound < -0.05
    assert not a[3].counted, "the agent's polite turn is context"
    e = a[4].escalation
    assert e.escalate and e.reason == R.ESCALATION_REASON_CHURN_INTENT
    assert a[4].flags.churn_intent
    assert "탈퇴" in [x.term for x in a[4].evidence]


def test_churnctl_chat_and_sentiment_take_korean(stubs, server, churnctl_bin):
    turns = "배송이 너무 늦어요\n몇 번째 문의하는 건지 모르겠네요\n그냥 해지해주세요\n"
    out = subprocess.run([churnctl_bin, "--server", server.address, "--timeout", "15000",
                          "chat", "--customer", "cust-ko-ctl", "--json"],
                         input=turns.encode(), capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    a = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(a) == 3
    assert all(x["language"] == "ko" for x in a)
    assert not a[0].get("escalation", {}).get("escalate")
    assert a[2]["escalation"]["escalate"], a[2]
    assert a[2]["escalation"]["reason"] == "ESCALATION_REASON_CHURN_INTENT"
    out = subprocess.run([churnctl_bin, "sentiment", "--lexicons",
                          os.path.join(SOURCE_ROOT, "lexicons")], capture_output=True, timeout=30,
                         input="좋지 않아요\nthanks a lot\n".encode())
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["language"] for r in rows] == ["ko", "en"]
    assert rows[0]["compound"] < -0.05 and rows[1]["compound"] > 0.05


def test_churnctl_sentiment_reads_and_writes_in_blocks(churnctl_bin):
    """`churnctl sentiment` reads 1 MiB blocks and writes 1 MiB blocks (issue 17): lines that
    cross a block boundary, CRLF, an empty line, a line over 64 KiB that spans two blocks, an
    answer larger than a whole output block, and a last line without a newline each get their
    one answer, in order."""
    short = ["배송이 너무 늦어요", "thanks a lot", "그냥 해지해주세요", "no evidence here"]
    lines = [short[i % 4] for i in range(60000)]  # about 1.7 MB: several input blocks
    lines[1000] = "좋지 않아요\r"                   # CRLF
    lines[1001] = ""                                # empty
    lines[30000] = "x" * (1024 * 1024 + 100)        # over 64 KiB, across a block boundary
    lines[30001] = "😡" * 16000                     # 64,000 bytes: a 1.7 MB answer
    data = ("\n".join(lines) + "\n마지막 줄").encode()  # no final newline
    out = subprocess.run([churnctl_bin, "sentiment", "--lexicons",
                          os.path.join(SOURCE_ROOT, "lexicons")], input=data,
                         capture_output=True, timeout=60)
    assert out.returncode == 1, out.stderr  # the long line is an error, the rest answered
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(rows) == len(lines) + 1
    for i in (0, 1, 2, 3, 29999, 30002, 59999):
        assert rows[i]["text"] == lines[i], i
    assert rows[1000]["text"] == "좋지 않아요" and rows[1000]["compound"] < -0.05
    assert rows[1001]["text"] == "" and rows[1001]["evidence"] == []
    assert rows[30000] == {"line": 30001, "error": "line over 64 KiB"}
    assert rows[30001]["text"] == lines[30001] and len(rows[30001]["evidence"]) == 16000
    assert rows[-1]["text"] == "마지막 줄"
    assert rows[2]["churn_intent"] and rows[2]["language"] == "ko"
