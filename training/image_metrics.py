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

from collections.abc import Sequence

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
    return _ssim(_crop(luma(result), border), _crop(luma(target), border))


def ssim_rgb(result: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM averaged over the R, G and B channels (8-bit), per image: for colorizers, whose Y is the input's."""
    if result.shape[2:] != target.shape[2:]:
        raise ValueError(f"sizes differ: {tuple(result.shape)} and {tuple(target.shape)}")
    x, y = _eight_bit(result.expand_as(target)), _eight_bit(target)
    return torch.stack([_ssim(x[:, c : c + 1], y[:, c : c + 1]) for c in range(target.shape[1])]).mean(0)


def _ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM of (N, 1, H, W) float64 images in 8-bit units, per image."""
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


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels, finest first, then the coarsest low-pass: each level's detail at its own scale."""
    pyramid, current = [], images.double()
    for _ in range(levels - 1):
        smaller = F.avg_pool2d(current, 2)
        pyramid.append(current - F.interpolate(smaller, size=current.shape[-2:], mode="bilinear", align_corners=False))
        current = smaller
    return [*pyramid, current]


def _patches(level: torch.Tensor, count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(count, C · size²) descriptors of patches at random places of one (C, H, W) image."""
    c, h, w = level.shape
    top = torch.randint(h - size + 1, (count,), generator=generator)
    left = torch.randint(w - size + 1, (count,), generator=generator)
    offsets = torch.arange(size)
    rows = (top[:, None] + offsets)[:, :, None].expand(-1, size, size)  # (count, size, size)
    columns = (left[:, None] + offsets)[:, None, :].expand(-1, size, size)
    flat = (rows * w + columns).flatten()  # (count · size²)
    return level.flatten(1)[:, flat].view(c, count, size * size).transpose(0, 1).reshape(count, c * size * size)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: int, generator: torch.Generator) -> float:
    """The 1-D Wasserstein distance between two (M, D) samples, averaged over random directions."""
    projections = torch.randn(a.shape[1], directions, generator=generator, dtype=a.dtype)
    projections /= projections.norm(dim=0, keepdim=True)
    return float((torch.sort(a @ projections, 0)[0] - torch.sort(b @ projections, 0)[0]).abs().mean())


def patch_swd(
    results: Sequence[torch.Tensor],
    references: Sequence[torch.Tensor],
    levels: int = 3,
    patches: int = 4096,
    seed: int = 0,
) -> list[float]:
    """Sliced Wasserstein distance (× 10³) between the 7×7 patches of two sets of (C, H, W) images (any sizes;
    a batch tensor is a set), per Laplacian level, finest first: ProGAN's measure of how alike two sets'
    textures and colours are at each scale (Karras et al. 2018), which needs no pretrained network.
    `patches` are drawn from each set, spread evenly over its images; descriptors are normalised
    component-wise by the references' statistics."""
    generator = torch.Generator().manual_seed(seed)

    def descriptors(images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        per_image = -(-patches // len(images))
        pyramids = [laplacian_pyramid(image[None], levels) for image in images]
        return [
            torch.cat([_patches(pyramid[level][0], per_image, 7, generator) for pyramid in pyramids])[:patches]
            for level in range(levels)
        ]

    distances = []
    for a, b in zip(descriptors(results), descriptors(references), strict=True):
        mean, std = b.mean(0), b.std(0).clamp(min=1e-8)
        distances.append(1e3 * sliced_wasserstein((a - mean) / std, (b - mean) / std, 512, generator))
    return distances
