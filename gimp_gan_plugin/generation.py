"""Latent codes for generators: one seed gives the same image everywhere.

The training toolkit's `sample --seeds` draws latents exactly as `latent_for_seed` does (the model
format document fixes the recipe), so seed S in GIMP, on the command line and in PyTorch is one image.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Interpolation = Literal["linear", "spherical"]


def latent_for_seed(seed: int, size: int, truncate_at: float | None = None) -> np.ndarray:
    """z ~ N(0, 1) from `numpy.random.default_rng(seed)`, drawn in float64 and cast to float32.

    With `truncate_at`, components beyond ±truncate_at are redrawn from the same generator until
    all lie inside (the truncated normal of BigGAN): less variety, fewer broken samples.
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(size)
    if truncate_at is not None:
        if truncate_at <= 0:
            raise ValueError(f"truncate_at must be positive, got {truncate_at}")
        while (outside := np.abs(z) > truncate_at).any():
            z[outside] = rng.standard_normal(int(outside.sum()))
    return z.astype(np.float32)


def seed_rng_after_latent(seed: int, size: int) -> np.random.Generator:
    """The generator of `seed` after its latent was drawn: noise maps and random classes come from it.

    Truncated resampling is not replayed here on purpose: noise and class for a seed stay the same
    whether or not the latent was truncated.
    """
    rng = np.random.default_rng(seed)
    rng.standard_normal(size)
    return rng


def interpolate(z0: np.ndarray, z1: np.ndarray, frames: int, mode: Interpolation = "linear") -> np.ndarray:
    """`frames` latents from z0 to z1 inclusive.

    Spherical interpolation keeps the norm of Gaussian latents near that of real samples; a straight
    line passes through low-norm codes that generators render as washed-out averages.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    t = np.linspace(0.0, 1.0, frames)[:, None] if frames > 1 else np.zeros((1, 1))
    a, b = z0.astype(np.float64), z1.astype(np.float64)
    if mode == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    if mode != "spherical":
        raise ValueError(f"mode must be 'linear' or 'spherical', got {mode!r}")
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: the arc is undefined, the line is as good
        return ((1 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)
