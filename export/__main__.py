"""`python -m export CHECKPOINT -o MODEL.onnx`: a verified, self-describing model (and its card).

`python -m export --from-esrgan FILE` converts a community ESRGAN-family upscaler the same way."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from export import esrgan
from export.generator import (
    ExportError,
    check_name,
    check_output,
    export_generator,
    is_model_folder,
    is_our_card,
    write_card,
    write_index,
)
from training.checkpoint import CheckpointError, load_checkpoint, with_chroma_gain
from training.config import ConfigError, from_dict

BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    parser.add_argument("checkpoint", type=Path, nargs="?", help="training checkpoint or run folder")
    parser.add_argument(
        "--from-esrgan", type=Path, metavar="FILE", help="convert this community upscaler (.pth, .safetensors)"
    )
    parser.add_argument("--scale", type=int, help="with --from-esrgan: the scale you expect (checked against the file)")
    parser.add_argument("-o", "--output", type=Path, help="the .onnx file (default: see README)")
    parser.add_argument("--name", help="model name (default: the run's config name, or the converted file's name)")
    parser.add_argument("--title", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--license", help="SPDX licence of the weights (default: MIT for our runs)")
    parser.add_argument("--chroma-gain", type=float, help="colorizers: multiply the chroma by this (as evaluated)")
    parser.add_argument("--fp16", action="store_true", help="half-precision weights for GPUs (name gets -fp16)")
    parser.add_argument(
        "--direction-label", action="append", default=[], metavar="K=TEXT",
        help="style-based generators: what direction K (from 1) visibly changes (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (args.from_esrgan is None):
        parser.error("give a training checkpoint or --from-esrgan FILE (one of the two)")
    if args.scale is not None and args.from_esrgan is None:
        parser.error("--scale goes with --from-esrgan (a checkpoint knows its scale)")
    try:
        if args.license is not None and not args.license.strip():
            raise ExportError("--license must name the weights' licence, e.g. MIT or CC-BY-4.0")
        if args.from_esrgan is not None:
            return convert_community(args)
        state = with_chroma_gain(load_checkpoint(args.checkpoint), args.chroma_gain)
        given = args.name is not None
        name = (args.name if given else from_dict(state["config"]).name) + ("-fp16" if args.fp16 else "")
        check_name(name, "--name" if given else "the run's name (choose another with --name)")
        output = args.output or BUNDLED_MODELS / f"{name}.onnx"
        check_output(output)
        run_dir = args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent
        report = read_report(run_dir / "metrics.json")
        check_report_gain(report, from_dict(state["config"]).model.chroma_gain)
        result = export_generator(
            state, output, name, args.title.strip(), args.description.strip(), (args.license or "MIT").strip(),
            report.get("generated"), args.fp16, parse_direction_labels(args.direction_label),
        )  # fmt: skip
        written = write_card_and_index(result.document, output, report)
    except (CheckpointError, ConfigError, ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    error = f"max |PyTorch − ONNX| {result.max_error:.1e}"
    print(f"wrote {result.path} (opset {result.opset}; {error})" + (f", {' and '.join(written)}" if written else ""))
    return 0


def parse_direction_labels(given: list[str]) -> dict[int, str]:
    """--direction-label K=TEXT options as {K: TEXT}."""
    labels = {}
    for item in given:
        number, _, label = item.partition("=")
        if not number.strip().isdigit() or not label.strip():
            raise ExportError(f"--direction-label {item!r}: write K=TEXT, e.g. 1='sleeve length'")
        labels[int(number)] = label.strip()
    return labels


def convert_community(args: argparse.Namespace) -> int:
    """--from-esrgan: NAME.onnx in the current folder unless -o says where (a user's file, not a bundled one)."""
    given = args.name is not None
    name = (args.name if given else esrgan.model_name(args.from_esrgan)) + ("-fp16" if args.fp16 else "")
    check_name(name, "--name" if given else "the file's name (choose another with --name)")
    output = args.output or Path(f"{name}.onnx")
    check_output(output)
    result, arch = esrgan.convert(
        args.from_esrgan, output, name, args.scale, args.title.strip(), (args.license or "").strip(), args.fp16
    )
    written = write_card_and_index(result.document, output, {})
    print(
        f"wrote {result.path}: {arch.describe()} (opset {result.opset}; max |PyTorch − ONNX| {result.max_error:.1e})"
        + (f", {' and '.join(written)}" if written else "")
    )
    print("GIMP finds it in your model folder (README: Models) or through GIMP_GAN_MODEL_PATH")
    return 0


def check_report_gain(report: dict, gain: float) -> None:
    """ExportError if the run's metrics.json measured the colorizer at another chroma gain: its numbers
    would go into the card of a model that does not score them."""
    measured = report.get("chroma_gain", gain)
    if measured != gain:
        raise ExportError(
            f"metrics.json was measured with chroma gain {measured}, the export has {gain:g}: export with "
            f"--chroma-gain {measured}, or evaluate again with --chroma-gain {gain:g} --json (run)/metrics.json"
        )


def write_card_and_index(document: dict, output: Path, report: dict) -> list[str]:
    """The model's card and its folder's index, where they replace no file of the user's (what was written).

    The card NAME.md is written when there is none, or it is one of ours; the index README.md only into a
    model folder (export.generator.is_model_folder). The bundled models/ folder is ours throughout."""
    written = []
    bundled = output.parent.resolve() == BUNDLED_MODELS
    card, index = output.with_suffix(".md"), output.parent / "README.md"
    if bundled or not card.exists() or is_our_card(card):
        write_card(document, card, report.get("real_floor") or report.get("baselines"))
        written.append("its card")
    else:
        print(f"kept {card}: it is not a card written by python -m export, so this model has none", file=sys.stderr)
    if bundled or is_model_folder(output.parent):
        write_index(output.parent)
        written.append("the index")
    elif index.exists():
        print(f"kept {index}: it is not an index written by python -m export", file=sys.stderr)
    else:
        print(f"no index written: {output.parent} holds files other than models and their cards", file=sys.stderr)
    return written


def read_report(path: Path) -> dict:
    """What `python -m training evaluate --json` wrote beside the checkpoint ({} when there is none): its
    numbers go into the model's metadata and card, so they must be numbers."""
    if not path.exists():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ExportError(
            f"{path}: not readable as the JSON of `evaluate` ({e}); remove it or evaluate again"
        ) from None
    sections = ("generated", "real_floor", "baselines")
    if not isinstance(report, dict) or not all(_numbers(report.get(key, {})) for key in sections):
        raise ExportError(f"{path}: not what `evaluate --json` writes; remove it or evaluate again")
    return report


def _numbers(section: object) -> bool:
    return isinstance(section, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in section.values()
    )


if __name__ == "__main__":
    sys.exit(main())
