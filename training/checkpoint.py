"""Checkpoints: written atomically, read without unpickling arbitrary objects, checked before use.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts, so `torch.load(weights_only=True)`
can read it: a checkpoint from a stranger cannot run code. It is written to a temporary file that
is renamed over the old one, so a run killed mid-write leaves the previous checkpoint intact.

Every command that reads one (train --resume, sample, evaluate, export) meets a damaged or foreign
file here, as a CheckpointError of one line: `check_checkpoint` for the fields and the config,
`load_weights` for weights that belong to another network.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import Config, ConfigError, from_dict

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
    """The checkpoint at `path` (a file, or a run folder holding one), checked by check_checkpoint."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    try:
        with warnings.catch_warnings():  # torch warns about the odd pickles of foreign files: they fail below anyway
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as e:  # a damaged or foreign file fails in zip, pickle or storage code, with any of a dozen types
        raise CheckpointError(f"{path}: not a readable gimp-gan checkpoint ({_reason(e)})") from None
    check_checkpoint(state, str(path))
    return state


def _reason(error: Exception) -> str:
    """The gist of torch.load's error: its messages run to paragraphs, with advice (weights_only=False) that
    would be wrong here."""
    if isinstance(error, EOFError):
        return "the file ends too early: empty or cut short"
    text = str(error).partition("WeightsUnpickler error:")[2] or str(error)
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    sentence = line.split(". ")[0].rstrip(".")[:160] or type(error).__name__
    if isinstance(error, pickle.UnpicklingError):
        return f"not torch.save data of tensors and plain values: {sentence}"
    return sentence


def check_checkpoint(state: Any, source: str = "the checkpoint") -> Config:
    """The checkpoint's config, after checking the fields that sampling, evaluation, export and resuming use.

    So a foreign or hand-edited file fails here with its problems named, not as a KeyError or a type error
    in whichever command reads it first. Whether the weights fit the network is load_weights' check."""
    if not isinstance(state, dict) or not {"config", "G"} <= state.keys():
        raise CheckpointError(f"{source}: not a gimp-gan training checkpoint (no training config and generator)")
    if not isinstance(state["config"], dict):
        raise CheckpointError(f"{source}: a damaged gimp-gan checkpoint: its config is not a table of settings")
    try:
        config = from_dict(state["config"], source=f"{source}: its config")
    except ConfigError as e:
        raise CheckpointError(str(e)) from None
    problems = [f"{key} is not a whole number ≥ 0" for key in ("step", "images_seen") if not _count(state.get(key))]
    seconds = state.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
        problems.append("seconds is not a duration")
    if not _count(state.get("channels")) or state["channels"] not in (1, 3, 4):
        problems.append("channels is not 1, 3 or 4")
    classes = state.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        problems.append("classes is not a list of class names")
    elif (len(classes) < 2) if config.model.conditional else classes:
        problems.append(f"{len(classes)} classes for {'a ' if config.model.conditional else 'an un'}conditional model")
    problems += [f"{key} is not a set of weights" for key in ("G", "G_ema") if not _is_weights(state.get(key))]
    if problems:
        raise CheckpointError(f"{source}: a damaged gimp-gan checkpoint: {'; '.join(problems)}")
    return config


def with_chroma_gain(state: dict[str, Any], gain: float | None) -> dict[str, Any]:
    """The checkpoint with its colorizer's chroma gain set (None: as it is), for evaluate and export.

    The gain is chosen after training, on the validation photos; it changes no weight, so it lives in the
    config that builds the network, and the card and metadata record it like every other setting."""
    if gain is None:
        return state
    config = check_checkpoint(state)
    if not (config.model.family == "unet" and config.model.keep_luma):
        raise CheckpointError("--chroma-gain is for colorizers (a unet with model.keep_luma)")
    if not 0 < gain <= 4:
        raise CheckpointError(f"--chroma-gain must be above 0 and at most 4, not {gain}")
    model = state["config"].get("model", {}) | {"chroma_gain": gain}
    return state | {"config": state["config"] | {"model": model}}


def load_weights(module: nn.Module, weights: Any, what: str) -> None:
    """module.load_state_dict(weights), with weights of another network (or none) as a CheckpointError that
    names the first difference: torch's own message lists every tensor."""
    if not _is_weights(weights):
        raise CheckpointError(f"{what}: the checkpoint holds no weights for it")
    expected = module.state_dict()
    missing, unexpected = sorted(expected.keys() - weights.keys()), sorted(weights.keys() - expected.keys())
    resized = [key for key in expected if key in weights and weights[key].shape != expected[key].shape]
    if resized:
        key = resized[0]
        shapes = f"{_shape(weights[key])} in the checkpoint, {_shape(expected[key])} in the network"
        raise CheckpointError(f"{what}: weights of another network ({key} is {shapes})")
    if missing or unexpected:
        difference = "; ".join(
            f"{kind} {names[0]}" + (f" and {len(names) - 1} more" if len(names) > 1 else "")
            for kind, names in (("no", missing), ("an unknown", unexpected))
            if names
        )
        raise CheckpointError(f"{what}: weights of another network ({difference})")
    try:
        module.load_state_dict(weights)
    except RuntimeError as e:  # the right names and shapes, but tensors that cannot be copied (sparse ones, say)
        detail = str(e).rpartition("an exception occurred : ")[2].strip("(),.'\" \n")
        raise CheckpointError(f"{what}: tensors of a kind the network cannot hold ({detail[:160]})") from None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_weights(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _shape(tensor: torch.Tensor) -> str:
    return "×".join(map(str, tensor.shape)) or "a scalar"
