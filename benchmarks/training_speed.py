"""Training throughput (real images through D per second) of the shipped Fashion-MNIST configs.

Runs the real training step (`Run.train_step`: D, G and EMA updates) on Fashion-MNIST for each config and
thread count, in one process, after a warm-up. Prints a Markdown table for docs/benchmarks.md; the
ratio column is against the first row of the same invocation.

    python benchmarks/training_speed.py [--threads 1,2] [--steps 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from training.config import load_config
from training.tasks.gan import GanRun

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"


def images_per_second(config_name: str, threads: int, steps: int, overrides: tuple[str, ...] = ()) -> float:
    with tempfile.TemporaryDirectory() as run_dir:
        config = load_config(
            CONFIGS / f"{config_name}.toml", [f'output.run_dir="{run_dir}"', f"train.threads={threads}", *overrides]
        )
        run = GanRun(config)
        for _ in range(5):
            run.train_step()
        start = time.perf_counter()
        for _ in range(steps):
            run.train_step()
        return steps * config.train.n_critic * config.train.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per row (after 5 warm-up steps)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU\n")
    print("| config | threads | images/s | ratio |")
    print("|---|---|---|---|")
    first = None
    for name in ("fashion-dcgan-baseline", "fashion-dcgan", "fashion-cgan"):
        for threads in (int(t) for t in args.threads.split(",")):
            rate = images_per_second(name, threads, args.steps)
            first = first or rate
            print(f"| {name} | {threads} | {rate:.0f} | {rate / first:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
