"""DiffAugment (Zhao et al. 2020): the same random, differentiable augmentation on real and fake images.

With few training images D memorises them and its feedback to G turns to noise. Augmenting both
what D sees of the data and of G, differentiably so G still gets gradients, lets a GAN train on a
few hundred images. Randomness comes from torch's global generator, so a seeded run repeats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply the comma-separated policy ("color", "translation", "cutout") to images in [-1, 1]."""
    for name in filter(None, (p.strip() for p in policy.split(","))):
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}")
        x = AUGMENTATIONS[name](x)
    return x


def color(x: torch.Tensor) -> torch.Tensor:
    """Brightness, saturation and contrast; of an RGBA image's colour only (alpha is a shape, not a colour)."""
    if x.shape[1] == 4:
        return torch.cat([color(x[:, :3]), x[:, 3:]], dim=1)
    n = len(x)
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)  # brightness
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean  # contrast


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio × its size, filling with zeros (mid-grey)."""
    n, _, h, w = x.shape
    dy, dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-dy, dy + 1, (n, 1, 1), device=x.device)
    shift_x = torch.randint(-dx, dx + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + shift_y + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device)[None, None, :] + shift_x + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one random square of ratio × the image size per image."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}
