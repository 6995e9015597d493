"""`python -m gimp_gan_plugin`: the engine from a terminal, with the same models the GIMP plug-in uses."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .discovery import discover_models, model_search_path
from .engine import Engine
from .errors import GimpGanError
from .generation import StyleEdit
from .imagefile import MAX_PIXELS, plan_output, read_image, read_metadata, write_image
from .imaging import check_generated_size, from_unit_float, luma, psnr, resize_generated, to_unit_float
from .modelformat import STYLE_LEVELS
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
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar or other messages, only warnings")

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
        sub.add_argument(
            "--max-megapixels",
            type=float,
            default=MAX_PIXELS / 1e6,
            metavar="MP",
            help=f"refuse larger inputs, which are usually decompression bombs (default: {MAX_PIXELS / 1e6:.0f})",
        )

    gen = commands.add_parser(
        "generate",
        parents=[device],
        help="generate new images from seeds",
        description="Generate images. The same model and seed always give the same image.",
    )
    gen.add_argument("--model", required=True, help="model name (see `models`) or path to an .onnx file")
    gen.add_argument("--seed", type=int, default=0, help="first seed, 0 or more; image i uses seed+i (default: 0)")
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
    gen.add_argument(
        "--linear", action="store_true", help="with --to-seed: straight-line instead of spherical path (z-only models)"
    )
    gen.add_argument(
        "--grid",
        action="store_true",
        help="also save all images as one grid.png in the output folder; with several --mix-seed, a style-mixing "
        "grid: a row per seed, a column per mix seed (its own image on top)",
    )
    gen.add_argument("--size", type=int, default=0, metavar="PX", help="longer side in pixels (default: the model's)")
    style = gen.add_argument_group("style-based models")
    style.add_argument(
        "--mix-seed", metavar="SEEDS", help="take the --mix level's styles from this seed (several, with --grid)"
    )
    style.add_argument(
        "--mix",
        choices=STYLE_LEVELS,
        default="fine",
        help="which styles --mix-seed gives: coarse (pose, shape), middle (features) or fine (colour, texture)",
    )
    style.add_argument(
        "--direction",
        type=int,
        action="append",
        default=[],
        metavar="K",
        help="edit along direction K, from 1 (repeatable)",
    )
    style.add_argument(
        "--amount", type=float, action="append", default=[], metavar="A", help="how far, one per --direction"
    )
    noise = gen.add_argument_group("noise (models with noise inputs)")
    noise.add_argument("--noise-seed", type=int, metavar="N", help="the same noise maps for every image: from seed N")
    noise.add_argument("--no-noise", action="store_true", help="switch the noise inputs off (zeros)")
    demo = commands.add_parser(
        "demo",
        parents=[device],
        help="show the installed models at work",
        description="Upscale, colorize and restyle a photo and generate sample grids with the installed models; "
        "write them to a folder.",
    )
    demo.add_argument("output", type=Path, metavar="DIR", help="folder for the results (created)")
    demo.add_argument("--photo", type=Path, required=True, help="a photo to shrink ×4 and upscale again")
    return parser


class ProgressBar:
    """Progress on stderr once work takes more than a moment: a live bar on a terminal, else a line per tenth.

    Shows the units done (tiles, images) and the time left, estimated from the pace so far."""

    def __init__(self, label: str, unit: str, quiet: bool = False):
        self.label, self.unit, self.quiet = label, unit, quiet
        self.start, self.shown, self.tenths = time.monotonic(), False, 0

    def __call__(self, done: int, total: int) -> bool:
        if self.quiet:
            return True
        elapsed = time.monotonic() - self.start
        if elapsed < 1.0:
            return True
        left = elapsed * (total - done) / max(done, 1)
        text = f"{self.label} {done}/{total} {self.unit}, {_duration(elapsed)} so far, {_duration(left)} left"
        if sys.stderr.isatty():
            bar = "#" * (30 * done // total)
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{total} {self.unit}  {_duration(left)} left ")
            self.shown = True
        elif 10 * done // total > self.tenths:
            self.tenths = 10 * done // total
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
        return True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}:{seconds // 60 % 60:02d}:00"


def say(args, text: str) -> None:
    """An informational line on stderr (stdout stays for what scripts read); --quiet silences it."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr)


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
    except MemoryError:
        print("error: not enough memory for this; try a smaller image, fewer images or --tile", file=sys.stderr)
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
        if info.styles:
            extra += f", style-based ({len(info.styles.directions)} directions)"
        print(f"{info.name:<24} {info.task:<9} {detail[info.task]}{extra}  {info.title}")
        print(f"{'':<24} {e.path}")
    for e in entries:
        if e.error:
            print(f"unusable: {e.error}", file=sys.stderr)
    return 0


def cmd_image(args) -> int:
    if not math.isfinite(args.max_megapixels) or args.max_megapixels <= 0:
        raise GimpGanError(f"--max-megapixels must be a positive number, got {args.max_megapixels}")
    engine = Engine(args.provider, args.threads, args.tile)
    session = engine.load(args.model, (args.command,))
    max_pixels = round(args.max_megapixels * 1e6)
    image = read_image(args.input, max_pixels)
    mask = read_image(args.mask, max_pixels) if args.mask else None
    if mask is not None and mask.ndim == 3:
        mask = mask[:, :, 0]
    shape = engine.result_shape(args.model, image)  # checked before the work, so a long run cannot end in a failure
    for note in plan_output(args.output, shape[2] if len(shape) == 3 else 1, image.dtype):
        print(f"warning: {note}", file=sys.stderr)
    say(args, f"{session.info.name}: {session.report.describe()}")
    bar = ProgressBar(args.command.capitalize(), "tiles", args.quiet)
    try:
        result = engine.process_image(
            args.model, image, mask=mask, strength=args.strength, feather=args.feather, progress=bar
        )
    finally:
        bar.close()
    write_image(args.output, result, read_metadata(args.input))
    say(args, f"wrote {args.output} ({result.shape[1]}×{result.shape[0]})")
    return 0


def cmd_generate(args) -> int:
    if args.count < 1:
        raise GimpGanError("--count must be at least 1")
    check_generated_size(args.size)
    if len(args.direction) != len(args.amount):
        raise GimpGanError("give one --amount for each --direction, in the same order")
    mix_seeds = parse_seed_list(args.mix_seed) if args.mix_seed else []
    mixing_grid = args.grid and len(mix_seeds) > 1
    if len(mix_seeds) > 1 and not args.grid:
        raise GimpGanError("several --mix-seed values make a style-mixing grid: add --grid")
    if mixing_grid and args.to_seed is not None:
        raise GimpGanError("--to-seed and a style-mixing grid do not go together")
    edit = StyleEdit(
        mix_seed=mix_seeds[0] if len(mix_seeds) == 1 else None,
        mix_level=args.mix,
        directions=tuple((k - 1, amount) for k, amount in zip(args.direction, args.amount, strict=True)),
        noise_seed=args.noise_seed,
        noise=not args.no_noise,
    )
    engine = Engine(args.provider, args.threads)
    session = engine.load(args.model, ("generate",))
    channels = session.info.image_output.channels
    single = args.count == 1 and not args.grid and args.output.suffix
    if single:
        plan_output(args.output, channels, np.uint8)
    else:  # a folder: checked (and made) before the work
        output_folder(args.output, "with --count above 1 or --grid, -o names a folder")
        plan_output(args.output / "grid.png", channels, np.uint8)
    say(args, f"{session.info.name}: {session.report.describe()}")
    bar = ProgressBar("Generating", "images", args.quiet)
    common = dict(class_label=args.class_label, truncation=args.truncation, edit=edit, progress=bar)
    seeds = range(args.seed, args.seed + args.count)
    try:
        if mixing_grid:
            grid = style_mixing_grid(engine, args.model, list(seeds), mix_seeds, args.mix, args.size, **common)
        elif args.to_seed is not None:
            mode = "linear" if args.linear else "spherical"
            images = engine.interpolate(args.model, args.seed, args.to_seed, args.count, mode=mode, **common)
        else:
            images = engine.generate(args.model, seeds, **common)
    finally:
        bar.close()
    if mixing_grid:
        write_image(args.output / "grid.png", from_unit_float(grid, np.uint8))
        say(args, f"wrote the style-mixing grid ({args.mix} styles) to {args.output / 'grid.png'}")
        return 0
    images = from_unit_float(resize_generated(images, args.size), np.uint8)
    if single:
        write_image(args.output, images[0])
        say(args, f"wrote {args.output}")
        return 0
    names = (
        [f"frame-{i:03d}.png" for i in range(args.count)]
        if args.to_seed is not None
        else [f"seed-{args.seed + i}.png" for i in range(args.count)]
    )
    for name, image in zip(names, images, strict=True):
        write_image(args.output / name, image)
    if args.grid:
        write_image(args.output / "grid.png", make_grid(images))
    say(args, f"wrote {args.count} images to {args.output}/")
    return 0


def parse_seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise GimpGanError(f"seeds are whole numbers separated by commas, e.g. 3,5,8; got {text!r}") from None
    return seeds


def style_mixing_grid(engine, model, seeds, mix_seeds, level, size, **common) -> np.ndarray:
    """The StyleGAN paper's figure, as one (H, W, C) image in [0, 1]: the mix seeds' own images along the
    top, each seed's own image down the left, and in each cell that seed with the column seed's styles
    at `level`; each cell `size` pixels on its longer side (0: the model's size)."""
    edit, progress = common.pop("edit"), common.pop("progress")
    columns = engine.generate(model, mix_seeds, edit=edit, **common)
    rows = engine.generate(model, seeds, edit=edit, **common)
    cells = [
        engine.generate(model, seeds, edit=replace(edit, mix_seed=mix_seed, mix_level=level), **common)
        for mix_seed in mix_seeds
    ]
    progress(1, 1)
    blank = np.zeros_like(rows[0])
    grid = [blank, *columns]
    for i, row in enumerate(rows):
        grid += [row, *(cell[i] for cell in cells)]
    return make_grid(resize_generated(np.stack(grid), size), columns=len(mix_seeds) + 1).astype(np.float32)


def output_folder(path: Path, why: str) -> None:
    """Make the folder results go to, or say in one line why it cannot be."""
    if path.exists() and not path.is_dir():
        raise GimpGanError(f"{path} is a file; {why}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GimpGanError(f"{path}: cannot make this folder ({e.strerror or e})") from None


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
    """Upscale a ×4-reduced photo with each ×4 model next to bicubic, colorize its grey copy, restyle it,
    and grid each generator's samples."""
    from PIL import Image

    engine = Engine(args.provider, args.threads)
    output_folder(args.output, "the demo writes its results into a folder")
    entries = [e for e in discover_models() if e.info]
    original = read_image(args.photo)[:, :, :3]
    height, width = original.shape[0] // 4 * 4, original.shape[1] // 4 * 4  # so that ×4 gives it back
    original = original[:height, :width]
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
    grey = from_unit_float(luma(to_unit_float(original), axis=2)[:, :, 0], np.uint8)
    write_image(args.output / "photo-grey.png", grey)
    for entry in entries:
        info, output = entry.info, f"photo-{entry.name}.png"
        if info.task == "translate" and info.working_size:  # a colorizer of photos (it keeps their luminance)
            result = engine.process_image(entry.path, grey)
            baseline = psnr(np.repeat(grey[:, :, None], 3, axis=2), original)
            print(
                f"  {entry.name:<20} colorized the grey copy: {output}, PSNR {psnr(result, original):5.2f} dB "
                f"against the original (the grey copy's {baseline:.2f} dB)"
            )
        elif info.task == "translate" and info.input("image").channels == 3:  # a style
            result = engine.process_image(entry.path, original)
            print(f"  {entry.name:<20} restyled the photo: {output}")
        else:
            continue
        write_image(args.output / output, result)
    for entry in entries:
        if entry.info.task == "generate":
            images = engine.generate(entry.path, range(16))
            write_image(args.output / f"{entry.name}-grid.png", make_grid(from_unit_float(images, np.uint8)))
            print(f"  {entry.name:<20} 16 samples (seeds 0–15) in {entry.name}-grid.png")
    print(f"Results in {args.output}")
    return 0
