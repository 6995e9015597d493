"""Real-ESRGAN's U-Net discriminator with spectral norm: a real-vs-fake logit for every pixel.

A per-pixel verdict gives the generator feedback on each texture rather than one number per patch;
spectral norm on every inner layer keeps that strong D from destabilising training. `features`
returns the decoder's maps as well, for the feature-matching loss (a perceptual-style loss that
needs no downloaded network).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class UNetDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, width: int = 64, use_spectral_norm: bool = True):
        super().__init__()
        norm = spectral_norm if use_spectral_norm else (lambda m: m)
        w = width
        self.first = nn.Conv2d(channels, w, 3, padding=1)
        widths = (w, 2 * w, 4 * w, 8 * w)
        self.down = nn.ModuleList(
            norm(nn.Conv2d(a, b, 4, stride=2, padding=1, bias=False)) for a, b in pairwise(widths)
        )
        self.up = nn.ModuleList(norm(nn.Conv2d(a, b, 3, padding=1, bias=False)) for a, b in pairwise(widths[::-1]))
        self.refine = nn.Sequential(
            norm(nn.Conv2d(w, w, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
            norm(nn.Conv2d(w, w, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.logit = nn.Conv2d(w, 1, 3, padding=1)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(per-pixel logits (N, 1, H, W), the decoder's feature maps); H and W multiples of 8."""
        skips = [F.leaky_relu(self.first(x), 0.2)]
        for conv in self.down:
            skips.append(F.leaky_relu(conv(skips[-1]), 0.2))
        h, maps = skips.pop(), []
        for conv in self.up:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = F.leaky_relu(conv(h), 0.2) + skips.pop()
            maps.append(h)
        h = self.refine(h)
        maps.append(h)
        return self.logit(h), maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]
