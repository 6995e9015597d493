"""Unpaired translation with CycleGAN (Zhu et al. 2017): CUT's rival, trained on the same data for comparison.

Where CUT keeps the content with a contrastive loss on one generator's features, CycleGAN trains a second
generator back from the style to photos and asks that each round trip (photo → style → photo, style →
photo → style) returns its input; a second discriminator judges the way back. The identity term asks each
generator to leave an image already in its output domain alone, which keeps colours from drifting. A step
runs the generators six times (two translations, two round trips, two identities) where FastCUT runs G
once and its encoder twice: what the comparison in docs/benchmarks.md weighs, quality per CPU second.

Both generators are the U-Net of networks/unet.py (no normalisation: tiles agree); only the forward one
is averaged and exported. Least-squares GAN as in the paper; no pool of earlier results (LSGAN trains
without it, and a run then resumes exactly). Data and validation are CUT's (training/tasks/unpaired.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.losses import discriminator_loss, generator_loss
from training.networks import build_generator
from training.networks.unet import PatchDiscriminator
from training.tasks.unpaired import WATCHED, UnpairedRun


class Discriminators(nn.Module):
    """One PatchGAN per domain, trained by the one D optimiser: `style` judges G's results, `photo` the way back."""

    def __init__(self, width: int, use_spectral_norm: bool):
        super().__init__()
        self.style = PatchDiscriminator(3, width, use_spectral_norm)
        self.photo = PatchDiscriminator(3, width, use_spectral_norm)

    def forward(self, styles: torch.Tensor, photos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.style(styles), self.photo(photos)


class CycleGanRun(UnpairedRun):
    stats = ("cycle", "adversarial", "d_loss")

    def _setup(self) -> tuple[nn.Module, nn.Module]:
        G, _ = super()._setup()
        return G, Discriminators(self.config.model.d_width, self.config.model.spectral_norm)

    def _helpers(self) -> dict[str, nn.Module]:
        return {"backward": build_generator(self.config.model, self.config.data.size, 3)}

    def train_step(self) -> torch.Tensor:
        """One update of both generators, then of both discriminators; returns [cycle L1, G adversarial, D loss]."""
        train = self.config.train
        photos, styles = self._batch(torch.Generator().manual_seed(self._step_seed()))
        G, back = self.G, self.helpers["backward"]
        with self.autocast:
            painted, unpainted = G(photos).float(), back(styles).float()
            cycle = F.l1_loss(back(painted).float(), photos) + F.l1_loss(G(unpainted).float(), styles)
            identity = F.l1_loss(G(styles).float(), styles) + F.l1_loss(back(photos).float(), photos)
            self.D_raw.requires_grad_(False)  # D judges here, it is not trained
            judged_style, judged_photo = self.D_raw(painted, unpainted)
            adversarial = generator_loss(train.loss, judged_style.float()) + generator_loss(
                train.loss, judged_photo.float()
            )
            self.D_raw.requires_grad_(True)
        loss = train.adversarial_weight * adversarial + train.cycle_weight * (cycle + train.cycle_identity * identity)
        self.update(self.opt_G, loss)
        with self.autocast:
            real_style, real_photo = self.D(styles, photos)
            fake_style, fake_photo = self.D(painted.detach(), unpainted.detach())
            d_loss = discriminator_loss(train.loss, real_style.float(), fake_style.float()) + discriminator_loss(
                train.loss, real_photo.float(), fake_photo.float()
            )
        self.update(self.opt_D, d_loss)
        self.update_ema()
        self.step += 1
        return torch.stack([cycle, adversarial, d_loss]).detach()

    def _progress(self, means: list[float]) -> str:
        cycle, adversarial, d_loss = means
        return f"cycle L1 {cycle:.3f}  G adv {adversarial:.3f}  D {d_loss:.3f}"

    def _curves(self) -> dict[str, str]:
        return {"cycle L1 (both ways)": "cycle"} | WATCHED
