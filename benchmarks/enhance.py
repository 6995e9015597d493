"""The shipped enhance models: quality on the validation photos, speed, and memory on a large photo.

- quality: each model through the engine (onnxruntime, tiles: what a user runs) on the validation
  photos at half size, downscaled ×scale with bicubic (restore and enhance-x4-photo: damaged by the
  realistic degradation, seed per photo); PSNR-Y / SSIM-Y with `scale` border pixels left out, next to
  Pillow's bicubic and Lanczos upscaling of the same input (restore: the damaged input itself;
  enhance-x4-photo: also `enhance-x4`, the clean-image model). The same pairs and metrics as
  `python -m training evaluate`.
- with `--test-images DIR`, the upscalers also on every PNG in DIR, the same way: standard test
  images in the spirit of Set5, which this project cannot ship. The ones used for docs/benchmarks.md
  are the colour photographs inside scikit-image's wheel (a package registry, not a data set host):

      pip download scikit-image==0.26.0 --no-deps -d /tmp/skimage
      unzip -j /tmp/skimage/*.whl 'skimage/data/'{astronaut,chelsea,coffee,motorcycle_left}.png -d /tmp/test-images

  It also writes docs/images/enhance-x4-compare.png: the centre of each test image, ×4 from its
  bicubic downscale by Pillow's bicubic, `enhance-x4` and `enhance-x4-detail`, then the original.
- always, docs/images/enhance-x4-real-photos.png: the validation photos as Debian ships them (real
  JPEGs, no downscale), each one's most detailed 64-px crop ×4 by bicubic, `enhance-x4` and (once it
  exists) `enhance-x4-photo`: what a photographer's own photos get.
- speed: megapixels of input per second for one 256×256 input, onnxruntime vs PyTorch eager running
  the same architecture (rebuilt from the config in the model's metadata: speed does not depend on
  the weights' values), the same number of threads; median of 15 runs after 3 warm-ups, the two
  interleaved.
- memory: peak resident memory of a fresh process that upscales a photo ×4 by tiles through the
  engine, for inputs from 289×217 to 2000×1500 (1- to 48-megapixel results); the working set is the
  peak minus the result's own size, which the engine should keep flat.

    python benchmarks/enhance.py [--threads 2] [--test-images DIR] [--skip-quality] [--skip-speed] [--skip-memory]

Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image

from gimp_gan_plugin import Engine
from gimp_gan_plugin.discovery import discover_models
from gimp_gan_plugin.modelformat import read_model_info
from training.config import from_dict
from training.degradation import degrade
from training.evaluation import BASELINES, resize_baseline, validation_pairs
from training.image_metrics import psnr_y, ssim_y
from training.networks import build_generator, for_inference
from training.photos import load_rgb, split_photos

MODELS = Path(__file__).resolve().parent.parent / "models"
SHIPPED = ("enhance-x2", "enhance-x4", "enhance-x4-detail", "enhance-x4-photo", "restore")
CLEAN_IMAGE_MODEL = {"enhance-x4-photo": "enhance-x4"}  # run on the real-photo model's inputs too: what it gains


def to_pixels(image: torch.Tensor) -> np.ndarray:
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255


def test_image_pairs(folder: Path, scale: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, bicubic downscale, image cropped to a multiple of the scale) for each PNG in `folder`."""
    pairs = []
    for path in sorted(folder.glob("*.png")):
        target = to_tensor(np.asarray(Image.open(path).convert("RGB")))
        target = target[..., : target.shape[-2] // scale * scale, : target.shape[-1] // scale * scale]
        pairs.append((path.stem, degrade(target, scale, "bicubic", torch.Generator()), target))
    return pairs


def quality(engine: Engine, test_images: Path | None) -> None:
    print("| model | images | method | PSNR-Y (dB) | SSIM-Y |")
    print("|---|---|---|---|---|")
    for name in SHIPPED:
        info = engine.load(name).info
        scale, degradation = info.scale, info.document["provenance"]["config"]["data"]["degradation"]
        sets = {f"validation photos, {degradation} ×{scale}": validation_pairs("", scale, degradation)}
        if test_images and scale > 1:
            sets[f"test images, bicubic ×{scale}"] = test_image_pairs(test_images, scale)
        for label, pairs in sets.items():
            scores: dict[str, list[tuple[float, float]]] = {}
            for _, degraded, target in pairs:
                results = {name: to_tensor(engine.process_image(name, to_pixels(degraded)))}
                if name in CLEAN_IMAGE_MODEL:
                    other = CLEAN_IMAGE_MODEL[name]
                    results[other] = to_tensor(engine.process_image(other, to_pixels(degraded)))
                if scale == 1:
                    results["damaged input"] = degraded
                else:
                    results |= {method: resize_baseline(degraded, scale, f) for method, f in BASELINES.items()}
                for method, result in results.items():
                    score = (float(psnr_y(result, target, scale)), float(ssim_y(result, target, scale)))
                    scores.setdefault(method, []).append(score)
            for method, values in reversed(scores.items()):
                psnr, ssim = np.mean(values, axis=0)
                method = f"**{method}**" if method == name else method
                print(f"| `{name}` | {len(pairs)} {label} | {method} | {psnr:.2f} | {ssim:.4f} |")


def comparison_figure(engine: Engine, test_images: Path, path: Path, crop: int = 160) -> None:
    """One row per test image: bicubic | enhance-x4 | enhance-x4-detail | original, on its centre crop."""
    rows = []
    for _, degraded, target in test_image_pairs(test_images, 4):
        top, left = ((length - crop) // 2 // 4 * 4 for length in target.shape[-2:])  # centred, on the input's grid
        small = degraded[..., top // 4 : (top + crop) // 4, left // 4 : (left + crop) // 4]
        row = [resize_baseline(small, 4, BASELINES["bicubic"])]
        row += [to_tensor(engine.process_image(name, to_pixels(small))) for name in ("enhance-x4", "enhance-x4-detail")]
        row.append(target[..., top : top + crop, left : left + crop])
        rows.append(torch.cat(row, dim=-1))
    Image.fromarray(to_pixels(torch.cat(rows, dim=-2))).save(path)


def real_photo_figure(engine: Engine, path: Path, crop: int = 64) -> None:
    """One row per validation photo as Debian ships it (a real JPEG, not a downscale): its most detailed
    crop ×4 by bicubic, then by each installed ×4 model, clean-image and real-photo ones alike."""
    installed = {entry.name for entry in discover_models() if entry.info}
    models = [name for name in ("enhance-x4", "enhance-x4-photo") if name in installed]
    rows = []
    for photo in split_photos("")[1]:
        pixels = load_rgb(photo)[0]
        tiles = [
            (_detail(pixels[y : y + crop, x : x + crop]), y, x)
            for y in range(0, pixels.shape[0] - crop, crop)
            for x in range(0, pixels.shape[1] - crop, crop)
        ]
        _, y, x = max(tiles)
        small = np.ascontiguousarray(pixels[y : y + crop, x : x + crop])
        row = [resize_baseline(to_tensor(small), 4, BASELINES["bicubic"])]
        row += [to_tensor(engine.process_image(name, small)) for name in models]
        rows.append(torch.cat(row, dim=-1))
    Image.fromarray(to_pixels(torch.cat(rows, dim=-2))).save(path)
    print(f"wrote {path}: bicubic | {' | '.join(models)}")


def _detail(pixels: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: texture scores high, one clean edge low."""
    grey = pixels.astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def median_seconds(runs: dict[str, Callable[[], object]], repeats: int = 15) -> dict[str, float]:
    """Median time of each run, the runs interleaved so that a slow spell of the machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats + 3):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if i >= 3:  # warm-up
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def onnxruntime_and_torch_seconds(
    path: Path, G: torch.nn.Module, image: np.ndarray, threads: int
) -> tuple[float, float]:
    """Median seconds of the exported model in onnxruntime and of `G` in PyTorch eager on `image`, interleaved."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        seconds = median_seconds({
            "onnxruntime": lambda: session.run(None, {"image": image}),
            "torch": lambda: G(torch.from_numpy(image)),
        })  # fmt: skip
    return seconds["onnxruntime"], seconds["torch"]


def child_report(script: str, *arguments: object) -> dict:
    """The JSON that `script` prints last, run in a fresh Python (so its peak memory is its own)."""
    child = subprocess.run(
        [sys.executable, "-c", script, *map(str, arguments)], capture_output=True, text=True, check=True
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


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
        G = for_inference(build_generator(config.model, config.data.size, 3)).eval()
        ort_s, torch_s = onnxruntime_and_torch_seconds(path, G, image, threads)
        print(f"| `{name}` | {megapixels / ort_s:.3f} | {megapixels / torch_s:.3f} | {torch_s / ort_s:.2f}× |")


# Run in a fresh process that imports only the engine (not torch), so its peak memory is the plug-in's.
LARGE_PHOTO = """
import json, sys, time
import numpy as np
from PIL import Image
from gimp_gan_plugin import Engine
from gimp_gan_plugin.discovery import discover_models
photo = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
width = int(sys.argv[3])
height = width * 3 // 4
image = np.ascontiguousarray(np.tile(photo, (6, 8, 1))[:height, :width])  # real texture, 4:3
engine = Engine(provider="cpu", threads=int(sys.argv[2]))
engine.load("enhance-x4")
start = time.perf_counter()
result = engine.process_image("enhance-x4", image)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would report the benchmark parent's size at fork
peak = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) / 1024
report = {"shape": list(result.shape), "seconds": seconds, "peak_mib": peak, "result_mib": result.nbytes / 2**20}
print(json.dumps(report))
"""
MEMORY_WIDTHS = (289, 500, 1000, 1500, 2000)  # ×4 results of 1, 3, 12, 27 and 48 megapixels


def memory(threads: int) -> None:
    photo = MODELS.parent / "tests" / "data" / "ladybird.png"
    print("| input | result | time | peak resident memory | result (uint8) | working set (peak − result) |")
    print("|---|---|---|---|---|---|")
    for width in MEMORY_WIDTHS:
        report = child_report(LARGE_PHOTO, photo, threads, width)
        height, out_width, _ = report["shape"]
        print(
            f"| {width}×{width * 3 // 4} | {out_width}×{height} ({out_width * height / 1e6:.0f} MP) | "
            f"{report['seconds']:.1f} s | {report['peak_mib']:.0f} MiB | {report['result_mib']:.0f} MiB | "
            f"{report['peak_mib'] - report['result_mib']:.0f} MiB |"
        )
    print(f"({threads} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--test-images", type=Path, help="a folder of PNG test images (see above)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, CPU\n")
    if not args.skip_quality:
        engine = Engine(provider="cpu", threads=args.threads)
        quality(engine, args.test_images)
        if args.test_images:
            comparison_figure(engine, args.test_images, MODELS.parent / "docs" / "images" / "enhance-x4-compare.png")
        real_photo_figure(engine, MODELS.parent / "docs" / "images" / "enhance-x4-real-photos.png")
        print()
    if not args.skip_speed:
        speed(args.threads)
        print()
    if not args.skip_memory:
        memory(args.threads)


if __name__ == "__main__":
    main()
