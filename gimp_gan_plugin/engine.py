"""The engine: runs gimp-gan models on pixels. The command line, the GIMP plug-in's runtime, the tests and
the benchmarks all go through this one class; it imports neither GIMP (`gi`) nor torch.

Public calls return None when the progress callback cancels, and never touch the caller's arrays.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from . import imaging
from .discovery import find_model
from .errors import GimpGanError, ImageError, ModelError, OutOfMemoryError
from .generation import (
    Interpolation,
    StyleEdit,
    interpolate,
    latent_for_seed,
    seed_rng_after_latent,
    style_mix,
    style_offset,
)
from .imaging import Cancelled, ProgressCallback
from .modelformat import IMAGE_TASKS, ModelInfo
from .runtime import Provider, Runtime, Session, is_out_of_memory

log = logging.getLogger("gimp_gan")

MIN_TILE = 32
TILE_OUTPUT_PIXELS = 1024  # automatic tiles produce about 1024×1024 output pixels: ~0.3 GB of activations
# Translation models (U-Nets) keep wide activations at full resolution for their skips: measured, a
# 12-megapixel photo through style-painting peaked at 3.3 GB with 1024-pixel tiles.
TRANSLATE_TILE = 512


def auto_tile(info: ModelInfo) -> int:
    multiple = info.size_multiple
    budget = TRANSLATE_TILE if info.task == "translate" else TILE_OUTPUT_PIXELS // info.scale
    return max(MIN_TILE, budget // multiple * multiple)


class Engine:
    """Model sessions for one device choice, plus image-to-image and generation on top of them.

    provider: "auto" (CUDA when usable, else CPU), "cuda" or "cpu"; threads: CPU threads (None = all);
    tile: tile size in input pixels for image-to-image (None = automatic from the model's scale).
    """

    def __init__(self, provider: Provider = "auto", threads: int | None = None, tile: int | None = None):
        if tile is not None and tile < MIN_TILE:
            raise GimpGanError(f"tile size must be at least {MIN_TILE} pixels, got {tile}")
        if threads is not None and threads < 1:
            raise GimpGanError(f"the number of threads must be at least 1, got {threads}")
        self.runtime = Runtime(provider, threads)
        self.tile = tile

    def load(self, model: str | Path, tasks: tuple[str, ...] | None = None) -> Session:
        """A model by name or path; with `tasks`, refuse a model made for something else."""
        session = self.runtime.session(find_model(str(model), tasks=tasks))
        if tasks is not None and session.info.task not in tasks:
            raise ModelError(f"'{session.info.name}' is for {session.info.task}, not {' or '.join(tasks)}")
        return session

    # --- image to image (enhance, translate) -------------------------------------------------------

    def process_image(
        self,
        model: str | Path,
        image: np.ndarray,
        *,
        mask: np.ndarray | None = None,
        strength: float = 1.0,
        feather: float = 0.0,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray | None:
        """Run an enhance or translate model on an image of any size; returns the caller's layout and dtype.

        image: (H, W) or (H, W, C) with C = 1..4 (grey, grey+alpha, RGB, RGBA), uint8/uint16/float32.
        mask: optional (H, W) weights in [0, 1] (a selection); the result replaces the image only there,
        softened by `feather` pixels. strength: 0 keeps the image, 1 takes the model's result.
        Alpha is passed through (resized for upscaling models).

        The result is allocated once, in the image's dtype, and filled tile by tile: besides it, memory
        holds a few tiles, never a full-size float copy of the image or of the result.
        """
        if not 0.0 <= strength <= 1.0:
            raise ImageError(f"strength must be between 0 and 1, got {strength}")
        if not math.isfinite(feather) or feather < 0:
            raise ImageError(f"feather must be a radius of 0 pixels or more, got {feather}")
        session = self.load(model, IMAGE_TASKS)
        info = session.info
        out_shape = _result_shape(info, image)
        channels = imaging.color_channels(image)
        planes = image if image.ndim == 3 else image[:, :, None]
        has_alpha = planes.shape[2] in (2, 4)
        height, width = image.shape[:2]
        if mask is not None:
            if mask.shape != (height, width):
                raise ImageError(f"the mask is {mask.shape[:2]} but the image is {(height, width)}")
            mask = imaging.feather(imaging.to_unit_float(mask), feather)
        spec_in, spec_out = info.input("image"), info.image_output
        fit = imaging.ChannelFit(channels, spec_in.channels, spec_out.channels)
        scale = info.scale
        try:
            out = np.empty(out_shape, image.dtype)
        except MemoryError:
            raise OutOfMemoryError(
                f"the {out_shape[1]}×{out_shape[0]} result does not fit in memory: use a smaller image"
            ) from None
        color = planes[:, :, :channels]
        blending = strength < 1.0 or mask is not None

        def read(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
            return fit.to_batch(imaging.to_unit_float(color[y0:y1, x0:x1]))

        def model_fn(batch: np.ndarray) -> np.ndarray:
            result = session.run({spec_in.name: spec_in.to_model(batch)})
            if not np.isfinite(result).all():
                raise ModelError(
                    f"{info.name}: the model's output holds NaN or infinite values (a broken model, or a "
                    "half-precision one that overflowed); nothing was changed"
                )
            return spec_out.to_pixels(result)

        def upscaled(pixels: np.ndarray, span_y, span_x, resample) -> np.ndarray:
            """The caller's pixels under an output region, as float: resized for upscaling models."""
            if scale == 1:
                return imaging.to_unit_float(pixels[slice(*span_y), slice(*span_x)])
            return imaging.resize_region(pixels, scale, span_y, span_x, resample)

        def finish(y0: int, y1: int, x0: int, x1: int, result: np.ndarray) -> None:
            """A region of the model's result (h, w, C) blended by mask and strength, with alpha, into `out`."""
            span_y, span_x = (y0, y1), (x0, x1)
            if blending:
                original = upscaled(color, span_y, span_x, Image.Resampling.BICUBIC)
                weights = None if mask is None else upscaled(mask, span_y, span_x, Image.Resampling.BILINEAR)
                result = imaging.blend(original, result, weights, strength)
            if has_alpha:
                alpha = np.clip(upscaled(planes[:, :, -1], span_y, span_x, Image.Resampling.BICUBIC), 0.0, 1.0)
                result = np.concatenate([result, alpha[:, :, None]], axis=2)
            if out.ndim == 2:
                result = result[:, :, 0]
            out[y0:y1, x0:x1] = imaging.from_unit_float(result, image.dtype)

        def write(y0: int, y1: int, x0: int, x1: int, values: np.ndarray) -> None:
            finish(y0, y1, x0, x1, fit.from_batch(values))

        if fit.colorize and info.working_size and max(height, width) > info.working_size:
            return out if self._colorize_reduced(session, color, fit, finish, progress) else None
        try:
            self._run_tiles(read, (height, width), model_fn, write, info, progress)
        except Cancelled:
            return None
        return out

    def _colorize_reduced(self, session: Session, color: np.ndarray, fit, finish, progress) -> bool:
        """Colorize a large image as its model sees scenes best: the network runs on a copy reduced to the
        model's working size, and its chroma, enlarged, goes under the image's own full-resolution
        luminance, so every detail stays and the colours are those of the whole scene. False if cancelled."""
        height, width = color.shape[:2]
        factor = session.info.working_size / max(height, width)
        small_h, small_w = max(1, round(height * factor)), max(1, round(width * factor))
        small = self.process_image(session.path, imaging.reduce(color, small_h, small_w), progress=progress)
        if small is None:
            return False
        small_chroma = imaging.chroma(np.clip(small, 0.0, 1.0))
        scale = (height / small_h, width / small_w)
        for y0 in range(0, height, 256):
            y1 = min(y0 + 256, height)
            luminance = fit.to_batch(imaging.to_unit_float(color[y0:y1]))[0, 0]
            cbcr = imaging.resize_region(small_chroma, scale, (y0, y1), (0, width))
            finish(y0, y1, 0, width, imaging.from_luma_and_chroma(luminance, cbcr))
        return True

    def result_shape(self, model: str | Path, image: np.ndarray) -> tuple[int, ...]:
        """The shape process_image returns for `image` (its dtype is the image's): known before the work,
        so a caller can check where the result goes first."""
        return _result_shape(self.load(model, IMAGE_TASKS).info, image)

    def _run_tiles(self, read, size, model_fn, write, info: ModelInfo, progress) -> None:
        """Tiled inference; on out-of-memory, halve the tile and start again."""
        tile = self.tile or auto_tile(info)
        while True:
            try:
                return imaging.run_tiled(
                    read,
                    size,
                    model_fn,
                    write,
                    scale=info.scale,
                    multiple=info.size_multiple,
                    padding=info.tile_padding,
                    tile=tile,
                    overlap=max(4, tile // 16),
                    progress=progress,
                )
            except Cancelled:
                raise
            except Exception as e:
                if not is_out_of_memory(e):
                    raise
                if tile <= MIN_TILE:
                    raise OutOfMemoryError(
                        f"out of memory even with {tile}-pixel tiles: close other programs or use the CPU"
                    ) from None
                tile = max(MIN_TILE, tile // 2)
                log.warning("out of memory; retrying with %d-pixel tiles", tile)

    # --- generation --------------------------------------------------------------------------------

    def generate(
        self,
        model: str | Path,
        seeds: Sequence[int],
        *,
        class_label: int | str | None = None,
        truncation: float = 1.0,
        truncate_at: float | None = None,
        edit: StyleEdit | None = None,
        batch_size: int = 16,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray | None:
        """One image per seed: float32 (N, H, W, C) in [0, 1]; the same seed always gives the same image.

        class_label: index or name for conditional models (None: drawn from each seed).
        truncation ψ in [0, 1]: pulls each image toward the average one: w ← w_avg + ψ(w − w_avg) for a
        style-based model, z ← ψ·z for others; truncate_at: redraw latent components beyond ±truncate_at.
        edit: style mixing, directions and noise (StyleEdit).
        """
        check_seeds(seeds)
        session = self.load(model, ("generate",))
        info, edit = session.info, edit or StyleEdit()
        z = np.stack([latent_for_seed(s, info.latent_size, truncate_at) for s in seeds])
        if info.styles is None:
            check_z_only(info, edit)
            return self._synthesize(session, {"latent": z * np.float32(check_truncation(truncation))}, list(seeds),
                                    class_label, edit, batch_size, progress)  # fmt: skip
        mixed, mix_level = self._mix_latents(info, edit, len(seeds), truncate_at)
        mix = self._style_mix(info, truncation, None, mix_level)
        feeds = self._style_feeds(info, np.stack([z, *mixed], 1), [mix] * len(seeds), edit)
        return self._synthesize(session, feeds, list(seeds), class_label, edit, batch_size, progress)

    def interpolate(
        self,
        model: str | Path,
        seed_from: int,
        seed_to: int,
        frames: int,
        *,
        mode: Interpolation = "spherical",
        class_label: int | str | None = None,
        truncation: float = 1.0,
        truncate_at: float | None = None,
        edit: StyleEdit | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray | None:
        """`frames` images morphing from seed_from's image to seed_to's (animation frames), both exactly.

        A style-based model moves along a straight line in w (`mode` is for z-only models). Noise maps and
        a drawn class come from seed_from for every frame, so only the style (or the latent) moves.
        """
        check_seeds([seed_from, seed_to])
        if frames < 1:
            raise GimpGanError(f"the number of frames must be at least 1, got {frames}")
        session = self.load(model, ("generate",))
        info, edit = session.info, edit or StyleEdit()
        size = info.latent_size
        z0, z1 = latent_for_seed(seed_from, size, truncate_at), latent_for_seed(seed_to, size, truncate_at)
        if info.styles is None:
            check_z_only(info, edit)
            latents = interpolate(z0, z1, frames, mode) * np.float32(check_truncation(truncation))
            return self._synthesize(session, {"latent": latents}, [seed_from] * frames, class_label, edit, 16, progress)
        ends = [np.broadcast_to(z0, (frames, size)), np.broadcast_to(z1, (frames, size))]
        mixed, mix_level = self._mix_latents(info, edit, frames, truncate_at)
        steps = np.linspace(0.0, 1.0, frames) if frames > 1 else [0.0]
        mixes = [self._style_mix(info, truncation, float(t), mix_level) for t in steps]
        feeds = self._style_feeds(info, np.stack([*ends, *mixed], 1), mixes, edit)
        return self._synthesize(session, feeds, [seed_from] * frames, class_label, edit, 16, progress)

    @staticmethod
    def _mix_latents(info: ModelInfo, edit: StyleEdit, count: int, truncate_at: float | None):
        """([the mix seed's latent for each of `count` images], its level), or ([], None) without mixing."""
        if edit.mix_seed is None:
            return [], None
        check_seeds([edit.mix_seed])
        z = latent_for_seed(edit.mix_seed, info.latent_size, truncate_at)
        return [np.broadcast_to(z, (count, info.latent_size))], edit.mix_level

    @staticmethod
    def _style_mix(info: ModelInfo, truncation: float, t: float | None, mix_level: str | None) -> np.ndarray:
        try:
            return style_mix(info.styles, check_truncation(truncation), t, mix_level)
        except ValueError as e:
            raise GimpGanError(str(e)) from None

    @staticmethod
    def _style_feeds(info: ModelInfo, latents: np.ndarray, mixes: list[np.ndarray], edit: StyleEdit) -> dict:
        """A style-based generator's per-image inputs by role: latents (N, K, Z), mixes, offsets."""
        try:
            offset = style_offset(info.styles, edit.directions)
        except ValueError as e:
            raise GimpGanError(f"'{info.name}': {e}") from None
        return {
            "latents": np.ascontiguousarray(latents, np.float32),
            "style_mix": np.stack(mixes),
            "style_offset": np.broadcast_to(offset, (len(latents), *offset.shape)),
        }

    def _synthesize(self, session, per_image: dict, seeds, class_label, edit: StyleEdit, batch_size, progress):
        """Run a generator on per-image inputs (role → array, first axis one per image), adding each seed's
        noise maps and class as the model format's seed recipe says."""
        info = session.info
        fixed_class = resolve_class(info, class_label)
        rngs = [seed_rng_after_latent(s, info.latent_size) for s in seeds]
        noise_specs, class_spec = info.inputs_with_role("noise"), info.input("class")
        if not noise_specs and (edit.noise_seed is not None or not edit.noise):
            raise GimpGanError(f"'{info.name}' has no noise inputs: a noise seed, or noise off, does not apply")
        shared_noise = None
        if edit.noise_seed is not None:
            check_seeds([edit.noise_seed])
            noise_rng = np.random.default_rng(edit.noise_seed)
            shared_noise = [noise_rng.standard_normal(spec.shape) for spec in noise_specs]
        count = len(seeds)
        images = []
        try:
            for start in range(0, count, batch_size):
                stop = min(start + batch_size, count)
                feeds = {info.input(role).name: values[start:stop] for role, values in per_image.items()}
                for j, spec in enumerate(noise_specs):
                    drawn = np.stack([rngs[i].standard_normal(spec.shape) for i in range(start, stop)])
                    if shared_noise is not None:
                        drawn = np.broadcast_to(shared_noise[j], drawn.shape)
                    feeds[spec.name] = drawn if edit.noise else np.zeros_like(drawn)
                if class_spec is not None:
                    drawn = [rngs[i].integers(len(info.classes)) for i in range(start, stop)]
                    feeds[class_spec.name] = np.array(drawn if fixed_class is None else [fixed_class] * (stop - start))
                output = session.run(feeds)
                if tuple(output.shape[2:]) != info.output_size:
                    raise ModelError(
                        f"{info.name}: the generator made {output.shape[2:]} images, metadata says {info.output_size}"
                    )
                if not np.isfinite(output).all():
                    raise ModelError(
                        f"{info.name}: the generator's output holds NaN or infinite values (a broken model)"
                    )
                images.append(np.clip(info.image_output.to_pixels(output), 0.0, 1.0).transpose(0, 2, 3, 1))
                imaging.report(progress, stop, count)
        except Cancelled:
            return None
        return np.concatenate(images)


def check_truncation(truncation: float) -> float:
    if not 0.0 <= truncation <= 1.0:
        raise GimpGanError(f"truncation ψ must be between 0 and 1, got {truncation}")
    return truncation


def check_z_only(info: ModelInfo, edit: StyleEdit) -> None:
    """Style mixing and directions need a style-based model; say so rather than ignore them."""
    if edit.edits_styles:
        raise GimpGanError(f"'{info.name}' is not a style-based generator: it has no style mixing or directions")


def _result_shape(info: ModelInfo, image: np.ndarray) -> tuple[int, ...]:
    channels = imaging.color_channels(image)
    if image.dtype not in (np.uint8, np.uint16) and image.dtype.kind != "f":
        raise ImageError(f"unsupported pixel type {image.dtype}: use uint8, uint16 or float32")
    fit = imaging.ChannelFit(channels, info.input("image").channels, info.image_output.channels)
    out_channels = fit.channels + (image.ndim == 3 and image.shape[2] in (2, 4))
    size = (image.shape[0] * info.scale, image.shape[1] * info.scale)
    return size if image.ndim == 2 and out_channels == 1 else (*size, out_channels)


def check_seeds(seeds: Sequence[int]) -> None:
    """Seeds are what numpy's generators take: whole numbers from 0 up (and at least one of them)."""
    if len(seeds) == 0:
        raise GimpGanError("no seeds given: ask for at least one image")
    for seed in seeds:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise GimpGanError(f"a seed must be a whole number from 0 up, got {seed!r}")


def resolve_class(info: ModelInfo, class_label: int | str | None) -> int | None:
    """A class index from an index, or a name (case-insensitive); None stays None."""
    if class_label is None:
        return None
    if not info.conditional:
        raise GimpGanError(f"'{info.name}' is not a class-conditional model; it takes no class")
    if isinstance(class_label, str) and not class_label.lstrip("-").isdigit():
        lowered = [c.lower() for c in info.classes]
        if class_label.lower() not in lowered:
            raise GimpGanError(f"'{info.name}' has no class '{class_label}'; its classes: {', '.join(info.classes)}")
        return lowered.index(class_label.lower())
    index = int(class_label)
    if not 0 <= index < len(info.classes):
        raise GimpGanError(f"class index {index} is out of range: '{info.name}' has {len(info.classes)} classes")
    return index
