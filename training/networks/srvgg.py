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

With `reparam`, each 3×3 convolution trains through an over-parameterised kernel (RepConv below) and is
folded back into a plain convolution for inference (`fused`): better training at no cost to a user.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.config import ModelConfig
from training.networks.unet_discriminator import UNetDiscriminator

TASK = "enhance"


class Generator(nn.Module):
    def __init__(self, channels: int = 3, width: int = 64, blocks: int = 16, scale: int = 4, reparam: bool = False):
        super().__init__()
        self.channels, self.scale, self.width, self.blocks, self.reparam = channels, scale, width, blocks, reparam
        conv = RepConv if reparam else _conv3x3
        layers: list[nn.Module] = [conv(channels, width), nn.LeakyReLU(0.2)]
        for _ in range(blocks):
            layers += [conv(width, width), nn.LeakyReLU(0.2)]
        layers.append(zero_init(_conv3x3(width, channels * scale * scale)))
        self.body = nn.Sequential(*layers)
        self.shuffle = nn.PixelShuffle(scale)
        self.upsample = BicubicUpsample(channels, scale)
        self.receptive_radius = blocks + 2  # one pixel per 3×3 convolution, in input pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] → (N, C, scale·H, scale·W), not clipped."""
        residual = self.shuffle(self.body(x)).float()
        return self.upsample(x.float()) + residual

    def fused(self) -> Generator:
        """The same function as a plain network (every RepConv folded into one convolution): what is exported."""
        if not self.reparam:
            return self
        plain = Generator(self.channels, self.width, self.blocks, self.scale)
        for target, source in zip(plain.body, self.body, strict=True):
            if isinstance(source, RepConv):
                source = source.fused()
            target.load_state_dict(source.state_dict())
        return plain.train(self.training)


class RepConv(nn.Module):
    """A 3×3 convolution whose kernel is a sum of branches, as in ECBSR's edge-oriented block (Zhang et al. 2021).

    Kernel = a plain 3×3 kernel + a 1×1 expansion to 2× the channels followed by a 3×3 + learned
    mixtures of fixed Sobel-x, Sobel-y and Laplacian filters (+ the identity where the channel counts
    match, as in RepVGG). Every branch is linear, so the sum is one 3×3 kernel. It is computed on each
    forward pass: the branches' products change how gradient descent moves the kernel (a better-
    conditioned, edge-aware search), yet a training step costs only about 7 % more than a plain one,
    and `fused` hands inference an ordinary convolution. ECBSR folds its branches only after training
    and pads with bias values to make the 1×1→3×3 path exact; defining the layer as the summed kernel
    from the start makes training and inference the same function by construction.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        plain = _conv3x3(in_channels, out_channels)  # PyTorch's default initialisation for the plain branch
        self.weight, self.bias = plain.weight, plain.bias
        expand = nn.Conv2d(in_channels, 2 * out_channels, 1)
        self.expand_in = nn.Parameter(expand.weight[:, :, 0, 0].detach().clone())
        self.expand_out = nn.Parameter(nn.Conv2d(2 * out_channels, out_channels, 3).weight.detach().clone())
        mix = nn.Conv2d(in_channels, out_channels, 1)
        # One mixing start for the three edge filters: they differ by their filter and learned scale.
        self.edge_mix = nn.Parameter(mix.weight[:, :, 0, 0].detach().clone().repeat(len(EDGE_FILTERS), 1, 1))
        self.edge_scale = nn.Parameter(1e-3 * torch.randn(len(EDGE_FILTERS), out_channels))  # ECBSR's start
        self.register_buffer("edge_filters", torch.tensor(EDGE_FILTERS), persistent=False)
        identity = torch.zeros(out_channels, in_channels, 3, 3)
        if in_channels == out_channels:
            identity[range(out_channels), range(in_channels), 1, 1] = 1.0
        self.register_buffer("identity", identity, persistent=False)

    def kernel(self) -> torch.Tensor:
        expanded = torch.einsum("omhw,mi->oihw", self.expand_out, self.expand_in)
        edges = torch.einsum("eo,eoi,ehw->oihw", self.edge_scale, self.edge_mix, self.edge_filters)
        return self.weight + expanded + edges + self.identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel(), self.bias, padding=1)

    @torch.no_grad()
    def fused(self) -> nn.Conv2d:
        conv = _conv3x3(self.weight.shape[1], self.weight.shape[0])
        conv.weight.copy_(self.kernel())
        conv.bias.copy_(self.bias)
        return conv


EDGE_FILTERS = (
    ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0)),  # Sobel x
    ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0)),  # Sobel y
    ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0)),  # Laplacian
)


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


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
    return Generator(channels, config.width, config.blocks, config.scale, config.reparam)


def discriminator(config: ModelConfig, size: int, channels: int, num_classes: int) -> UNetDiscriminator:
    return UNetDiscriminator(channels, config.d_width, config.spectral_norm)
