"""A compact super-resolution generator in the style of Real-ESRGAN's SRVGGNetCompact (Wang et al. 2021).

Plain 3×3 convolutions with PReLU at the input resolution, one PixelShuffle at the end, and the
result added to a bicubic upsample of the input: the network only learns the missing detail, which
trains fast and keeps colours exact. The last convolution starts at zero, so an untrained model is
exactly bicubic upscaling (or, at ×1, the identity) and training starts from there. No normalisation
and no stride, so it runs on any size and tiles cleanly; its cost per input pixel is fixed, which
makes it the fast choice on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.config import ModelConfig
from training.networks.unet_discriminator import UNetDiscriminator

TASK = "enhance"


class Generator(nn.Module):
    def __init__(self, channels: int = 3, width: int = 64, blocks: int = 16, scale: int = 4):
        super().__init__()
        self.channels, self.scale = channels, scale
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.PReLU(width)]
        for _ in range(blocks):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width)]
        layers.append(zero_init(nn.Conv2d(width, channels * scale * scale, 3, padding=1)))
        self.body = nn.Sequential(*layers)
        self.shuffle = nn.PixelShuffle(scale)
        self.receptive_radius = blocks + 2  # one pixel per 3×3 convolution, in input pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] → (N, C, scale·H, scale·W), not clipped."""
        residual = self.shuffle(self.body(x)).float()
        return upsample(x.float(), self.scale) + residual


def upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The base the enhance generators add their residual to: what a user's bicubic resize gives."""
    return x if scale == 1 else F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def zero_init(conv: nn.Conv2d) -> nn.Conv2d:
    """A last layer that outputs zeros: the residual starts empty, the model starts as its base."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def generator(config: ModelConfig, size: int, channels: int, num_classes: int) -> Generator:
    return Generator(channels, config.width, config.blocks, config.scale)


def discriminator(config: ModelConfig, size: int, channels: int, num_classes: int) -> UNetDiscriminator:
    return UNetDiscriminator(channels, config.d_width, config.spectral_norm)
