#!/usr/bin/env python3
"""Set up the gimp-gan runtime: a private Python environment with the engine, onnxruntime and the models.

    python3 install.py            # CUDA build of onnxruntime when an NVIDIA GPU is found, else CPU
    python3 install.py --cpu      # always the CPU build

The runtime is a virtual environment of its own (GIMP's bundled Python cannot load PyPI wheels on
Windows, and a crash in inference must never take GIMP down). The bundled models are copied into the
user's model folder, where the engine and the plug-in find them. Installing the GIMP plug-in itself
into GIMP 3's folder is not part of this script yet.

Runs with any Python ≥ 3.10 and only the standard library.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent
RUNTIME_PACKAGES = ["numpy>=1.24", "pillow>=10"]


def data_dir() -> Path:
    """The same per-user folder the engine uses (gimp_gan_plugin.discovery.user_model_dir's parent)."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "gimp-gan"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "gimp-gan"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "gimp-gan"


def runtime_python(runtime: Path) -> Path:
    return runtime / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def has_nvidia_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def run(command: list, **kwargs) -> None:
    print("  $", " ".join(map(str, command)))
    subprocess.run(command, check=True, **kwargs)


def main() -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs under whatever Python the user has
        sys.exit("install.py needs Python 3.10 or newer")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="install the CPU build of onnxruntime even with a GPU")
    parser.add_argument("--runtime", type=Path, help=f"where to create the runtime (default: {data_dir() / 'runtime'})")
    args = parser.parse_args()

    runtime = args.runtime or data_dir() / "runtime"
    gpu = not args.cpu and has_nvidia_gpu()
    onnxruntime = "onnxruntime-gpu[cuda,cudnn]>=1.18" if gpu else "onnxruntime>=1.18"

    print(f"Runtime environment: {runtime}")
    if not runtime_python(runtime).exists():
        venv.create(runtime, with_pip=True, clear=True)
    python = runtime_python(runtime)
    # onnxruntime and onnxruntime-gpu share an import name: remove the one not wanted before installing.
    other = "onnxruntime" if gpu else "onnxruntime-gpu"
    subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", other], capture_output=True)
    run([python, "-m", "pip", "install", "--quiet", *RUNTIME_PACKAGES, onnxruntime])
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade", str(REPO)])

    models = data_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    bundled = sorted(p for p in (REPO / "models").glob("*") if p.suffix in (".onnx", ".json", ".md"))
    for path in bundled:
        shutil.copy2(path, models / path.name)
    print(f"Models: {len([p for p in bundled if p.suffix == '.onnx'])} bundled model(s) copied to {models}")

    print("\nInstalled models, as the runtime sees them:")
    # From the runtime's own folder, so that the installed copy answers, not a checkout in the cwd.
    run([python, "-m", "gimp_gan_plugin", "models"], cwd=runtime)
    device = "an NVIDIA GPU (CUDA) when usable, else the CPU" if gpu else "the CPU"
    print(f"\nDone. The runtime will use {device}. Try:\n  {python} -m gimp_gan_plugin --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
