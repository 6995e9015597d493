"""Training enhance models (super-resolution and restoration): the GAN loop's run, with photo pairs.

The loop, EMA, checkpoints, resume, logs and DDP are `training.loop.Run`'s; this run supplies the
data (random crops of photos, degraded on the fly on the training device), the losses and what is
watched: PSNR-Y on fixed validation crops against the plain-resize (or untouched-input) baseline,
and a grid of input | result | target.

Two stages, as in ESRGAN: a PSNR-oriented one (L1 only; no discriminator is built) and a GAN stage
that starts from its result (`train.init_from`) and adds feature matching in the discriminator's
feature maps and the relativistic average adversarial loss, each with its own weight.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from training.checkpoint import load_checkpoint, load_weights
from training.config import Config, ConfigError, from_dict
from training.data import describe_skipped
from training.degradation import degrade
from training.image_metrics import psnr_y
from training.loop import Run
from training.losses import relativistic_discriminator_loss, relativistic_generator_loss
from training.networks import build
from training.photos import PhotoCrops, split_photos, validation_crops
from training.sampling import save_grid

log = logging.getLogger("training")

VALIDATION_CROP = 192  # high-resolution pixels; a multiple of 2, 3 and 4 (and of 8 for the U-Net D)
GRID_CROPS = 4  # validation crops shown in each grid


class EnhanceRun(Run):
    stats = ("l1", "feature", "adversarial", "d_loss")
    checks = ("psnr_y", "baseline_psnr_y")

    def __init__(self, config: Config, resume: bool = False):
        super().__init__(config, resume)
        if config.train.init_from and self.step == 0:
            self._start_from(config.train.init_from)

    def _setup(self) -> tuple[nn.Module, nn.Module | None]:
        data, model, train = self.config.data, self.config.model, self.config.train
        self.scale = model.scale
        training, validation = split_photos(data.path)
        self.photos = PhotoCrops(training, data.size, data.flip)
        self.skipped = self.photos.skipped
        if validation:
            targets, skipped = validation_crops(validation, VALIDATION_CROP)
            self.targets, self.skipped = targets.float() / 255, self.skipped + skipped
        else:  # a user's folder without val/: watch fixed training crops instead
            log.warning("no validation photos (put some into a val/ sub-folder): PSNR is measured on training crops")
            self.targets = self.photos.sample(8, torch.Generator().manual_seed(0)).float() / 255
        self.inputs = degrade(self.targets, self.scale, data.degradation, torch.Generator().manual_seed(0))
        self.baseline = self.inputs if self.scale == 1 else _bicubic_upscale(self.inputs, self.scale)
        self.baseline_psnr = float(psnr_y(self.baseline, self.targets, self.scale).mean())
        G, D = build(model, data.size, 3)
        uses_D = train.feature_weight > 0 or train.adversarial_weight > 0
        return G, (D if uses_D else None)

    def describe_data(self) -> str:
        return (
            f"{len(self.photos)} photo sizes ({self.photos.pixels / 1e6:.0f} megapixels), "
            f"{self.config.data.degradation} inputs at 1/{self.scale}{describe_skipped(self.skipped)}"
        )

    def _start_from(self, path: str) -> None:
        """The GAN stage begins where the PSNR stage ended: its EMA weights, fresh optimisers."""
        state = load_checkpoint(path)
        mine = self.config.to_dict()["model"]
        theirs = from_dict(state["config"], source=path).to_dict()["model"]  # an older checkpoint lacks newer keys
        keys = ("family", "width", "blocks", "scale", "reparam")
        if any(mine[k] != theirs[k] for k in keys):
            raise ConfigError(
                f"train.init_from {path}: its generator ({', '.join(f'{k} {theirs[k]}' for k in keys)}) "
                f"differs from this run's ({', '.join(f'{k} {mine[k]}' for k in keys)})"
            )
        for module in {id(m): m for m in (self.G_raw, self.G_ema)}.values():
            load_weights(module, state["G_ema"], f"train.init_from {path}: its G_ema")
        if self.process.is_main:
            log.info("starting from the generator of %s (step %d)", path, state["step"])

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(targets, inputs) for this step; the degradation is drawn from the same step seed."""
        seed = self._step_seed()
        targets = self.photos.targets(self.batch_size, seed, self.device)
        generator = torch.Generator(self.device).manual_seed(seed)
        return targets, degrade(targets, self.scale, self.config.data.degradation, generator)

    def train_step(self) -> torch.Tensor:
        """One G update (and one D update in the GAN stage); returns [L1, feature, adversarial, D loss]."""
        train = self.config.train
        targets, inputs = self._batch()
        zero = torch.zeros((), device=self.device)
        with self.autocast:
            results = self.G(inputs).float()
        l1 = F.l1_loss(results, targets)
        feature, adversarial, d_loss = zero, zero, zero
        loss = train.l1_weight * l1
        if self.D is not None:
            self.D_raw.requires_grad_(False)  # D judges here, it is not trained: no gradients, no DDP sync
            with self.autocast:
                fake_logits, fake_maps = self.D_raw.features(results)
                with torch.no_grad():
                    real_logits, real_maps = self.D_raw.features(targets)
            feature = sum(F.l1_loss(f.float(), r.float()) for f, r in zip(fake_maps, real_maps, strict=True))
            feature = feature / len(fake_maps)
            adversarial = relativistic_generator_loss(real_logits.float(), fake_logits.float())
            loss = loss + train.feature_weight * feature + train.adversarial_weight * adversarial
            self.D_raw.requires_grad_(True)
        self.update(self.opt_G, loss)
        if self.D is not None:
            with self.autocast:
                d_loss = relativistic_discriminator_loss(self.D(targets).float(), self.D(results.detach()).float())
            self.update(self.opt_D, d_loss)
        self.update_ema()
        self.step += 1
        return torch.stack([l1, feature, adversarial, d_loss]).detach()

    def _progress(self, means: list[float]) -> str:
        l1, feature, adversarial, d_loss = means
        gan = f"  feature {feature:.4f}  G adv {adversarial:.3f}  D {d_loss:.3f}" if self.D is not None else ""
        return f"L1 {l1:.4f}{gan}"

    @torch.no_grad()
    def _watch(self) -> None:
        """PSNR-Y of the EMA generator on the validation crops, and a grid of input | result | target."""
        results = self._results_of_ema(self.inputs)
        psnr = float(psnr_y(results, self.targets, self.scale).mean())
        log.info(
            "\nstep %d: validation PSNR-Y %.2f dB (%s %.2f dB)",
            self.step, psnr, "input" if self.scale == 1 else "bicubic", self.baseline_psnr,
        )  # fmt: skip
        shown = torch.stack([self.baseline[:GRID_CROPS], results[:GRID_CROPS], self.targets[:GRID_CROPS]], 1)
        save_grid(shown.flatten(0, 1) * 2 - 1, self.run_dir / "samples" / f"step-{self.step:06d}.png", columns=3)
        self._rewrite_last_row({"psnr_y": psnr, "baseline_psnr_y": self.baseline_psnr})
        self._plot()

    def _plot(self) -> None:
        curves = {"L1 loss": "l1", "validation PSNR-Y (dB)": "psnr_y"}
        if self.D is not None:
            curves |= {"G adversarial loss": "adversarial", "D loss": "d_loss"}
        self._plot_columns(curves)


def _bicubic_upscale(images: torch.Tensor, scale: int) -> torch.Tensor:
    """What a plain bicubic resize gives: the baseline a model has to beat."""
    return F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
