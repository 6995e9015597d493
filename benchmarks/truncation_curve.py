"""Fidelity against diversity over truncation ψ: precision and recall (and FID) of a generator's samples at
each ψ, measured by `evaluate`'s code in its data set's classifier features, with a plot for the docs.

Truncation pulls every sample toward the average style (w for a style-based generator, z for others):
precision (samples that look real) should rise and recall (the variety of the data covered) fall as ψ
goes to 0, the trade-off StyleGAN's truncation trick offers.

    python benchmarks/truncation_curve.py runs/emoji-style [--samples 2000] [--plot docs/images/emoji-style-psi.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.checkpoint import load_checkpoint
from training.evaluation import evaluate_generator
from training.plot import plot_curves

PSI = (0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="checkpoint or run folder of a generator")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--plot", type=Path, help="write the curves to this PNG")
    args = parser.parse_args()
    state = load_checkpoint(args.run)
    reports = evaluate_generator(state, args.samples, truncations=PSI)
    print(f"{args.run}, step {state['step']}, {args.samples} samples per ψ\n")
    print("| ψ | precision | recall | FID | KID |")
    print("|---|---|---|---|---|")
    rows = [(f"{psi:.1f}", report["generated"]) for psi, report in zip(PSI, reports, strict=True)]
    for label, m in [*rows, ("real images", reports[0]["real_floor"])]:
        print(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['fid']:.3f} | {m['kid']:.4f} |")
    if args.plot:
        series = {name: [r["generated"][name] for r in reports] for name in ("precision", "recall", "fid")}
        plot_curves(list(PSI), series, args.plot)
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
