"""install.py into a temporary home: layout, the recorded runtime, idempotence, dry run, uninstall, refusals.

One real install (a virtual environment with numpy, pillow and onnxruntime from pip's cache or the
index) serves the whole module; the tests that must see a fresh home use --dry-run, which writes nothing,
or that install's runtime (--runtime). Programs the installer looks for (a GIMP, a runtime's Python that
fails) are small shell scripts: its PATH is HOME/bin alone. Finding GIMP is also tested in-process.
tests/test_gimp.py runs the same installer inside the Debian 13 GIMP root.
"""

from __future__ import annotations

import importlib.util
import json
import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SYSTEM_GIMPS = [p for p in ("/var/lib/flatpak/app/org.gimp.GIMP", "/snap/gimp") if Path(p).exists()]
no_system_gimp = pytest.mark.skipif(bool(SYSTEM_GIMPS), reason=f"install.py would find {SYSTEM_GIMPS}")


def install(
    home: Path, *arguments: str, check: bool = True, demo: bool = False, env: dict | None = None
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "GIMP"))}
    environment |= {"HOME": str(home), "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip")}
    environment |= {"PATH": str(home / "bin"), **(env or {})}
    done = subprocess.run(
        [sys.executable, str(REPO / "install.py"), *([] if demo else ["--no-demo"]), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def program(path: Path, script: str) -> Path:
    """A shell script standing in for a program (a GIMP, a runtime's Python)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def fake_gimp(home: Path, name: str, version: str) -> Path:
    return program(home / "bin" / name, f'echo "GNU Image Manipulation Program version {version}"\n')


def gimp_profile(folder: Path) -> Path:
    """A folder that looks like GIMP's own: it has a gimprc."""
    folder.mkdir(parents=True)
    (folder / "gimprc").touch()
    return folder


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
    data = home / ".local" / "share" / "gimp-gan"
    return {"home": home, "gimp": gimp, "data": data, "runtime": data / "runtime", "output": first.stdout}


@pytest.fixture(scope="module")
def installer():
    """install.py as a module, for its GIMP-finding functions."""
    spec = importlib.util.spec_from_file_location("gimp_gan_install", REPO / "install.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_home(installer, tmp_path, monkeypatch):
    """A home with nothing on PATH but HOME/bin, and system folders (Flatpak, snap, /Applications) of its own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setattr(installer, "SYSTEM_FLATPAK_APPS", tmp_path / "var-lib-flatpak-app")
    monkeypatch.setattr(installer, "SNAP_GIMP", tmp_path / "snap" / "gimp")
    monkeypatch.setattr(installer, "MAC_APPLICATIONS", tmp_path / "Applications")
    return home


def test_plugin_layout_and_recorded_runtime(installed):
    folder = installed["gimp"] / "plug-ins" / "gimp-gan"
    entry = folder / "gimp-gan.py"
    assert entry.stat().st_mode & 0o111 and (folder / "protocol.py").is_file()
    record = json.loads((folder / "runtime.json").read_text())
    assert Path(record["python"]).is_file() and record["model_dir"] == str(installed["data"] / "models")
    assert {"enhance-x2", "enhance-x4", "restore", "fashion-style"} <= {m["name"] for m in record["models"]}
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


@no_system_gimp
def test_refuses_a_gimp_2_folder(tmp_path):
    old = tmp_path / ".config" / "GIMP" / "2.10"
    old.mkdir(parents=True)
    done = install(tmp_path, "--gimp-dir", str(old), check=False)
    assert done.returncode != 0 and "needs GIMP 3.0 or newer" in done.stderr
    found = install(tmp_path, "--dry-run", check=False)  # found on its own: the runtime is still planned, GIMP 2 named
    assert found.returncode == 3 and "would create the runtime" in found.stdout
    assert f"no GIMP 3 was found (found only GIMP 2: {old})" in found.stdout


@no_system_gimp
def test_without_gimp_the_run_ends_with_what_to_do_and_status_3(tmp_path, installed):
    planned = install(tmp_path, "--dry-run", demo=True, check=False)
    assert planned.returncode == 3
    last = planned.stdout.rstrip().splitlines()[-6:]  # after everything, the demo included
    assert last[0] == last[-1] == "!" * 100 and "Demo" not in "".join(last)
    assert last[1].startswith("gimp-gan was NOT installed into GIMP: no GIMP 3 was found")
    assert "install GIMP 3" in last[3] and "--gimp-dir DIR" in last[4]
    # For real (with the module's runtime, so quickly): the models are set up all the same, and the status is 3.
    done = install(tmp_path, "--cpu", "--runtime", str(installed["runtime"]), check=False)
    assert done.returncode == 3 and "NOT installed into GIMP" in done.stdout.rstrip().splitlines()[-5]
    assert (tmp_path / ".local" / "share" / "gimp-gan" / "models" / "enhance-x2.onnx").is_file()


def test_a_never_started_gimp_gets_its_user_folder_and_the_plugin(tmp_path, installed):
    fake_gimp(tmp_path, "gimp-3.0", "3.0.4")
    gimp = tmp_path / ".config" / "GIMP" / "3.0"
    done = install(tmp_path, "--cpu", "--runtime", str(installed["runtime"]))
    assert f"GIMP 3.0 is installed but has not been started yet: created its user folder {gimp}\n" in done.stdout
    assert (gimp / "plug-ins" / "gimp-gan" / "gimp-gan.py").is_file()
    assert (gimp / "brushes").is_dir() and (gimp / "scripts").is_dir()  # as GIMP's first start would make it
    again = install(tmp_path, "--cpu", "--runtime", str(installed["runtime"]))
    assert "has not been started" not in again.stdout and "Nothing to do" in again.stdout


@no_system_gimp
def test_a_never_started_gimp_next_to_gimp_2_is_left_to_import_its_settings(tmp_path):
    fake_gimp(tmp_path, "gimp", "3.0.4")
    (tmp_path / ".config" / "GIMP" / "2.10").mkdir(parents=True)
    done = install(tmp_path, "--dry-run", check=False)
    assert done.returncode == 3 and "would create its user folder" not in done.stdout
    assert "GIMP 3.0 is installed but was never started" in done.stdout and "start GIMP 3.0 once" in done.stdout


def test_finds_an_installed_gimp_3_on_path_by_its_version(installer, fake_home):
    fake_gimp(fake_home, "gimp", "2.10.38")
    program(fake_home / "bin" / "gimp-3.0", "exit 1\n")  # a broken one is passed over
    assert installer.unstarted_gimps() == []
    fake_gimp(fake_home, "gimp-3", "3.2.1")
    assert installer.unstarted_gimps() == [installer.GimpFolder(fake_home / ".config/GIMP/3.2", "native", new=True)]


def test_finds_gimp_3_installed_as_flatpak_or_snap(installer, fake_home):
    snap = installer.SNAP_GIMP / "42" / "meta" / "snap.yaml"  # snapd links current to the revision
    snap.parent.mkdir(parents=True)
    (installer.SNAP_GIMP / "current").symlink_to("42")
    snap.write_text("name: gimp\nversion: '2.10.38'\n")
    assert installer.unstarted_gimps() == []
    snap.write_text("name: gimp\nversion: 3.0.4\n")
    (fake_home / ".local" / "share" / "flatpak" / "app" / "org.gimp.GIMP").mkdir(parents=True)
    assert installer.unstarted_gimps() == [
        installer.GimpFolder(fake_home / ".var/app/org.gimp.GIMP/config/GIMP/3.0", "flatpak", new=True),
        installer.GimpFolder(fake_home / "snap/gimp/current/.config/GIMP/3.0", "snap", new=True),
    ]
    installer.link_snap_home()  # the snap's home, as snapd makes it: a folder per revision, current a link
    assert os.readlink(fake_home / "snap" / "gimp" / "current") == "42" and (fake_home / "snap/gimp/42").is_dir()


def test_finds_gimp_3_installed_on_windows_or_macos(installer, fake_home, tmp_path, monkeypatch):
    for name in ("ProgramFiles", "ProgramW6432", "ProgramFiles(x86)", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    assert installer.windows_gimp_version() is None and installer.mac_gimp_version() is None
    monkeypatch.setenv("ProgramFiles", str(tmp_path / "Program Files"))
    program(tmp_path / "Program Files" / "GIMP 3" / "bin" / "gimp-3.2.exe", "")
    assert installer.windows_gimp_version() == "3.2"
    for app, version in (("GIMP-2.10.app", "2.10.38"), ("GIMP.app", "3.0.4")):
        plist = installer.MAC_APPLICATIONS / app / "Contents" / "Info.plist"
        plist.parent.mkdir(parents=True)
        plist.write_bytes(plistlib.dumps({"CFBundleShortVersionString": version}))
    assert installer.mac_gimp_version() == "3.0"


def test_gimp_dir_must_look_like_gimps_unless_create(tmp_path):
    typo = tmp_path / "GIMP" / "3.O"
    done = install(tmp_path, "--dry-run", "--gimp-dir", str(typo), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert f"{typo} does not look like a GIMP 3 user folder" in done.stderr and "--create" in done.stderr
    created = install(tmp_path, "--dry-run", "--gimp-dir", str(typo), "--create")
    assert f"GIMP 3 (native): {typo}" in created.stdout
    for folder in (gimp_profile(tmp_path / "portable-profile"), tmp_path / "Gimp" / "3.2"):  # GIMP's files, or name
        assert f"GIMP 3 (native): {folder}" in install(tmp_path, "--dry-run", "--gimp-dir", str(folder)).stdout


def test_a_python_without_ensurepip_gets_one_line_saying_what_to_install(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, subprocess, venv\n\n\n"
        "def create(env_dir, **kwargs):  # as on Debian without python3-venv: made, then ensurepip fails\n"
        "    os.makedirs(os.path.join(env_dir, 'bin'))\n"
        "    raise subprocess.CalledProcessError(1, [os.path.join(env_dir, 'bin', 'python'), '-m', 'ensurepip'])\n\n\n"
        "venv.create = create\n"
    )
    profile = gimp_profile(tmp_path / "profile")
    arguments = ["--cpu", "--gimp-dir", str(profile), "--data-dir", str(tmp_path / "data")]
    done = install(tmp_path, *arguments, check=False, env={"PYTHONPATH": str(site)})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "sudo apt install python3-venv" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "data" / "runtime").exists()  # half made, it would pass for a runtime next time


def test_pip_failing_in_the_runtime_names_the_wheelhouse(tmp_path):
    runtime = tmp_path / "runtime"
    program(runtime / "bin" / "python", "echo 'ERROR: No matching distribution found for numpy>=1.24' >&2\nexit 1\n")
    profile = gimp_profile(tmp_path / "profile")
    done = install(tmp_path, "--cpu", "--gimp-dir", str(profile), "--runtime", str(runtime), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pip could not install" in done.stderr.splitlines()[-1] and "--wheelhouse DIR" in done.stderr


def test_a_runtime_that_cannot_list_the_models_is_reported(tmp_path):
    runtime = tmp_path / "runtime"
    program(
        runtime / "bin" / "python",
        'case "$*" in\n'
        "  *worker*) echo \"ModuleNotFoundError: No module named 'onnxruntime'\" >&2; exit 1;;\n"
        '  *sysconfig*) echo "${0%/bin/python}/site";;\n'
        "esac\n",
    )
    profile = gimp_profile(tmp_path / "profile")
    done = install(tmp_path, "--cpu", "--gimp-dir", str(profile), "--runtime", str(runtime), check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "could not list the models: ModuleNotFoundError: No module named 'onnxruntime'" in done.stderr
    assert not (profile / "plug-ins" / "gimp-gan").exists()


def test_uninstall_removes_exactly_what_was_installed(installed):
    mine = installed["data"] / "models" / "my-own-model.onnx"
    mine.write_bytes(b"a user's file")
    install(installed["home"], "--uninstall")
    assert not (installed["gimp"] / "plug-ins" / "gimp-gan").exists()
    assert not (installed["data"] / "runtime").exists() and not (installed["data"] / "installed.json").exists()
    assert [p.name for p in (installed["data"] / "models").iterdir()] == ["my-own-model.onnx"]
    assert (installed["gimp"] / "plug-ins").is_dir()  # GIMP's own folder stays
