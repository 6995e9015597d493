"""Unpaired translation (CUT, Park et al. 2020): photos in, a style learned from a set of its images.

Nothing says what a photo should look like as a painting, so no loss can compare an output with a
target. Two terms together replace one: the PatchGAN says whether the output's patches look like the
style's images, and PatchNCE says whether each output patch still shows what the input shows at its
place (an embedding of the output patch must pick out the input patch at its place from among the
image's other patches). That one contrastive term stands in for CycleGAN's second generator, second
discriminator and cycle, so a step costs one generator and one discriminator. With train.nce_identity,
the same PatchNCE between a style image and G's output for it keeps G from changing what is already in
the style (CUT); without it the run is FastCUT, about half the cost per step.

The generator is the U-Net of networks/unet.py predicting RGB, with no normalisation layer: CUT's
ResNet generator uses instance norm, which would make the tiles of a large photo disagree. Photos and
style images are both used at scene size (a shorter side of 200 to 400 px, training/tasks/translate.py),
so that brush strokes are learned at the size they have in a painting seen whole.

Validation: the patch statistics of the results against held-out style images (sliced Wasserstein
distance on Laplacian-pyramid patches; the untouched photos' distance is the do-nothing baseline) and
the structure kept (SSIM of the result's luminance against the photo's).
"""

from __future__ import annotations

import logging
from pathlib import Path
from statistics import fmean

import torch
from torch import nn

from training.artwork import debian_images_by_source, split_images
from training.config import ConfigError
from training.data import describe_skipped
from training.image_metrics import patch_swd, ssim_y
from training.loop import Run
from training.losses import discriminator_loss, generator_loss, patch_nce
from training.networks import build_generator
from training.networks.unet import PatchDiscriminator, PatchProjections
from training.photos import PhotoCrops, split_photos, validation_crops
from training.sampling import save_grid
from training.tasks.translate import GRID_CROPS, scene_downscales, scene_photos, validation_downscale

log = logging.getLogger("training")

VALIDATION_CROP = 192  # Wesnoth's 640×480 story art at its validation size is 240 pixels high
WATCHED = {  # losses.png's curves besides the content loss, CUT's and CycleGAN's (title → log column)
    "G adversarial loss": "adversarial", "D loss": "d_loss",
    "patch distance to the style": "swd", "structure kept (SSIM-Y)": "structure",
}  # fmt: skip


def style_images(style_path: str, style_match: str = "") -> tuple[list[Path], list[Path]]:
    """(training, validation) images of the style: a folder's (its val/ sub-folder holds the validation
    ones), else Debian's paintings split by name, only those whose file name contains `style_match` (or one
    of its "|"-separated parts: "hokusa|hiroshige") when given. One artist's works make a style a
    discriminator can learn; all the paintings together did not (docs/benchmarks.md: a PatchGAN alone could
    not tell them from photos)."""
    if style_path:
        return split_photos(style_path)
    paintings = [path for paths in debian_paintings(style_match).values() for path in paths]
    if style_match and len(paintings) < 2:
        raise ConfigError(
            f"data.style_match {style_match!r} picks {len(paintings)} of Debian's paintings; "
            "two or more are needed (one is kept for validation)"
        )
    return split_images(sorted(paintings))


def debian_paintings(style_match: str = "") -> dict[str, list[Path]]:
    """Debian's paintings by source (training.artwork.SOURCES), only those `style_match` picks: which sources
    a style used decides the licences its model card names."""
    parts = style_match.lower().split("|") if style_match else [""]
    by_source = {
        source: [path for path in paths if any(part in path.name.lower() for part in parts)]
        for source, paths in debian_images_by_source("painting").items()
    }
    return {source: paths for source, paths in by_source.items() if paths}


def fixed_crops(paths: list[Path], crops: PhotoCrops, what: str) -> tuple[torch.Tensor, list]:
    """Validation crops of `paths` in [0, 1], or fixed training crops when there are none (a folder without val/)."""
    if paths:
        images, skipped = validation_crops(paths, VALIDATION_CROP, downscale=validation_downscale)
        return images.float() / 255, skipped
    log.warning("no validation %s (put some into a val/ sub-folder): scores are of training crops", what)
    return crops.sample(8, torch.Generator().manual_seed(0)).float() / 255, []


class UnpairedRun(Run):
    stats = ("nce", "adversarial", "d_loss")
    # swd: the results' patch distance to the held-out style images (baseline_swd: the photos' own);
    # structure: SSIM of the results' luminance against the photos'.
    checks = ("swd", "baseline_swd", "structure")

    def _setup(self) -> tuple[nn.Module, nn.Module]:
        if self.process.world_size > 1:
            raise ConfigError("unpaired translation trains in one process (PatchNCE reads G's encoder directly)")
        data, model = self.config.data, self.config.model
        photos, validation_photos = scene_photos(data.path, "colorize")
        styles, validation_styles = style_images(data.style_path, data.style_match)
        self.style_sources = [] if data.style_path else sorted(debian_paintings(data.style_match))
        self.photos = PhotoCrops(photos, data.size, data.flip, scene_downscales, rotate=False)
        self.styles = PhotoCrops(styles, data.size, data.flip, scene_downscales, rotate=False)
        self.inputs, skipped_photos = fixed_crops(validation_photos, self.photos, "photos")
        self.references, skipped_styles = fixed_crops(validation_styles, self.styles, "style images")
        self.skipped = self.photos.skipped + self.styles.skipped + skipped_photos + skipped_styles
        self.baseline_swd = fmean(patch_swd(self.inputs, self.references))
        return build_generator(model, data.size, 3), PatchDiscriminator(3, model.d_width, model.spectral_norm)

    def _helpers(self) -> dict[str, nn.Module]:
        return {"projections": PatchProjections(self.G_raw.widths)}

    def state_dict(self) -> dict:
        return super().state_dict() | {"style_sources": self.style_sources}  # for the model card's licences

    def describe_data(self) -> str:
        return (
            f"{len(self.photos)} photo sizes ({self.photos.pixels / 1e6:.0f} megapixels) to the style of "
            f"{len(self.styles)} image sizes ({self.styles.pixels / 1e6:.0f} megapixels)"
            + describe_skipped(self.skipped)
        )

    def _batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(photos, style images) drawn with `generator`."""
        photos, styles = (crops.sample(self.batch_size, generator) for crops in (self.photos, self.styles))
        return photos.to(self.device).float() / 255, styles.to(self.device).float() / 255

    def _patch_nce(self, sources: torch.Tensor, results: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """PatchNCE between G's encoder features of the results (queries) and of their sources (keys), at
        `nce_patches` places per level drawn with `generator` (the same places for query and key), averaged."""
        projections = self.helpers["projections"]
        with torch.no_grad():  # the keys are targets only: PatchNCE detaches them
            keys = self.G_raw.encode(sources)
        losses = []
        for level, (query, key) in enumerate(zip(self.G_raw.encode(results), keys, strict=True)):
            places = torch.randperm(query.shape[2] * query.shape[3], generator=generator)
            places = places[: self.config.train.nce_patches].to(self.device)
            query, key = (f.flatten(2)[:, :, places].transpose(1, 2) for f in (query, key))
            losses.append(patch_nce(projections(level, query), projections(level, key)))
        return torch.stack(losses).mean()

    def train_step(self) -> torch.Tensor:
        """One G update (with the projections), then one D update; returns [PatchNCE, G adversarial, D loss]."""
        train = self.config.train
        generator = torch.Generator().manual_seed(self._step_seed())  # the step's crops and patches: resumable
        photos, styles = self._batch(generator)
        with self.autocast:
            both = self.G(torch.cat([photos, styles]) if train.nce_identity else photos).float()
            results = both[: len(photos)]
            nce = self._patch_nce(photos, results, generator)
            if train.nce_identity:
                nce = (nce + self._patch_nce(styles, both[len(photos) :], generator)) / 2
            self.D_raw.requires_grad_(False)  # D judges here, it is not trained
            adversarial = generator_loss(train.loss, self.D_raw(results).float())
            self.D_raw.requires_grad_(True)
        loss = train.adversarial_weight * adversarial + train.nce_weight * nce
        self.update(self.opt_G, loss)
        with self.autocast:
            d_loss = discriminator_loss(train.loss, self.D(styles).float(), self.D(results.detach()).float())
        self.update(self.opt_D, d_loss)
        self.update_ema()
        self.step += 1
        return torch.stack([nce, adversarial, d_loss]).detach()

    def _progress(self, means: list[float]) -> str:
        nce, adversarial, d_loss = means
        return f"PatchNCE {nce:.3f}  G adv {adversarial:.3f}  D {d_loss:.3f}"

    @torch.no_grad()
    def _watch(self) -> None:
        """Patch distance to the style and structure kept, of the EMA generator on the validation photos;
        a grid of input | result pairs."""
        results = self._results_of_ema(self.inputs)
        checks = {
            "swd": fmean(patch_swd(results, self.references)),
            "baseline_swd": self.baseline_swd,
            "structure": float(ssim_y(results, self.inputs).mean()),
        }
        log.info(
            "\nstep %d: patch distance to the style %.1f (the photos' own %.1f), structure kept (SSIM-Y) %.3f",
            self.step, checks["swd"], self.baseline_swd, checks["structure"],
        )  # fmt: skip
        grid = torch.stack([self.inputs[:GRID_CROPS], results[:GRID_CROPS]], 1).flatten(0, 1)
        save_grid(grid * 2 - 1, self.run_dir / "samples" / f"step-{self.step:06d}.png", columns=4)
        self._rewrite_last_row(checks)
        self._plot_columns(self._curves())

    def _curves(self) -> dict[str, str]:
        """losses.png's curves: title → log column."""
        return {"PatchNCE loss": "nce"} | WATCHED
