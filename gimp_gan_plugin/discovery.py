"""Where models live, and which ones are there.

Search order (the first model of a name wins, so a user can override a bundled model):
1. the folders in GIMP_GAN_MODEL_PATH (os.pathsep-separated),
2. the user's model folder (see `user_model_dir`),
3. the bundled `models/` folder of this repository or installation.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError, ModelNotFoundError
from .modelformat import ModelInfo, read_model_info

ENV_MODEL_PATH = "GIMP_GAN_MODEL_PATH"
BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models"


def user_model_dir() -> Path:
    """Per-user data folder: XDG on Linux, %APPDATA% on Windows, Application Support on macOS."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "gimp-gan" / "models"


def model_search_path() -> list[Path]:
    env = [Path(p).expanduser() for p in os.environ.get(ENV_MODEL_PATH, "").split(os.pathsep) if p]
    return [*env, user_model_dir(), BUNDLED_MODEL_DIR]


@dataclass(frozen=True)
class ModelEntry:
    """A model file found on the search path: its metadata, or why it cannot be used."""

    path: Path
    info: ModelInfo | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.info.name if self.info else self.path.stem


def discover_models(folders: list[Path] | None = None) -> list[ModelEntry]:
    """Every `.onnx` file directly in the folders, valid ones first-name-wins, invalid ones with their error."""
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for folder in model_search_path() if folders is None else folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.onnx")):
            try:
                info = read_model_info(path)
            except ModelError as e:
                entries.append(ModelEntry(path, None, str(e)))
                continue
            if info.name not in seen:
                seen.add(info.name)
                entries.append(ModelEntry(path, info))
    return entries


# How to get a model of each task when none is installed: the message for a user who has none.
HOW_TO_GET = {
    "enhance": "run `python3 install.py` to install the bundled enhance models",
    "generate": "run `python3 install.py` to install the bundled generators",
    "translate": (
        "no style or colorize model is bundled yet: train one with `python -m training` and export it with "
        "`python -m export RUN -o {folder}/NAME.onnx`, or copy a gimp-gan translate model (docs/model-format.md) "
        "into {folder}"
    ),
}


def find_model(name_or_path: str, folders: list[Path] | None = None, tasks: tuple[str, ...] | None = None) -> Path:
    """Resolve a model name (or a path to an .onnx file) to its file, with a helpful error if absent.

    tasks: what the caller needs the model for; when no installed model does that, the error says how
    to get one rather than listing models that would not help."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".onnx" or candidate.is_file():
        if not candidate.is_file():
            raise ModelNotFoundError(f"model file not found: {candidate}")
        return candidate
    entries = discover_models(folders)
    for entry in entries:
        if entry.info and entry.info.name == name_or_path:
            return entry.path
    for entry in entries:
        if entry.info is None and entry.path.stem == name_or_path:
            raise ModelError(entry.error)
    searched = os.pathsep.join(str(p) for p in (folders or model_search_path()))
    if tasks and not any(e.info and e.info.task in tasks for e in entries):
        task = tasks[0]
        how = HOW_TO_GET[task].format(folder=user_model_dir())
        raise ModelNotFoundError(f"no {task} model is installed (searched {searched}); {how}")
    names = sorted(e.info.name for e in entries if e.info and (not tasks or e.info.task in tasks))
    hint = f"installed: {', '.join(names)}" if names else "no models are installed"
    raise ModelNotFoundError(f"no model named '{name_or_path}' ({hint}; searched {searched})")
