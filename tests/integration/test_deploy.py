"""The container's install steps without a container engine: `meson install --destdir` of this
build into a fresh directory, the demo model written under the share directory as
docker/Dockerfile does, then the installed churnd started on its own files (lexicons,
playbooks, model) with an empty data directory: ready on /readyz, scoring SERVING, metrics
served. The installed binary's compiled-in playbooks path is the share directory, never the
source tree."""

import json
import os
import shutil
import subprocess

from conftest import Churnd, health_check
from fixtures_admin import admin_port, http_request, parse_exposition, scrape
from fixtures_data import demo_store  # noqa: F401 (fixture)


def _install(churnd_bin, dest):
    build = os.path.dirname(os.path.dirname(churnd_bin))  # <build>/src/churnd
    r = subprocess.run(["meson", "install", "-C", build, "--destdir", str(dest), "--no-rebuild",
                        "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["meson", "introspect", build, "--buildoptions"], capture_output=True,
                       text=True, timeout=60, check=True)
    opts = {o["name"]: o["value"] for o in json.loads(r.stdout)}
    prefix = opts["prefix"]
    share = os.path.join(prefix, opts["datadir"], "churnd")
    return (str(dest) + os.path.join(prefix, opts["bindir"], "churnd"), share,
            str(dest) + share)


def test_installed_churnd_serves_from_its_share_directory(stubs, demo_store, churnd_bin,
                                                         tmp_path):
    binary, share, staged = _install(churnd_bin, tmp_path / "dest")
    assert os.access(binary, os.X_OK)
    assert os.path.isfile(os.path.join(staged, "playbooks", "default.playbooks"))
    assert os.path.isfile(os.path.join(staged, "lexicons", "en", "negators.lex"))
    os.makedirs(os.path.join(staged, "models"))
    model = os.path.join(staged, "models", "demo.json")  # the Dockerfile's training step
    shutil.copy(demo_store.logreg, model)
    os.mkdir(tmp_path / "run")
    server = Churnd(binary, str(tmp_path / "run"), args=[
        "--model", model, "--lexicons", os.path.join(staged, "lexicons"),
        "--playbooks", os.path.join(staged, "playbooks", "default.playbooks")])
    try:
        server.start()
        ch = server.channel()
        assert health_check(stubs, ch, "churn.v1.ScoringService").status == \
            stubs.health_pb2.HealthCheckResponse.SERVING
        assert http_request(admin_port(server), "/readyz")[::2] == (200, "ready\n")
        samples = parse_exposition(scrape(server))
        assert samples[("churn_model_served", frozenset())] == 1
        assert "playbooks_not_loaded" not in server.stderr()
    finally:
        server.stop()
        server.close_channels()
    server.check_clean()


def test_installed_default_playbooks_path_is_the_share_directory(churnd_bin, tmp_path):
    """Without --playbooks the installed churnd reads <prefix>/share/churnd (absent under a
    --destdir install, so it says so) and not the source tree it was built from."""
    binary, share, staged = _install(churnd_bin, tmp_path / "dest")
    if os.path.exists(share):
        return  # installed on this machine for real: the path is then simply used
    os.mkdir(tmp_path / "run")
    server = Churnd(binary, str(tmp_path / "run"), args=[
        "--lexicons", os.path.join(staged, "lexicons"), "--admin-listen", "off"])
    try:
        server.start()
        want = os.path.join(share, "playbooks", "default.playbooks")
        server.wait_log(r"playbooks_not_loaded .*" + want.replace(".", r"\."))
        assert "tests/data/playbooks" not in server.stderr()
    finally:
        server.stop()
    server.check_clean(allow="playbooks_not_loaded")
