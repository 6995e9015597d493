"""Tiled vs whole-image inference on a 12-megapixel photo through a small ×2 model.

Each configuration runs in a fresh process so that its peak resident memory is its own. Prints a
Markdown table for docs/benchmarks.md; ratios are against the whole-image run of the same invocation.

    python benchmarks/tiling.py [--threads 2] [--size 4000x3000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def build_model(folder: Path) -> Path:
    """conv 3→16, ReLU, conv 16→16, ReLU, conv 16→12, DepthToSpace ×2 (~4.6 k parameters)."""
    from onnx_models import GraphBuilder, base_document, image_spec, image_tensor

    g = GraphBuilder(seed=0)
    h = g.op("Relu", [g.conv("image", 3, 16)])
    h = g.op("Relu", [g.conv(h, 16, 16)])
    g.op("DepthToSpace", [g.conv(h, 16, 12)], blocksize=2)
    g.nodes[-1].output[0] = "result"
    doc = base_document("enhance", "bench-x2") | {
        "inputs": [image_spec("image", 3)],
        "outputs": [image_spec("result", 3)],
        "scale": 2,
        "size_multiple": 1,
        "tile_padding": 3,
    }
    return g.save(folder / "bench-x2.onnx", [image_tensor("image", 3)], [image_tensor("result", 3)], doc)


def measure(model: str, tile: int, threads: int, height: int, width: int) -> dict:
    """Runs in the child process."""
    from gimp_gan_plugin import Engine

    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    engine = Engine(provider="cpu", threads=threads, tile=tile)
    engine.load(model)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = engine.process_image(model, image)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.shape == (2 * height, 2 * width, 3)
    return {"seconds": seconds, "peak_mb": peak / 1024, "before_mb": before / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the input")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.threads, height, width)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp))
        rows = {}
        for label, tile in [("whole image", 1 << 16), ("tiles 512 (auto)", 512), ("tiles 256", 256)]:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--threads",
                    str(args.threads),
                    "--size",
                    args.size,
                    "--child",
                    str(model),
                    str(tile),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            rows[label] = json.loads(out.stdout.strip().splitlines()[-1])
    whole = rows["whole image"]
    print(f"{width}×{height} input ({width * height / 1e6:.0f} MP) → ×2, {args.threads} threads, CPU\n")
    print("| run | time (s) | time vs whole | peak RSS (MB) | RSS before inference (MB) | peak vs whole |")
    print("|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(
            f"| {label} | {r['seconds']:.2f} | {r['seconds'] / whole['seconds']:.2f} | {r['peak_mb']:.0f} | "
            f"{r['before_mb']:.0f} | {r['peak_mb'] / whole['peak_mb']:.2f} |"
        )


if __name__ == "__main__":
    main()
