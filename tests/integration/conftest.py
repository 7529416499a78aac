"""Shared fixtures of the integration tests: a real churnd on an ephemeral loopback port.

Environment (set by `meson test --suite integration`; set them by hand to run pytest
directly): CHURND and CHURNCTL (paths of the two programs), CHURN_SOURCE_ROOT (repository
root, default: two levels above this file) and CHURN_PY_STUBS (a directory the Python stubs
are generated into once per session, default: a fresh temporary directory).

Every server started here gets a fresh data directory; on teardown it is sent SIGTERM and
must exit 0 with nothing on stderr that looks like an error or a sanitizer report. The
session ends with a check that every process the suite started (churnd, churnctl, tools,
and whatever they started, orphans included) has exited: one left running fails the run.
"""

import ctypes
import importlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("CHURN_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
GRPC_PROTO_DIR = "/usr/share/grpc-proto/grpc"

# Generous: the suite must also pass when churnd is built with ASan + UBSan.
READY_TIMEOUT_S = 10.0
RPC_TIMEOUT_S = 15.0
EXIT_TIMEOUT_S = 30.0

# Lines on a server's stderr that fail a test unless the test expects them.
BAD_STDERR = re.compile(
    r"ERROR|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:"
    r"|^\S+ (error|fatal) |\"level\":\s*\"(error|fatal)\""
    r"|^[EF]\d{4} ",  # gRPC core's own error lines (gpr_log)
    re.MULTILINE,
)

CHURN_SERVICES = [
    "churn.v1.ScoringService",
    "churn.v1.IngestService",
    "churn.v1.ChatService",
    "churn.v1.AlertService",
    "churn.v1.ModelService",
]
HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICES = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "bench: runs a benchmark tool end to end (normal build only: tools/test "
        "deselects it under the sanitizers, where timings and sizes mean nothing)")


def _program(var):
    path = os.environ.get(var)
    if not path:
        pytest.exit(f"{var} is not set: run through `meson test --suite integration` "
                    f"or set CHURND, CHURNCTL (and optionally CHURN_SOURCE_ROOT, "
                    f"CHURN_PY_STUBS)", returncode=2)
    if not os.access(path, os.X_OK):
        pytest.exit(f"{var}={path} is not an executable", returncode=2)
    return path


@pytest.fixture(scope="session")
def churnd_bin():
    return _program("CHURND")


@pytest.fixture(scope="session")
def churnctl_bin():
    return _program("CHURNCTL")


# -- no process left behind (issue 13, item 11) ---------------------------------------------

PR_SET_CHILD_SUBREAPER = 36
LEFT_BEHIND_GRACE_S = 5.0


def become_subreaper():
    """Make this process the reaper of its orphaned descendants (Linux prctl), so that a
    daemonised or orphaned process a test started stays visible as our child."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _proc_children(pid):
    """{child pid: command line} of the live children of pid (zombies have exited: left to
    their subprocess.Popen, or to this process's exit)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) != pid:
            continue
        if fields[0] != "Z":
            out[int(name)] = cmd
    return out


def processes_left_behind(ignore=(), grace_s=0.0):
    """Live children of this process not in `ignore`, after waiting up to grace_s for them
    to exit: [(pid, command line)]."""
    deadline = time.monotonic() + grace_s
    while True:
        left = {p: c for p, c in _proc_children(os.getpid()).items() if p not in ignore}
        if not left or time.monotonic() >= deadline:
            return sorted(left.items())
        time.sleep(0.05)


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """Fails the run (an error at the last test's teardown) when a process the suite started
    is still running at its end; those processes are killed so that nothing outlives it."""
    become_subreaper()
    before = set(_proc_children(os.getpid()))
    yield
    left = processes_left_behind(before, LEFT_BEHIND_GRACE_S)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    if left:
        pytest.fail("processes started by the suite still running at its end (killed now):\n"
                    + "\n".join(f"  pid {p}: {c}" for p, c in left), pytrace=False)


class Stubs:
    """The generated modules: pb (messages) and grpc (stubs) per proto."""

    def __init__(self, out):
        self.directory = out
        if out not in sys.path:
            sys.path.insert(0, out)
        importlib.invalidate_caches()
        imp = importlib.import_module
        self.health_pb2 = imp("health.v1.health_pb2")
        self.health_grpc = imp("health.v1.health_pb2_grpc")
        self.refl_v1_pb2 = imp("reflection.v1.reflection_pb2")
        self.refl_v1_grpc = imp("reflection.v1.reflection_pb2_grpc")
        self.refl_v1alpha_pb2 = imp("reflection.v1alpha.reflection_pb2")
        self.refl_v1alpha_grpc = imp("reflection.v1alpha.reflection_pb2_grpc")
        self.scoring_pb2 = imp("churn.v1.scoring_pb2")
        self.scoring_grpc = imp("churn.v1.scoring_pb2_grpc")

    def reflection(self, version):
        """(messages module, grpc module) of reflection 'v1' or 'v1alpha'."""
        if version == "v1":
            return self.refl_v1_pb2, self.refl_v1_grpc
        return self.refl_v1alpha_pb2, self.refl_v1alpha_grpc


@pytest.fixture(scope="session")
def stubs():
    out = os.environ.get("CHURN_PY_STUBS") or tempfile.mkdtemp(prefix="churn-stubs-")
    # one directory per pytest-xdist worker: two workers never write the same module
    out = os.path.join(out, os.environ.get("PYTEST_XDIST_WORKER", "main"))
    os.makedirs(out, exist_ok=True)
    proto_dir = os.path.join(SOURCE_ROOT, "proto")
    churn_dir = os.path.join(proto_dir, "churn", "v1")
    protos = sorted(os.path.join(churn_dir, f) for f in os.listdir(churn_dir)
                    if f.endswith(".proto"))
    protos += [os.path.join(GRPC_PROTO_DIR, p) for p in (
        "health/v1/health.proto", "reflection/v1/reflection.proto",
        "reflection/v1alpha/reflection.proto")]
    cmd = ["/usr/bin/python3", "-m", "grpc_tools.protoc", f"-I{proto_dir}",
           f"-I{GRPC_PROTO_DIR}", f"--python_out={out}", f"--grpc_python_out={out}"] + protos
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"protoc failed: {' '.join(cmd)}\n{res.stderr}"
    return Stubs(out)


class Churnd:
    """One churnd process on 127.0.0.1:<ephemeral> with its own data directory."""

    def __init__(self, binary, workdir, args=(), env=None, drain_timeout_ms=5000):
        self.binary = binary
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.ready_file = os.path.join(workdir, "ready")
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self.drain_timeout_ms = drain_timeout_ms
        # no sweep unless a test asks for one (--sweep-delay-s in args wins: later flags do):
        # a sweep recomputes the value tiers, which would move under tests comparing scores
        self.args = [binary, "--listen", "127.0.0.1:0", "--data", self.data,
                     "--ready-file", self.ready_file, "--sweep-delay-s", "3600",
                     "--drain-timeout-ms", str(drain_timeout_ms),
                     "--admin-listen", "127.0.0.1:0"] + list(args)  # issue 14: no fixed port
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.address = None
        self.returncode = None
        self._channels = []

    def start(self):
        # a restarted server is running again: teardown must stop it (a stale exit status
        # from the previous run left restarted servers running after the suite)
        self.returncode = None
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr, env=self.env)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"churnd exited with {self.proc.returncode} before serving:\n"
                            f"{self.stderr()}")
            try:
                with open(self.ready_file) as f:
                    text = f.read()
            except FileNotFoundError:
                text = ""
            if text.endswith("\n"):
                self.address = text.strip()
                assert re.fullmatch(r"127\.0\.0\.1:\d+", self.address), self.address
                return self
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        pytest.fail(f"churnd did not write {self.ready_file} within {READY_TIMEOUT_S} s:\n"
                    f"{self.stderr()}")

    @property
    def port(self):
        return int(self.address.rsplit(":", 1)[1])

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def channel(self, options=None):
        """A new channel to this server, closed on teardown."""
        ch = grpc.insecure_channel(self.address, options=options or [])
        self._channels.append(ch)
        return ch

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=EXIT_TIMEOUT_S):
        """Wait for the process to exit; return its exit status (fails on a hang)."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"churnd did not exit within {timeout} s:\n{self.stderr()}")
        self._stderr.close()
        return self.returncode

    def stop(self):
        """SIGTERM; return the exit status."""
        if self.running():
            self.signal(signal.SIGTERM)
        return self.wait(self.drain_timeout_ms / 1000.0 + EXIT_TIMEOUT_S)

    def close_channels(self):
        for ch in self._channels:
            ch.close()
        self._channels = []

    def check_clean(self, allow=None):
        """Assert a clean exit: status 0 and no error or sanitizer report on stderr."""
        err = self.stderr()
        assert self.returncode == 0, f"churnd exited with {self.returncode}:\n{err}"
        for m in BAD_STDERR.finditer(err):
            line = err[err.rfind("\n", 0, m.start()) + 1:err.find("\n", m.start())]
            if allow and re.search(allow, line):
                continue
            pytest.fail(f"churnd stderr has an error line: {line!r}\n--- stderr ---\n{err}")

    def wait_log(self, pattern, timeout=RPC_TIMEOUT_S, count=1):
        """Wait until stderr has `count` lines matching regex `pattern`; return them."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [l for l in self.stderr().splitlines() if re.search(pattern, l)]
            if len(lines) >= count:
                return lines
            if time.monotonic() > deadline:
                pytest.fail(f"no {count} line(s) matching {pattern!r} in churnd's stderr "
                            f"within {timeout} s:\n{self.stderr()}")
            time.sleep(0.05)


class ServerFactory:
    def __init__(self, binary, tmp_path_factory):
        self.binary = binary
        self.tmp = tmp_path_factory
        self.servers = []

    def __call__(self, args=(), env=None, drain_timeout_ms=5000, start=True):
        # ReloadModel reads only inside --model-dir (issue 14): the tests' files live under
        # this worker's base temporary directory, and the demo store's models under the run's
        # (shared by the xdist workers: fixtures_data); a test's own --model-dir comes later
        # and wins
        base = self.tmp.getbasetemp()
        if os.environ.get("PYTEST_XDIST_TESTRUNUID"):
            base = base.parent
        args = ["--model-dir", str(base)] + list(args)
        s = Churnd(self.binary, str(self.tmp.mktemp("churnd")), args, env, drain_timeout_ms)
        self.servers.append(s)
        return s.start() if start else s

    def teardown(self, allow=None):
        failures = []
        for s in self.servers:
            if s.proc is None:
                continue
            s.close_channels()
            if s.returncode is None:
                s.stop()
            try:
                s.check_clean(getattr(s, "allow_stderr", allow))
            except BaseException as e:  # pytest.fail raises a BaseException subclass
                failures.append(str(e))
        if failures:
            pytest.fail("\n".join(failures))


@pytest.fixture
def churnd_factory(churnd_bin, tmp_path_factory):
    """Start servers with extra arguments: churnd_factory(args=[...], env={...})."""
    f = ServerFactory(churnd_bin, tmp_path_factory)
    yield f
    f.teardown()


@pytest.fixture
def server(churnd_factory):
    """A running churnd (debug logs, so each call is logged), stopped by SIGTERM after."""
    return churnd_factory(args=["--log-level", "debug"])


# Statuses a churn.v1 method may answer a request with (DESIGN.md): never UNKNOWN or INTERNAL.
DOCUMENTED_ERRORS = {grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INVALID_ARGUMENT,
                     grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                     grpc.StatusCode.RESOURCE_EXHAUSTED}


def health_check(stubs, channel, service="", timeout=RPC_TIMEOUT_S):
    stub = stubs.health_grpc.HealthStub(channel)
    return stub.Check(stubs.health_pb2.HealthCheckRequest(service=service), timeout=timeout)


def assert_serving(stubs, server):
    """The server still answers: a new connection gets SERVING from Health/Check."""
    assert server.running(), f"churnd died:\n{server.stderr()}"
    # A local subchannel pool: a new TCP connection, not one shared with the test's channels.
    ch = grpc.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
    try:
        resp = health_check(stubs, ch)
        assert resp.status == stubs.health_pb2.HealthCheckResponse.SERVING
    finally:
        ch.close()


def rpc_error(fn, *args, **kwargs):
    """Run a call that must fail; return its grpc.RpcError."""
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kwargs)
    return ei.value
