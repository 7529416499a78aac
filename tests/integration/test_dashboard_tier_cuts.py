"""Value- and risk-tier cut changes reach the score index (issue 15): with tiers by share
(--value-tiers top:0.2,0.3, --risk-tiers top:0.1,0.2) the first sweep scores everyone with
the cut-offs in force before it and computes new ones at its end. From then on listings
filtered by tier, and the dashboard's risk x value matrix, must follow the new cut-offs, not
wait for the next sweep (an hour away here): every customer ListAtRiskCustomers returns for
a tier filter has that tier in its freshly computed score, every customer of the full listing
with that tier is returned, and the matrix counts what the full listing says."""

import json
from collections import Counter

from conftest import RPC_TIMEOUT_S
from fixtures_admin import admin_port, http_request
from fixtures_data import api, demo_store, start_on_store  # noqa: F401 (fixtures)

ARGS = ["--risk-tiers", "top:0.1,0.2", "--value-tiers", "top:0.2,0.3",
        "--sweep-interval-s", "3600", "--sweep-delay-s", "0"]


def listing(api, server, risk=(), value=()):
    """Every (customer, risk tier, value tier) ListAtRiskCustomers returns, page by page."""
    pb = api.scoring_pb2
    c = api.common_pb2
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    flt = pb.AtRiskFilter(risk_tiers=list(risk) or [c.RISK_TIER_LOW, c.RISK_TIER_MEDIUM,
                                                     c.RISK_TIER_HIGH],
                          value_tiers=list(value))
    out, token = [], ""
    for _ in range(10000):
        r = stub.ListAtRiskCustomers(pb.ListAtRiskCustomersRequest(
            filter=flt, page_size=1000, page_token=token), timeout=RPC_TIMEOUT_S)
        out += [(s.customer_id, s.risk_tier, s.value_tier) for s in r.scores]
        token = r.next_page_token
        if not token:
            return out
    raise AssertionError("the listing never ended")


def test_listings_and_the_matrix_follow_new_cuts(api, churnd_factory, demo_store):
    c = api.common_pb2
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg, args=ARGS)
    server.wait_log(r"segments_updated", timeout=300)
    everyone = listing(api, server)
    assert len({x[0] for x in everyone}) == len(everyone) > 100
    by_value = Counter(x[2] for x in everyone)
    # the new cuts are in the scores: about 20% of the sample (churned customers included;
    # they are not listed) is high value
    assert 0.1 < by_value[c.VALUE_TIER_HIGH] / len(everyone) < 0.35, by_value
    for tier in (c.VALUE_TIER_HIGH, c.VALUE_TIER_MEDIUM, c.VALUE_TIER_LOW):
        got = listing(api, server, value=[tier])
        assert all(v == tier for _, _, v in got), Counter(v for _, _, v in got)
        assert {x[0] for x in got} == {x[0] for x in everyone if x[2] == tier}
    for tier in (c.RISK_TIER_HIGH, c.RISK_TIER_MEDIUM, c.RISK_TIER_LOW):
        got = listing(api, server, risk=[tier])
        assert all(r == tier for _, r, _ in got), Counter(r for _, r, _ in got)
        assert {x[0] for x in got} == {x[0] for x in everyone if x[1] == tier}
    # the dashboard's matrix counts the same cells
    status, _, body = http_request(admin_port(server), "/api/summary")
    assert status == 200, body
    cells = {(x["risk"], x["value"]): x["customers"] for x in json.loads(body)["cells"]}
    name = {c.RISK_TIER_LOW: "low", c.RISK_TIER_MEDIUM: "medium", c.RISK_TIER_HIGH: "high",
            c.VALUE_TIER_LOW: "low", c.VALUE_TIER_MEDIUM: "medium", c.VALUE_TIER_HIGH: "high"}
    want = Counter((name[r], name[v]) for _, r, v in everyone)
    assert cells == {k: want.get(k, 0) for k in cells}
