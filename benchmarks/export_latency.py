"""Generator latency: onnxruntime (the plug-in's runtime) vs PyTorch eager, same CPU thread count.

For each bundled generator, PyTorch runs the same architecture rebuilt from the config recorded in
the model's metadata (latency does not depend on the weights' values). Median of 30 runs after 5
warm-up runs. Prints a Markdown table for docs/benchmarks.md.

    python benchmarks/export_latency.py [--threads 1,2] [--batches 1,16]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from gimp_gan_plugin.modelformat import read_model_info
from training.config import from_dict
from training.networks import build

MODELS = Path(__file__).resolve().parent.parent / "models"


def median_ms(run, repeats: int = 30) -> float:
    for _ in range(5):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batches", default="1,16")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, CPU\n")
    print("| model | threads | batch | PyTorch (ms) | onnxruntime (ms) | PyTorch ÷ onnxruntime |")
    print("|---|---|---|---|---|---|")
    for path in sorted(MODELS.glob("*.onnx")):
        info = read_model_info(path)
        config = from_dict(info.document["provenance"]["config"])
        G, _ = build(config.model, config.data.size, info.image_output.channels, len(info.classes))
        G.eval()
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            for batch in (int(b) for b in args.batches.split(",")):
                z = np.random.default_rng(0).standard_normal((batch, info.latent_size)).astype(np.float32)
                label = np.zeros(batch, np.int64)
                feeds = {"z": z} | ({"label": label} if info.classes else {})
                z_t, label_t = torch.from_numpy(z), (torch.from_numpy(label) if info.classes else None)
                with torch.no_grad():
                    eager = median_ms(lambda: G(z_t, label_t))  # noqa: B023
                ort = median_ms(lambda: session.run(None, feeds))  # noqa: B023
                print(f"| {info.name} | {threads} | {batch} | {eager:.2f} | {ort:.2f} | {eager / ort:.2f}× |")


if __name__ == "__main__":
    main()
