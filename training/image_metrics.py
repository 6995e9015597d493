"""Fidelity metrics for enhance and translation models, computed as their literatures do.

PSNR and SSIM on the luma (Y) channel of ITU-R BT.601 in the 16–235 range (MATLAB's rgb2ycbcr), with
`border` pixels cropped from every side (the scale, by convention), on 8-bit images. Published numbers
(FSRCNN, ESPCN, EDSR, ...) are measured this way, so ours compare with theirs. SSIM uses the
11×11 Gaussian window (σ = 1.5) of Wang et al. 2004 without padding.

Colorization is judged on colour, not luma: PSNR over all three RGB channels (a grey input's own
PSNR is the do-nothing baseline) and colourfulness (Hasler & Süsstrunk 2003), which catches the usual
failure of colorizers trained on L1 alone, a sepia or grey result.

Inputs are (N, 3, H, W) or (N, 1, H, W) tensors in [0, 1]; they are rounded to 8 bits first, as an
image saved by a user would be. Results are per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_Y_WEIGHTS = (65.481, 128.553, 24.966)


def luma(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) Y in [16, 235] (grey images are taken as Y already, scaled the same way)."""
    images = (images.double().clamp(0, 1) * 255).round() / 255
    if images.shape[1] == 1:
        return 16 + 219 * images
    weights = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=images.device)[:, None, None]
    return 16 + (images * weights).sum(1, keepdim=True)


def _crop(images: torch.Tensor, border: int) -> torch.Tensor:
    return images[..., border : images.shape[-2] - border, border : images.shape[-1] - border] if border else images


def psnr_y(result: torch.Tensor, target: torch.Tensor, border: int = 0) -> torch.Tensor:
    """PSNR in dB of the Y channel, per image."""
    if result.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(result.shape)} and {tuple(target.shape)}")
    mse = (_crop(luma(result), border) - _crop(luma(target), border)).square().mean((1, 2, 3))
    return 10 * torch.log10(255**2 / mse.clamp(min=1e-10))


def ssim_y(result: torch.Tensor, target: torch.Tensor, border: int = 0) -> torch.Tensor:
    """SSIM of the Y channel, per image."""
    if result.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(result.shape)} and {tuple(target.shape)}")
    x, y = _crop(luma(result), border), _crop(luma(target), border)
    coordinates = torch.arange(11, dtype=torch.float64, device=x.device) - 5
    gauss = torch.exp(-(coordinates**2) / (2 * 1.5**2))
    window = (gauss[:, None] * gauss[None, :] / gauss.sum() ** 2)[None, None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    covariance = F.conv2d(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean((1, 2, 3))


def _eight_bit(images: torch.Tensor) -> torch.Tensor:
    return (images.double().clamp(0, 1) * 255).round()


def psnr_rgb(result: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB over all colour channels, per image (a grey image counts as R = G = B)."""
    if result.shape[2:] != target.shape[2:]:
        raise ValueError(f"sizes differ: {tuple(result.shape)} and {tuple(target.shape)}")
    mse = (_eight_bit(result.expand_as(target)) - _eight_bit(target)).square().mean((1, 2, 3))
    return 10 * torch.log10(255**2 / mse.clamp(min=1e-10))


def colourfulness(images: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk's M: spread and mean of the opponent channels rg = R − G and yb = (R + G)/2 − B,
    in 8-bit units, per image. 0 for grey; about 15 'slightly', 33 'moderately', 59 'quite' colourful."""
    r, g, b = _eight_bit(images).unbind(1)
    rg, yb = r - g, (r + g) / 2 - b
    spread = (rg.flatten(1).var(1, correction=0) + yb.flatten(1).var(1, correction=0)).sqrt()
    mean = (rg.flatten(1).mean(1).square() + yb.flatten(1).mean(1).square()).sqrt()
    return spread + 0.3 * mean
