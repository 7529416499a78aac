"""The value behind a score's priority (docs/ALERTS.md "Customer value"): a customer who has
just cancelled their plan and has no recent order is still worth what they last paid for, so
their CHURN_INTENT alert does not sort last with priority 0; a customer with neither a plan
nor a recent order is worth their lifetime spend per month of tenure; and the reasons of
their scores read as sentences, never as model units."""

import pytest

from conftest import RPC_TIMEOUT_S
from fixtures_data import DAY_MS, api, demo_store, event, now_ms, start_on_store  # noqa: F401
from test_alerts import _record, alert_api, chat_intents, wait_listed  # noqa: F401


def _score(api, server, customer_id):
    sc = api.scoring_grpc.ScoringServiceStub(server.channel())
    return sc.GetScore(api.scoring_pb2.GetScoreRequest(customer_id=customer_id),
                       timeout=RPC_TIMEOUT_S).score


def _plan(api, event_id, customer_id, at_ms, direction, to_plan, value):
    E = api.ingest_pb2.Event
    return event(api, event_id, customer_id, at_ms, plan_change=E.PlanChange(
        direction=direction, from_plan="basic", to_plan=to_plan, monthly_value=value))


def test_a_cancelling_customer_keeps_the_value_at_risk(api, alert_api, churnd_factory,
                                                       demo_store):
    pb = api.ingest_pb2
    server = start_on_store(churnd_factory, None, demo_store.logreg)
    c, now = "value-cancel-1", now_ms()
    _record(api, server, [
        _plan(api, "vc-up", c, now - 20 * DAY_MS, pb.PLAN_CHANGE_DIRECTION_UPGRADE, "pro", 49.0),
        _plan(api, "vc-cancel", c, now - 3600 * 1000, pb.PLAN_CHANGE_DIRECTION_CANCEL, "none",
              0.0)])
    s = _score(api, server, c)
    # the plan is worth nothing now, but the customer paid 49 a month until the cancellation
    assert s.customer_value == pytest.approx(49.0 * 12)
    assert s.priority == pytest.approx(s.probability * 49.0 * 12) and s.priority > 0
    chat_intents(api, server, [c], prefix="value")
    alerts, _ = wait_listed(alert_api, server, 1)
    (a,) = [x for x in alerts if x.customer_id == c]
    assert a.cause == alert_api[0].ALERT_CAUSE_CHURN_INTENT
    assert a.priority > 0 and a.score.customer_value == pytest.approx(49.0 * 12)


def test_without_plan_or_recent_orders_the_value_is_lifetime_spend_per_month(api, churnd_factory,
                                                                            demo_store):
    pb = api.ingest_pb2
    E = pb.Event
    server = start_on_store(churnd_factory, None, demo_store.logreg)
    c, now = "value-old-orders-1", now_ms()
    # 120 days of tenure (4 months), 100.00 spent 120 days ago and nothing since
    _record(api, server, [event(api, "vo-order", c, now - 120 * DAY_MS, order=E.Order(
        order_id="vo-1", amount=100.0, currency="EUR", status=pb.ORDER_STATUS_COMPLETED))])
    s = _score(api, server, c)
    assert s.customer_value == pytest.approx(100.0 / 4 * 12, rel=0.02)
    for r in s.reasons:
        assert r.explanation and "log-odds" not in r.explanation, r
        assert "nan" not in r.explanation.lower(), r
