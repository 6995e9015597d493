"""The training loop's mechanics, shared by every task (training/tasks): devices and processes, EMA,
learning rates, checkpoints and resume, the log, the divergence check and SIGTERM.

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
import shutil
import signal
import sys
import threading
import time

import torch
from torch import nn

from training import distributed
from training.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint, load_weights, save_checkpoint
from training.config import Config, ConfigError, TrainConfig, from_dict
from training.plot import plot_curves

log = logging.getLogger("training")


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
    """One training run: a generator G (sampled, averaged and exported) and an optional discriminator D,
    their optimisers, and the files in its run folder.

    A task (training/tasks) subclasses it with what differs: `_setup` (data and networks), `train_step`,
    `_watch`, the logged `stats` and `checks`, and how a step is described.
    """

    stats: tuple[str, ...] = ()  # what train_step returns, in order
    checks: tuple[str, ...] = ()  # what _watch adds to the log

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
        self.helpers_raw = {name: net.to(self.device) for name, net in self._helpers().items()}
        self.helpers = {name: distributed.wrap(net, self.process) for name, net in self.helpers_raw.items()}
        trained_with_G = [self.G_raw, *self.helpers_raw.values()]
        self.opt_G = torch.optim.Adam([p for net in trained_with_G for p in net.parameters()], train.lr_g, train.betas)
        self.opt_D = None
        if self.D_raw is not None:
            self.opt_D = torch.optim.Adam(self.D_raw.parameters(), lr=train.lr_d, betas=train.betas)
        self.autocast = torch.autocast(self.device.type, torch.bfloat16, enabled=self._bfloat16(train))
        self.step, self.seconds = 0, 0.0
        if resume:
            self._resume()
        elif (self.run_dir / CHECKPOINT_NAME).exists():
            raise ConfigError(
                f"{self.run_dir} already holds a run: continue it with --resume, or set another output.run_dir"
            )

    # -- the updates ---------------------------------------------------------------------------------

    # -- what a task provides --------------------------------------------------------------------------

    def _setup(self) -> tuple[nn.Module, nn.Module | None]:
        """The data, G and D (None: a run that trains no D), and the fixed inputs that _watch uses."""
        raise NotImplementedError

    def _helpers(self) -> dict[str, nn.Module]:
        """Networks that G's optimiser trains beside G and that are never exported (CUT's patch
        projections), by name: the checkpoint keeps each under its name. Called after `_setup`."""
        return {}

    def train_step(self) -> torch.Tensor:
        """One step (the updates, then update_ema, then step += 1); returns the `stats` as one tensor, so
        the loop can sum them on the device and synchronise only when it logs."""
        raise NotImplementedError

    def _watch(self) -> None:
        """A sample grid, the task's checks (added to the log's last row) and the curves."""
        raise NotImplementedError

    def describe_data(self) -> str:
        raise NotImplementedError

    def _progress(self, means: list[float]) -> str:
        """The stats of one log line, as a user reads them."""
        raise NotImplementedError

    def _step_seed(self) -> int:
        """A seed for this step's random data: a pure function of seed, step and rank, as resuming needs."""
        return (self.config.train.seed * 1_000_003 + self.step) * self.process.world_size + self.process.rank

    @torch.no_grad()
    def _results_of_ema(self, inputs: torch.Tensor) -> torch.Tensor:
        """The EMA generator (what is sampled and exported) on fixed validation inputs: in [0, 1], on the CPU."""
        return torch.cat([
            self.G_ema(inputs[i : i + 4].to(self.device)).float().clamp(0, 1).cpu() for i in range(0, len(inputs), 4)
        ])  # fmt: skip

    def _plot_columns(self, curves: dict[str, str]) -> None:
        """losses.png: a curve per log column (title → column), with gaps where a row has no value."""
        if len(self.rows) < 2:
            return
        steps = [float(r["step"]) for r in self.rows]
        series = {
            title: [float(r[key]) if r.get(key) else math.nan for r in self.rows] for title, key in curves.items()
        }
        plot_curves(steps, series, self.run_dir / "losses.png")

    @property
    def images_per_step(self) -> int:
        """Training images one step consumes, over all processes (the log's kimg and images/s)."""
        return self.config.train.batch_size

    # -- the mechanics ---------------------------------------------------------------------------------

    @staticmethod
    def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """One optimiser step on `loss`: the gradients of the nets it owns, and nothing left from before."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

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
                    rate = (self.step - interval_step) * self.images_per_step / (now - interval_start)
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
            "images_seen": self.step * self.images_per_step,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
            "classes": list(self.classes),
            "channels": self.G_raw.channels,
            "G": self.G_raw.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D_raw.state_dict() if self.D_raw is not None else None,
            "helpers": {name: net.state_dict() for name, net in self.helpers_raw.items()},
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
        if not self.process.is_main:
            return
        path = self.run_dir / CHECKPOINT_NAME
        save_checkpoint(self.state_dict(), path)
        keep_every = self.config.output.keep_every
        if keep_every and self.step % keep_every == 0:
            shutil.copyfile(path, path.with_name(f"{path.stem}-{self.step:06d}{path.suffix}"))

    def _bfloat16(self, train: TrainConfig) -> bool:
        """Whether to autocast to bfloat16: CUDA's mixed precision, or a CPU's only where it is native (emulated
        bfloat16 is slower than float32)."""
        if self.device.type == "cuda":
            return train.mixed_precision
        if train.cpu_bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            log.warning("train.cpu_bfloat16: this CPU has no native bfloat16 (AVX512-BF16 or AMX); training in float32")
            return False
        return train.cpu_bfloat16

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
        for name, net in self.helpers_raw.items():
            load_weights(net, state.get("helpers", {}).get(name), f"{path}: {name}")
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

    def _log(self, means: list[float], rate: float) -> None:
        train = self.config.train
        row = {
            "step": self.step,
            "kimg": f"{self.step * self.images_per_step / 1000:.1f}",
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
        eta = (train.steps - self.step) * self.images_per_step / max(rate, 1e-9)
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

    def _finish_log(self) -> None:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        if self.tensorboard is not None:
            self.tensorboard.close()


def _differences(saved: dict, current: dict) -> str:
    return ", ".join(f"{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in current if saved.get(k) != current.get(k))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
