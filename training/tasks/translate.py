"""Paired image-to-image translation (pix2pix): a U-Net learns input → photo from pairs made on the fly.

Pairs are made from the targets, so they need no labels: for colorization the input is the photo's own
grey (BT.601 Y'), the target the photo; for line art the input is a line drawing that XDoG (below)
extracts from a coloured clip-art image, the target that image. The loss is pix2pix's: L1 to the
target (the colours in the right places) plus a conditional PatchGAN's adversarial loss (plausible,
saturated colour where L1 alone averages to sepia), each with its own weight.

Photos are used small, a shorter side of 200 to 400 pixels (Debian's 2560-pixel wallpapers at 1/4 to
1/8, GCompris's photos whole or halved): a colorizer must see what an object is to know its colour, so a
training crop holds a good part of a scene, not a patch of texture. Crops are flipped but never turned:
the sky is at the top. With Debian's data the photos are the enhance models' wallpapers (landscapes)
and the photos of objects, animals and monuments in gcompris-qt-data and tuxpaint-data
(training/artwork.py), each set with its own validation photos; line art trains on openclip-art's
coloured drawings.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from training.artwork import debian_images, split_images
from training.data import DataError, describe_skipped
from training.image_metrics import colourfulness, psnr_rgb
from training.loop import Run
from training.losses import discriminator_loss, generator_loss
from training.networks import build
from training.networks.unet import luma
from training.photos import PhotoCrops, split_photos, validation_crops
from training.sampling import save_grid

log = logging.getLogger("training")

SCENE_SIDES = (200, 400)  # the shorter side of a photo as training sees it, in pixels
# The longer side at which a colorizer sees scenes as in training (a 16:10 photo whose shorter side is
# 320): the engine runs it on a copy this size and puts the chroma under the full-size luminance.
WORKING_SIZE = 512
VALIDATION_CROP = 256
GRID_CROPS = 4


def scene_downscales(size: tuple[int, int]) -> list[int]:
    """The integer reductions that bring a photo's shorter side into SCENE_SIDES (none: whole)."""
    low, high = SCENE_SIDES
    shorter = min(size)
    return [d for d in range(1, shorter // low + 1) if shorter / d <= high] or [1]


def validation_downscale(size: tuple[int, int]) -> list[int]:
    """The one reduction a validation photo is judged at: the largest size within SCENE_SIDES."""
    return [max(1, math.ceil(min(size) / SCENE_SIDES[1]))]


def scene_photos(data_path: str, pairs: str = "colorize") -> tuple[list[Path], list[Path]]:
    """(training, validation) targets: a folder's (split as for enhance); else for line art Debian's clip
    art, for colorize Debian's wallpapers and the photos of training/artwork.py, each set split its own way."""
    if data_path:
        return split_photos(data_path)
    if pairs == "lineart":
        return split_images(debian_images("lineart"))
    training, validation = split_photos(data_path)
    try:
        more_training, more_validation = split_images(debian_images("photo"))
    except DataError as e:
        log.warning("%s: training on the wallpapers only", e)
    else:
        training, validation = training + more_training, validation + more_validation
    return training, validation


# XDoG (Winnemöller et al. 2012): a difference of Gaussians sharpened by P and thresholded softly at
# EPSILON. Flat areas lighter than EPSILON go white, each edge becomes a dark line on its darker side, as
# an inked outline; σ sets the line's width, drawn per image in training so a model meets thin and bold
# pens (validation uses the middle one). Tuned by eye on openclipart-png (EPSILON keeps only near-black fills).
XDOG_K, XDOG_P, XDOG_EPSILON, XDOG_PHI = 1.6, 20.0, 0.1, 30.0
XDOG_SIGMAS = (0.6, 1.5)


def _blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) blurred by a Gaussian of σ per image, edges replicated."""
    radius = int(3 * float(sigma.max()) + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernels = torch.exp(-(taps**2) / (2 * sigma.to(images)[:, None] ** 2))
    kernels = kernels / kernels.sum(1, keepdim=True)  # (N, taps)
    n = images.shape[0]
    x = F.pad(images, (radius,) * 4, mode="replicate").transpose(0, 1)  # (1, N, H, W): one group per image
    x = F.conv2d(x, kernels.view(n, 1, 1, -1), groups=n)
    return F.conv2d(x, kernels.view(n, 1, -1, 1), groups=n).transpose(0, 1)


def xdog(grey: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) line drawings in [0, 1] (1 = paper) of (N, 1, H, W) grey images, σ per image."""
    sharpened = (1 + XDOG_P) * _blur(grey, sigma) - XDOG_P * _blur(grey, XDOG_K * sigma)
    lines = 1 + torch.tanh(XDOG_PHI * (sharpened - XDOG_EPSILON))
    return torch.where(sharpened >= XDOG_EPSILON, torch.ones_like(lines), lines).clamp(0, 1)


def make_pairs(targets: torch.Tensor, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """The model's inputs for (N, 3, H, W) targets in [0, 1]: what `data.pairs` names. `generator`
    draws each line drawing's pen width; without it every drawing gets the middle one."""
    if kind == "colorize":
        return luma(targets)
    if kind == "lineart":
        low, high = XDOG_SIGMAS
        if generator is None:
            sigma = torch.full((len(targets),), (low + high) / 2)
        else:
            sigma = low + (high - low) * torch.rand(len(targets), generator=generator)
        return xdog(luma(targets), sigma)
    raise ValueError(f"unknown pairs {kind!r}")


class TranslateRun(Run):
    stats = ("l1", "adversarial", "d_loss")
    checks = ("psnr", "baseline_psnr", "colourfulness")  # colourfulness: the results' ÷ the targets'

    def _setup(self) -> tuple[nn.Module, nn.Module | None]:
        data, model = self.config.data, self.config.model
        training, validation = scene_photos(data.path, data.pairs)
        self.photos = PhotoCrops(
            training, data.size, data.flip, scene_downscales, rotate=False, colour_only=data.pairs == "colorize"
        )
        self.skipped = self.photos.skipped
        if validation:
            targets, skipped = validation_crops(validation, VALIDATION_CROP, downscale=validation_downscale)
            self.targets, self.skipped = targets.float() / 255, self.skipped + skipped
        else:  # a user's folder without val/: watch fixed training crops instead
            log.warning("no validation photos (put some into a val/ sub-folder): scores are of training crops")
            self.targets = self.photos.sample(8, torch.Generator().manual_seed(0)).float() / 255
        self.inputs = make_pairs(self.targets, data.pairs)
        self.baseline_psnr = float(psnr_rgb(self.inputs, self.targets).mean())
        self.target_colourfulness = float(colourfulness(self.targets).mean())
        G, D = build(model, data.size, self.inputs.shape[1])
        return G, (D if self.config.train.adversarial_weight > 0 else None)

    def describe_data(self) -> str:
        return (
            f"{len(self.photos)} photo sizes ({self.photos.pixels / 1e6:.0f} megapixels), "
            f"{self.config.data.pairs} pairs{describe_skipped(self.skipped)}"
            + (f", {len(self.photos.black_and_white)} black-and-white left out" if self.photos.black_and_white else "")
        )

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) for this step."""
        seed = self._step_seed()
        targets = self.photos.targets(self.batch_size, seed, self.device)
        return make_pairs(targets, self.config.data.pairs, torch.Generator().manual_seed(seed)), targets

    def train_step(self) -> torch.Tensor:
        """One G update, then one D update on the same pair; returns [L1, G adversarial, D loss]."""
        train = self.config.train
        inputs, targets = self._batch()
        zero = torch.zeros((), device=self.device)
        with self.autocast:
            results = self.G(inputs).float()
        l1 = F.l1_loss(results, targets)
        loss, adversarial, d_loss = train.l1_weight * l1, zero, zero
        if train.mse_weight:
            loss = loss + train.mse_weight * F.mse_loss(results, targets)
        if self.D is not None:
            self.D_raw.requires_grad_(False)  # D judges here, it is not trained: no gradients, no DDP sync
            with self.autocast:
                adversarial = generator_loss(train.loss, self.D_raw(inputs, results).float())
            loss = loss + train.adversarial_weight * adversarial
            self.D_raw.requires_grad_(True)
        self.update(self.opt_G, loss)
        if self.D is not None:
            with self.autocast:
                real, fake = self.D(inputs, targets).float(), self.D(inputs, results.detach()).float()
            d_loss = discriminator_loss(train.loss, real, fake)
            self.update(self.opt_D, d_loss)
        self.update_ema()
        self.step += 1
        return torch.stack([l1, adversarial, d_loss]).detach()

    def _progress(self, means: list[float]) -> str:
        l1, adversarial, d_loss = means
        gan = f"  G adv {adversarial:.3f}  D {d_loss:.3f}" if self.D is not None else ""
        return f"L1 {l1:.4f}{gan}"

    @torch.no_grad()
    def _watch(self) -> None:
        """PSNR and colourfulness of the EMA generator on the validation crops; a grid input | result | target."""
        results = self._results_of_ema(self.inputs)
        checks = {
            "psnr": float(psnr_rgb(results, self.targets).mean()),
            "baseline_psnr": self.baseline_psnr,
            "colourfulness": float(colourfulness(results).mean()) / self.target_colourfulness,
        }
        log.info(
            "\nstep %d: validation PSNR %.2f dB (input %.2f dB), colourfulness %.2f of the photos'",
            self.step, checks["psnr"], self.baseline_psnr, checks["colourfulness"],
        )  # fmt: skip
        shown = self.inputs[:GRID_CROPS].expand(-1, 3, -1, -1)
        grid = torch.stack([shown, results[:GRID_CROPS], self.targets[:GRID_CROPS]], 1).flatten(0, 1)
        save_grid(grid * 2 - 1, self.run_dir / "samples" / f"step-{self.step:06d}.png", columns=3)
        self._rewrite_last_row(checks)
        self._plot()

    def _plot(self) -> None:
        curves = {"L1 loss": "l1", "validation PSNR (dB)": "psnr", "colourfulness ÷ the photos'": "colourfulness"}
        if self.D is not None:
            curves |= {"G adversarial loss": "adversarial", "D loss": "d_loss"}
        self._plot_columns(curves)
