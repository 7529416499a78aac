"""docker/ against the tree as it is now, without a container engine (none runs here): every
package the image installs covers what the build needs (the pkg-config modules and programs
meson asks for) and what the installed binaries load (their NEEDED libraries, mapped to Debian
packages with dpkg on this bookworm machine); every path the image and the compose file refer
to exists in the repository or in a `meson install --destdir` of this build; the ports agree
between CMD, EXPOSE, HEALTHCHECK, compose and Prometheus; and the installed churnd, started
with exactly the image's ENTRYPOINT and CMD (paths moved into the staging directory, the ports
made ephemeral, the addresses kept), becomes ready and answers the HEALTHCHECK's /readyz."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from conftest import SOURCE_ROOT
from fixtures_admin import http_request
from fixtures_data import demo_store  # noqa: F401 (fixture)

DOCKER = os.path.join(SOURCE_ROOT, "docker")


def instructions(path):
    """[(INSTRUCTION, text)] of a Dockerfile, continuation lines joined, comments dropped."""
    out, cur = [], ""
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur += line
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def stages(path):
    """The instructions of each FROM stage, in order."""
    result = []
    for ins, text in instructions(path):
        if ins == "FROM":
            result.append([])
        result[-1].append((ins, text))
    return result


def apt_packages(stage):
    pkgs = set()
    for ins, text in stage:
        if ins == "RUN" and "apt-get install" in text:
            words = shlex.split(text.split("apt-get install", 1)[1].split("&&")[0])
            pkgs |= {w for w in words if not w.startswith("-")}
    return pkgs


def exec_form(stage, ins):
    (text,) = [t for i, t in stage if i == ins]
    return json.loads(text)


def package_of(path):
    """The Debian package owning path (dpkg may record it under /lib rather than /usr/lib:
    the merged /usr)."""
    tries = [path, re.sub(r"^/usr/lib/", "/lib/", path), re.sub(r"^/lib/", "/usr/lib/", path)]
    for p in tries:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return r.stdout.split(":")[0].split(",")[0].strip()
    pytest.fail(f"no Debian package owns {path}")


def meson_needs():
    """(pkg-config modules, programs) that the meson.build files ask for."""
    mods, progs = set(), set()  # python3: meson's own interpreter, installed with it
    for root, dirs, files in os.walk(SOURCE_ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(("build", ".")) and d != "vendor"]
        if "meson.build" in files:
            with open(os.path.join(root, "meson.build")) as f:
                text = f.read()
            mods |= set(re.findall(r"\bdependency\('([^']+)'", text)) - {"threads"}
            progs |= set(re.findall(r"find_program\('([^'/]+)'", text)) - {"python3"}
            progs |= {"lib" + n + ".so" for n in re.findall(r"find_library\('([^']+)'", text)}
    return mods, progs


def test_the_image_installs_every_package_the_build_and_the_binaries_need(churnd_bin,
                                                                          churnctl_bin):
    build, runtime = stages(os.path.join(DOCKER, "Dockerfile"))
    build_pkgs, runtime_pkgs = apt_packages(build), apt_packages(runtime)
    mods, progs = meson_needs()
    missing = []
    for mod in sorted(mods):
        r = subprocess.run(["pkg-config", "--path", mod], capture_output=True, text=True)
        assert r.returncode == 0, f"pkg-config has no {mod}"
        pkg = package_of(os.path.realpath(r.stdout.strip()))
        if pkg not in build_pkgs:
            missing.append(f"build stage: {pkg} (pkg-config {mod})")
    for prog in sorted(progs):
        if prog.endswith(".so"):
            path = subprocess.run(["sh", "-c", f"ls /usr/lib/*/{prog} /usr/lib/{prog} 2>/dev/null"],
                                  capture_output=True, text=True).stdout.split()[0]
        else:
            path = os.path.realpath(shutil.which(prog))
        pkg = package_of(path)
        if pkg not in build_pkgs and not (pkg == "libc6-dev" and "build-essential" in build_pkgs):
            missing.append(f"build stage: {pkg} ({prog})")
    for binary in (churnd_bin, churnctl_bin):
        r = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True)
        for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout):
            if re.match(r"lib(asan|ubsan|lsan|tsan)\.", lib):
                continue  # this build's sanitizers: the image builds without them
            path = subprocess.run(["sh", "-c", f"ls /lib/*/{lib} /usr/lib/*/{lib} 2>/dev/null"],
                                  capture_output=True, text=True).stdout.split()[0]
            pkg = package_of(os.path.realpath(path))
            # libc6 is in every Debian image, and so is libgcc-s1 (libc6 depends on it; clang's
            # sanitizer runtime, linked into tools/test's sanitizer build, loads it)
            if pkg not in runtime_pkgs and pkg not in ("libc6", "libgcc-s1"):
                missing.append(f"runtime stage: {pkg} ({os.path.basename(binary)} loads {lib})")
    assert not missing, "docker/Dockerfile does not install:\n" + "\n".join(sorted(set(missing)))


def test_every_port_agrees_between_image_compose_and_prometheus():
    _, runtime = stages(os.path.join(DOCKER, "Dockerfile"))
    cmd = exec_form(runtime, "CMD")
    grpc_port = cmd[cmd.index("--listen") + 1].rsplit(":", 1)[1]
    admin_port = cmd[cmd.index("--admin-listen") + 1].rsplit(":", 1)[1]
    (expose,) = [t.split() for i, t in runtime if i == "EXPOSE"]
    assert sorted(expose) == sorted([grpc_port, admin_port])
    (health,) = [t for i, t in runtime if i == "HEALTHCHECK"]
    assert f"http://127.0.0.1:{admin_port}/readyz" in health
    with open(os.path.join(DOCKER, "compose.yaml")) as f:
        compose = f.read()
    assert f'"{grpc_port}:{grpc_port}"' in compose and f'"{admin_port}:{admin_port}"' in compose
    assert f'"churnd:{grpc_port}"' in compose, "the load generator's --server"
    with open(os.path.join(DOCKER, "prometheus.yml")) as f:
        assert f"churnd:{admin_port}" in f.read()


def test_every_file_the_images_copy_exists():
    for name in ("Dockerfile", "Dockerfile.load"):
        for stage in stages(os.path.join(DOCKER, name)):
            for ins, text in stage:
                if ins == "COPY" and not text.startswith("--from"):
                    src = shlex.split(text)[0]
                    assert src == "." or os.path.exists(os.path.join(SOURCE_ROOT, src)), \
                        f"{name}: COPY {src}"
    with open(os.path.join(DOCKER, "compose.yaml")) as f:
        compose = f.read()
    for dockerfile in re.findall(r"dockerfile: (\S+?)\}", compose):
        assert os.path.isfile(os.path.join(SOURCE_ROOT, dockerfile)), dockerfile
    for mount in re.findall(r'"\./([^":]+):', compose):
        assert os.path.isfile(os.path.join(DOCKER, mount)), mount


def _install(churnd_bin, dest):
    build = os.path.dirname(os.path.dirname(churnd_bin))
    r = subprocess.run(["meson", "install", "-C", build, "--destdir", str(dest), "--no-rebuild",
                        "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["meson", "introspect", build, "--buildoptions"], capture_output=True,
                       text=True, timeout=60, check=True)
    return {o["name"]: o["value"] for o in json.loads(r.stdout)}["prefix"]


def _staged(path, dest, prefix, tmp_path):
    """An absolute path of the image, in this test's staging directory: /usr/... under the
    install's prefix, anything else (the data volume) under tmp_path."""
    if path.startswith("/usr/"):
        return str(dest) + prefix + path[len("/usr"):]
    return str(tmp_path / "root") + path


def test_the_image_entrypoint_serves_on_the_installed_files(stubs, demo_store, churnd_bin,
                                                            tmp_path):
    dest = tmp_path / "dest"
    prefix = _install(churnd_bin, dest)
    build, runtime = stages(os.path.join(DOCKER, "Dockerfile"))
    argv = exec_form(runtime, "ENTRYPOINT") + exec_form(runtime, "CMD")
    # the build stage's model: trained there into the staging root (here: the demo model)
    model = argv[argv.index("--model") + 1]
    assert any(ins == "RUN" and "/staging" + model in text for ins, text in build)
    os.makedirs(os.path.dirname(_staged(model, dest, prefix, tmp_path)))
    shutil.copy(demo_store.logreg, _staged(model, dest, prefix, tmp_path))
    os.makedirs(_staged("/var/lib/churnd", dest, prefix, tmp_path))  # the volume
    run = []
    for a in argv:
        if a.startswith("/"):
            run.append(_staged(a, dest, prefix, tmp_path))
            assert os.path.exists(run[-1]) or a.startswith("/var/lib/churnd/"), f"{a}: missing"
        elif re.fullmatch(r"[0-9.]+:\d+", a):
            run.append(a.rsplit(":", 1)[0] + ":0")  # the same address, an ephemeral port
        else:
            run.append(a)
    ready = tmp_path / "ready"
    log = open(tmp_path / "churnd.log", "wb")
    proc = subprocess.Popen(run + ["--ready-file", str(ready)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.read_text().endswith("\n")):
            assert proc.poll() is None, \
                f"the image's command exits {proc.returncode}:\n{' '.join(run)}\n" + \
                (tmp_path / "churnd.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "churnd.log").read_text()
            time.sleep(0.05)
        text = (tmp_path / "churnd.log").read_text()
        port = int(re.search(r"admin_listening .*port=(\d+)", text).group(1))
        # the HEALTHCHECK: curl -fsS http://127.0.0.1:<admin>/readyz
        assert http_request(port, "/readyz")[::2] == (200, "ready\n")
        # the default playbooks are read from the compiled-in <prefix>/share path: absent here
        # (a --destdir install), present in the image (its COPY of the staging root)
        m = re.search(r'playbooks_not_loaded reason="([^:"]+): cannot open', text)
        if m:
            assert m.group(1).startswith(prefix + "/share/churnd/"), m.group(1)
            assert os.path.isfile(str(dest) + m.group(1)), f"not installed: {m.group(1)}"
        assert "model_loaded" in text
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "churnd.log").read_text()
