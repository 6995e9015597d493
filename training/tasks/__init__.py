"""Training tasks by what their models do: adding a task is one file here and one line in RUNS.

A network family (training/networks) says which model-format task its generator performs; the run of
that task trains it. Imports flow one way: config → networks → loop → tasks → cli, evaluation, export.
"""

from __future__ import annotations

from pathlib import Path

from training import distributed
from training.config import Config
from training.loop import Run
from training.networks import task
from training.tasks.enhance import EnhanceRun
from training.tasks.gan import GanRun
from training.tasks.translate import TranslateRun

RUNS: dict[str, type[Run]] = {"generate": GanRun, "enhance": EnhanceRun, "translate": TranslateRun}


def run_class(config: Config) -> type[Run]:
    return RUNS[task(config.model.family)]


def train(config: Config, resume: bool = False) -> Path:
    """Train (or continue) the run the config describes; returns its run folder."""
    run = run_class(config)(config, resume)
    finished = False
    try:
        run.train()
        finished = True
    finally:
        distributed.stop(wait_for_peers=finished)
    return run.run_dir
