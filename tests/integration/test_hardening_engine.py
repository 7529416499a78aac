"""The engine-side promises of the hardening pass (issue 13), over the wire.

WatchAlerts resumes from any position: a watcher that reads as fast as the server sends
reaches the head from 1,000, 1,500, 3,000 or 10,000 changes behind it (the backlog is sent at
the client's pace, never cut every 1,024 changes), also while new alerts keep coming (that
only a watcher that does not read is ended as too slow is in test_alerts.py).
"""

import threading
import time

import pytest

from conftest import RPC_TIMEOUT_S, Churnd
from fixtures_data import api  # noqa: F401
from test_alerts import Watcher, alert_api, alert_stub, chat_intents  # noqa: F401

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
