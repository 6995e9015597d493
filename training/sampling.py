"""Latents from seeds, and sample grids.

Seeds follow the recipe of docs/model-format.md, the same as the GIMP plug-in's, so seed S shows the
same image in a training grid, from `python -m training sample` and in GIMP.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.checkpoint import check_checkpoint, load_weights
from training.config import Config
from training.networks import build_generator, for_inference

MAX_SEEDS = 10_000  # per grid: as many as `evaluate` measures; more is a typo (and gigabytes of images)


def seeded_inputs(
    seeds: list[int],
    latent_size: int,
    num_classes: int = 0,
    class_label: int | None = None,
    noise_shapes: Sequence[tuple[int, ...]] = (),
) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor] | None]:
    """(z, labels, noise maps) for the seeds, by the model format's recipe: z from
    `default_rng(seed).standard_normal`, then from the same generator each noise map in order (for a
    generator with noise inputs), then a random class when the model is conditional and none is asked for."""
    latents, labels, noise = [], [], [[] for _ in noise_shapes]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        latents.append(rng.standard_normal(latent_size).astype(np.float32))
        for maps, shape in zip(noise, noise_shapes, strict=True):
            maps.append(rng.standard_normal(shape).astype(np.float32))
        if num_classes:
            labels.append(class_label if class_label is not None else int(rng.integers(num_classes)))
    z = torch.from_numpy(np.stack(latents))
    return (
        z,
        torch.tensor(labels, dtype=torch.int64) if num_classes else None,
        [torch.from_numpy(np.stack(maps)) for maps in noise] if noise_shapes else None,
    )


def noise_shapes(G: torch.nn.Module) -> list[tuple[int, ...]]:
    """The per-sample shapes of a generator's noise inputs (none for z-only generators)."""
    return G.synthesis.noise_shapes() if hasattr(G, "synthesis") else []


def parse_seeds(text: str) -> list[int]:
    """Seeds as a user types them: "0-7,42" is 0 to 7 and 42. Seeds are whole numbers ≥ 0 (numpy's
    seeds); a range is counted before it is made, so a typo like 0-99999999999 is an error, not a hang."""
    seeds = []
    for part in text.split(","):
        first, dash, last = (s.strip() for s in part.partition("-"))
        if not first.isdecimal() or (dash and not last.isdecimal()) or (dash and int(last) < int(first)):
            raise ValueError(f"seeds must look like 0-7,42 (whole numbers ≥ 0, ranges low-high); got {text!r}")
        more = range(int(first), int(last) + 1) if dash else [int(first)]
        if len(seeds) + len(more) > MAX_SEEDS:
            raise ValueError(f"at most {MAX_SEEDS} seeds at a time; {text!r} is more")
        seeds.extend(more)
    return seeds


@torch.no_grad()
def generate(
    G: torch.nn.Module,
    z: torch.Tensor,
    labels: torch.Tensor | None,
    noise: list[torch.Tensor] | None = None,
    truncation: float = 1.0,
    batch_size: int = 256,
) -> torch.Tensor:
    """Images in [-1, 1] on the CPU, in batches, in eval mode (batch norm uses its running statistics);
    `noise`: the noise maps of a generator with noise inputs (seeded_inputs), else it makes none;
    `truncation` ψ as the engine applies it: on w for a style-based generator, as ψ·z for others."""
    style_based = hasattr(G, "styles")
    if not style_based:
        z = z * truncation
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()

    def batch(i: int) -> torch.Tensor:
        inputs = [z[i : i + batch_size].to(device), None if labels is None else labels[i : i + batch_size].to(device)]
        if noise is not None:
            inputs.append([maps[i : i + batch_size].to(device) for maps in noise])
        options = {"truncation": truncation} if style_based else {}
        return G(*inputs, **options).float().cpu()

    try:
        return torch.cat([batch(i) for i in range(0, len(z), batch_size)])
    finally:
        G.train(was_training)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] → (N, H, W, C) uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def save_grid(images: torch.Tensor, path: Path, columns: int = 8, border: int = 2) -> None:
    """One PNG of the images in rows of `columns`, on a mid-grey background."""
    pixels = to_uint8(images)
    n, h, w, c = pixels.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + border) + border, columns * (w + border) + border, c), 128, np.uint8)
    for i, image in enumerate(pixels):
        top, left = border + (i // columns) * (h + border), border + (i % columns) * (w + border)
        grid[top : top + h, left : left + w] = image
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid[..., 0] if c == 1 else grid).save(path)


def load_generator(state: dict) -> tuple[torch.nn.Module, Config, tuple[str, ...]]:
    """The EMA generator of a checkpoint (what sampling, metrics and export use), in eval mode on the CPU.

    Works for every family: enhance generators are built from the same config. A checkpoint whose weights
    do not fit the network its config describes is a CheckpointError."""
    config = check_checkpoint(state)
    classes = tuple(state["classes"])
    G = build_generator(config.model, config.data.size, state["channels"], len(classes))
    load_weights(G, state["G_ema"], "the checkpoint's EMA generator (G_ema)")
    return for_inference(G).eval().requires_grad_(False), config, classes
