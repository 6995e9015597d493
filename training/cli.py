"""`python -m training train|evaluate|sample`: the training toolkit's command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

from training.checkpoint import CheckpointError, load_checkpoint, with_chroma_gain
from training.config import ConfigError, load_config
from training.data import DataError

log = logging.getLogger("training")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a GAN from a config file, or continue a run")
    train.add_argument("--config", type=Path, required=True, help="TOML file (shipped ones: training/configs/)")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    train.add_argument("--data", help="data folder (overrides data.path)")
    train.add_argument("--run-dir", help="where checkpoints, logs and grids go (default runs/<config name>)")
    train.add_argument("--steps", type=positive, help="generator updates in all (overrides train.steps)")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override one setting")

    evaluate = commands.add_parser("evaluate", help="measure a checkpoint's samples against the test images")
    evaluate.add_argument("checkpoint", type=Path, help="checkpoint file or run folder")
    evaluate.add_argument(
        "--samples", type=positive, default=10_000, help="generated images to measure (default 10000)"
    )
    evaluate.add_argument("--data", type=Path, help="Fashion-MNIST or photo folder (default: the run's)")
    evaluate.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    evaluate.add_argument("--chroma-gain", type=float, help="colorizers: multiply the chroma by this")
    evaluate.add_argument(
        "--truncation", type=psi, default=1.0, metavar="PSI", help="generators: sample at truncation ψ (0-1)"
    )

    sample = commands.add_parser("sample", help="images from a checkpoint for the given seeds")
    sample.add_argument("checkpoint", type=Path, help="checkpoint file or run folder")
    sample.add_argument("--seeds", default="0-15", help="e.g. 0-15,42 (the same seed gives the same image in GIMP)")
    sample.add_argument("--class", dest="class_label", help="class name or index (conditional models)")
    sample.add_argument("-o", "--output", type=Path, default=Path("samples.png"), help="grid PNG to write")
    sample.add_argument("--columns", type=positive, default=8)
    sample.add_argument("--truncation", type=psi, default=1.0, metavar="PSI", help="truncation ψ (0-1), as in GIMP")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return {"train": run_train, "evaluate": run_evaluate, "sample": run_sample}[args.command](args)
    except (ConfigError, DataError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the user named cannot be written: a folder, no permission, a full disk
        print(f"error: {e.filename}: {e.strerror}" if e.filename and e.strerror else f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def positive(text: str) -> int:
    """argparse type: a whole number ≥ 1 (0 columns or samples would fail deep inside, with a traceback)."""
    if not text.strip().isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return int(text)


def psi(text: str) -> float:
    """argparse type: a truncation ψ in [0, 1], the range GIMP's slider offers (checked before the checkpoint loads)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def run_train(args: argparse.Namespace) -> int:
    from training.loop import TrainingDiverged
    from training.tasks import train

    overrides = list(args.set)
    if args.data:
        overrides.append(f"data.path={json.dumps(args.data)}")
    if args.run_dir:
        overrides.append(f"output.run_dir={json.dumps(args.run_dir)}")
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    try:
        train(load_config(args.config, overrides), resume=args.resume)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from training.evaluation import evaluate_checkpoint

    state = with_chroma_gain(load_checkpoint(args.checkpoint), args.chroma_gain)
    report = evaluate_checkpoint(state, args.samples, args.data, args.truncation)
    if report.get("pairs") == "unpaired":  # a style
        generated, baselines = report["generated"], report["baselines"]
        print(f"{len(report['photos'])} validation photos ({', '.join(report['photos'])})")
        print(f"{len(report['styles'])} validation style images ({', '.join(report['styles'])})")
        levels = ", ".join(f"{v:.0f}" for k, v in generated.items() if k.startswith("swd_level"))
        print(f"patch distance to the style {generated['swd']:.1f} (per level, finest first: {levels})")
        print(f"the photos' own distance {baselines['input_swd']:.1f}")
        print(f"structure kept: SSIM-Y {generated['structure']:.3f} against the photo")
    elif "pairs" in report:  # a paired translation model
        generated, baselines = report["generated"], report["baselines"]
        print(f"{len(report['photos'])} validation photos ({', '.join(report['photos'])}), {report['pairs']} pairs")
        print(f"PSNR {generated['psnr']:.2f} dB (the input itself: {baselines['input_psnr']:.2f} dB)")
        print(f"SSIM {generated['ssim']:.4f} (the input itself: {baselines['input_ssim']:.4f})")
        print(f"colourfulness {generated['colourfulness']:.2f} of the photos'")
        print(f"luminance kept: PSNR-Y {generated['luma_psnr']:.2f} dB against the input")
        if "chroma_gain" in report:
            print(f"(chroma gain {report['chroma_gain']:g})")
    elif "baselines" in report:  # an enhance model
        print(
            f"{len(report['photos'])} validation photos ({', '.join(report['photos'])}), {report['degradation']} inputs"
        )
        print(f"{'method':<10}  {'PSNR-Y dB':>9}  {'SSIM-Y':>7}")
        rows = {"model": report["generated"]} | {
            method: {
                "psnr_y": report["baselines"][f"{method}_psnr_y"],
                "ssim_y": report["baselines"][f"{method}_ssim_y"],
            }
            for method in ("input", "bicubic", "lanczos")
            if f"{method}_psnr_y" in report["baselines"]
        }
        for method, values in rows.items():
            print(f"{method:<10}  {values['psnr_y']:>9.2f}  {values['ssim_y']:>7.4f}")
    else:
        _print_generator_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _print_generator_report(report: dict) -> None:
    labels = {f"class_accuracy_{i}": f"  {name}" for i, name in enumerate(report["classes"])}
    print(f"{'metric':<20}  {'generated':>10}  {'real floor':>10}")
    for key, value in report["generated"].items():
        floor = report["real_floor"][key]
        print(f"{labels.get(key, key):<20}  {value:>10.4f}  {floor:>10.4f}")
    print(f"(classifier test accuracy {report['classifier']['test_accuracy']:.4f}; {report['samples']} samples)")


def run_sample(args: argparse.Namespace) -> int:
    from training.networks import task
    from training.sampling import generate, load_generator, noise_shapes, parse_seeds, save_grid, seeded_inputs

    seeds = parse_seeds(args.seeds)  # before loading: a typo is reported at once
    G, config, classes = load_generator(load_checkpoint(args.checkpoint))
    if (kind := task(config.model.family)) != "generate":
        raise ValueError(
            f"sample makes images from seeds; this is an {kind} model: export it and run "
            f"`python -m gimp_gan_plugin {kind}`, or see its validation grids in the run's samples/"
        )
    class_label = None
    if args.class_label is not None:
        if not classes:
            raise ValueError("--class needs a class-conditional model; this one has no classes")
        names = {name.lower(): i for i, name in enumerate(classes)} | {str(i): i for i in range(len(classes))}
        if args.class_label.lower() not in names:
            raise ValueError(f"--class must be one of {', '.join(classes)} or 0-{len(classes) - 1}")
        class_label = names[args.class_label.lower()]
    z, labels, noise = seeded_inputs(seeds, G.latent_size, len(classes), class_label, noise_shapes(G))
    save_grid(generate(G, z, labels, noise, args.truncation), args.output, args.columns)
    print(f"wrote {args.output}")
    return 0
