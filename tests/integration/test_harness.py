"""The harness can fail: a server that crashes, exits non-zero or reports an error or a
sanitizer finding on stderr fails the test that started it; a process the suite started
that is still running at its end (an orphan too) fails the run."""

import os
import signal
import subprocess

import pytest

from conftest import Churnd, processes_left_behind


@pytest.mark.parametrize("line", [
    "==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x1",
    "src/transport/call.c:10:5: runtime error: signed integer overflow",
    "2026-01-01T00:00:00.000Z error store_failed error=\"x\"",
    '{"ts":"2026-01-01T00:00:00.000Z","level":"error","msg":"x"}',
    "E1122 20:56:40.905304883   30878 chttp2_server.cc:1045] UNKNOWN:x",
])
def test_error_lines_on_stderr_fail_the_test(tmp_path, line):
    s = Churnd("/bin/true", str(tmp_path))
    s.returncode = 0
    (tmp_path / "stderr.log").write_text("2026-01-01T00:00:00.000Z info serving\n" + line + "\n")
    with pytest.raises(pytest.fail.Exception):
        s.check_clean()
    (tmp_path / "stderr.log").write_text("2026-01-01T00:00:00.000Z info serving\n"
                                         "2026-01-01T00:00:00.000Z warn drain_timeout\n")
    s.check_clean()


def test_a_crash_is_a_failure(churnd_factory):
    server = churnd_factory()
    server.signal(signal.SIGSEGV)
    assert server.wait() != 0
    with pytest.raises(AssertionError):
        server.check_clean()
    server.returncode = 0  # handled here: keep the fixture's teardown from failing too
    server.allow_stderr = r".*"


def test_an_orphan_left_running_is_seen_by_the_end_of_run_check():
    before = {p for p, _ in processes_left_behind()}
    # the shell exits at once; its background sleep is orphaned (as a daemon would be)
    out = subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, timeout=30, check=True)
    orphan = int(out.stdout)
    try:
        left = dict(processes_left_behind(before))
        assert orphan in left and "sleep 300" in left[orphan], left
    finally:
        os.kill(orphan, signal.SIGKILL)
        os.waitpid(orphan, 0)
    assert processes_left_behind(before, grace_s=5.0) == []
