"""A compact super-resolution generator in the style of Real-ESRGAN's SRVGGNetCompact (Wang et al. 2021).

Plain 3×3 convolutions with LeakyReLU at the input resolution, one PixelShuffle at the end, and the
result added to a bicubic upsample of the input: the network only learns the missing detail, which
trains fast and keeps colours exact. The last convolution starts at zero, so an untrained model is
exactly bicubic upscaling (or, at ×1, the identity) and training starts from there. No normalisation
and no stride, so it runs on any size and tiles cleanly; its cost per input pixel is fixed, which
makes it the fast choice on a CPU.

LeakyReLU (0.2, as in ESRGAN) rather than the original's PReLU: onnxruntime fuses LeakyReLU into the
convolution before it, but runs PReLU as a separate pass over every feature map, which was a quarter of
the ×4 model's time (docs/benchmarks.md).
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
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2)]
        for _ in range(blocks):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2)]
        layers.append(zero_init(nn.Conv2d(width, channels * scale * scale, 3, padding=1)))
        self.body = nn.Sequential(*layers)
        self.shuffle = nn.PixelShuffle(scale)
        self.upsample = BicubicUpsample(channels, scale)
        self.receptive_radius = blocks + 2  # one pixel per 3×3 convolution, in input pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] → (N, C, scale·H, scale·W), not clipped."""
        residual = self.shuffle(self.body(x)).float()
        return self.upsample(x.float()) + residual


class BicubicUpsample(nn.Module):
    """The base the enhance generators add their residual to: what a user's bicubic resize gives.

    Equal to `F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)`, borders
    included, but computed as a fixed depthwise 5×5 convolution per output phase and a pixel shuffle:
    onnxruntime's cubic Resize is several times slower on a CPU than the convolution it amounts to.
    """

    def __init__(self, channels: int, scale: int, a: float = -0.75):
        super().__init__()
        self.scale = scale
        taps = torch.zeros(scale, 5, dtype=torch.float64)  # per phase: weights of pixels i-2 .. i+2
        for phase in range(scale):
            offset = (phase + 0.5) / scale - 0.5  # where output pixel phase falls, relative to pixel i
            for tap in range(-2, 3):
                taps[phase, tap + 2] = _cubic(offset - tap, a)
        kernels = (taps[:, None, :, None] * taps[None, :, None, :]).reshape(scale * scale, 5, 5)
        self.register_buffer("weight", kernels.float().repeat(channels, 1, 1)[:, None], persistent=False)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1:
            return x
        padded = F.pad(x, (2, 2, 2, 2), mode="replicate")  # interpolate clamps reads at the border
        return self.shuffle(F.conv2d(padded, self.weight, groups=x.shape[1]))


def _cubic(distance: float, a: float) -> float:
    """Keys' cubic convolution kernel (a = -0.75 as in PyTorch and OpenCV)."""
    d = abs(distance)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    if d < 2:
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return 0.0


def zero_init(conv: nn.Conv2d) -> nn.Conv2d:
    """A last layer that outputs zeros: the residual starts empty, the model starts as its base."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def generator(config: ModelConfig, size: int, channels: int, num_classes: int) -> Generator:
    return Generator(channels, config.width, config.blocks, config.scale)


def discriminator(config: ModelConfig, size: int, channels: int, num_classes: int) -> UNetDiscriminator:
    return UNetDiscriminator(channels, config.d_width, config.spectral_norm)
