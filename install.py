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

Runs with any Python ≥ 3.10 and only the standard library. Running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
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


@dataclass(frozen=True)
class GimpFolder:
    """A GIMP 3 user folder, and how that GIMP runs plug-ins (native, flatpak or snap)."""

    path: Path
    kind: str = "native"


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


def gimp_folders() -> tuple[list[GimpFolder], list[Path]]:
    """GIMP 3 user folders on this machine (newest 3.x per kind), and any GIMP 2 folders seen."""
    home = Path.home()
    if os.environ.get("GIMP3_DIRECTORY"):
        return [GimpFolder(Path(os.environ["GIMP3_DIRECTORY"]))], []
    if sys.platform == "win32":
        bases = [(Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "GIMP", "native")]
    elif sys.platform == "darwin":
        bases = [(home / "Library" / "Application Support" / "GIMP", "native")]
    else:
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        bases = [
            (config / "GIMP", "native"),
            (home / ".var" / "app" / FLATPAK_ID / "config" / "GIMP", "flatpak"),
            (home / "snap" / "gimp" / "current" / ".config" / "GIMP", "snap"),
        ]
    found, old = [], []
    for base, kind in bases:
        versions = [p for p in base.glob("*") if p.is_dir() and re.fullmatch(r"\d+\.\d+", p.name)]
        newest = max((p for p in versions if p.name.startswith("3.")), key=_version, default=None)
        if newest:
            found.append(GimpFolder(newest, kind))
        old += [p for p in versions if p.name.startswith("2.")]
    return found, old


def check_gimp_dir(path: Path) -> GimpFolder:
    """A folder given with --gimp-dir; GIMP 2's folders are refused, as their plug-in API differs."""
    if re.fullmatch(r"2\.\d+", path.name):
        sys.exit(
            f"{path} is a GIMP {path.name} folder. gimp-gan needs GIMP 3.0 or newer (its plug-in API is "
            "different); install GIMP 3 and run this again, or pass its folder with --gimp-dir."
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
            self.gimps, self.old_gimps = [check_gimp_dir(args.gimp_dir)], []
        else:
            self.gimps, self.old_gimps = gimp_folders()
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
                self.note(f"create the runtime environment {self.runtime}")
                if not self.dry_run:
                    venv.create(self.runtime, with_pip=True)
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
                self.run(self.in_runtime("-m", "pip", "uninstall", "--yes", "--quiet", other), capture_output=True)
            self.run([*pip, *wanted["packages"]])
            self.write_json(stamp, wanted)
        self.install_engine()

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
        out = subprocess.run(
            self.in_runtime("-m", "gimp_gan_plugin.worker", "--models"),
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.runtime,
        ).stdout
        return [m for m in json.loads(out) if not m["error"]]

    def install_plugin(self, gimp: GimpFolder, models: list[dict]) -> Path:
        folder = gimp.path / "plug-ins" / PLUGIN
        entry = folder / f"{PLUGIN}.py"
        changed = [self.copy(f, folder / f.name, executable=f.name == entry.name) for f in PLUGIN_FILES]
        record = {
            "python": str(self.python()),
            "model_dir": str(self.models),
            "models": [{k: m[k] for k in ("name", "title", "task", "scale", "classes", "path")} for m in models],
            "install_command": " ".join([Path(sys.executable).name, str(REPO / "install.py")]),
        }
        if self.write_json(folder / "runtime.json", record) and not any(changed) and not self.dry_run:
            entry.touch()  # GIMP re-reads a plug-in's procedures (and so its model lists) when the file is newer
        return folder

    # --- the commands ---------------------------------------------------------------------------------

    def install(self) -> int:
        print(f"Runtime: {self.runtime}")
        self.install_runtime()
        print(f"Models: {self.models}")
        installed_models = self.install_models()
        models = self.model_list()
        plugin_folders = []
        for gimp in self.gimps:
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
        return 0

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
            return
        if self.old_gimps:
            print(f"Found only GIMP 2 ({', '.join(map(str, self.old_gimps))}); gimp-gan needs GIMP 3.")
        print("No GIMP 3 user folder was found. The runtime is set up anyway; once GIMP 3 is installed and has been")
        print("started once, run this again, or name GIMP's folder: python3 install.py --gimp-dir DIR")

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


def main() -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs under whatever Python the user has
        sys.exit("install.py needs Python 3.10 or newer")
    sys.stdout.reconfigure(line_buffering=True)  # our lines and those of the commands we run, in order
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gimp-dir", type=Path, help="GIMP 3's user folder (default: found automatically)")
    parser.add_argument("--cpu", action="store_true", help="the CPU build of onnxruntime even with an NVIDIA GPU")
    parser.add_argument("--wheelhouse", type=Path, help="install the runtime from wheels in DIR, without the index")
    parser.add_argument("--upgrade", action="store_true", help="upgrade the runtime's packages to the newest allowed")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done and change nothing")
    parser.add_argument("--uninstall", action="store_true", help="remove everything an earlier install put in place")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo at the end")
    parser.add_argument("--data-dir", type=Path, help=f"where the runtime and models go (default: {data_dir()})")
    parser.add_argument("--runtime", type=Path, help="where the runtime environment goes (default: DATA_DIR/runtime)")
    args = parser.parse_args()
    installer = Installer(args)
    if args.uninstall:
        return installer.uninstall()
    status = installer.install()
    return status or (0 if args.no_demo else installer.demo())


if __name__ == "__main__":
    sys.exit(main())
