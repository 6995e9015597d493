"""The GAN training loop: D and G updates, EMA, checkpoints, and what a user watches while it runs.

Everything random comes from torch's global generator (seeded once), and the data order is a pure
function of the step, so a checkpoint (weights, optimiser moments, RNG states, step) is enough to
continue a run exactly: N steps, a restart and N more equal 2N straight steps bit for bit on the CPU.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import platform
import signal
import sys
import threading
import time
from pathlib import Path

import torch
from torch import nn

from training import distributed
from training.augment import diff_augment
from training.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint, load_weights, save_checkpoint
from training.config import Config, ConfigError, from_dict
from training.data import describe_skipped, fetch, load_dataset
from training.losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from training.networks import build, task
from training.plot import plot_curves
from training.sampling import generate, save_grid, seeded_inputs

log = logging.getLogger("training")

COLLAPSE_DIVERSITY = 0.25  # warn when fixed-seed samples vary less than this fraction of real images,
COLLAPSE_DROP = 0.5  # or less than this fraction of their own best so far: variety that was there and is lost
COLLAPSE_EVENNESS = 0.75  # warn when the metric classifier sees the classes this unevenly (1 = even)


class TrainingDiverged(Exception):
    """The losses became NaN or infinite; the message names the last good checkpoint."""


class Batches:
    """Batch i of an endless stream of seeded permutations of this process's shard.

    A pure function of i: resuming needs the step, not a data loader's internal state.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.shard = size // world_size
        if self.shard == 0:
            raise ConfigError(f"{size} images cannot be shared between {world_size} processes")
        self.size, self.batch_size, self.seed, self.rank, self.world_size = size, batch_size, seed, rank, world_size
        self._orders: dict[int, torch.Tensor] = {}

    def indices(self, i: int) -> torch.Tensor:
        positions = torch.arange(i * self.batch_size, (i + 1) * self.batch_size)
        epochs, offsets = positions // self.shard, positions % self.shard
        indices = torch.empty_like(positions)
        for epoch in epochs.unique().tolist():  # one epoch, or two when the batch straddles them
            inside = epochs == epoch
            indices[inside] = self._order(epoch)[offsets[inside]]
        return indices

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            permutation = torch.randperm(self.size, generator=generator)
            self._orders = {epoch: permutation[self.rank :: self.world_size][: self.shard]}  # keep one epoch
        return self._orders[epoch]


class Run:
    """One GAN training run: networks, optimisers and the files in its run folder.

    The mechanics (devices and processes, EMA, learning rates, checkpoints, resume, the log and the
    divergence check) are shared with the enhance models' run (training/enhance.py), which overrides
    what differs: `_setup` (data and networks), `train_step`, `_watch` and the logged numbers.
    """

    stats: tuple[str, ...] = ("d_loss", "g_loss", "d_real", "d_fake", "penalty")  # what train_step returns
    checks: tuple[str, ...] = ("diversity", "class_evenness", "class_accuracy")  # what _watch adds to the log

    def __init__(self, config: Config, resume: bool = False):
        self.config, train = config, config.train
        self.process = distributed.start(train.device)
        self.device = self.process.device
        if train.threads:
            torch.set_num_threads(train.threads)
        torch.manual_seed(train.seed + self.process.rank)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False

        if train.batch_size % self.process.world_size:
            raise ConfigError(
                f"train.batch_size {train.batch_size} must divide among {self.process.world_size} processes"
            )
        self.batch_size = train.batch_size // self.process.world_size
        self.run_dir = config.run_dir
        self.classes: tuple[str, ...] = ()
        G, D = self._setup()
        self.G_raw = G.to(self.device)
        self.D_raw = D.to(self.device) if D is not None else None  # None: a stage that trains no D
        self.G_ema = copy.deepcopy(self.G_raw).eval().requires_grad_(False) if train.ema_halflife_kimg else self.G_raw
        self.G = distributed.wrap(self.G_raw, self.process)
        self.D = distributed.wrap(self.D_raw, self.process) if self.D_raw is not None else None
        self.opt_G = torch.optim.Adam(self.G_raw.parameters(), lr=train.lr_g, betas=train.betas)
        self.opt_D = None
        if self.D_raw is not None:
            self.opt_D = torch.optim.Adam(self.D_raw.parameters(), lr=train.lr_d, betas=train.betas)
        self.autocast = torch.autocast(
            self.device.type, torch.bfloat16, enabled=train.mixed_precision and self.device.type == "cuda"
        )
        self.step, self.seconds = 0, 0.0
        if resume:
            self._resume()
        elif (self.run_dir / CHECKPOINT_NAME).exists():
            raise ConfigError(
                f"{self.run_dir} already holds a run: continue it with --resume, or set another output.run_dir"
            )

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
        self.grid_z, self.grid_labels = self._grid_inputs()
        reference = fetch(self.data, torch.arange(min(len(self.data), len(self.grid_z))))[0]
        self.real_diversity = mean_pairwise_distance(reference)  # 0 for one image (or identical ones)
        if self.real_diversity == 0 and self.process.is_main:
            log.warning("the training images are all alike (%d of them): no mode-collapse check", len(self.data))
        self.classifier = self._metric_classifier() if self.process.is_main else None  # only rank 0 watches
        return G, D

    def describe_data(self) -> str:
        classes = f" in {len(self.classes)} classes" if self.classes else ""
        return f"{len(self.data)} images{classes}{describe_skipped(self.data.skipped)}"

    # -- the updates ---------------------------------------------------------------------------------

    def d_step(self, real: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        train = self.config.train
        real = real.detach().requires_grad_(train.r1_gamma > 0)
        z = torch.randn(len(real), self.config.model.latent_size, device=self.device)
        with torch.no_grad(), self.autocast:
            fake = self.G_raw(z, labels)
        with self.autocast:
            real_logits = self.D(diff_augment(real, train.augment), labels).float()
            fake_logits = self.D(diff_augment(fake, train.augment), labels).float()
        loss = discriminator_loss(train.loss, real_logits, fake_logits)
        penalty = torch.zeros((), device=self.device)
        if train.r1_gamma > 0:
            penalty = r1_penalty(real_logits, real)
            loss = loss + train.r1_gamma / 2 * penalty
        if train.loss == "wgan-gp":
            with self.autocast:
                penalty = gradient_penalty(
                    lambda x: self.D(diff_augment(x, train.augment), labels).float(), real.detach(), fake
                )
            loss = loss + train.gp_weight * penalty
        self.opt_D.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_D.step()
        return torch.stack([loss, real_logits.mean(), fake_logits.mean(), penalty]).detach()

    def g_step(self) -> torch.Tensor:
        train = self.config.train
        z = torch.randn(self.batch_size, self.config.model.latent_size, device=self.device)
        labels = torch.randint(len(self.classes), (self.batch_size,), device=self.device) if self.classes else None
        self.D_raw.requires_grad_(False)  # D is used, not trained: no gradients for it, no DDP sync
        with self.autocast:
            logits = self.D_raw(diff_augment(self.G(z, labels), train.augment), labels).float()
        loss = generator_loss(train.loss, logits)
        self.opt_G.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_G.step()
        self.D_raw.requires_grad_(True)
        return loss.detach()

    def train_step(self) -> torch.Tensor:
        """n_critic D updates on the next batches, then G and its EMA: the loop's step and the benchmark's.

        Returns [D loss, G loss, mean D(real), mean D(fake), penalty] as one tensor, so the loop can sum
        them on the device and synchronise only when it logs.
        """
        for k in range(self.config.train.n_critic):
            real, labels = fetch(self.data, self.batches.indices(self.step * self.config.train.n_critic + k))
            real = real.to(self.device, non_blocking=True)
            d_stats = self.d_step(real, labels.to(self.device) if self.classes else None)
        g_loss = self.g_step()
        self.update_ema()
        self.step += 1
        return torch.cat([d_stats[:1], g_loss[None], d_stats[1:]])

    @torch.no_grad()
    def update_ema(self) -> None:
        """Average G's weights over a half-life in images: smoother samples than any single step's G."""
        if self.G_ema is self.G_raw:
            return
        beta = 0.5 ** (self.config.train.batch_size / (self.config.train.ema_halflife_kimg * 1000))
        for averaged, current in zip(self.G_ema.parameters(), self.G_raw.parameters(), strict=True):
            averaged.lerp_(current, 1 - beta)
        for averaged, current in zip(self.G_ema.buffers(), self.G_raw.buffers(), strict=True):
            averaged.copy_(current)  # batch-norm statistics follow the current G

    # -- the loop ------------------------------------------------------------------------------------

    def train(self) -> None:
        config, train, output = self.config, self.config.train, self.config.output
        main = self.process.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._start_log()
            log.info(
                "training %s: %s, %s on %s (%d process%s), from step %d to %d",
                config.name, self.describe_data(), config.model.family, self.device, self.process.world_size,
                "es" if self.process.world_size > 1 else "", self.step, train.steps,
            )  # fmt: skip
        sums = torch.zeros(len(self.stats) + 1, device=self.device)
        interval_start, interval_step = time.perf_counter(), self.step
        self.stop_requested = False
        on_sigterm = self._stop_on_sigterm()
        try:
            while self.step < train.steps:
                self._set_learning_rates()
                sums += torch.cat([self.train_step(), torch.ones(1, device=self.device)])
                if self.step % output.log_every == 0 or self.step == train.steps:
                    now = time.perf_counter()
                    self.seconds += now - interval_start
                    rate = (self.step - interval_step) * train.n_critic * train.batch_size / (now - interval_start)
                    means = (sums[:-1] / sums[-1]).tolist()
                    sums.zero_()
                    interval_start, interval_step = now, self.step
                    if not all(math.isfinite(v) for v in means):
                        raise TrainingDiverged(self._diverged_message())
                    if main:
                        self._log(means, rate)
                if main and (self.step % output.sample_every == 0 or self.step == train.steps):
                    self._watch()
                if self.step % output.checkpoint_every == 0 or self.step == train.steps:
                    self._save()
                if self.stop_requested:
                    self.seconds += time.perf_counter() - interval_start
                    self._save()
                    if main:
                        log.warning("\nstopped by SIGTERM at step %d and saved; --resume continues", self.step)
                    return
        except KeyboardInterrupt:
            if main:
                log.warning("\ninterrupted at step %d; continue from the last checkpoint with --resume", self.step)
            raise
        finally:
            if on_sigterm is not None:
                signal.signal(signal.SIGTERM, on_sigterm)
            if main:
                self._finish_log()
        if self.process.world_size > 1:
            for name, module in (("G", self.G_raw), ("D", self.D_raw)):
                if module is not None and not distributed.replicas_identical(module):
                    raise RuntimeError(f"the processes' copies of {name} differ after training (a DDP bug)")
            if main:
                log.info("all %d processes hold identical G and D weights", self.process.world_size)
        if main:
            log.info(
                "done: %s (export it with `python -m export %s`)",
                self.run_dir / CHECKPOINT_NAME, self.run_dir / CHECKPOINT_NAME,
            )  # fmt: skip

    def _stop_on_sigterm(self):
        """SIGTERM (a scheduler's time limit, `kill`) ends the run after the current step, with a checkpoint.

        Single-process runs only: under DDP the processes would stop at different steps. Returns the
        handler to restore, or None when none was installed."""
        if self.process.world_size > 1 or threading.current_thread() is not threading.main_thread():
            return None

        def request_stop(signum, frame):
            self.stop_requested = True

        return signal.signal(signal.SIGTERM, request_stop)

    def _set_learning_rates(self) -> None:
        """A pure function of the step, so a resumed run follows the same schedule with no extra state."""
        train = self.config.train
        factor = 1.0
        if train.lr_schedule == "cosine":
            factor = 0.5 * (1 + math.cos(math.pi * min(self.step / train.steps, 1.0)))
        for optimizer, lr in ((self.opt_G, train.lr_g), (self.opt_D, train.lr_d)):
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr * factor

    # -- checkpoints ---------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": 1,
            "step": self.step,
            "images_seen": self.step * self.config.train.n_critic * self.config.train.batch_size,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
            "classes": list(self.classes),
            "channels": self.G_raw.channels,
            "G": self.G_raw.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D_raw.state_dict() if self.D_raw is not None else None,
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict() if self.opt_D is not None else None,
            "rng": rng,
            "torch": str(torch.__version__),
            "hardware": self._hardware(),
        }

    def _hardware(self) -> str:
        if self.device.type == "cuda":
            return f"{torch.cuda.get_device_name(self.device)} × {self.process.world_size}"
        threads = f"{torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}"
        return f"CPU ({platform.machine()}), {threads} × {self.process.world_size} process(es)"

    def _save(self) -> None:
        if self.process.is_main:
            save_checkpoint(self.state_dict(), self.run_dir / CHECKPOINT_NAME)

    def _resume(self) -> None:
        path = self.run_dir / CHECKPOINT_NAME
        state = load_checkpoint(path)
        saved = from_dict(state["config"]).to_dict()  # with today's defaults for keys added since it was written
        current = self.config.to_dict()
        for section in ("data", "model"):
            if saved[section] != current[section]:
                raise ConfigError(
                    f"the checkpoint in {self.run_dir} was trained with a different [{section}] section: "
                    f"{_differences(saved[section], current[section])}"
                )
        if state["classes"] != list(self.classes):
            raise ConfigError(
                f"the checkpoint in {self.run_dir} was trained on the classes {', '.join(state['classes']) or 'none'}; "
                f"the data now has {', '.join(self.classes) or 'none'}"
            )
        if saved["train"] != current["train"] and self.process.is_main:
            log.warning("resuming with changed [train] settings: %s", _differences(saved["train"], current["train"]))
        load_weights(self.G_raw, state["G"], f"{path}: G")
        load_weights(self.G_ema, state["G_ema"], f"{path}: G_ema")
        if self.D_raw is not None:
            load_weights(self.D_raw, state.get("D"), f"{path}: D")
        try:  # torch checks these itself; its errors become one line
            self.opt_G.load_state_dict(state["opt_G"])
            if self.opt_D is not None:
                self.opt_D.load_state_dict(state["opt_D"])
            if self.process.world_size == 1:  # with several processes each keeps its own fresh seed
                torch.set_rng_state(state["rng"]["torch"])
                if "cuda" in state["rng"] and self.device.type == "cuda":
                    torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            reason = f"it has no {e.args[0]}" if isinstance(e, KeyError) else str(e)
            raise CheckpointError(
                f"{path}: its optimiser or random-number state does not fit this run ({reason})"
            ) from None
        self.step, self.seconds = state["step"], state["seconds"]
        if self.step >= self.config.train.steps and self.process.is_main:
            log.warning("the checkpoint is at step %d already; raise train.steps to train further", self.step)

    def _diverged_message(self) -> str:
        checkpoint = self.run_dir / CHECKPOINT_NAME
        last = f"the last good checkpoint is {checkpoint}" if checkpoint.exists() else "no checkpoint was written yet"
        return (
            f"training diverged: the losses became NaN or infinite before step {self.step}; {last}. "
            "Lower train.lr_d and train.lr_g, or turn on model.spectral_norm or train.r1_gamma, then --resume"
        )

    # -- watching ------------------------------------------------------------------------------------

    def _grid_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fixed seeds, so successive grids show the same samples improving; conditional: a row per class."""
        count, latent = self.config.output.grid_seeds, self.config.model.latent_size
        if not self.classes:
            return seeded_inputs(list(range(count)), latent)
        columns = max(1, count // len(self.classes))
        z, _ = seeded_inputs(list(range(columns)), latent, len(self.classes))
        labels = torch.arange(len(self.classes)).repeat_interleave(columns)
        return z.repeat(len(self.classes), 1), labels

    def _metric_classifier(self) -> nn.Module | None:
        """The metric classifier, if it was trained already: it tells how classes spread in samples."""
        from training.classifier import DEFAULT_CLASSIFIER_PATH, load_classifier

        if self.config.data.dataset != "fashion-mnist" or not DEFAULT_CLASSIFIER_PATH.exists():
            return None
        return load_classifier(DEFAULT_CLASSIFIER_PATH)[0].to(self.device)

    def _watch(self) -> None:
        """Save this step's grid (of the EMA generator, which sampling and export use) and curves; warn
        when the current G's samples look collapsed (the EMA lags behind, and early on it blurs)."""
        from training.metrics import class_coverage, conditional_accuracy

        grid = generate(self.G_ema, self.grid_z, self.grid_labels)
        columns = len(grid) // len(self.classes) if self.classes else 8
        save_grid(grid, self.run_dir / "samples" / f"step-{self.step:06d}.png", columns)
        samples = grid if self.G_ema is self.G_raw else generate(self.G_raw, self.grid_z, self.grid_labels)
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
                checks["class_evenness"] = class_coverage(predicted, 10)[1]
                if warm and checks["class_evenness"] < COLLAPSE_EVENNESS:
                    log.warning(
                        "\npossible mode collapse at step %d: the samples' classes are uneven (evenness %.2f)",
                        self.step, checks["class_evenness"],
                    )  # fmt: skip
        self._rewrite_last_row(checks)
        self._plot()

    def _start_log(self) -> None:
        """Open log.csv; on resume drop rows past the checkpoint, so the curve continues where it left off."""
        path = self.run_dir / "log.csv"
        rows = []
        if path.exists() and self.step > 0:
            with open(path, newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["step"]) <= self.step]
        self.rows = rows
        self._write_rows()
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(self.run_dir / "tensorboard", purge_step=self.step or None)
        except ImportError:  # TensorBoard is optional
            pass

    @property
    def columns(self) -> tuple[str, ...]:
        return ("step", "kimg", "seconds", *self.stats, "images_per_s", *self.checks)

    def _progress(self, means: list[float]) -> str:
        d_loss, g_loss, d_real, d_fake, _ = means
        return f"D {d_loss:.3f}  G {g_loss:.3f}  D(real) {d_real:+.2f}  D(fake) {d_fake:+.2f}"

    def _log(self, means: list[float], rate: float) -> None:
        train = self.config.train
        row = {
            "step": self.step,
            "kimg": f"{self.step * train.n_critic * train.batch_size / 1000:.1f}",
            "seconds": f"{self.seconds:.1f}",
            **{k: f"{v:.5g}" for k, v in zip(self.stats, means, strict=True)},
            "images_per_s": f"{rate:.1f}",
        }
        self.rows.append(row)
        with open(self.run_dir / "log.csv", "a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow(row)
        if self.tensorboard is not None:
            for key in (*self.stats, "images_per_s"):
                self.tensorboard.add_scalar(key, float(row[key]), self.step)
        eta = (train.steps - self.step) * train.n_critic * train.batch_size / max(rate, 1e-9)
        line = f"step {self.step}/{train.steps}  {self._progress(means)}  {rate:.0f} img/s  ETA {_duration(eta)}"
        if sys.stderr.isatty():
            print("\r" + line.ljust(100), end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def _rewrite_last_row(self, checks: dict[str, float]) -> None:
        if self.rows and int(self.rows[-1]["step"]) == self.step:
            self.rows[-1].update({k: f"{v:.4f}" for k, v in checks.items()})
            self._write_rows()

    def _write_rows(self) -> None:
        """Rewrite log.csv whole, by rename: a run killed mid-write keeps the old file, not a truncated one."""
        path = self.run_dir / "log.csv"
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        temporary.replace(path)

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

    def _finish_log(self) -> None:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        if self.tensorboard is not None:
            self.tensorboard.close()


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean L2 distance between all pairs: near 0 when a generator has collapsed to a few outputs."""
    flat = images.flatten(1).float()
    distances = torch.cdist(flat, flat)
    n = len(flat)
    return float(distances.sum() / max(n * (n - 1), 1))


def train(config: Config, resume: bool = False) -> Path:
    """Train (or continue) the run the config describes; returns its run folder."""
    if task(config.model.family) == "enhance":
        from training.enhance import EnhanceRun

        run = EnhanceRun(config, resume)
    else:
        run = Run(config, resume)
    try:
        run.train()
    finally:
        distributed.stop()
    return run.run_dir


def _differences(saved: dict, current: dict) -> str:
    return ", ".join(f"{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in current if saved.get(k) != current.get(k))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
