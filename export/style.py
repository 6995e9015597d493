"""What a style-based generator's ONNX graph takes, its metadata's `styles` block, and its verification.

The graph is `Generator.combined` (training/networks/stylegan.py): K latents per image, a per-layer mix
of their styles and a per-layer offset, so truncation, style mixing, interpolation in w and edits along
directions are all inputs of one graph (docs/model-format.md, "Style-based generators").

Directions are SeFa's (Shen & Zhou 2021): the eigenvectors of AᵀA, A the affine layers' weights that
turn w into every layer's channel styles, stacked. A step along an eigenvector with a large eigenvalue
changes the styles most; no training and no labels are needed. Each direction's `scale` is the spread
of real w along it (the standard deviation over sampled latents), so an amount of 1 is a typical step.
"""

from __future__ import annotations

import numpy as np
import onnxruntime
import torch
from torch import nn

DIRECTIONS = 8
DIRECTION_SAMPLES = 4096


class StyleGraph(nn.Module):
    """The exported function: (latents, mix, offset, noise maps..., [class]) → images."""

    def __init__(self, G: nn.Module, conditional: bool):
        super().__init__()
        self.G, self.conditional = G, conditional

    def forward(self, latents, mix, offset, *rest):
        noise, labels = (list(rest[:-1]), rest[-1]) if self.conditional else (list(rest), None)
        return self.G.combined(latents, mix, offset, noise, labels)


def input_names(G: nn.Module, conditional: bool) -> list[str]:
    return ["latents", "mix", "offset", *(f"noise{i}" for i in range(len(G.synthesis.layers)))] + (
        ["label"] if conditional else []
    )


def example_inputs(G: nn.Module, n: int, k: int, num_classes: int, generator: torch.Generator) -> tuple:
    """Random inputs of every kind the engine feeds: K latents, mixes, offsets, noise and classes."""
    inputs = [
        torch.randn(n, k, G.latent_size, generator=generator),
        torch.rand(n, G.num_ws, k, generator=generator),
        0.3 * torch.randn(n, G.num_ws, G.latent_size, generator=generator),
        *(torch.randn(n, *shape, generator=generator) for shape in G.synthesis.noise_shapes()),
    ]
    return (*inputs, torch.randint(num_classes, (n,), generator=generator)) if num_classes else tuple(inputs)


def dynamic_shapes(G: nn.Module, conditional: bool) -> dict:
    """Per input: any batch size, and any number of latents per image."""
    batch, latents = torch.export.Dim("batch"), torch.export.Dim("latents", min=1, max=64)
    rest = tuple({0: batch} for _ in range(len(G.synthesis.layers) + conditional))
    return {"latents": {0: batch, 1: latents}, "mix": {0: batch, 2: latents}, "offset": {0: batch}, "rest": rest}


def verify(model_bytes: bytes, G: nn.Module, num_classes: int) -> float:
    """Largest |PyTorch − onnxruntime| over batch sizes 1 to 5 and 1 to 3 latents per image."""
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = input_names(G, bool(num_classes))
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for n, k in ((1, 1), (3, 2), (5, 3)):
        inputs = example_inputs(G, n, k, num_classes, generator)
        with torch.no_grad():
            expected = StyleGraph(G, bool(num_classes))(*inputs).numpy()
        (actual,) = session.run(["image"], {name: x.numpy() for name, x in zip(names, inputs, strict=True)})
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst


@torch.no_grad()
def sefa_directions(G: nn.Module, count: int = DIRECTIONS, seed: int = 0) -> list[dict]:
    """The `count` strongest SeFa directions in w, each with the spread of sampled w along it."""
    affine = [m.affine for m in G.synthesis.modules() if hasattr(m, "affine")]
    weights = torch.cat([a.weight * a.weight_gain for a in affine]).double()  # (Σ channels, w_size)
    eigenvalues, eigenvectors = torch.linalg.eigh(weights.T @ weights)
    order = eigenvalues.argsort(descending=True)[:count]
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(DIRECTION_SAMPLES, G.latent_size, generator=generator)
    labels = torch.randint(G.num_classes, (len(z),), generator=generator) if G.num_classes else None
    w = G.mapping(z, labels).double()
    directions = []
    for rank, index in enumerate(order.tolist()):
        vector = eigenvectors[:, index]
        vector = vector * torch.sign(vector[vector.abs().argmax()])  # a fixed sign: exports agree
        spread = float((w @ vector).std())
        directions.append({"label": f"direction {rank + 1}", "vector": vector.float().tolist(), "scale": spread})
    return directions


def styles_block(G: nn.Module) -> dict:
    """The metadata's `styles`: layers, w's size, the levels' layer ranges and the directions."""
    return {
        "layers": G.num_ws,
        "w_size": G.latent_size,
        "levels": {name: list(span) for name, span in G.levels().items()},
        "directions": sefa_directions(G),
    }
