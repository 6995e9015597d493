"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts, so `torch.load(weights_only=True)`
can read it: a checkpoint from a stranger cannot run code. It is written to a temporary file that
is renamed over the old one, so a run killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(Exception):
    """A checkpoint that is missing, damaged or not ours."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    with open(temporary, "rb") as f:
        os.fsync(f.fileno())  # on disk before the rename, or a crash could leave an empty file in its place
    os.replace(temporary, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        reason = next((line for line in lines if line.startswith("WeightsUnpickler error")), lines[0] if lines else "")
        raise CheckpointError(f"{path}: not a readable gimp-gan checkpoint ({reason})") from None
    if not isinstance(state, dict) or not {"step", "config", "G"} <= state.keys():
        raise CheckpointError(f"{path}: not a gimp-gan training checkpoint")
    return state
