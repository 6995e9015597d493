"""The GAN task: a generator of images from noise (DCGAN, class-conditional), against a discriminator.

The loop's mechanics (devices, EMA, schedule, checkpoints, resume, log) are `training.loop.Run`'s; this
run supplies the data (Fashion-MNIST or an image folder), the D and G updates with their losses and
stabilisers, and what a user watches: a grid of fixed seeds and the mode-collapse checks.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from training.augment import diff_augment
from training.config import ConfigError
from training.data import describe_skipped, fetch, load_dataset
from training.loop import Batches, Run
from training.losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from training.networks import build
from training.plot import plot_curves
from training.sampling import generate, noise_shapes, save_grid, seeded_inputs

log = logging.getLogger("training")

COLLAPSE_DIVERSITY = 0.25  # warn when fixed-seed samples vary less than this fraction of real images,
COLLAPSE_DROP = 0.5  # or less than this fraction of their own best so far: variety that was there and is lost
COLLAPSE_EVENNESS = 0.75  # warn when the metric classifier sees the classes this unevenly (1 = even)


class GanRun(Run):
    """D and G trained against each other: n_critic D updates on real and generated images, then one of G."""

    @property
    def images_per_step(self) -> int:
        return self.config.train.n_critic * self.config.train.batch_size

    checks: tuple[str, ...] = ("diversity", "class_evenness", "class_accuracy")  # what _watch adds to the log

    stats: tuple[str, ...] = ("d_loss", "g_loss", "d_real", "d_fake", "penalty")  # what train_step returns

    def _setup(self) -> tuple[nn.Module, nn.Module | None]:
        """The data, G and D, and the fixed inputs and reference numbers that _watch uses."""
        config, train = self.config, self.config.train
        self.data = load_dataset(config.data)
        self.batches = Batches(len(self.data), self.batch_size, train.seed, self.process.rank, self.process.world_size)
        self.classes = tuple(self.data.classes) if config.model.conditional else ()
        if config.model.conditional and len(self.classes) < 2:
            raise ConfigError("model.conditional needs labelled data: an image folder with one sub-folder per class")
        channels = self.data[0][0].shape[0]
        G, D = build(config.model, config.data.size, channels, len(self.classes))
        self.grid_z, self.grid_labels, self.grid_noise = self._grid_inputs(G)
        reference = fetch(self.data, torch.arange(min(len(self.data), len(self.grid_z))))[0]
        self.real_diversity = mean_pairwise_distance(reference)  # 0 for one image (or identical ones)
        if self.real_diversity == 0 and self.process.is_main:
            log.warning("the training images are all alike (%d of them): no mode-collapse check", len(self.data))
        self.classifier = self._metric_classifier() if self.process.is_main else None  # only rank 0 watches
        return G, D

    def describe_data(self) -> str:
        classes = f" in {len(self.classes)} classes" if self.classes else ""
        return f"{len(self.data)} images{classes}{describe_skipped(self.data.skipped)}"

    def d_step(self, real: torch.Tensor, labels: torch.Tensor | None, regularize: bool = True) -> torch.Tensor:
        """One D update; R1 (if on) only when `regularize` (lazy R1: every r1_every-th update, r1_every× as strong)."""
        train = self.config.train
        regularize = regularize and train.r1_gamma > 0
        real = real.detach().requires_grad_(regularize)
        z = torch.randn(len(real), self.config.model.latent_size, device=self.device)
        with torch.no_grad(), self.autocast:
            fake = self.G_raw(z, labels)
        with self.autocast:
            real_logits = self.D(diff_augment(real, train.augment), labels).float()
            fake_logits = self.D(diff_augment(fake, train.augment), labels).float()
        loss = discriminator_loss(train.loss, real_logits, fake_logits)
        penalty = torch.zeros((), device=self.device)
        if regularize:
            penalty = r1_penalty(real_logits, real)
            loss = loss + train.r1_gamma / 2 * train.r1_every * penalty
        if train.loss == "wgan-gp":
            with self.autocast:
                penalty = gradient_penalty(
                    lambda x: self.D(diff_augment(x, train.augment), labels).float(), real.detach(), fake
                )
            loss = loss + train.gp_weight * penalty
        self.update(self.opt_D, loss)
        return torch.stack([loss, real_logits.mean(), fake_logits.mean(), penalty]).detach()

    def g_step(self) -> torch.Tensor:
        train = self.config.train
        z = torch.randn(self.batch_size, self.config.model.latent_size, device=self.device)
        labels = torch.randint(len(self.classes), (self.batch_size,), device=self.device) if self.classes else None
        self.D_raw.requires_grad_(False)  # D is used, not trained: no gradients for it, no DDP sync
        with self.autocast:
            logits = self.D_raw(diff_augment(self.G(z, labels), train.augment), labels).float()
        loss = generator_loss(train.loss, logits)
        self.update(self.opt_G, loss)
        self.D_raw.requires_grad_(True)
        return loss.detach()

    def train_step(self) -> torch.Tensor:
        """n_critic D updates on the next batches, then G and its EMA: the loop's step and the benchmark's.

        Returns [D loss, G loss, mean D(real), mean D(fake), penalty] as one tensor, so the loop can sum
        them on the device and synchronise only when it logs.
        """
        train = self.config.train
        for k in range(train.n_critic):
            update = self.step * train.n_critic + k
            real, labels = fetch(self.data, self.batches.indices(update))
            real = real.to(self.device, non_blocking=True)
            d_stats = self.d_step(real, labels.to(self.device) if self.classes else None, update % train.r1_every == 0)
        g_loss = self.g_step()
        self.update_ema()
        self.step += 1
        return torch.cat([d_stats[:1], g_loss[None], d_stats[1:]])

    def _grid_inputs(self, G: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor] | None]:
        """Fixed seeds (and their noise maps), so successive grids show the same samples improving;
        conditional: a row per class."""
        count, latent, shapes = self.config.output.grid_seeds, self.config.model.latent_size, noise_shapes(G)
        if not self.classes:
            return seeded_inputs(list(range(count)), latent, noise_shapes=shapes)
        columns = max(1, count // len(self.classes))
        z, _, noise = seeded_inputs(list(range(columns)), latent, len(self.classes), noise_shapes=shapes)
        labels = torch.arange(len(self.classes)).repeat_interleave(columns)
        rows = len(self.classes)
        return z.repeat(rows, 1), labels, None if noise is None else [maps.repeat(rows, 1, 1, 1) for maps in noise]

    def _metric_classifier(self) -> nn.Module | None:
        """The metric classifier, if it was trained already: it tells how classes spread in samples."""
        from training.classifier import RECIPES, classifier_path, load_classifier

        dataset = self.config.data.dataset
        if dataset not in RECIPES or not classifier_path(dataset).exists():
            return None
        return load_classifier(dataset)[0].to(self.device)

    def _watch(self) -> None:
        """Save this step's grid (of the EMA generator, which sampling and export use) and curves; warn
        when the current G's samples look collapsed (the EMA lags behind, and early on it blurs)."""
        from training.metrics import class_coverage, conditional_accuracy

        grid = generate(self.G_ema, self.grid_z, self.grid_labels, self.grid_noise)
        columns = len(grid) // len(self.classes) if self.classes else 8
        save_grid(grid, self.run_dir / "samples" / f"step-{self.step:06d}.png", columns)
        samples = (
            grid if self.G_ema is self.G_raw else generate(self.G_raw, self.grid_z, self.grid_labels, self.grid_noise)
        )
        checks = {}
        warm = self.step >= self.config.train.steps // 10  # an untrained G is uniform, not collapsed
        if self.real_diversity > 0:  # with nothing to vary (one image), samples that do not vary are right
            checks["diversity"] = mean_pairwise_distance(samples) / self.real_diversity
            best = max((float(row["diversity"]) for row in self.rows if row.get("diversity")), default=0.0)
            if checks["diversity"] < COLLAPSE_DROP * best or (warm and checks["diversity"] < COLLAPSE_DIVERSITY):
                log.warning(
                    "\npossible mode collapse at step %d: samples from fixed seeds vary %.2f× as much as real "
                    "images (%.2f× at best earlier in this run)",
                    self.step, checks["diversity"], best,
                )  # fmt: skip
        if self.classifier is not None:
            with torch.no_grad():
                predicted = self.classifier(samples.to(self.device)).argmax(1).cpu()
            if self.classes:
                checks["class_accuracy"] = conditional_accuracy(predicted, self.grid_labels, len(self.classes))[0]
            else:
                checks["class_evenness"] = class_coverage(predicted, self.classifier.num_classes)[1]
                if warm and checks["class_evenness"] < COLLAPSE_EVENNESS:
                    log.warning(
                        "\npossible mode collapse at step %d: the samples' classes are uneven (evenness %.2f)",
                        self.step, checks["class_evenness"],
                    )  # fmt: skip
        self._rewrite_last_row(checks)
        self._plot()

    def _progress(self, means: list[float]) -> str:
        d_loss, g_loss, d_real, d_fake, _ = means
        return f"D {d_loss:.3f}  G {g_loss:.3f}  D(real) {d_real:+.2f}  D(fake) {d_fake:+.2f}"

    def _plot(self) -> None:
        if len(self.rows) < 2:
            return
        steps = [float(r["step"]) for r in self.rows]
        curves = {
            "D loss": "d_loss",
            "G loss": "g_loss",
            "D(real) - D(fake)": None,
            "sample diversity / real": "diversity",
        }
        series = {}
        for title, key in curves.items():
            if key is None:
                series[title] = [float(r["d_real"]) - float(r["d_fake"]) for r in self.rows]
            else:
                series[title] = [float(r[key]) if r.get(key) else math.nan for r in self.rows]
        plot_curves(steps, series, self.run_dir / "losses.png")


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean L2 distance between all pairs: near 0 when a generator has collapsed to a few outputs."""
    flat = images.flatten(1).float()
    distances = torch.cdist(flat, flat)
    n = len(flat)
    return float(distances.sum() / max(n * (n - 1), 1))
