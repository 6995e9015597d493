"""The shipped style / colorize models: quality on the validation photos, speed, and a 12-megapixel photo.

- quality: each model through the engine (onnxruntime, tiles, a colorizer's working size: what a user
  runs), scored by the same functions as `python -m training evaluate` (training/evaluation.py): a
  colorizer and a line-art colorizer by PSNR / SSIM against the photo, colourfulness ÷ the photo's and
  the luminance kept, next to their untouched input; a style by the patch distance of its results to
  held-out paintings and the structure kept, next to the photos' own distance.
- speed: megapixels per second for one 256×256 input, onnxruntime vs PyTorch eager running the same
  architecture (rebuilt from the config in the model's metadata), the same number of threads; median
  of 15 runs after 3 warm-ups, the two interleaved.
- large: a 4000×3000 photo through the engine in a fresh process that imports only the engine, as the
  plug-in's runtime does: time and peak resident memory.

With the quality it writes the README's example, docs/images/translate.png: the test photo's grey,
`colorize`'s result, the photo, `style-van-gogh`'s result.

    python benchmarks/translate.py [--threads 2] [--models colorize ...] [--skip-quality] [--skip-speed]
                                   [--skip-large]

Prints Markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from enhance import child_report, onnxruntime_and_torch_seconds, to_pixels, to_tensor  # beside this script
from PIL import Image

from gimp_gan_plugin import Engine
from gimp_gan_plugin.modelformat import read_model_info
from training.config import from_dict
from training.evaluation import evaluate_translate, evaluate_unpaired
from training.networks import build_generator, for_inference

MODELS = Path(__file__).resolve().parent.parent / "models"
TEST_PHOTO = MODELS.parent / "tests" / "data" / "ladybird.png"
SHIPPED = ("colorize", "lineart-color", "style-van-gogh")


class EngineAsGenerator(torch.nn.Module):
    """A shipped model run by the engine, called as training's evaluation calls a generator."""

    size_multiple = 1  # the engine pads and tiles any size

    def __init__(self, engine: Engine, name: str):
        super().__init__()
        self.engine, self.name = engine, name

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        pixels = to_pixels(image)
        return to_tensor(self.engine.process_image(self.name, pixels[:, :, 0] if pixels.shape[2] == 1 else pixels))


def shipped(chosen: list[str] | None = None) -> list[str]:
    return [name for name in chosen or SHIPPED if (MODELS / f"{name}.onnx").exists()]


def example_figure(engine: Engine, path: Path) -> None:
    """grey | colorize | the photo | style-van-gogh, side by side with 2-pixel gaps."""
    photo = np.asarray(Image.open(TEST_PHOTO).convert("RGB"))
    grey = np.asarray(Image.fromarray(photo).convert("L"))
    panels = [
        np.repeat(grey[:, :, None], 3, axis=2),
        engine.process_image("colorize", grey),
        photo,
        engine.process_image("style-van-gogh", photo),
    ]
    gap = np.full((photo.shape[0], 2, 3), 255, np.uint8)
    row = np.concatenate([part for panel in panels for part in (panel, gap)][:-1], axis=1)
    Image.fromarray(row).save(path)
    print(f"wrote {path}\n")


def quality(engine: Engine, models: list[str]) -> None:
    for name in models:
        config = read_model_info(MODELS / f"{name}.onnx").document["provenance"]["config"]
        G = EngineAsGenerator(engine, name)
        if config["data"]["pairs"] == "unpaired":
            report = evaluate_unpaired(G, "", "", config["data"].get("style_match", ""))
            photos, styles = len(report["photos"]), len(report["styles"])
            print(f"`{name}` on {photos} validation photos, to {styles} held-out paintings")
            print("| method | patch distance to the paintings (SWD ×10³, per level) | mean | structure kept (SSIM-Y) |")
            print("|---|---|---|---|")
            scores, baselines = report["generated"], report["baselines"]
            levels = ", ".join(f"{value:.0f}" for key, value in scores.items() if key.startswith("swd_level"))
            baseline = ", ".join(f"{v:.0f}" for key, v in baselines.items() if key.startswith("input_swd_level"))
            print(f"| **{name}** | {levels} | {scores['swd']:.0f} | {scores['structure']:.3f} |")
            print(f"| the photo itself | {baseline} | {baselines['input_swd']:.0f} | 1 |")
        else:
            report = evaluate_translate(G, config["data"]["pairs"], "")
            scores, baselines = report["generated"], report["baselines"]
            print(f"`{name}` on {len(report['photos'])} validation photos")
            print("| method | PSNR (dB) | SSIM | colourfulness ÷ the photo's | luminance kept (PSNR-Y, dB) |")
            print("|---|---|---|---|---|")
            print(
                f"| **{name}** | {scores['psnr']:.2f} | {scores['ssim']:.4f} | {scores['colourfulness']:.2f} | "
                f"{scores['luma_psnr']:.1f} |"
            )
            print(f"| the input itself | {baselines['input_psnr']:.2f} | {baselines['input_ssim']:.4f} | 0 | |")
        print()


def speed(threads: int, models: list[str]) -> None:
    torch.set_num_threads(threads)
    print(f"| model | onnxruntime (MP/s) | PyTorch eager (MP/s) | onnxruntime ÷ PyTorch |   ({threads} threads)")
    print("|---|---|---|---|")
    megapixels = 256 * 256 / 1e6
    for name in models:
        path = MODELS / f"{name}.onnx"
        info = read_model_info(path)
        config = from_dict(info.document["provenance"]["config"])
        channels = info.input("image").channels
        G = for_inference(build_generator(config.model, config.data.size, channels)).eval()
        image = np.random.default_rng(0).random((1, channels, 256, 256), dtype=np.float32)
        ort_s, torch_s = onnxruntime_and_torch_seconds(path, G, image, threads)
        print(f"| `{name}` | {megapixels / ort_s:.3f} | {megapixels / torch_s:.3f} | {torch_s / ort_s:.2f}× |")


# Run in a fresh process that imports only the engine (not torch), so its peak memory is the plug-in's.
LARGE_PHOTO = """
import json, sys, time
import numpy as np
from PIL import Image
from gimp_gan_plugin import Engine
from gimp_gan_plugin.imaging import luma
name, threads = sys.argv[2], int(sys.argv[3])
photo = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
repeats = (-(-3000 // photo.shape[0]), -(-4000 // photo.shape[1]), 1)
image = np.ascontiguousarray(np.tile(photo, repeats)[:3000, :4000])  # real texture, 12 MP
engine = Engine(provider="cpu", threads=threads)
if engine.load(name).info.input("image").channels == 1:
    image = np.ascontiguousarray(luma(image.astype(np.float32), axis=2)[:, :, 0].round().astype(np.uint8))
start = time.perf_counter()
result = engine.process_image(name, image)
seconds = time.perf_counter() - start
peak = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"shape": list(result.shape), "seconds": seconds, "peak_mib": peak}))
"""


def large(threads: int, models: list[str]) -> None:
    print("| model | input | result | time | peak resident memory |")
    print("|---|---|---|---|---|")
    for name in models:
        report = child_report(LARGE_PHOTO, TEST_PHOTO, name, threads)
        height, width = report["shape"][:2]
        print(
            f"| `{name}` | 4000×3000 | {width}×{height}×{report['shape'][2]} | {report['seconds']:.1f} s | "
            f"{report['peak_mib']:.0f} MiB |"
        )
    print(f"({threads} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", choices=SHIPPED, help="the shipped models to measure (default: all)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    models = shipped(args.models)
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, CPU; models: {', '.join(models)}\n")
    if not args.skip_quality:
        engine = Engine(provider="cpu", threads=args.threads)
        if {"colorize", "style-van-gogh"} <= set(shipped()):
            example_figure(engine, MODELS.parent / "docs" / "images" / "translate.png")
        quality(engine, models)
    if not args.skip_speed:
        speed(args.threads, models)
        print()
    if not args.skip_large:
        large(args.threads, models)


if __name__ == "__main__":
    main()
