"""Image-to-image translation (pix2pix, Isola et al. 2017): a U-Net generator and a conditional PatchGAN.

The U-Net's skip connections carry the input's edges to the output, so the network only has to decide
what changes (colour, style). No normalisation layer: instance norm, CycleGAN's and pix2pix's usual
choice, takes statistics per image, so a photo processed in tiles would get a different answer in
every tile; without it a tile's result depends only on its pixels and their surroundings.

With `keep_luma` (colorization) the network predicts only chroma (the colorization literature's
choice: predict chroma, keep the input's luminance), and the output is that chroma under the input's
own Y': every detail of the grey image survives exactly. Y'CbCr is BT.601's, as in JPEG and Pillow's
grey conversion: the luminance a grey photo file most likely holds.

With `keep_lines` (line art → colour) the network predicts a colour fill and the output is that fill
multiplied by the input drawing, as an artist colours under an ink layer set to Multiply: every line
stays exactly as drawn, black and sharp, and the network only decides the colours between them.

`colour_downscale` 2 or 4 (with either) runs the U-Net at 1/2 or 1/4 of the input's size and predicts
the chroma or the fill there, as JPEG's 4:2:0 stores chroma: the detail comes from the full-size input,
and the network costs a quarter or a sixteenth (its full-size levels dominate the cost). The input goes
in by space-to-depth (each 2×2 or 4×4 block becomes 4 or 16 channels), not by averaging, so the first
convolution still sees the texture that tells grass from sky.

With `residual` (photo → style) the network predicts a change that is added to the input, and its last
layer starts at zero, so G starts as the identity. Measured on the style's patch distance: a U-Net that
re-draws every pixel comes out softer than its input (its finest Laplacian level far from the paintings',
worse than the untouched photo), and the distance rewards fine texture; as a change it keeps the input's
detail and only has to learn what the style adds. The sum is clamped to [0, 1] in eval mode only (export,
validation): clamped in training, a channel that the adversarial pull once pushed past 1 got no gradient
back, and a run turned every photo saturated green for good (style-van-gogh at lr 5e-4).

With `padding = "replicate"` every convolution pads by repeating the edge pixels instead of zeros: zeros
tell the network where the image ends, and a style learned to draw a frame along every border
(style-van-gogh; CycleGAN pads by reflection for the same reason; replication also works on the 1-pixel
maps that a small tile reaches at the deepest level, where reflection cannot).

Upsampling is nearest-neighbour then a 3×3 convolution, not a transposed convolution, which leaves
checkerboard artefacts (Odena et al. 2016).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from training.config import ModelConfig

TASK = "translate"
LUMA = (0.299, 0.587, 0.114)  # BT.601
CB_SCALE, CR_SCALE = 1.772, 1.402  # Cb = (B − Y') / 1.772, Cr = (R − Y') / 1.402


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) → (N, 1, H, W) Y'."""
    r, g, b = rgb.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) → (N, 3, H, W) Y'CbCr, ycbcr_to_rgb's inverse."""
    y = luma(rgb)
    return torch.cat([y, (rgb[:, 2:3] - y) / CB_SCALE, (rgb[:, :1] - y) / CR_SCALE], dim=1)


def ycbcr_to_rgb(y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor) -> torch.Tensor:
    r, b = y + CR_SCALE * cr, y + CB_SCALE * cb
    g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1]
    return torch.cat([r, g, b], dim=1)


def _block(cin: int, cout: int, padding: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding), nn.LeakyReLU(0.2),
        nn.Conv2d(cout, cout, 3, padding=1, padding_mode=padding), nn.LeakyReLU(0.2),
    )  # fmt: skip


class Generator(nn.Module):
    """(N, channels, H, W) in [0, 1] → (N, 3, H, W) in [0, 1]; H and W multiples of 2^levels."""

    def __init__(
        self,
        channels: int = 1,
        width: int = 32,
        levels: int = 4,
        keep_luma: bool = True,
        keep_lines: bool = False,
        colour_downscale: int = 1,
        chroma_gain: float = 1.0,
        residual: bool = False,
        padding: str = "zeros",
    ):
        super().__init__()
        if (keep_luma or keep_lines) and channels != 1:
            raise ValueError("keep_luma and keep_lines need a grey (1-channel) input")
        if keep_luma and keep_lines:
            raise ValueError("keep_luma or keep_lines, not both")
        if colour_downscale not in (1, 2, 4) or (colour_downscale > 1 and not (keep_luma or keep_lines)):
            raise ValueError("colour_downscale is 1, or 2 or 4 with keep_luma or keep_lines")
        if residual and (keep_luma or keep_lines or channels != 3):
            raise ValueError("residual is for RGB in and out, without keep_luma or keep_lines")
        self.channels, self.levels = channels, levels
        self.keep_luma, self.keep_lines, self.colour_downscale = keep_luma, keep_lines, colour_downscale
        self.chroma_gain, self.residual = chroma_gain, residual
        # Capped at 4× the first: the deep levels, 16× smaller than the image at level 4, held most of the
        # weights with 8× (a 30 MB model at width 32).
        widths = [min(width * 2**level, 4 * width) for level in range(levels + 1)]
        self.first = _block(channels * colour_downscale**2, widths[0], padding)
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(a, b, 4, stride=2, padding=1, padding_mode=padding), nn.LeakyReLU(0.2), _block(b, b, padding)
            )
            for a, b in pairwise(widths)
        )
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(b, a, 3, padding=1, padding_mode=padding),
                nn.LeakyReLU(0.2),
            )
            for a, b in pairwise(widths)
        )
        self.merge = nn.ModuleList(_block(2 * a, a, padding) for a in widths[:-1])
        self.widths = widths
        self.head = nn.Conv2d(widths[0], 2 if keep_luma else 3, 1)
        if residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        # One 3×3 convolution reaches one pixel at its level's resolution; a level is 2^l input pixels.
        self.receptive_radius = sum(2**level * 5 for level in range(levels + 1)) * colour_downscale
        self.size_multiple = 2**levels * colour_downscale

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's features, finest first: the skips, and what CUT's PatchNCE compares."""
        small = F.pixel_unshuffle(x, self.colour_downscale) if self.colour_downscale > 1 else x
        features = [self.first(small)]
        for down in self.down:
            features.append(down(features[-1]))
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self.encode(x)
        h = skips.pop()
        for level in reversed(range(self.levels)):
            h = self.merge[level](torch.cat([self.up[level](h), skips.pop()], dim=1))
        out = self.head(h).float()
        if self.residual:  # clamped for use only: a clamp in training left an overshot channel no gradient
            return x.float() + out if self.training else (x.float() + out).clamp(0, 1)
        if not (self.keep_luma or self.keep_lines):
            out = torch.tanh(out)
        # Chroma and fill stay linear: a tanh there, once saturated, left G no gradient back (measured:
        # colorize's L1 jumped from 0.07 to 0.61 at step 400 and stayed; lineart-color's fill, white
        # everywhere from step 500 to 1150, is likely the same trap).
        if self.colour_downscale > 1:
            out = F.interpolate(out, scale_factor=self.colour_downscale, mode="bilinear", align_corners=False)
        if self.keep_luma:
            chroma = 0.5 * self.chroma_gain * out
            return ycbcr_to_rgb(x.float(), chroma[:, :1], chroma[:, 1:])
        if self.keep_lines:
            return (out + 1) / 2 * x.float()
        return (out + 1) / 2


class PatchDiscriminator(nn.Module):
    """pix2pix's 70×70 PatchGAN: a real/fake logit per overlapping patch, so it judges local texture and
    colour. Given (input, output) pairs (paired translation) it also judges whether the output belongs
    to its input; given images alone (unpaired) only whether they look like the target domain."""

    def __init__(self, channels: int = 4, width: int = 64, use_spectral_norm: bool = True):
        super().__init__()
        norm = spectral_norm if use_spectral_norm else (lambda m: m)
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            norm(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            norm(nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            norm(nn.Conv2d(4 * w, 8 * w, 4, padding=1)), nn.LeakyReLU(0.2),
            nn.Conv2d(8 * w, 1, 4, padding=1),
        )  # fmt: skip

    def forward(self, *images: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat(images, dim=1))


class PatchProjections(nn.Module):
    """CUT's projection heads (Park et al. 2020): a two-layer MLP per encoder level maps a feature vector to
    a unit-length embedding, in which PatchNCE matches each output patch to the input patch at its place."""

    def __init__(self, widths: list[int], size: int = 256):
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(width, size), nn.ReLU(), nn.Linear(size, size)) for width in widths
        )

    def forward(self, level: int, features: torch.Tensor) -> torch.Tensor:
        """(N, P, C) features of P patches → (N, P, size) unit vectors."""
        return F.normalize(self.heads[level](features), dim=-1)


def generator(config: ModelConfig, size: int, channels: int, num_classes: int = 0) -> Generator:
    """`channels` are the input's: 1 for grey (colorize, line art), 3 for a photo to restyle."""
    return Generator(
        channels, config.width, config.levels, config.keep_luma, config.keep_lines, config.colour_downscale,
        config.chroma_gain, config.residual, config.padding,
    )  # fmt: skip


def discriminator(config: ModelConfig, size: int, channels: int, num_classes: int = 0) -> PatchDiscriminator:
    """Conditional on the input (its `channels` beside the RGB result): paired translation's D."""
    return PatchDiscriminator(channels + 3, config.d_width, config.spectral_norm)
