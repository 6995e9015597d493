"""The shipped enhance models: quality on the validation photos, speed, and memory on a large photo.

- quality: each model through the engine (onnxruntime, tiles: what a user runs) on the validation
  photos at half size, downscaled ×scale with bicubic (restore: damaged by the realistic degradation,
  seed per photo); PSNR-Y / SSIM-Y with `scale` border pixels left out, next to Pillow's bicubic and
  Lanczos upscaling of the same input (restore: the damaged input itself). The same pairs and
  metrics as `python -m training evaluate`.
- speed: megapixels of input per second for one 256×256 input, onnxruntime vs PyTorch eager running
  the same architecture (rebuilt from the config in the model's metadata: speed does not depend on
  the weights' values), the same number of threads; median of 5 runs after 2 warm-ups.
- memory: peak resident memory of a fresh process that upscales a 2000×1500 (3-megapixel) photo ×4
  by tiles through the engine, to a 48-megapixel result.

    python benchmarks/enhance.py [--threads 2] [--skip-quality] [--skip-memory]

Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image

from gimp_gan_plugin import Engine
from gimp_gan_plugin.modelformat import read_model_info
from training.config import from_dict
from training.evaluation import BASELINES, resize_baseline, validation_pairs
from training.image_metrics import psnr_y, ssim_y
from training.networks import build_generator

MODELS = Path(__file__).resolve().parent.parent / "models"
SHIPPED = ("enhance-x2", "enhance-x4", "enhance-x4-detail", "restore")


def to_pixels(image: torch.Tensor) -> np.ndarray:
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255


def quality(engine: Engine) -> None:
    print("| model | validation photos | method | PSNR-Y (dB) | SSIM-Y |")
    print("|---|---|---|---|---|")
    for name in SHIPPED:
        info = engine.load(name).info
        config = info.document["provenance"]["config"]
        scale, degradation = info.scale, config["data"]["degradation"]
        scores: dict[str, list[tuple[float, float]]] = {}
        pairs = validation_pairs("", scale, degradation)
        for _, degraded, target in pairs:
            results = {name: to_tensor(engine.process_image(name, to_pixels(degraded)))}
            if scale == 1:
                results["damaged input"] = degraded
            else:
                results |= {method: resize_baseline(degraded, scale, f) for method, f in BASELINES.items()}
            for method, result in results.items():
                score = (float(psnr_y(result, target, scale)), float(ssim_y(result, target, scale)))
                scores.setdefault(method, []).append(score)
        for method, values in reversed(scores.items()):
            psnr, ssim = np.mean(values, axis=0)
            label = f"**{method}**" if method == name else method
            print(f"| `{name}` | {len(pairs)}, {degradation} ×{scale} | {label} | {psnr:.2f} | {ssim:.4f} |")


def median_seconds(run, repeats: int = 5) -> float:
    for _ in range(2):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(threads: int) -> None:
    torch.set_num_threads(threads)
    print(f"| model | onnxruntime (MP/s) | PyTorch eager (MP/s) | onnxruntime ÷ PyTorch |   ({threads} threads)")
    print("|---|---|---|---|")
    image = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
    megapixels = 256 * 256 / 1e6
    for name in SHIPPED:
        path = MODELS / f"{name}.onnx"
        info = read_model_info(path)
        config = from_dict(info.document["provenance"]["config"])
        G = build_generator(config.model, config.data.size, 3).eval()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        ort_s = median_seconds(lambda s=session: s.run(None, {"image": image}))
        with torch.no_grad():
            torch_s = median_seconds(lambda g=G: g(torch.from_numpy(image)))
        print(f"| `{name}` | {megapixels / ort_s:.3f} | {megapixels / torch_s:.3f} | {torch_s / ort_s:.2f}× |")


def upscale_large_photo(threads: int) -> None:
    """In the child process: one ×4 upscale of a 3-megapixel photo; prints the peak memory as JSON."""
    photo = np.asarray(Image.open(MODELS.parent / "tests" / "data" / "ladybird.png").convert("RGB"))
    image = np.tile(photo, (6, 8, 1))[:1500, :2000]  # 2000×1500, real texture
    start = time.perf_counter()
    result = Engine(provider="cpu", threads=threads).process_image("enhance-x4", image)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"shape": list(result.shape), "seconds": seconds, "peak_mib": peak_mib}))


def memory(threads: int) -> None:
    child = subprocess.run(
        [sys.executable, __file__, "--child-large-photo", "--threads", str(threads)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(child.stdout.strip().splitlines()[-1])
    height, width, _ = report["shape"]
    print(
        f"`enhance-x4` on a 2000×1500 photo → {width}×{height} ({width * height / 1e6:.0f} MP): "
        f"{report['seconds']:.0f} s, peak resident memory {report['peak_mib']:.0f} MiB ({threads} threads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child-large-photo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_large_photo:
        upscale_large_photo(args.threads)
        return
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, CPU\n")
    if not args.skip_quality:
        quality(Engine(provider="cpu", threads=args.threads))
        print()
    speed(args.threads)
    print()
    if not args.skip_memory:
        memory(args.threads)


if __name__ == "__main__":
    main()
