"""A small style-based generator model for tests, made by our own exporter from random weights (needs torch):
RGBA, 32 px, with noise inputs made strong enough that switching them changes the pixels."""

from __future__ import annotations

from pathlib import Path

import torch

from export.generator import export_generator
from training.config import from_dict
from training.networks import build_generator


def make_style_generator(path: Path, name: str = "test-stylegen", seed: int = 0) -> Path:
    config = from_dict({
        "name": name,
        "data": {"dataset": "emoji", "size": 32},
        "model": {"family": "stylegan", "width": 8, "latent_size": 16, "mapping_layers": 2},
    })  # fmt: skip
    torch.manual_seed(seed)
    G = build_generator(config.model, 32, 4).eval()
    with torch.no_grad():
        G.w_avg.normal_()
        for layer in G.synthesis.layers:
            layer.noise_strength.fill_(0.5)
    weights = G.state_dict()
    state = {
        "step": 0, "images_seen": 0, "seconds": 0.0, "config": config.to_dict(), "classes": [], "channels": 4,
        "G": weights, "G_ema": weights,
    }  # fmt: skip
    return export_generator(state, Path(path), name).path
