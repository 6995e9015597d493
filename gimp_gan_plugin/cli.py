"""`python -m gimp_gan_plugin`: the engine from a terminal, with the same models the GIMP plug-in uses."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from .discovery import discover_models, model_search_path
from .engine import Engine
from .errors import GimpGanError
from .imagefile import read_image, write_image
from .imaging import from_unit_float, psnr
from .runtime import PROVIDERS

DESCRIPTION = """\
Run gimp-gan models outside GIMP: upscale or restore photos (enhance), restyle or colorize them
(translate), and make new images (generate). Models are .onnx files found in GIMP_GAN_MODEL_PATH,
your model folder and the bundled models/ folder; `models` lists them.

examples:
  python -m gimp_gan_plugin models
  python -m gimp_gan_plugin enhance photo.jpg -o photo-x2.png --model enhance-x2
  python -m gimp_gan_plugin translate sketch.png -o styled.png --model MODEL --strength 0.7
  python -m gimp_gan_plugin generate --model MODEL --seed 42 --count 16 -o samples/
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gimp_gan_plugin", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    device = argparse.ArgumentParser(add_help=False)
    group = device.add_argument_group("device")
    group.add_argument(
        "--provider", choices=PROVIDERS, default="auto", help="where to run: CUDA GPU when usable (auto), or force one"
    )
    group.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")

    listing = commands.add_parser("models", help="list installed models", description="List installed models.")
    listing.add_argument("--json", action="store_true", help="print the full metadata as JSON (for scripts)")

    for name, summary in (
        ("enhance", "upscale or restore an image"),
        ("translate", "restyle or colorize an image"),
    ):
        sub = commands.add_parser(
            name, parents=[device], help=summary, description=summary[0].upper() + summary[1:] + "."
        )
        sub.add_argument("input", type=Path, metavar="IN", help="image file (PNG 8/16-bit, JPEG, TIFF, WebP)")
        sub.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="output image file")
        sub.add_argument("--model", required=True, help="model name (see `models`) or path to an .onnx file")
        sub.add_argument(
            "--tile",
            type=int,
            metavar="PX",
            help="tile size in input pixels (default: automatic); smaller uses less memory",
        )
        sub.add_argument(
            "--strength",
            type=float,
            default=1.0,
            metavar="F",
            help="blend with the original: 0 = unchanged, 1 = full (default)",
        )
        sub.add_argument(
            "--mask", type=Path, metavar="FILE", help="grey image: apply the result only where it is white"
        )
        sub.add_argument(
            "--feather", type=float, default=0.0, metavar="PX", help="soften the mask's edge by this radius"
        )

    gen = commands.add_parser(
        "generate",
        parents=[device],
        help="generate new images from seeds",
        description="Generate images. The same model and seed always give the same image.",
    )
    gen.add_argument("--model", required=True, help="model name (see `models`) or path to an .onnx file")
    gen.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed+i (default: 0)")
    gen.add_argument("--count", type=int, default=1, help="number of images (default: 1)")
    gen.add_argument(
        "-o", "--output", type=Path, required=True, help="PNG file for one image; a folder (created) when --count > 1"
    )
    gen.add_argument("--class", dest="class_label", metavar="CLASS", help="class name or index (conditional models)")
    gen.add_argument(
        "--truncation",
        type=float,
        default=1.0,
        metavar="PSI",
        help="0..1: lower gives more typical, less varied images",
    )
    gen.add_argument(
        "--to-seed", type=int, metavar="SEED", help="morph from --seed to this seed over --count frames instead"
    )
    gen.add_argument("--linear", action="store_true", help="with --to-seed: straight-line instead of spherical path")
    gen.add_argument("--grid", action="store_true", help="also save all images as one grid.png in the output folder")
    demo = commands.add_parser(
        "demo",
        parents=[device],
        help="show the installed models at work",
        description="Upscale a photo and generate sample grids with the installed models; write them to a folder.",
    )
    demo.add_argument("output", type=Path, metavar="DIR", help="folder for the results (created)")
    demo.add_argument("--photo", type=Path, required=True, help="a photo to shrink ×4 and upscale again")
    return parser


class ProgressBar:
    """A one-line bar on stderr, shown only on a terminal and only once work takes more than a moment."""

    def __init__(self, label: str):
        self.label, self.start, self.shown = label, time.monotonic(), False

    def __call__(self, fraction: float) -> bool:
        elapsed = time.monotonic() - self.start
        if sys.stderr.isatty() and (self.shown or elapsed > 0.5):
            self.shown = True
            eta = elapsed / fraction - elapsed if fraction > 0 else 0
            bar = "#" * int(fraction * 30)
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction:4.0%}  ETA {eta:4.0f}s")
            sys.stderr.flush()
        return True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    try:
        return {
            "models": cmd_models,
            "enhance": cmd_image,
            "translate": cmd_image,
            "generate": cmd_generate,
            "demo": cmd_demo,
        }[args.command](args)
    except GimpGanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_models(args) -> int:
    entries = discover_models()
    if args.json:
        rows = [
            {"path": str(e.path), "metadata": e.info.document if e.info else None, "error": e.error} for e in entries
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    usable = [e for e in entries if e.info]
    if not usable:
        print("No models installed. Searched:\n  " + "\n  ".join(str(p) for p in model_search_path()))
    for e in usable:
        info = e.info
        detail = {
            "enhance": f"×{info.scale}",
            "translate": "",
            "generate": f"{info.output_size[1]}×{info.output_size[0]}",
        }
        extra = f", {len(info.classes)} classes" if info.classes else ""
        print(f"{info.name:<24} {info.task:<9} {detail[info.task]}{extra}  {info.title}")
        print(f"{'':<24} {e.path}")
    for e in entries:
        if e.error:
            print(f"unusable: {e.error}", file=sys.stderr)
    return 0


def cmd_image(args) -> int:
    engine = Engine(args.provider, args.threads, args.tile)
    session = engine.load(args.model, (args.command,))
    image = read_image(args.input)
    mask = read_image(args.mask) if args.mask else None
    if mask is not None and mask.ndim == 3:
        mask = mask[:, :, 0]
    print(f"{session.info.name}: {session.report.describe()}", file=sys.stderr)
    bar = ProgressBar(args.command.capitalize())
    try:
        result = engine.process_image(
            args.model, image, mask=mask, strength=args.strength, feather=args.feather, progress=bar
        )
    finally:
        bar.close()
    write_image(args.output, result)
    print(f"wrote {args.output} ({result.shape[1]}×{result.shape[0]})", file=sys.stderr)
    return 0


def cmd_generate(args) -> int:
    if args.count < 1:
        raise GimpGanError("--count must be at least 1")
    engine = Engine(args.provider, args.threads)
    session = engine.load(args.model, ("generate",))
    print(f"{session.info.name}: {session.report.describe()}", file=sys.stderr)
    bar = ProgressBar("Generating")
    common = dict(class_label=args.class_label, truncation=args.truncation, progress=bar)
    try:
        if args.to_seed is not None:
            mode = "linear" if args.linear else "spherical"
            images = engine.interpolate(args.model, args.seed, args.to_seed, args.count, mode=mode, **common)
        else:
            images = engine.generate(args.model, range(args.seed, args.seed + args.count), **common)
    finally:
        bar.close()
    images = from_unit_float(images, np.uint8)
    if args.count == 1 and not args.grid and args.output.suffix:
        write_image(args.output, images[0])
        print(f"wrote {args.output}", file=sys.stderr)
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    names = (
        [f"frame-{i:03d}.png" for i in range(args.count)]
        if args.to_seed is not None
        else [f"seed-{args.seed + i}.png" for i in range(args.count)]
    )
    for name, image in zip(names, images, strict=True):
        write_image(args.output / name, image)
    if args.grid:
        write_image(args.output / "grid.png", make_grid(images))
    print(f"wrote {args.count} images to {args.output}/", file=sys.stderr)
    return 0


def make_grid(images: np.ndarray, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """(N, H, W, C) → one image with the N images in rows, separated by `gap` black pixels."""
    n, h, w, c = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    grid = np.zeros((rows * (h + gap) - gap, columns * (w + gap) - gap, c), images.dtype)
    for i, image in enumerate(images):
        y, x = divmod(i, columns)
        grid[y * (h + gap) : y * (h + gap) + h, x * (w + gap) : x * (w + gap) + w] = image
    return grid


def cmd_demo(args) -> int:
    """Upscale a ×4-reduced photo with each ×4 model next to bicubic, and grid each generator's samples."""
    from PIL import Image

    engine = Engine(args.provider, args.threads)
    args.output.mkdir(parents=True, exist_ok=True)
    entries = [e for e in discover_models() if e.info]
    original = read_image(args.photo)[:, :, :3]
    height, width = original.shape[:2]
    small = np.asarray(Image.fromarray(original).resize((width // 4, height // 4), Image.Resampling.BICUBIC))
    bicubic = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))
    write_image(args.output / "photo-small.png", small)
    write_image(args.output / "photo-bicubic-x4.png", bicubic)
    print(f"{args.photo.name} reduced to {small.shape[1]}×{small.shape[0]}, then upscaled ×4 again:")
    print(f"  {'bicubic':<20} PSNR {psnr(bicubic, original):5.2f} dB against the original")
    for entry in entries:
        if entry.info.task == "enhance" and entry.info.scale == 4:
            session = engine.load(entry.path)
            result = engine.process_image(entry.path, small)
            write_image(args.output / f"photo-{entry.name}.png", result)
            score = psnr(result, original)
            print(f"  {entry.name:<20} PSNR {score:5.2f} dB against the original ({session.report.describe()})")
    for entry in entries:
        if entry.info.task == "generate":
            images = engine.generate(entry.path, range(16))
            write_image(args.output / f"{entry.name}-grid.png", make_grid(from_unit_float(images, np.uint8)))
            print(f"  {entry.name:<20} 16 samples (seeds 0–15) in {entry.name}-grid.png")
    print(f"Results in {args.output}")
    return 0
