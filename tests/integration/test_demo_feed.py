"""tools/demo-feed, which tools/run starts beside churnd: against a server on the demo store
(after its first sweep) it raises TIER_WORSENED and CHURN_INTENT alerts within a few rounds
(a story whose rescore raises the tier and jumps is one alert, never a TIER_WORSENED and a
PROBABILITY_JUMP raised together), and it stops by itself when the server goes away."""

import os
import subprocess
import time

from conftest import RPC_TIMEOUT_S
from fixtures_data import SYNTH_CUSTOMERS, api, demo_store, start_on_store  # noqa: F401
from test_alerts import alert_api, list_all  # noqa: F401


def test_the_demo_feed_makes_alerts_flow(api, alert_api, churnd_factory, demo_store,
                                         churnctl_bin):
    pb = alert_api[0]
    server = start_on_store(churnd_factory, demo_store.store, demo_store.logreg,
                            args=["--sweep-delay-s", "0"])
    server.wait_log(r"sweep_finished")
    root = os.environ.get("CHURN_SOURCE_ROOT", os.getcwd())
    feed = subprocess.Popen([os.path.join(root, "tools", "demo-feed"), "--server",
                             server.address, "--customers", str(SYNTH_CUSTOMERS), "--every",
                             "0.2", "--churnctl", churnctl_bin],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        causes = set()
        deadline = time.monotonic() + 60
        want = {pb.ALERT_CAUSE_TIER_WORSENED, pb.ALERT_CAUSE_CHURN_INTENT}
        while not want <= causes and time.monotonic() < deadline:
            time.sleep(0.5)
            alerts = list_all(alert_api, server)[0]
            causes = {a.cause for a in alerts}
        assert want <= causes, causes
        score_causes = (pb.ALERT_CAUSE_TIER_WORSENED, pb.ALERT_CAUSE_PROBABILITY_JUMP)
        raised = [(a.customer_id, a.created_at_ms) for a in alerts if a.cause in score_causes]
        assert len(raised) == len(set(raised)), "one rescore raised two alerts"
    finally:
        server.stop()
        out, _ = feed.communicate(timeout=RPC_TIMEOUT_S * 2)
    assert feed.returncode == 0, out.decode()
    assert b"is gone, stopping" in out
