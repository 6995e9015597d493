"""How low-quality inputs are made from clean photos, on the fly, for training enhance models.

Two kinds, matching the two kinds of model:
- `bicubic_downscale`: the classic super-resolution input, an antialiased bicubic downscale rounded to
  8 bits. It is what standard SR benchmarks feed, so the faithful (PSNR) models train on exactly it.
  torch's antialiased bicubic uses Pillow's kernel (a = -0.5, widened by the scale), so training
  inputs match Pillow's downscale to within a level on 99% of pixels (Pillow rounds between its two
  passes; a test checks it).
- `realistic_degradation`: Real-ESRGAN's "high-order" model of real damage (Wang et al. 2021): blur,
  resize, noise and JPEG, applied in two rounds with random strengths, then a final resize and JPEG.
  A model trained on it cleans photos that went through cameras, messengers and re-saves.

Both work on batches (N, C, H, W) in [0, 1] on any device; every random choice comes from the
`generator` passed in, so a seed fixes the result (the training loop seeds it from the step).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

RESIZE_MODES = ("area", "bilinear", "bicubic")


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8 bits, as saving a real image would."""
    return (images.clamp(0, 1) * 255).round() / 255


def bicubic_downscale(images: torch.Tensor, scale: int) -> torch.Tensor:
    """Pillow-style antialiased bicubic downscale by an integer factor, rounded to 8 bits."""
    if scale == 1:
        return quantize(images)
    height, width = images.shape[-2] // scale, images.shape[-1] // scale
    return quantize(F.interpolate(images, size=(height, width), mode="bicubic", antialias=True, align_corners=False))


def degrade(images: torch.Tensor, scale: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """The input a model of `data.degradation = kind` learns from: "bicubic" or "realistic" (at ×1 the
    restoration ranges, when upscaling Real-ESRGAN's wider ones)."""
    if kind == "bicubic":
        return bicubic_downscale(images, scale)
    return realistic_degradation(images, scale, generator, RealisticDegradation() if scale == 1 else UPSCALING)


@dataclass(frozen=True)
class RoundSettings:
    """The random ranges of one degradation round (Real-ESRGAN's settings, milder for ×1)."""

    blur_probability: float
    blur_sigma: tuple[float, float]  # Gaussian kernel standard deviations, in pixels
    resize_range: tuple[float, float]  # random rescale factor (down and up)
    gaussian_sigma: tuple[float, float]  # in 8-bit levels
    poisson_scale: tuple[float, float]
    jpeg_quality: tuple[int, int]


@dataclass(frozen=True)
class RealisticDegradation:
    """Two rounds of damage. The defaults are for ×1 restoration: the rescale in each round is milder
    than Real-ESRGAN's (0.15–1.5), so the model learns to remove noise, blur and JPEG artefacts
    rather than to invent detail that a ×4 model would."""

    first: RoundSettings = RoundSettings(0.8, (0.2, 2.0), (0.5, 1.5), (1.0, 25.0), (0.05, 2.5), (30, 95))
    second: RoundSettings = RoundSettings(0.6, (0.2, 1.2), (0.7, 1.3), (1.0, 20.0), (0.05, 2.0), (30, 95))
    gray_noise_probability: float = 0.4  # the same noise in every channel (luminance noise)
    gaussian_noise_probability: float = 0.5  # otherwise Poisson (shot) noise
    kernel_size: int = 21


# Real-ESRGAN's ranges for its ×4 models (options/train_realesrgan_x4plus.yml): a photo worth upscaling
# has usually been shrunk, blurred and re-saved more than once, far more than a ×1 model is asked to undo.
UPSCALING = RealisticDegradation(
    first=RoundSettings(1.0, (0.2, 3.0), (0.15, 1.5), (1.0, 30.0), (0.05, 3.0), (30, 95)),
    second=RoundSettings(0.8, (0.2, 1.5), (0.3, 1.2), (1.0, 25.0), (0.05, 2.5), (30, 95)),
)


def realistic_degradation(
    images: torch.Tensor,
    scale: int,
    generator: torch.Generator,
    settings: RealisticDegradation = RealisticDegradation(),
) -> torch.Tensor:
    """Degraded inputs of size (H/scale, W/scale) for clean images (N, C, H, W) in [0, 1]."""
    height, width = images.shape[-2] // scale, images.shape[-1] // scale
    x = images
    for round_settings in (settings.first, settings.second):
        x = _blur(x, round_settings, settings.kernel_size, generator)
        x = _resize(x, round_settings.resize_range, generator)
        x = _noise(x, round_settings, settings, generator)
        x = _jpeg(x, round_settings.jpeg_quality, generator)
    mode = RESIZE_MODES[_randint(generator, 0, len(RESIZE_MODES) - 1)]
    x = F.interpolate(x, size=(height, width), mode=mode, **_resize_options(mode))
    return _jpeg(x, settings.second.jpeg_quality, generator)


def _rand(generator: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    """n uniform numbers in [low, high), drawn on the generator's device and returned on the CPU."""
    return (torch.rand(n, generator=generator, device=generator.device) * (high - low) + low).cpu()


def _randint(generator: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (), generator=generator, device=generator.device))


def gaussian_kernels(sigma_x: torch.Tensor, sigma_y: torch.Tensor, angle: torch.Tensor, size: int) -> torch.Tensor:
    """(N, size, size) normalised anisotropic Gaussian kernels, rotated by `angle` (radians)."""
    r = torch.arange(size, dtype=torch.float32) - size // 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    u, v = cos * x + sin * y, -sin * x + cos * y
    kernels = torch.exp(-0.5 * ((u / sigma_x[:, None, None]) ** 2 + (v / sigma_y[:, None, None]) ** 2))
    return kernels / kernels.sum((1, 2), keepdim=True)


def _blur(x: torch.Tensor, settings: RoundSettings, size: int, generator: torch.Generator) -> torch.Tensor:
    n, c, h, w = x.shape
    sigma_x = _rand(generator, n, *settings.blur_sigma)
    sigma_y = torch.where(_rand(generator, n, 0, 1) < 0.5, sigma_x, _rand(generator, n, *settings.blur_sigma))
    angle = _rand(generator, n, 0, math.pi)
    kernels = gaussian_kernels(sigma_x, sigma_y, angle, size)
    identity = torch.zeros(size, size)
    identity[size // 2, size // 2] = 1
    kernels = torch.where((_rand(generator, n, 0, 1) < settings.blur_probability)[:, None, None], kernels, identity)
    weight = kernels.to(x.device, x.dtype).repeat_interleave(c, 0)[:, None]  # one kernel per image, all channels
    padded = F.pad(x.reshape(1, n * c, h, w), [size // 2] * 4, mode="reflect" if min(h, w) > size // 2 else "replicate")
    return F.conv2d(padded, weight, groups=n * c).reshape(n, c, h, w)


def _resize(x: torch.Tensor, factor_range: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    factor = float(_rand(generator, 1, *factor_range))
    mode = RESIZE_MODES[_randint(generator, 0, len(RESIZE_MODES) - 1)]
    size = (max(8, round(x.shape[-2] * factor)), max(8, round(x.shape[-1] * factor)))
    return F.interpolate(x, size=size, mode=mode, **_resize_options(mode)).clamp(0, 1)


def _resize_options(mode: str) -> dict:
    return {} if mode == "area" else {"align_corners": False}


def _noise(
    x: torch.Tensor, settings: RoundSettings, degradation: RealisticDegradation, generator: torch.Generator
) -> torch.Tensor:
    n = len(x)
    device = x.device
    gray = (_rand(generator, n, 0, 1) < degradation.gray_noise_probability).to(device)[:, None, None, None]
    gaussian = (_rand(generator, n, 0, 1) < degradation.gaussian_noise_probability).to(device)[:, None, None, None]
    sigma = (_rand(generator, n, *settings.gaussian_sigma) / 255).to(device)[:, None, None, None]
    normal = torch.randn(x.shape, generator=generator, device=device)
    gaussian_noise = torch.where(gray, normal[:, :1].expand_as(x), normal) * sigma
    # Shot noise: photon counts with mean proportional to the value (Real-ESRGAN's Poisson model).
    poisson_scale = _rand(generator, n, *settings.poisson_scale).to(device)[:, None, None, None]
    luma = (x * torch.tensor([0.299, 0.587, 0.114], device=device)[:, None, None]).sum(1, keepdim=True)
    base = torch.where(gray, luma.expand_as(x), x) if x.shape[1] == 3 else x
    counts = torch.poisson(base.clamp(0, 1) * 255, generator=generator) / 255
    poisson_noise = (counts - base) * poisson_scale
    return (x + torch.where(gaussian, gaussian_noise, poisson_noise)).clamp(0, 1)


def _jpeg(x: torch.Tensor, quality_range: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """JPEG-compress each image at a random quality (through Pillow, on the CPU)."""
    qualities = [_randint(generator, *quality_range) for _ in range(len(x))]
    pixels = (quantize(x) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for image, quality in zip(pixels, qualities, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer))
        out.append(decoded[..., None] if decoded.ndim == 2 else decoded)
    return torch.from_numpy(np.stack(out)).to(x.device).permute(0, 3, 1, 2).float() / 255
