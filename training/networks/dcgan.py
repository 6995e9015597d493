"""DCGAN (Radford et al. 2016) and its class-conditional form.

G: z → 4×4 (7×7 for 28 px) feature map → stride-2 transposed convolutions with batch norm and ReLU,
halving the channels as the size doubles → tanh. D mirrors it with stride-2 convolutions and leaky
ReLU. Conditioning follows SNGAN's projection cGAN (Miyato & Koyama 2018): G's batch norms take their
scale and shift from a class embedding, and D adds ⟨embed(y), φ(x)⟩ to its unconditional logit,
which conditions far more reliably than feeding the label to D as an input.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from training.config import ModelConfig

TASK = "generate"


def stages(size: int) -> tuple[int, int]:
    """(first feature-map side, number of ×2 stages) for a supported image size."""
    start = 7 if size % 7 == 0 else 4
    count = math.log2(size / start)
    if size < 8 or count != int(count):
        raise ValueError(f"DCGAN supports 4·2^k or 7·2^k pixels (28, 32, 64, ...), got {size}")
    return start, int(count)


class ClassBatchNorm(nn.Module):
    """Batch norm whose scale and shift come from the class when there are classes."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(features, affine=num_classes == 0)
        self.embed = nn.Embedding(num_classes, 2 * features) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.norm(x)
        if self.embed is None:
            return x
        gain, shift = self.embed(labels)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gain) + shift


class Generator(nn.Module):
    def __init__(
        self, latent_size: int = 128, size: int = 32, channels: int = 1, width: int = 64, num_classes: int = 0
    ):
        super().__init__()
        self.latent_size, self.size, self.channels, self.num_classes = latent_size, size, channels, num_classes
        self.start, count = stages(size)
        widths = [width * 2 ** (count - i) for i in range(count + 1)]  # e.g. 512, 256, 128, 64
        self.project = nn.Linear(latent_size, widths[0] * self.start**2, bias=False)
        self.norms = nn.ModuleList([ClassBatchNorm(w, num_classes) for w in widths])
        self.ups = nn.ModuleList(
            [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, bias=False) for a, b in pairwise(widths)]
        )
        self.to_image = nn.Conv2d(widths[-1], channels, 3, padding=1)
        init_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] for latents z (N, latent_size) and, if conditional, class indices (N,)."""
        if self.num_classes and labels is None:
            raise ValueError("this generator is class-conditional: pass the class labels")
        x = self.project(z).view(len(z), -1, self.start, self.start)
        x = torch.relu(self.norms[0](x, labels))
        for up, norm in zip(self.ups, self.norms[1:], strict=True):
            x = torch.relu(norm(up(x), labels))
        return torch.tanh(self.to_image(x))


class Discriminator(nn.Module):
    def __init__(
        self,
        size: int = 32,
        channels: int = 1,
        width: int = 64,
        num_classes: int = 0,
        use_spectral_norm: bool = True,
        batch_norm: bool = False,
        depth: int = 2,
    ):
        super().__init__()
        start, count = stages(size)
        widths = [channels] + [width * 2**i for i in range(count)]  # e.g. 1, 64, 128, 256
        layers: list[nn.Module] = []
        for a, b in pairwise(widths):  # per resolution: depth − 1 3×3 convolutions, then a stride-2 4×4 one
            for j in range(depth):
                last = j == depth - 1
                kernel, stride = (4, 2) if last else (3, 1)
                layers.append(nn.Conv2d(a if j == 0 else b, b, kernel, stride, padding=1, bias=not batch_norm))
                if batch_norm and layers[0] is not layers[-1]:  # DCGAN: no batch norm on the input layer
                    layers.append(nn.BatchNorm2d(b))
                layers.append(nn.LeakyReLU(0.2))
        self.features = nn.Sequential(*layers, nn.Flatten())
        feature_size = widths[-1] * start**2
        self.logit = nn.Linear(feature_size, 1)
        self.embed = nn.Embedding(num_classes, feature_size) if num_classes else None
        init_weights(self)
        if use_spectral_norm:  # after init: the parametrisation divides the initial weights by their norm
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
                    spectral_norm(m)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """One real-vs-fake logit per image, shape (N,)."""
        h = self.features(images)
        out = self.logit(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out


def init_weights(module: nn.Module) -> None:
    """DCGAN's N(0, 0.02) for every weight (class embeddings too); batch-norm gains N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def generator(config: ModelConfig, size: int, channels: int, num_classes: int) -> Generator:
    return Generator(config.latent_size, size, channels, config.width, num_classes)


def discriminator(config: ModelConfig, size: int, channels: int, num_classes: int) -> Discriminator:
    return Discriminator(
        size, channels, config.width, num_classes, config.spectral_norm, config.d_batch_norm, config.d_depth
    )
