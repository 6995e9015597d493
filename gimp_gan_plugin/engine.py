"""The engine: runs gimp-gan models on pixels. The command line, the GIMP plug-in's runtime, the tests and
the benchmarks all go through this one class; it imports neither GIMP (`gi`) nor torch.

Public calls return None when the progress callback cancels, and never touch the caller's arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from . import imaging
from .discovery import find_model
from .errors import GimpGanError, ImageError, ModelError, OutOfMemoryError
from .generation import Interpolation, interpolate, latent_for_seed, seed_rng_after_latent
from .imaging import Cancelled, ProgressCallback
from .modelformat import IMAGE_TASKS, ModelInfo
from .runtime import Provider, Runtime, Session, is_out_of_memory

log = logging.getLogger("gimp_gan")

MIN_TILE = 32
TILE_OUTPUT_PIXELS = 1024  # automatic tiles produce about 1024×1024 output pixels: ~0.3 GB of activations


def auto_tile(info: ModelInfo) -> int:
    multiple = info.size_multiple
    return max(MIN_TILE, TILE_OUTPUT_PIXELS // info.scale // multiple * multiple)


class Engine:
    """Model sessions for one device choice, plus image-to-image and generation on top of them.

    provider: "auto" (CUDA when usable, else CPU), "cuda" or "cpu"; threads: CPU threads (None = all);
    tile: tile size in input pixels for image-to-image (None = automatic from the model's scale).
    """

    def __init__(self, provider: Provider = "auto", threads: int | None = None, tile: int | None = None):
        if tile is not None and tile < MIN_TILE:
            raise GimpGanError(f"tile size must be at least {MIN_TILE} pixels, got {tile}")
        self.runtime = Runtime(provider, threads)
        self.tile = tile

    def load(self, model: str | Path, tasks: tuple[str, ...] | None = None) -> Session:
        """A model by name or path; with `tasks`, refuse a model made for something else."""
        session = self.runtime.session(find_model(str(model)))
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
        """
        if not 0.0 <= strength <= 1.0:
            raise ImageError(f"strength must be between 0 and 1, got {strength}")
        session = self.load(model, IMAGE_TASKS)
        info = session.info
        color, alpha = imaging.split_alpha(image)
        height, width = color.shape[:2]
        if mask is not None:
            if mask.shape != (height, width):
                raise ImageError(f"the mask is {mask.shape[:2]} but the image is {(height, width)}")
            mask = imaging.feather(imaging.to_unit_float(mask), feather)
        spec_in, spec_out = info.input("image"), info.image_output
        batch, restore = imaging.to_model_batch(color, spec_in.channels, spec_out.channels)

        def model_fn(x: np.ndarray) -> np.ndarray:
            return spec_out.to_pixels(session.run({spec_in.name: spec_in.to_model(x)}))

        try:
            result = restore(self._run_tiles(batch, model_fn, info, progress))
        except Cancelled:
            return None
        scale = info.scale
        if strength < 1.0 or mask is not None:
            original = color if scale == 1 else imaging.resize(color, height * scale, width * scale)
            if mask is not None and scale > 1:
                mask = imaging.resize(mask, height * scale, width * scale, Image.Resampling.BILINEAR)
            result = imaging.blend(original, result, mask, strength)
        if alpha is not None and scale > 1:
            alpha = np.clip(imaging.resize(alpha, height * scale, width * scale), 0.0, 1.0)
        out = imaging.join_alpha(result, alpha)
        if image.ndim == 2 and out.shape[2] == 1:
            out = out[:, :, 0]
        return imaging.from_unit_float(out, image.dtype)

    def _run_tiles(self, batch: np.ndarray, model_fn, info: ModelInfo, progress) -> np.ndarray:
        """Tiled inference; on out-of-memory, halve the tile and start again."""
        tile = self.tile or auto_tile(info)
        while True:
            try:
                return imaging.run_tiled(
                    batch,
                    model_fn,
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
        batch_size: int = 16,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray | None:
        """One image per seed: float32 (N, H, W, C) in [0, 1]; the same seed always gives the same image.

        class_label: index or name for conditional models (None: drawn from each seed).
        truncation ψ in [0, 1]: pulls latents toward the average (ψ·z); truncate_at: redraw latent
        components beyond ±truncate_at.
        """
        session = self.load(model, ("generate",))
        latents = np.stack([latent_for_seed(s, session.info.latent_size, truncate_at) for s in seeds])
        return self._synthesize(session, latents, list(seeds), class_label, truncation, batch_size, progress)

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
        progress: ProgressCallback | None = None,
    ) -> np.ndarray | None:
        """`frames` images morphing from seed_from's image to seed_to's (animation frames).

        Noise maps and a drawn class come from seed_from for every frame, so only the latent moves.
        """
        session = self.load(model, ("generate",))
        size = session.info.latent_size
        z0, z1 = latent_for_seed(seed_from, size, truncate_at), latent_for_seed(seed_to, size, truncate_at)
        latents = interpolate(z0, z1, frames, mode)
        return self._synthesize(session, latents, [seed_from] * frames, class_label, truncation, 16, progress)

    def _synthesize(self, session, latents, seeds, class_label, truncation, batch_size, progress):
        info = session.info
        if not 0.0 <= truncation <= 1.0:
            raise GimpGanError(f"truncation ψ must be between 0 and 1, got {truncation}")
        fixed_class = resolve_class(info, class_label)
        rngs = [seed_rng_after_latent(s, info.latent_size) for s in seeds]
        noise_specs, class_spec = info.inputs_with_role("noise"), info.input("class")
        latents = latents * np.float32(truncation)
        images = []
        try:
            for start in range(0, len(latents), batch_size):
                stop = min(start + batch_size, len(latents))
                feeds = {info.input("latent").name: latents[start:stop]}
                for spec in noise_specs:
                    feeds[spec.name] = np.stack([rngs[i].standard_normal(spec.shape) for i in range(start, stop)])
                if class_spec is not None:
                    drawn = [rngs[i].integers(len(info.classes)) for i in range(start, stop)]
                    feeds[class_spec.name] = np.array(drawn if fixed_class is None else [fixed_class] * (stop - start))
                output = session.run(feeds)
                if tuple(output.shape[2:]) != info.output_size:
                    raise ModelError(
                        f"{info.name}: the generator made {output.shape[2:]} images, metadata says {info.output_size}"
                    )
                images.append(np.clip(info.image_output.to_pixels(output), 0.0, 1.0).transpose(0, 2, 3, 1))
                imaging.report(progress, stop / len(latents))
        except Cancelled:
            return None
        return np.concatenate(images)


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
