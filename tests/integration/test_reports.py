"""Reports (issue 15), over a real churnd and churnctl: the daily aggregate snapshot taken at
the end of the first sweep of a UTC day (and not again that day), its figures equal to what
the gRPC API answers (customers, at-risk counts per tier, expected revenue at risk), read by
`churnctl report trends` from the store (read-only); bad --from / --to exit 2 naming the flag.
"""

import json
import math
import subprocess

import pytest

from conftest import RPC_TIMEOUT_S, ServerFactory
from fixtures_data import SYNTH_CUSTOMERS, api, demo_store, start_on_store  # noqa: F401


def ctl(churnctl_bin, *args):
    return subprocess.run([churnctl_bin, *args], capture_output=True, text=True,
                          timeout=RPC_TIMEOUT_S * 4)


def at_risk_total(api, server, tier):
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    pb = api.scoring_pb2
    r = stub.ListAtRiskCustomers(pb.ListAtRiskCustomersRequest(
        filter=pb.AtRiskFilter(risk_tiers=[tier]), page_size=1), timeout=RPC_TIMEOUT_S * 4)
    return r.total_size


def revenue_at_risk(api, server):
    """Expected revenue at risk over every customer ListAtRiskCustomers ranks (not lost)."""
    stub = api.scoring_grpc.ScoringServiceStub(server.channel())
    pb, common = api.scoring_pb2, api.common_pb2
    tiers = [common.RISK_TIER_LOW, common.RISK_TIER_MEDIUM, common.RISK_TIER_HIGH]
    total, token = 0.0, ""
    while True:
        r = stub.ListAtRiskCustomers(pb.ListAtRiskCustomersRequest(
            filter=pb.AtRiskFilter(risk_tiers=tiers), page_size=1000, page_token=token),
            timeout=RPC_TIMEOUT_S * 4)
        total += sum(x.expected_revenue_at_risk for x in r.scores)
        token = r.next_page_token
        if not token:
            return total


@pytest.fixture(scope="module")
def swept(churnd_bin, tmp_path_factory, demo_store, api):  # noqa: F811
    """A churnd on the demo store after two sweeps; the API's figures; then stopped."""
    factory = ServerFactory(churnd_bin, tmp_path_factory)
    try:
        yield _swept(factory, demo_store, api)
    finally:
        factory.teardown()


def _swept(factory, demo_store, api):  # noqa: F811
    server = start_on_store(factory, demo_store.store, demo_store.logreg,
                            args=["--sweep-interval-s", "1", "--sweep-delay-s", "0"])
    (taken,) = server.wait_log(r"daily_snapshot_taken", timeout=180)
    server.wait_log(r"sweep_finished", count=2, timeout=180)
    common = api.common_pb2
    figures = {"high": at_risk_total(api, server, common.RISK_TIER_HIGH),
               "medium": at_risk_total(api, server, common.RISK_TIER_MEDIUM),
               "low": at_risk_total(api, server, common.RISK_TIER_LOW),
               "revenue": revenue_at_risk(api, server), "log": taken}
    server.stop()
    return server, figures


def test_the_daily_snapshot_is_taken_once_and_equals_the_api(churnctl_bin, swept):
    server, api_figures = swept
    assert server.stderr().count("daily_snapshot_taken") == 1, "once per UTC day"
    r = ctl(churnctl_bin, "report", "trends", "--store", server.data, "--json")
    assert r.returncode == 0, r.stderr
    (day,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert day["customers"] == SYNTH_CUSTOMERS
    assert 0 < day["lost"] < SYNTH_CUSTOMERS / 2
    assert day["scored"] == SYNTH_CUSTOMERS - day["lost"], "every customer not lost is scored"
    for tier in ("high", "medium", "low"):
        assert day["at_risk"][tier] == api_figures[tier], (tier, day, api_figures)
    assert day["at_risk"]["high"] > 0 and day["at_risk"]["medium"] > 0
    assert math.isclose(day["revenue_at_risk"]["total"], api_figures["revenue"], rel_tol=1e-4)
    assert day["alerts_raised"] == 0 and day["open_alerts"] == 0  # the sweep alone raises none
    r = ctl(churnctl_bin, "report", "trends", "--store", server.data)
    assert r.returncode == 0 and "1 days" in r.stdout, r.stdout + r.stderr


def test_trends_period_filters_days(churnctl_bin, swept):
    server, _ = swept
    r = ctl(churnctl_bin, "report", "trends", "--store", server.data, "--json",
            "--from", "2000-01-01", "--to", "2000-12-31")
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr


@pytest.mark.parametrize("args, flag", [
    (["--from", "2026-13-01"], "--from"),
    (["--to", "yesterday"], "--to"),
    (["--from", "2026-02-01", "--to", "2026-01-01"], "--from is after --to"),
    (["--to"], "--to needs a date"),
])
def test_bad_period_exits_2_naming_the_flag(churnctl_bin, tmp_path, args, flag):
    r = ctl(churnctl_bin, "report", "trends", "--store", str(tmp_path), *args)
    assert r.returncode == 2, r.stderr
    assert flag in r.stderr
