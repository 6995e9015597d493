"""A real GIMP 3.0.4 for the tests: a Debian 13 root file system, built once and cached.

The host runs Debian 12, whose GIMP is 2.10; GIMP 3 with Python plug-ins is in Debian 13, which needs a
newer glibc, so it runs in a chroot (the recipe in ../shared/gimp3-headless.md). Building takes a minute
or two and about 1.4 GB; the result lives in ~/.cache/gimp-gan and is reused by every later run.

Every command runs in a private mount namespace (`unshare --mount`), so the /proc and /dev mounts the
root needs vanish with the command and a cached root can never be left with the host's /dev bound into
it.

    python tests/gimp_root.py            # build (or check) the cached root and print where it is
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gimp-gan"
ROOT = CACHE / "gimp3-root"
WHEELHOUSE = CACHE / "wheels-cp313"
MIRROR = "http://deb.debian.org/debian"
# GIMP and its Python bindings; python3-venv for the runtime install.py makes; the X tools take screenshots.
PACKAGES = "gimp python3-gi gir1.2-gimp-3.0 python3-venv xvfb xauth x11-apps imagemagick xdotool"
# The runtime's wheels for trixie's Python 3.13, downloaded on the host so the root never needs the index.
RUNTIME_WHEELS = ["numpy>=1.24", "pillow>=10", "onnxruntime>=1.18"]
READY = ".gimp-gan-ready"
CHECKOUT = "/opt/gimp-gan"  # where copy_checkout puts this repository inside the root
MODELS = "/root/.local/share/gimp-gan/models"  # the user model folder install.py fills inside the root
INSTALL = f"python3 {CHECKOUT}/install.py --wheelhouse /opt/wheels --no-demo"


def unavailable_reason() -> str | None:
    """Why a real GIMP cannot run on this machine, or None when it can (or is already built)."""
    if (ROOT / READY).exists() and os.geteuid() == 0:
        return None
    if sys.platform != "linux":
        return "the real-GIMP tests need Linux (a Debian 13 chroot)"
    if os.geteuid() != 0:
        return "the real-GIMP tests need root (chroot and mount)"
    if not shutil.which("debootstrap"):
        return "the real-GIMP tests need debootstrap (apt-get install debootstrap)"
    if not shutil.which("unshare"):
        return "the real-GIMP tests need unshare (util-linux)"
    return None


def run_in_root(script: str, *, timeout: float = 600, check: bool = True, env: dict | None = None):
    """Run a bash script inside the root, with /proc and /dev mounted only for its duration."""
    exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in (env or {}).items())
    inner = (
        f"mount -t proc proc {ROOT}/proc && mount --bind /dev {ROOT}/dev && "
        f"exec chroot {ROOT} /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "
        f"bash -c {shlex.quote(exports + script)}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", inner],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"in the GIMP root, `{script[:200]}` failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def ensure_root() -> Path:
    """The cached root, built first if missing. A half-built root is never mistaken for a good one."""
    if (ROOT / READY).exists():
        return ROOT
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    building = ROOT.with_name(ROOT.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=ca-certificates", "trixie", str(building), MIRROR],
        check=True,
        capture_output=True,
    )
    # This network's certificate authority is in the host's bundle only.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", building / "etc/ssl/certs/ca-certificates.crt")
    if ROOT.exists():
        shutil.rmtree(ROOT)
    building.rename(ROOT)
    run_in_root(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        + PACKAGES,
        timeout=1800,
    )
    (ROOT / READY).write_text("gimp " + run_in_root("gimp-console-3.0 --version").stdout.strip() + "\n")
    return ROOT


def copy_checkout(repo: Path, inside: str = CHECKOUT) -> str:
    """Put this checkout's files (tracked and new, not ignored ones) into the root; returns the path inside."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    target = ROOT / inside.lstrip("/")
    shutil.rmtree(target, ignore_errors=True)
    for name in filter(None, files):
        source = repo / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return inside


def ensure_wheelhouse() -> Path:
    """Wheels of the runtime's dependencies for the root's Python 3.13, for `install.py --wheelhouse`."""
    marker = WHEELHOUSE / READY
    if not marker.exists():
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        target = ["--python-version", "3.13", "--implementation", "cp", "--only-binary=:all:"]
        target += ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64"]
        download = [sys.executable, "-m", "pip", "download", "--quiet", *target, "-d", str(WHEELHOUSE)]
        subprocess.run([*download, *RUNTIME_WHEELS], check=True)
        marker.touch()
    return WHEELHOUSE


def prepare_clean_install(repo: Path) -> Path:
    """The root with this checkout, the runtime's wheels, an empty GIMP 3 folder and an empty model folder
    (for models to add before running INSTALL); returns the model folder as seen from the host."""
    root = ensure_root()
    copy_checkout(repo)
    run_in_root("rm -rf /root/.config/GIMP /root/.local/share/gimp-gan && mkdir -p /root/.config/GIMP/3.0 /opt/wheels")
    shutil.copytree(ensure_wheelhouse(), root / "opt" / "wheels", dirs_exist_ok=True)
    models = root / MODELS.lstrip("/")
    models.mkdir(parents=True)
    return models


def run_batch(script: str, timeout: float = 900):
    """Run a Python file (a path inside the root) in gimp-console, through python-fu-eval."""
    command = "gimp-console-3.0 -i -d -f --quit --batch-interpreter=python-fu-eval"
    return run_in_root(f"""{command} -b 'exec(open("{script}").read())'""", timeout=timeout)


if __name__ == "__main__":
    print(ensure_root(), (ROOT / READY).read_text().strip())
    print(ensure_wheelhouse())
