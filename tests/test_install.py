"""install.py into a temporary home: layout, the recorded runtime, idempotence, dry run, uninstall, refusals.

One real install (a virtual environment with numpy, pillow and onnxruntime from pip's cache or the
index) serves the whole module; the tests that must see a fresh home use --dry-run, which writes nothing.
tests/test_gimp.py runs the same installer inside the Debian 13 GIMP root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def install(home: Path, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "GIMP"))}
    env |= {"HOME": str(home), "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip")}
    done = subprocess.run(
        [sys.executable, str(REPO / "install.py"), "--no-demo", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_mtime_ns, p.stat().st_size)
        for folder in folders
        for p in folder.rglob("*")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    gimp = home / ".config" / "GIMP" / "3.0"
    gimp.mkdir(parents=True)
    first = install(home, "--cpu")
    return {"home": home, "gimp": gimp, "data": home / ".local" / "share" / "gimp-gan", "output": first.stdout}


def test_plugin_layout_and_recorded_runtime(installed):
    folder = installed["gimp"] / "plug-ins" / "gimp-gan"
    entry = folder / "gimp-gan.py"
    assert entry.stat().st_mode & 0o111 and (folder / "protocol.py").is_file()
    record = json.loads((folder / "runtime.json").read_text())
    assert Path(record["python"]).is_file() and record["model_dir"] == str(installed["data"] / "models")
    assert {"enhance-x2", "enhance-x4", "restore", "fashion-dcgan"} <= {m["name"] for m in record["models"]}
    # The recorded Python runs the installed engine, away from this checkout.
    listed = subprocess.run(
        [record["python"], "-c", "import gimp_gan_plugin, onnxruntime; print(gimp_gan_plugin.__file__)"],
        capture_output=True,
        text=True,
        cwd=installed["home"],
        check=True,
    ).stdout
    assert listed.startswith(str(installed["data"] / "runtime"))
    assert "runs models on the CPU" in installed["output"]


def test_a_second_install_changes_nothing(installed):
    before = snapshot(installed["gimp"], installed["data"])
    again = install(installed["home"], "--cpu")
    assert "Nothing to do" in again.stdout
    assert snapshot(installed["gimp"], installed["data"]) == before


def test_dry_run_writes_nothing(tmp_path):
    (tmp_path / ".config" / "GIMP" / "3.0").mkdir(parents=True)
    before = snapshot(tmp_path)
    done = install(tmp_path, "--dry-run", "--cpu")
    assert "would create the runtime environment" in done.stdout and "would copy" in done.stdout
    assert snapshot(tmp_path) == before


def test_finds_the_newest_gimp_3_of_each_kind(tmp_path):
    for folder in (".config/GIMP/3.0", ".config/GIMP/3.2", ".var/app/org.gimp.GIMP/config/GIMP/3.0"):
        (tmp_path / folder).mkdir(parents=True)
    done = install(tmp_path, "--dry-run")
    assert f"GIMP 3 (native): {tmp_path / '.config/GIMP/3.2'}" in done.stdout
    assert f"GIMP 3 (flatpak): {tmp_path / '.var/app/org.gimp.GIMP/config/GIMP/3.0'}" in done.stdout
    assert "GIMP/3.0/plug-ins" not in done.stdout.replace("org.gimp.GIMP/config/GIMP/3.0/plug-ins", "")


def test_refuses_a_gimp_2_folder(tmp_path):
    old = tmp_path / ".config" / "GIMP" / "2.10"
    old.mkdir(parents=True)
    done = install(tmp_path, "--gimp-dir", str(old), check=False)
    assert done.returncode != 0 and "needs GIMP 3.0 or newer" in done.stderr
    found = install(tmp_path, "--dry-run")  # found on its own: the runtime is still planned, GIMP 2 named
    assert "Found only GIMP 2" in found.stdout and "would create the runtime" in found.stdout


def test_without_gimp_it_says_how_to_point_at_it_later(tmp_path):
    done = install(tmp_path, "--dry-run")
    assert "No GIMP 3 user folder was found" in done.stdout and "--gimp-dir" in done.stdout


def test_uninstall_removes_exactly_what_was_installed(installed):
    mine = installed["data"] / "models" / "my-own-model.onnx"
    mine.write_bytes(b"a user's file")
    install(installed["home"], "--uninstall")
    assert not (installed["gimp"] / "plug-ins" / "gimp-gan").exists()
    assert not (installed["data"] / "runtime").exists() and not (installed["data"] / "installed.json").exists()
    assert [p.name for p in (installed["data"] / "models").iterdir()] == ["my-own-model.onnx"]
    assert (installed["gimp"] / "plug-ins").is_dir()  # GIMP's own folder stays
