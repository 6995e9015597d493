"""Latent codes for generators: one seed gives the same image everywhere.

The training toolkit's `sample --seeds` draws latents exactly as `latent_for_seed` does (the model
format document fixes the recipe), so seed S in GIMP, on the command line and in PyTorch is one image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .modelformat import STYLE_LEVELS, Styles

Interpolation = Literal["linear", "spherical"]


@dataclass(frozen=True)
class StyleEdit:
    """What a style-based generator does besides drawing the seed's style, and what any generator with
    noise inputs does with its noise.

    mix_seed, mix_level: the layers of that level ("coarse", "middle" or "fine") take their style from
    mix_seed's latent (its noise and class are not used). directions: (index from 0, amount) pairs, each moving
    w by amount × the direction's scale. noise_seed: noise maps from this seed instead of the image's,
    the same for every image (only the stochastic detail changes); noise=False: no noise at all.
    """

    mix_seed: int | None = None
    mix_level: str = "fine"
    directions: tuple[tuple[int, float], ...] = ()
    noise_seed: int | None = None
    noise: bool = True

    @property
    def edits_styles(self) -> bool:
        return self.mix_seed is not None or bool(self.directions)


def style_mix(styles: Styles, truncation: float, t: float | None = None, mix_level: str | None = None) -> np.ndarray:
    """(layers, K) weights of K latents' styles per layer (docs/model-format.md): latent 0 is the seed's;
    with `t`, latent 1 is the interpolation's end (a straight line in w); with `mix_level`, the last
    latent drives that level's layers. Every weight carries ψ: w = w_avg + ψ·(w(z) − w_avg)."""
    if mix_level is not None and mix_level not in STYLE_LEVELS:
        raise ValueError(f"the style level must be one of {', '.join(STYLE_LEVELS)}, got {mix_level!r}")
    count = 1 + (t is not None) + (mix_level is not None)
    mix = np.zeros((styles.layers, count), np.float32)
    mix[:, 0] = truncation * (1 - t if t is not None else 1)
    if t is not None:
        mix[:, 1] = truncation * t
    if mix_level is not None:
        start, stop = styles.levels[mix_level]
        mix[start:stop] = 0
        mix[start:stop, -1] = truncation
    return mix


def style_offset(styles: Styles, directions: tuple[tuple[int, float], ...]) -> np.ndarray:
    """(layers, w_size): the sum of amount × scale × vector over the chosen directions, at every layer."""
    offset = np.zeros(styles.w_size, np.float64)
    for index, amount in directions:
        if not 0 <= index < len(styles.directions):  # users count directions from 1, as cards and sliders do
            raise ValueError(f"direction {index + 1} does not exist: this model has directions 1 to "
                             f"{len(styles.directions)}")  # fmt: skip
        direction = styles.directions[index]
        offset += amount * direction.scale * np.asarray(direction.vector)
    return np.broadcast_to(offset.astype(np.float32), (styles.layers, styles.w_size)).copy()


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
