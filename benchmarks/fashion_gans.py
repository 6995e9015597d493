"""Baseline vs our defaults on Fashion-MNIST: every run measured by the same `evaluate` code path.

Train the four shipped Fashion-MNIST configs first (each `python -m training train --config
training/configs/<name>.toml`), then:

    python benchmarks/fashion_gans.py runs/fashion-dcgan-baseline runs/fashion-dcgan \\
        runs/fashion-cgan-baseline runs/fashion-cgan

Prints a Markdown table for docs/benchmarks.md (KID ×1000), with the real-train-vs-test floor as the
last row, and writes each run's full report to <run>/metrics.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.checkpoint import load_checkpoint
from training.evaluation import evaluate_checkpoint

COLUMNS = ("fid", "kid", "precision", "recall", "classes_covered", "class_evenness", "class_accuracy")


def row(name: str, steps: str, numbers: dict) -> str:
    cells = [
        "–" if key not in numbers else f"{numbers[key] * 1000:.2f}" if key == "kid" else f"{numbers[key]:.3g}"
        for key in COLUMNS
    ]
    return f"| {name} | {steps} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (or checkpoint files)")
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()
    print("| run | steps (kimg) | FID | KID×1000 | precision | recall | classes covered | evenness | class accuracy |")
    print("|---|---|---|---|---|---|---|---|---|")
    floor = None
    for run in args.runs:
        state = load_checkpoint(run)
        report = evaluate_checkpoint(state, args.samples)
        (run if run.is_dir() else run.parent).joinpath("metrics.json").write_text(json.dumps(report, indent=2) + "\n")
        print(row(run.name if run.is_dir() else run.parent.name, f"{state['step']} ({state['images_seen'] // 1000})",
                  report["generated"]), flush=True)  # fmt: skip
        floor = report["real_floor"]
    if floor is not None:
        print(row(f"real training images (floor, {args.samples} samples)", "–", floor))


if __name__ == "__main__":
    main()
