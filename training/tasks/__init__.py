"""Training tasks by what their models do: adding a task is one file here and one line in RUNS.

A network family (training/networks) says which model-format task its generator performs; the run of
that task trains it, except that translation without pairs (data.pairs = "unpaired") is CUT's run, or
CycleGAN's with train.unpaired_method = "cyclegan".
Imports flow one way: config → networks → loop → tasks → cli, evaluation, export.
"""

from __future__ import annotations

import gc
from pathlib import Path

from training import distributed
from training.config import Config
from training.loop import Run
from training.networks import task
from training.tasks.cyclegan import CycleGanRun
from training.tasks.enhance import EnhanceRun
from training.tasks.gan import GanRun
from training.tasks.translate import TranslateRun
from training.tasks.unpaired import UnpairedRun

RUNS: dict[str, type[Run]] = {
    "generate": GanRun, "enhance": EnhanceRun, "translate": TranslateRun, "unpaired": UnpairedRun,
    "cyclegan": CycleGanRun,
}  # fmt: skip


def run_class(config: Config) -> type[Run]:
    kind = task(config.model.family)
    if kind == "translate" and config.data.pairs == "unpaired":
        return RUNS["cyclegan" if config.train.unpaired_method == "cyclegan" else "unpaired"]
    return RUNS[kind]


def train(config: Config, resume: bool = False) -> Path:
    """Train (or continue) the run the config describes; returns its run folder."""
    run = run_class(config)(config, resume)
    run_dir, finished = run.run_dir, False
    try:
        run.train()
        finished = True
    finally:
        del run  # its DDP wrappers hold work of the process group: free them while the group still exists
        gc.collect()
        distributed.stop(wait_for_peers=finished)
    return run_dir
