"""Paired image-to-image translation (pix2pix): a U-Net learns input → photo from pairs made on the fly.

Pairs come from photos, so they need no labels: for colorization the input is the photo's own grey
(BT.601 Y'), the target the photo. The loss is pix2pix's: L1 to the target (the colours in the
right places) plus a conditional PatchGAN's adversarial loss (plausible, saturated colour where L1
alone averages to sepia), each with its own weight.

Photos are used small (1/4 to 1/8 of Debian's 2560-pixel wallpapers): a colorizer must see what an
object is to know its colour, so a training crop holds a good part of a scene, not a patch of texture.
Crops are flipped but never turned: the sky is at the top.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from training.data import describe_skipped
from training.image_metrics import colourfulness, psnr_rgb
from training.loop import Run
from training.losses import discriminator_loss, generator_loss
from training.networks import build
from training.networks.unet import luma
from training.photos import PhotoCrops, split_photos, validation_crops
from training.sampling import save_grid

log = logging.getLogger("training")

PHOTO_DOWNSCALES = (4, 6, 8)  # training photos at these fractions of their size
VALIDATION_DOWNSCALE = 4
# The longer side at which a colorizer sees scenes as in training (Debian's 2560-pixel photos at 1/4 to
# 1/8): the engine runs it on a copy this size and puts the chroma under the full-size luminance.
WORKING_SIZE = 512
VALIDATION_CROP = 256
GRID_CROPS = 4


def make_pairs(photos: torch.Tensor, kind: str) -> torch.Tensor:
    """The model's inputs for (N, 3, H, W) photos in [0, 1]: what `data.pairs` names."""
    if kind == "colorize":
        return luma(photos)
    raise ValueError(f"unknown pairs {kind!r}")


class TranslateRun(Run):
    stats = ("l1", "adversarial", "d_loss")
    checks = ("psnr", "baseline_psnr", "colourfulness")  # colourfulness: the results' ÷ the targets'

    def _setup(self) -> tuple[nn.Module, nn.Module | None]:
        data, model = self.config.data, self.config.model
        training, validation = split_photos(data.path)
        self.photos = PhotoCrops(training, data.size, data.flip, PHOTO_DOWNSCALES, rotate=False)
        self.skipped = self.photos.skipped
        if validation:
            targets, skipped = validation_crops(validation, VALIDATION_CROP, downscale=VALIDATION_DOWNSCALE)
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
        )

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) for this step."""
        targets = self.photos.targets(self.batch_size, self._step_seed(), self.device)
        return make_pairs(targets, self.config.data.pairs), targets

    def train_step(self) -> torch.Tensor:
        """One G update, then one D update on the same pair; returns [L1, G adversarial, D loss]."""
        train = self.config.train
        inputs, targets = self._batch()
        zero = torch.zeros((), device=self.device)
        with self.autocast:
            results = self.G(inputs).float()
        l1 = F.l1_loss(results, targets)
        loss, adversarial, d_loss = train.l1_weight * l1, zero, zero
        if self.D is not None:
            self.D_raw.requires_grad_(False)  # D judges here, it is not trained: no gradients, no DDP sync
            with self.autocast:
                adversarial = generator_loss(train.loss, self.D_raw(inputs, results).float())
            loss = loss + train.adversarial_weight * adversarial
            self.D_raw.requires_grad_(True)
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_G.step()
        if self.D is not None:
            with self.autocast:
                real, fake = self.D(inputs, targets).float(), self.D(inputs, results.detach()).float()
            d_loss = discriminator_loss(train.loss, real, fake)
            self.opt_D.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_D.step()
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
