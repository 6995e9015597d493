"""`python -m export CHECKPOINT -o MODEL.onnx`: a verified, self-describing model (and its card)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from export.generator import ExportError, export_generator, write_card, write_index
from training.checkpoint import CheckpointError, load_checkpoint

BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    parser.add_argument("checkpoint", type=Path, help="training checkpoint or run folder")
    parser.add_argument("-o", "--output", type=Path, help=f"the .onnx file (default: {BUNDLED_MODELS}/NAME.onnx)")
    parser.add_argument("--name", help="model name (default: the run's config name)")
    parser.add_argument("--title", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--license", default="MIT", help="SPDX licence of the weights")
    parser.add_argument("--fp16", action="store_true", help="half-precision weights for GPUs (name gets -fp16)")
    args = parser.parse_args(argv)
    try:
        state = load_checkpoint(args.checkpoint)
        name = (args.name or state.get("config", {}).get("name", "model")) + ("-fp16" if args.fp16 else "")
        output = args.output or BUNDLED_MODELS / f"{name}.onnx"
        run_dir = args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent
        report = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
        result = export_generator(
            state, output, name, args.title, args.description, args.license, report.get("generated"), args.fp16
        )
        write_card(result.document, output.with_suffix(".md"), report.get("real_floor") or report.get("baselines"))
        write_index(output.parent)
    except (CheckpointError, ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    error = f"max |PyTorch − ONNX| {result.max_error:.1e}"
    print(f"wrote {result.path} (opset {result.opset}; {error}), its card and the index")
    return 0


if __name__ == "__main__":
    sys.exit(main())
