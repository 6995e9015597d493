"""A residual-in-residual dense block generator: ESRGAN's RRDBNet (Wang et al. 2018), made small.

Dense blocks reuse every earlier feature map inside a block, and residual scaling (×0.2) keeps a deep
stack stable without batch norm. More quality per parameter than plain convolutions, at more
memory traffic per FLOP; `model.blocks` and `model.width` trade quality against speed. Like the
compact generator, it adds its output to a bicubic upsample of the input (starting from zero), and upsamples by
nearest-neighbour ×2 steps followed by convolutions (ESRGAN's choice, free of checkerboard artefacts).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from training.config import ModelConfig
from training.networks.srvgg import BicubicUpsample, zero_init
from training.networks.unet_discriminator import UNetDiscriminator

TASK = "enhance"
RESIDUAL_SCALE = 0.2  # ESRGAN's residual scaling


class DenseBlock(nn.Module):
    def __init__(self, width: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(width + i * growth, growth, 3, padding=1) for i in range(4))
        self.fuse = nn.Conv2d(width + 4 * growth, width, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs:
            features.append(self.act(conv(torch.cat(features, 1))))
        return x + RESIDUAL_SCALE * self.fuse(torch.cat(features, 1))


class RRDB(nn.Module):
    def __init__(self, width: int, growth: int):
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(width, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.blocks(x)


class Generator(nn.Module):
    def __init__(self, channels: int = 3, width: int = 32, blocks: int = 6, scale: int = 4):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"the RRDB generator upsamples ×1, ×2 or ×4, not ×{scale}")
        self.channels, self.scale = channels, scale
        growth = width // 2
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(width, growth) for _ in range(blocks)))
        self.body_end = nn.Conv2d(width, width, 3, padding=1)
        self.ups = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(int(math.log2(scale))))
        self.tail = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            zero_init(nn.Conv2d(width, channels, 3, padding=1)),
        )
        self.act = nn.LeakyReLU(0.2)
        self.upsample = BicubicUpsample(channels, scale)
        self.receptive_radius = 2 + blocks * 15 + len(self.ups) + 2  # 3×3 convs; beyond ~32 the effect is tiny

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] → (N, C, scale·H, scale·W), not clipped."""
        h = self.head(x)
        h = h + self.body_end(self.body(h))
        for up in self.ups:
            h = self.act(up(F.interpolate(h, scale_factor=2, mode="nearest")))
        return self.upsample(x.float()) + self.tail(h).float()


def generator(config: ModelConfig, size: int, channels: int, num_classes: int) -> Generator:
    return Generator(channels, config.width, config.blocks, config.scale)


def discriminator(config: ModelConfig, size: int, channels: int, num_classes: int) -> UNetDiscriminator:
    return UNetDiscriminator(channels, config.d_width, config.spectral_norm)
