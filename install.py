#!/usr/bin/env python3
"""Install gimp-gan into GIMP 3: the plug-in, its runtime and the bundled models; then show a demo.

    python3 install.py                  # install (or update) and run the demo
    python3 install.py --dry-run        # print what would be done, change nothing
    python3 install.py --uninstall      # remove exactly what was installed

The plug-in runs inside GIMP; the models run in the *runtime*, a virtual environment of its own with
numpy, pillow, onnxruntime (onnxruntime-gpu when an NVIDIA GPU is found) and the gimp-gan engine.
GIMP's bundled Python on Windows cannot load PyPI wheels, and a crash in inference must never take
GIMP down, so the plug-in starts the runtime's Python for each run. The plug-in folder holds a
runtime.json that says where that Python and the models are.

A GIMP 3 that is installed but was never started has no user folder yet: it is created, as GIMP's first
start would, and the plug-in goes there. --gimp-dir takes only a folder that looks like GIMP's (or --create).

Runs with any Python ≥ 3.10 and only the standard library. Running it twice changes nothing.

Exit status: 0 when the plug-in was installed (or the dry run planned it); 3 when no GIMP 3 was found to
install it into (the runtime and the models are set up all the same; the last lines say what to do);
1 when something stopped it (one line says what); 2 for a wrong command line.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import plistlib
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
PLUGIN = "gimp-gan"
PLUGIN_FILES = [REPO / "gimp_gan_plugin" / PLUGIN / f"{PLUGIN}.py", REPO / "gimp_gan_plugin" / "protocol.py"]
ENGINE_PACKAGE = REPO / "gimp_gan_plugin"
RUNTIME_PACKAGES = ["numpy>=1.24", "pillow>=10"]
CPU_ONNXRUNTIME, GPU_ONNXRUNTIME = "onnxruntime>=1.18", "onnxruntime-gpu[cuda,cudnn]>=1.18"
FLATPAK_ID = "org.gimp.GIMP"
DEMO_PHOTO = REPO / "tests" / "data" / "ladybird.png"
MANIFEST = "installed.json"
NOT_INSTALLED = 3  # the exit status when no GIMP got the plug-in (see the docstring)
GIMP_COMMANDS = ("gimp-3.0", "gimp-3", "gimp")
PROBE_TIMEOUT_S = 10
SYSTEM_FLATPAK_APPS = Path("/var/lib/flatpak/app")
SNAP_GIMP = Path("/snap/gimp")
MAC_APPLICATIONS = Path("/Applications")
# The folders GIMP's first start makes in its user folder (app/core/gimp-user-install.c).
GIMP_USER_FOLDERS = (
    *("brushes", "dynamics", "fonts", "gradients", "palettes", "patterns", "tool-presets", "plug-ins", "modules"),
    *("interpreters", "environ", "scripts", "templates", "themes", "icons", "tmp", "curves", "levels", "filters"),
    *("fractalexplorer", "gfig", "gflare", "gimpressionist"),
)
GIMP_PROFILE_FILES = ("gimprc", "sessionrc", "pluginrc", "shortcutsrc", "menurc", "toolrc", "devicerc", "contextrc")


@dataclass(frozen=True)
class GimpFolder:
    """A GIMP 3 user folder, and how that GIMP runs plug-ins (native, flatpak or snap). `new`: that GIMP is
    installed but was never started, so its folder is still to be made."""

    path: Path
    kind: str = "native"
    new: bool = False


def data_dir() -> Path:
    """The per-user folder of the runtime and the models (the engine's discovery.user_model_dir's parent)."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "gimp-gan"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "gimp-gan"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "gimp-gan"


def flatpak_data_dir() -> Path:
    """Inside GIMP's Flatpak sandbox, ~/.var/app/<id>/data is visible at the same path."""
    return Path.home() / ".var" / "app" / FLATPAK_ID / "data" / "gimp-gan"


def _version(folder: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in folder.name.split("."))


def gimp_bases() -> list[tuple[Path, str]]:
    """The folders that hold GIMP's user folders (one per major.minor version), per kind of GIMP."""
    home = Path.home()
    if sys.platform == "win32":
        return [(Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "GIMP", "native")]
    if sys.platform == "darwin":
        return [(home / "Library" / "Application Support" / "GIMP", "native")]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [
        (config / "GIMP", "native"),
        (home / ".var" / "app" / FLATPAK_ID / "config" / "GIMP", "flatpak"),
        (home / "snap" / "gimp" / "current" / ".config" / "GIMP", "snap"),
    ]


def gimp_folders() -> tuple[list[GimpFolder], list[Path]]:
    """GIMP 3 user folders on this machine (newest 3.x per kind), and any GIMP 2 folders seen."""
    if os.environ.get("GIMP3_DIRECTORY"):
        return [GimpFolder(Path(os.environ["GIMP3_DIRECTORY"]))], []
    found, old = [], []
    for base, kind in gimp_bases():
        versions = [p for p in base.glob("*") if p.is_dir() and re.fullmatch(r"\d+\.\d+", p.name)]
        newest = max((p for p in versions if p.name.startswith("3.")), key=_version, default=None)
        if newest:
            found.append(GimpFolder(newest, kind))
        old += [p for p in versions if p.name.startswith("2.")]
    return found, old


def user_folder_version(version: str) -> str | None:
    """The name of a GIMP 3's user folder ("3.0") from its version ("3.0.4", "3"); None for any other GIMP."""
    match = re.match(r"\s*3(\.\d+)?(?!\d)", version)
    return "3" + (match.group(1) or ".0") if match else None


def _probe(*command: str) -> str:
    """What a command prints when it succeeds, else "": looking for GIMP must never stop (or hang) the install."""
    found = shutil.which(command[0])
    if not found:
        return ""
    try:
        done = subprocess.run(
            [found, *command[1:]],
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            timeout=PROBE_TIMEOUT_S,
            env=dict(os.environ, LC_ALL="C"),
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout + done.stderr if done.returncode == 0 else ""


def windows_gimp_version() -> str | None:
    """GIMP 3's installer makes Program Files\\GIMP 3 (for one user: %LOCALAPPDATA%\\Programs\\GIMP 3), with
    bin\\gimp-3.N.exe."""
    roots = [os.environ.get(name) for name in ("ProgramFiles", "ProgramW6432", "ProgramFiles(x86)")]
    if os.environ.get("LOCALAPPDATA"):
        roots.append(str(Path(os.environ["LOCALAPPDATA"]) / "Programs"))
    folders = [folder for root in roots if root for folder in sorted(Path(root).glob("GIMP 3*"))]
    if not folders:
        return None
    binary = next(folders[0].glob("bin/gimp-3.*.exe"), None)
    return user_folder_version(binary.name.removeprefix("gimp-")) if binary else "3.0"


def mac_gimp_version() -> str | None:
    """/Applications/GIMP*.app, whose Info.plist says its version (GIMP 2.10's is there under the same name)."""
    for app in sorted(MAC_APPLICATIONS.glob("GIMP*.app")):
        try:
            version = plistlib.loads((app / "Contents" / "Info.plist").read_bytes())["CFBundleShortVersionString"]
        except (OSError, ValueError, KeyError):
            version = app.stem.removeprefix("GIMP").strip("- ") or "3.0"
        if found := user_folder_version(version):
            return found
    return None


def native_gimp_version() -> str | None:
    """A GIMP 3 on PATH (`gimp` may well be GIMP 2: its --version decides), else in Windows' or macOS's usual place."""
    for name in GIMP_COMMANDS:
        match = re.search(r"version (\S+)", _probe(name, "--version"))
        if match and (version := user_folder_version(match.group(1))):
            return version
    if sys.platform == "win32":
        return windows_gimp_version()
    return mac_gimp_version() if sys.platform == "darwin" else None


def flatpak_gimp_version() -> str | None:
    """GIMP's Flatpak, installed for this user or system-wide; `flatpak info` says its version (2.10 until 2025)."""
    info = _probe("flatpak", "info", FLATPAK_ID)
    apps = (Path.home() / ".local" / "share" / "flatpak" / "app", SYSTEM_FLATPAK_APPS)
    if not info and not any((apps_folder / FLATPAK_ID).is_dir() for apps_folder in apps):
        return None
    match = re.search(r"^\s*Version:\s*(\S+)", info, re.M)
    return user_folder_version(match.group(1) if match else "3.0")


def snap_gimp_version() -> str | None:
    """GIMP's snap; its snap.yaml says its version."""
    if not SNAP_GIMP.is_dir():
        return None
    try:
        match = re.search(r"^version:\s*'?\"?(\S+)", (SNAP_GIMP / "current" / "meta" / "snap.yaml").read_text(), re.M)
    except OSError:
        match = None
    return user_folder_version(match.group(1) if match else "3.0")


def unstarted_gimps() -> list[GimpFolder]:
    """The user folders to be of the GIMP 3s installed here: GIMP makes its folder only at its first start."""
    probes = {"native": native_gimp_version, "flatpak": flatpak_gimp_version, "snap": snap_gimp_version}
    return [GimpFolder(base / version, kind, new=True) for base, kind in gimp_bases() if (version := probes[kind]())]


def link_snap_home() -> None:
    """snapd keeps the snap's home per revision, ~/snap/gimp/REV, and links ~/snap/gimp/current to it; a real
    folder named current, made before GIMP's first start, would be in its way."""
    current = Path.home() / "snap" / "gimp" / "current"
    if not current.exists() and not current.is_symlink():
        revision = os.readlink(SNAP_GIMP / "current")
        (current.parent / revision).mkdir(parents=True, exist_ok=True)
        current.symlink_to(revision)


def looks_like_gimp_folder(path: Path) -> bool:
    """GIMP's own files are in it, or it is named the way GIMP names it (GIMP/3.N), as automatic discovery wants."""
    if re.fullmatch(r"3\.\d+", path.name) and path.parent.name.lower() == "gimp":
        return True
    return path.is_dir() and any((path / name).exists() for name in (*GIMP_PROFILE_FILES, *GIMP_USER_FOLDERS))


def check_gimp_dir(path: Path, create: bool = False) -> GimpFolder:
    """A folder given with --gimp-dir; GIMP 2's folders are refused, as their plug-in API differs, and so are
    folders that do not look like GIMP's (a typo would get a plug-in no GIMP reads) unless `create`."""
    if re.fullmatch(r"2\.\d+", path.name):
        sys.exit(
            f"{path} is a GIMP {path.name} folder. gimp-gan needs GIMP 3.0 or newer (its plug-in API is "
            "different); install GIMP 3 and run this again, or pass its folder with --gimp-dir."
        )
    if not create and not looks_like_gimp_folder(path):
        sys.exit(
            f"{path} does not look like a GIMP 3 user folder (no gimprc, plug-ins/ ... in it); check the path, "
            "or pass --create to use it anyway."
        )
    kind = "flatpak" if f"/{FLATPAK_ID}/" in path.as_posix() else "native"
    return GimpFolder(path, kind)


def has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


class Installer:
    """Plans and performs the installation; records what it created so that --uninstall can remove it."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.dry_run, self.changes = args, args.dry_run, []
        if args.gimp_dir:
            self.gimps, self.old_gimps = [check_gimp_dir(args.gimp_dir, args.create)], []
        else:
            self.gimps, self.old_gimps = gimp_folders()
        # A GIMP 3 that was never started gets its folder now, unless a GIMP 2 folder is next to it: GIMP's own
        # first start imports those settings, but only into a folder that is not there yet.
        unstarted = [] if self.gimps else unstarted_gimps()
        self.to_start = [g for g in unstarted if any(old.parent == g.path.parent for old in self.old_gimps)]
        self.gimps += [g for g in unstarted if g not in self.to_start]
        flatpak_only = bool(self.gimps) and all(g.kind == "flatpak" for g in self.gimps)
        default_data = flatpak_data_dir() if flatpak_only else data_dir()
        self.data = args.data_dir or default_data
        self.runtime = args.runtime or self.data / "runtime"
        self.models = self.data / "models"
        self.gpu = not args.cpu and has_nvidia_gpu()
        # A Flatpak GIMP runs plug-ins in its sandbox, where only the sandbox's Python can run the runtime.
        self.flatpak = flatpak_only

    # --- small steps, each recorded -----------------------------------------------------------------

    def note(self, text: str) -> None:
        self.changes.append(text)
        print(("  would " if self.dry_run else "  ") + text)

    def copy(self, source: Path, target: Path, executable: bool = False) -> bool:
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            return False
        self.note(f"copy {source.relative_to(REPO)} → {target}")
        if not self.dry_run:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            if executable:
                target.chmod(0o755)
        return True

    def write_json(self, target: Path, content: dict) -> bool:
        text = json.dumps(content, indent=1, ensure_ascii=False) + "\n"
        if target.exists() and target.read_text(encoding="utf-8") == text:
            return False
        self.note(f"write {target}")
        if not self.dry_run:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return True

    def run(self, command: list, **kwargs) -> subprocess.CompletedProcess | None:
        self.note("run " + " ".join(map(str, command)))
        return None if self.dry_run else subprocess.run(command, check=True, **kwargs)

    def pip(self, command: list, packages: list[str], **kwargs) -> None:
        """pip in the runtime: when it fails, it is for want of a network or of a wheel far more often than not."""
        try:
            self.run(command, **kwargs)
        except (subprocess.CalledProcessError, OSError):
            source = f"the wheels in {self.args.wheelhouse}" if self.args.wheelhouse else "the package index"
            sys.exit(
                f"pip could not install the runtime's packages from {source}. Without "
                f"network, pass --wheelhouse DIR with wheels from `pip download {' '.join(packages)} -d DIR`, made "
                f"for Python {sys.version_info.major}.{sys.version_info.minor} on this platform."
            )

    # --- the parts ------------------------------------------------------------------------------------

    def python(self) -> Path:
        return self.runtime / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")

    def in_runtime(self, *arguments: str) -> list[str]:
        """A command line that runs the runtime's Python where the plug-in will run it."""
        if self.flatpak:
            return ["flatpak", "run", f"--command={self.python()}", FLATPAK_ID, *arguments]
        return [str(self.python()), *arguments]

    def install_runtime(self) -> None:
        onnxruntime = GPU_ONNXRUNTIME if self.gpu else CPU_ONNXRUNTIME
        wanted = {"packages": [*RUNTIME_PACKAGES, onnxruntime], "wheelhouse": str(self.args.wheelhouse or "")}
        stamp = self.runtime / "gimp-gan-runtime.json"
        fresh = not self.python().exists()
        if fresh:
            if self.flatpak:
                self.run(["flatpak", "run", "--command=python3", FLATPAK_ID, "-m", "venv", str(self.runtime)])
            else:
                self.create_venv()
        current = json.loads(stamp.read_text()) if stamp.exists() else None
        if fresh or current != wanted or self.args.upgrade:
            pip = self.in_runtime("-m", "pip", "install", "--quiet", "--disable-pip-version-check")
            if self.args.wheelhouse:
                pip += ["--no-index", "--find-links", str(self.args.wheelhouse)]
            if self.args.upgrade:
                pip.append("--upgrade")
            # onnxruntime and onnxruntime-gpu share an import name: only one may be installed.
            other = "onnxruntime" if self.gpu else "onnxruntime-gpu"
            if not fresh:
                uninstall = self.in_runtime("-m", "pip", "uninstall", "--yes", "--quiet", other)
                self.pip(uninstall, wanted["packages"], capture_output=True)
            self.pip([*pip, *wanted["packages"]], wanted["packages"])
            self.write_json(stamp, wanted)
        self.install_engine()

    def create_venv(self) -> None:
        """The runtime, with pip. Debian and Ubuntu leave out ensurepip, which venv needs for pip, unless
        python3-venv is installed; a runtime half made would pass for a finished one at the next run."""
        self.note(f"create the runtime environment {self.runtime}")
        if self.dry_run:
            return
        existed = self.runtime.exists()
        try:
            venv.create(self.runtime, with_pip=True)
        except subprocess.CalledProcessError:
            if not existed:
                shutil.rmtree(self.runtime, ignore_errors=True)
            sys.exit(
                f"Could not create the runtime {self.runtime}: this Python's venv cannot install pip (ensurepip is "
                "missing). On Debian/Ubuntu: sudo apt install python3-venv, then run this again."
            )

    def install_engine(self) -> None:
        """The engine is pure Python: copied into the runtime's site-packages as it is. (pip would need to
        build it first, with setuptools from the package index, which --wheelhouse machines do not reach.)"""
        if self.dry_run and not self.python().exists():
            self.note(f"copy the engine package {ENGINE_PACKAGE.name}/ into the runtime")
            return
        query = self.in_runtime("-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
        site = Path(subprocess.run(query, check=True, capture_output=True, text=True).stdout.strip())
        for source in sorted(ENGINE_PACKAGE.glob("*.py")):
            self.copy(source, site / ENGINE_PACKAGE.name / source.name)

    def install_models(self) -> list[Path]:
        """Copies the bundled models (and their cards); returns where they went."""
        bundled = sorted(p for p in (REPO / "models").iterdir() if p.suffix in (".onnx", ".md"))
        for path in bundled:
            self.copy(path, self.models / path.name)
        return [self.models / p.name for p in bundled]

    def model_list(self) -> list[dict]:
        if self.dry_run and not self.python().exists():
            return []
        env = dict(os.environ, GIMP_GAN_MODEL_PATH=str(self.models))
        done = subprocess.run(
            self.in_runtime("-m", "gimp_gan_plugin.worker", "--models"),
            capture_output=True,
            text=True,
            env=env,
            cwd=self.runtime,
        )
        try:
            listed = json.loads(done.stdout) if done.returncode == 0 else None
        except json.JSONDecodeError:
            listed = None
        if listed is None:
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            sys.exit(
                f"The runtime could not list the models: {reason}. "
                f"To rebuild it, remove {self.runtime} and run this again."
            )
        return [m for m in listed if not m["error"]]

    def install_plugin(self, gimp: GimpFolder, models: list[dict]) -> Path:
        folder = gimp.path / "plug-ins" / PLUGIN
        entry = folder / f"{PLUGIN}.py"
        changed = [self.copy(f, folder / f.name, executable=f.name == entry.name) for f in PLUGIN_FILES]
        record = {
            "python": str(self.python()),
            "model_dir": str(self.models),
            "models": [{k: m[k] for k in ("name", "title", "task", "scale", "classes", "path")} for m in models],
            "install_command": install_command(),
        }
        if self.write_json(folder / "runtime.json", record) and not any(changed) and not self.dry_run:
            entry.touch()  # GIMP re-reads a plug-in's procedures (and so its model lists) when the file is newer
        return folder

    def make_user_folder(self, gimp: GimpFolder) -> None:
        """A never-started GIMP's user folder, made as its first start would make it, sub-folders included: GIMP
        sets its folder up only when there is none, and without them it could not save brushes and the like."""
        self.changes.append(f"create {gimp.path}")
        if not self.dry_run:
            if gimp.kind == "snap":
                link_snap_home()
            for name in GIMP_USER_FOLDERS:
                (gimp.path / name).mkdir(parents=True, exist_ok=True)
        made = "would create" if self.dry_run else "created"
        print(f"GIMP {gimp.path.name} is installed but has not been started yet: {made} its user folder {gimp.path}")

    # --- the commands ---------------------------------------------------------------------------------

    def install(self) -> None:
        print(f"Runtime: {self.runtime}")
        self.install_runtime()
        print(f"Models: {self.models}")
        installed_models = self.install_models()
        models = self.model_list()
        plugin_folders = []
        for gimp in self.gimps:
            if gimp.new:
                self.make_user_folder(gimp)
            print(f"GIMP 3 ({gimp.kind}): {gimp.path}")
            if gimp.kind == "snap":
                print(
                    "  note: the GIMP snap is confined and may not be allowed to start the runtime; the native or "
                    "Flatpak GIMP is recommended"
                )
            plugin_folders.append(self.install_plugin(gimp, models))
        manifest = {
            "plugin_folders": [str(p) for p in plugin_folders],
            "runtime": str(self.runtime),
            "demo": str(self.demo_folder()),
            "models": [str(p) for p in installed_models],
        }
        previous = self.data / MANIFEST
        if previous.exists():  # keep plug-in folders installed by earlier runs (another GIMP) in the record
            old = json.loads(previous.read_text())
            manifest["plugin_folders"] = sorted(set(manifest["plugin_folders"]) | set(old["plugin_folders"]))
        self.write_json(previous, manifest)
        self.summary(models)

    def summary(self, models: list[dict]) -> None:
        print()
        if self.dry_run:
            print(f"Dry run: {len(self.changes)} step(s) planned, nothing changed.")
        else:
            print("Done." if self.changes else "Nothing to do: everything was already installed.")
            device = "an NVIDIA GPU (CUDA) when usable, else the CPU" if self.gpu else "the CPU"
            print(f"  runtime:  {self.python()}  (runs models on {device})")
            print(f"  models:   {self.models}  ({', '.join(m['name'] for m in models) or 'none'})")
            for gimp in self.gimps:
                print(f"  plug-in:  {gimp.path / 'plug-ins' / PLUGIN}")
        if self.gimps:
            print("Restart GIMP 3; the tools are under Filters ▸ Generative (GAN), and File ▸ Create ▸ Generate.")

    def not_installed(self) -> int:
        """When no GIMP got the plug-in, says so last (after the demo too), where it cannot be missed; returns
        the exit status."""
        if self.gimps:
            return 0
        if self.to_start:
            version = self.to_start[0].path.name
            reason = (
                f"GIMP {version} is installed but was never started, and only its first start imports your "
                f"GIMP 2 settings ({', '.join(map(str, self.old_gimps))})"
            )
            steps = [f"start GIMP {version} once and quit it, then run this again: {install_command()}"]
        else:
            seen = f" (found only GIMP 2: {', '.join(map(str, self.old_gimps))})" if self.old_gimps else ""
            reason = f"no GIMP 3 was found{seen}"
            steps = [
                f"install GIMP 3 (https://www.gimp.org/downloads/) and run this again: {install_command()}",
                f"or name GIMP 3's user folder: {install_command()} --gimp-dir DIR",
            ]
        rule = "!" * 100
        print(f"\n{rule}\ngimp-gan was NOT installed into GIMP: {reason}.")
        print(f"The runtime and the models {'would be' if self.dry_run else 'are'} set up; the plug-in is not.")
        print("Next: " + "\n      ".join(steps))
        print(rule)
        return NOT_INSTALLED

    def uninstall(self) -> int:
        manifest_path = self.data / MANIFEST
        if not manifest_path.exists():
            print(f"Nothing to uninstall: no {MANIFEST} in {self.data}.")
            return 0
        manifest = json.loads(manifest_path.read_text())
        paths = [*manifest["plugin_folders"], manifest["runtime"], manifest["demo"], *manifest["models"]]
        paths.append(str(manifest_path))
        for path in map(Path, paths):
            if path.exists():
                self.note(f"remove {path}")
                if not self.dry_run:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        for folder in (self.models, self.data):  # only if nothing of the user's is left in them
            if folder.is_dir() and not any(folder.iterdir()) and not self.dry_run:
                folder.rmdir()
        print("Uninstalled." if not self.dry_run else "Dry run: nothing removed.")
        return 0

    def demo_folder(self) -> Path:
        return self.data / "demo"

    def demo(self) -> int:
        """The bundled models at work through the engine the plug-in uses, without GIMP."""
        output = self.demo_folder()
        print(f"\nDemo (through the runtime, as the plug-in runs it): writing to {output}")
        env = dict(os.environ, GIMP_GAN_MODEL_PATH=str(self.models))
        demo = self.in_runtime("-m", "gimp_gan_plugin", "demo", str(output), "--photo", str(DEMO_PHOTO))
        if self.dry_run:
            print("  would run " + " ".join(demo))
            return 0
        return subprocess.run(demo, env=env, cwd=self.runtime).returncode


def install_command() -> str:
    """This script's command line, for the plug-in's messages and ours."""
    return " ".join([Path(sys.executable).name, str(REPO / "install.py")])


def main() -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs under whatever Python the user has
        sys.exit("install.py needs Python 3.10 or newer")
    sys.stdout.reconfigure(line_buffering=True)  # our lines and those of the commands we run, in order
    description, exit_status, epilog = __doc__.partition("Exit status:")  # the exit statuses go after the options
    parser = argparse.ArgumentParser(
        description=description, epilog=exit_status + epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gimp-dir", type=Path, help="GIMP 3's user folder (default: found automatically)")
    parser.add_argument("--create", action="store_true", help="use --gimp-dir DIR even if it does not look like GIMP's")
    parser.add_argument("--cpu", action="store_true", help="the CPU build of onnxruntime even with an NVIDIA GPU")
    parser.add_argument("--wheelhouse", type=Path, help="install the runtime from wheels in DIR, without the index")
    parser.add_argument("--upgrade", action="store_true", help="upgrade the runtime's packages to the newest allowed")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done and change nothing")
    parser.add_argument("--uninstall", action="store_true", help="remove everything an earlier install put in place")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo at the end")
    parser.add_argument("--data-dir", type=Path, help=f"where the runtime and models go (default: {data_dir()})")
    parser.add_argument("--runtime", type=Path, help="where the runtime environment goes (default: DATA_DIR/runtime)")
    args = parser.parse_args()
    try:
        installer = Installer(args)
        if args.uninstall:
            return installer.uninstall()
        installer.install()
        demo = 0 if args.no_demo else installer.demo()
        return installer.not_installed() or demo
    except subprocess.CalledProcessError as error:  # what the steps above do not explain themselves
        command = " ".join(map(str, error.cmd)) if isinstance(error.cmd, list) else error.cmd
        sys.exit(f"install.py stopped: `{command}` failed (exit status {error.returncode}).")
    except OSError as error:
        sys.exit(f"install.py stopped: {error}")


if __name__ == "__main__":
    sys.exit(main())
