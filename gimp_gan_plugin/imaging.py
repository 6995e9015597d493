"""Pixels in and out of image-to-image models: dtypes, channels, alpha, tiles with blended seams, masks.

Everything here is numpy on float32 pixels in [0, 1] (gamma-encoded, as the user sees them); the
model's own value range is applied by TensorSpec at the last moment. Nothing here knows onnxruntime:
tiling takes any function from a (N, C, h, w) batch to its (N, C', h*s, w*s) result.

Memory: tiling reads the input a region at a time and hands each finished piece of the result on
as soon as no later tile can change it, so the working set is a few tiles and one strip of tile
overlap, whatever the image size; the caller writes the pieces into the result in its final dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from .errors import GimpGanError, ImageError, ModelError

ProgressCallback = Callable[[int, int], "bool | None"]
"""Receives (done, total) in units of work (tiles, images); returning False cancels the work."""

ModelFn = Callable[[np.ndarray], np.ndarray]
RegionReader = Callable[[int, int, int, int], np.ndarray]
"""(y0, y1, x0, x1) of the input → that region as a (N, C, y1 − y0, x1 − x0) float32 model batch."""
RegionWriter = Callable[[int, int, int, int, np.ndarray], None]
"""(y0, y1, x0, x1) of the output and its finished (N, C', y1 − y0, x1 − x0) values (a view: copy it)."""

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)  # Rec. 709, as GIMP's desaturate uses
BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_INTEGER_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class Cancelled(Exception):
    """Raised inside the engine when a progress callback asks to stop; public calls return None instead."""


def report(progress: ProgressCallback | None, done: int, total: int) -> None:
    if progress is not None and progress(done, total) is False:
        raise Cancelled


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two 8-bit images, in dB (all channels)."""
    error = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


# --- dtypes and channels -------------------------------------------------------------------------


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16 → float32 in [0, 1]; float stays as it is (values outside [0, 1] are kept)."""
    if image.dtype in _INTEGER_MAX:
        return image.astype(np.float32) / np.float32(_INTEGER_MAX[image.dtype])
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if image.dtype.kind == "f":
        return image.astype(np.float32, copy=False)
    raise ImageError(f"unsupported pixel type {image.dtype}: use uint8, uint16 or float32")


def from_unit_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The inverse of to_unit_float: rounds (never truncates) and clips only for integer types."""
    dtype = np.dtype(dtype)
    if dtype not in _INTEGER_MAX:
        return values.astype(dtype, copy=False)
    peak = np.float32(_INTEGER_MAX[dtype])
    out = np.empty(values.shape, dtype)
    for start in range(0, len(values), 256):  # in row blocks: no full-size float temporaries
        block = values[start : start + 256] * peak
        np.clip(np.rint(block, out=block), 0, peak, out=block)
        out[start : start + 256] = block
    return out


def color_channels(image: np.ndarray) -> int:
    """1 or 3: the colour channels of a grey, grey+alpha, RGB or RGBA image, after checking its shape."""
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(f"expected a grey, grey+alpha, RGB or RGBA image, got an array of shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError("the image is empty")
    return 1 if image.ndim == 2 or image.shape[2] <= 2 else 3


def luma(color: np.ndarray, axis: int) -> np.ndarray:
    """Grey value of RGB along `axis`, keeping that axis (size 1)."""
    shape = [1] * color.ndim
    shape[axis] = 3
    return np.sum(color * LUMA.reshape(shape), axis=axis, keepdims=True)


class ChannelFit:
    """How an image's colour channels meet a model's, region by region.

    A grey image through an RGB model comes back grey (by luma); an RGB image through a grey model
    runs each channel as its own batch item; a grey→RGB model (a colorizer) turns grey into colour.
    """

    def __init__(self, channels: int, model_in: int, model_out: int):
        colorize = model_in == 1 and model_out == 3
        self.per_channel = model_in == 1 and channels == 3 and not colorize
        self.to_luma = model_in == 1 and channels == 3 and colorize
        self.to_rgb = model_in == 3 and channels == 1
        self.colorize = colorize
        self.channels = 3 if channels == 3 or colorize else 1  # of the result

    def to_batch(self, color: np.ndarray) -> np.ndarray:
        """(h, w, C) float32 pixels → the model's (N, C_in, h, w) batch."""
        chw = color.transpose(2, 0, 1)
        if self.per_channel:
            batch = chw[:, None]
        elif self.to_luma:
            batch = luma(chw, axis=0)[None]
        elif self.to_rgb:
            batch = np.repeat(chw[None], 3, axis=1)
        else:
            batch = chw[None]
        return np.ascontiguousarray(batch, dtype=np.float32)

    def from_batch(self, result: np.ndarray) -> np.ndarray:
        """The model's (N, C_out, h, w) result → (h, w, channels) pixels."""
        result = result[:, 0] if self.per_channel else result[0]
        if result.shape[0] != self.channels:
            result = np.repeat(result, 3, axis=0) if self.channels == 3 else luma(result, axis=0)
        return result.transpose(1, 2, 0)


def resize(pixels: np.ndarray, height: int, width: int, resample=Image.Resampling.BICUBIC) -> np.ndarray:
    """Resize float32 (H, W) or (H, W, C) planes with Pillow's antialiased filters, in float."""
    planes = pixels[:, :, None] if pixels.ndim == 2 else pixels
    out = np.stack(
        [
            np.asarray(Image.fromarray(np.ascontiguousarray(planes[:, :, c]), "F").resize((width, height), resample))
            for c in range(planes.shape[2])
        ],
        axis=2,
    )
    return out[:, :, 0] if pixels.ndim == 2 else out


MAX_GENERATED_SIDE = 16384


def check_generated_size(size: int) -> int:
    """A size for generated images' longer side, in pixels (0: the model's own), checked before the work."""
    if not 0 <= size <= MAX_GENERATED_SIDE:
        raise GimpGanError(f"the image size must be between 0 and {MAX_GENERATED_SIDE} pixels, got {size}")
    return size


def resize_generated(images: np.ndarray, size: int) -> np.ndarray:
    """Generated images (N, H, W, C) in [0, 1] with their longer side made `size` (0: as they are). RGBA is
    resized premultiplied, so the invisible pixels' colour does not bleed into the edges."""
    if not check_generated_size(size):
        return images
    height, width = images.shape[1:3]
    factor = size / max(height, width)
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    alpha = images.shape[3] == 4
    resized = []
    for image in images:
        if alpha:
            image = np.concatenate([image[:, :, :3] * image[:, :, 3:], image[:, :, 3:]], axis=2)
        image = np.clip(resize(image, new_h, new_w), 0.0, 1.0)
        if alpha:
            covered = image[:, :, 3:] > 0
            image[:, :, :3] = np.where(covered, np.clip(image[:, :, :3] / np.maximum(image[:, :, 3:], 1e-6), 0, 1), 0)
        resized.append(image)
    return np.stack(resized).astype(np.float32)


def resize_region(
    pixels: np.ndarray,
    scale: float | tuple[float, float],
    span_y: tuple[int, int],
    span_x: tuple[int, int],
    resample=Image.Resampling.BICUBIC,
) -> np.ndarray:
    """Rows span_y and columns span_x of `pixels` (any dtype, (H, W) or (H, W, C)) resized by `scale`
    (one factor, or (vertical, horizontal)), in float.

    Equal to resizing the whole image and cropping (Pillow's box resize, with enough context around
    the region for the filter's support), but costs only the region.
    """
    (y0, y1), (x0, x1) = span_y, span_x
    scale_y, scale_x = scale if isinstance(scale, tuple) else (scale, scale)
    height, width = pixels.shape[:2]
    context = math.ceil(3 / min(scale_y, scale_x, 1.0))  # source pixels: bicubic's support is 2 output pixels
    sy0, sx0 = max(0, math.floor(y0 / scale_y) - context), max(0, math.floor(x0 / scale_x) - context)
    sy1, sx1 = min(height, math.ceil(y1 / scale_y) + context), min(width, math.ceil(x1 / scale_x) + context)
    source = to_unit_float(pixels[sy0:sy1, sx0:sx1])
    planes = source[:, :, None] if source.ndim == 2 else source
    box = (x0 / scale_x - sx0, y0 / scale_y - sy0, min(x1 / scale_x, sx1) - sx0, min(y1 / scale_y, sy1) - sy0)
    out = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[:, :, c]), "F").resize((x1 - x0, y1 - y0), resample, box)
            )
            for c in range(planes.shape[2])
        ],
        axis=2,
    )
    return out[:, :, 0] if source.ndim == 2 else out


def reduce(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """`pixels` (any dtype) resized to height × width in float, a strip at a time: the whole image is
    never held as float."""
    scale = (height / pixels.shape[0], width / pixels.shape[1])
    strips = [resize_region(pixels, scale, (y, min(y + 64, height)), (0, width)) for y in range(0, height, 64)]
    return np.concatenate(strips, axis=0)


def chroma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (H, W, 2) Cb, Cr of BT.601 Y'CbCr (JPEG's), in which colorizers keep the luminance."""
    y = rgb @ BT601
    return np.stack([(rgb[:, :, 2] - y) / 1.772, (rgb[:, :, 0] - y) / 1.402], axis=2)


def from_luma_and_chroma(y: np.ndarray, cbcr: np.ndarray) -> np.ndarray:
    """The inverse of chroma() under a luminance plane: (H, W) and (H, W, 2) → (H, W, 3)."""
    r, b = y + 1.402 * cbcr[:, :, 1], y + 1.772 * cbcr[:, :, 0]
    g = (y - BT601[0] * r - BT601[2] * b) / BT601[1]
    return np.stack([r, g, b], axis=2).astype(np.float32)


# --- masks and strength --------------------------------------------------------------------------


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften a mask's edge: three box blurs approximate a Gaussian with sigma ≈ radius / 2."""
    if radius <= 0:
        return mask
    half = max(1, round(radius / 2))
    for _ in range(3):
        for axis in (0, 1):
            mask = _box_blur(mask, half, axis)
    return mask


def _box_blur(a: np.ndarray, half: int, axis: int) -> np.ndarray:
    pad = [(half, half) if ax == axis else (0, 0) for ax in range(a.ndim)]
    sums = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
    sums = np.concatenate([np.zeros_like(np.take(sums, [0], axis=axis)), sums], axis=axis)
    width = 2 * half + 1
    n = a.shape[axis]
    window = np.take(sums, range(width, width + n), axis=axis) - np.take(sums, range(n), axis=axis)
    return (window / width).astype(np.float32)


def blend(original: np.ndarray, result: np.ndarray, mask: np.ndarray | None, strength: float) -> np.ndarray:
    """original + weight·(result − original): exactly the original wherever the weight is 0."""
    if mask is None and strength == 1.0:
        return result
    weight = np.float32(strength) if mask is None else np.float32(strength) * mask[:, :, None]
    return original + weight * (result - original)


# --- tiles ---------------------------------------------------------------------------------------


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread tiles of `tile` pixels over `length`, neighbours overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def blend_weights(starts: list[int], size: int, length: int, scale: int) -> list[np.ndarray]:
    """1-D weights per tile (at output resolution) that ramp across each overlap and sum to 1.

    Tiles form a grid, so 2-D weights are outer products of these and also sum to 1 everywhere: no
    weight image is needed, and memory stays bounded by the tile.
    """
    ramps = []
    for i, start in enumerate(starts):
        w = np.ones(size * scale, np.float32)
        if i > 0 and (n := (starts[i - 1] + size - start) * scale) > 0:
            w[:n] = np.minimum(w[:n], (np.arange(n) + 0.5) / n)
        if i + 1 < len(starts) and (n := (start + size - starts[i + 1]) * scale) > 0:
            w[-n:] = np.minimum(w[-n:], (np.arange(n)[::-1] + 0.5) / n)
        ramps.append(w)
    total = np.zeros(length * scale, np.float32)
    for start, w in zip(starts, ramps, strict=True):
        total[start * scale : (start + size) * scale] += w
    return [w / total[s * scale : (s + size) * scale] for s, w in zip(starts, ramps, strict=True)]


def run_tiled(
    read: RegionReader,
    size: tuple[int, int],
    model_fn: ModelFn,
    write: RegionWriter,
    *,
    scale: int,
    multiple: int,
    padding: int,
    tile: int,
    overlap: int,
    progress: ProgressCallback | None = None,
) -> None:
    """Run `model_fn` over an input of `size` (H, W) in overlapping tiles, blending them into the output.

    Each tile is cut with `padding` pixels of real context on every side (the model's receptive
    field), starting on a multiple of `multiple` so that strided layers see the same pixel phase as on
    the whole image; it is then padded by reflection up to that multiple, run, and cropped back. Away
    from the image border the result therefore equals the whole-image result.

    Tiles run row by row, left to right. Once a tile is done, the part of the output that no later
    tile overlaps is final and goes to `write`, so every output pixel is written exactly once. What
    later tiles still add to is kept: the strip to the right (for the next tile) and the strip below
    (for the next row of tiles), already weighted by the blend ramps.
    """
    height, width = size
    tile_h, tile_w = min(tile, height), min(tile, width)
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    wys, wxs = blend_weights(ys, tile_h, height, scale), blend_weights(xs, tile_w, width, scale)
    above = None  # what earlier rows of tiles add to this row's first rows, over the full output width
    for iy, y in enumerate(ys):
        top, bottom = y * scale, (y + tile_h) * scale
        done_y = ys[iy + 1] * scale if iy + 1 < len(ys) else height * scale  # rows final after this row
        below = None
        left = None  # what earlier tiles of this row add to this tile's first columns
        for ix, x in enumerate(xs):
            result = _run_tile(read, size, model_fn, (y, y + tile_h), (x, x + tile_w), scale, multiple, padding)
            result *= wys[iy][:, None] * wxs[ix][None, :]
            start = x * scale
            carried = 0 if left is None else left.shape[3]
            if left is not None:
                result[:, :, :, :carried] += left
            if above is not None:  # columns no earlier tile of this row has covered (those carry it in `left`)
                result[:, :, : above.shape[2], carried:] += above[:, :, :, start + carried : (x + tile_w) * scale]
            done_x = xs[ix + 1] * scale if ix + 1 < len(xs) else width * scale
            final_rows, final_cols = done_y - top, done_x - start
            write(top, done_y, start, done_x, result[:, :, :final_rows, :final_cols])
            if done_y < bottom:
                if below is None:
                    below = np.empty((*result.shape[:2], bottom - done_y, width * scale), np.float32)
                below[:, :, :, start:done_x] = result[:, :, final_rows:, :final_cols]
            left = result[:, :, :, final_cols:].copy() if ix + 1 < len(xs) else None
            report(progress, iy * len(xs) + ix + 1, len(ys) * len(xs))
        above = below


def _run_tile(read, size, model_fn, span_y, span_x, scale, multiple, padding) -> np.ndarray:
    (y0, y1), (x0, x1), (height, width) = span_y, span_x, size
    ry0, rx0 = (max(0, y0 - padding) // multiple) * multiple, (max(0, x0 - padding) // multiple) * multiple
    ry1, rx1 = min(height, y1 + padding), min(width, x1 + padding)
    region = read(ry0, ry1, rx0, rx1)
    pad_h, pad_w = -(ry1 - ry0) % multiple, -(rx1 - rx0) % multiple
    if pad_h or pad_w:
        region = np.pad(region, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="reflect")
    result = model_fn(np.ascontiguousarray(region))
    expected = (region.shape[2] * scale, region.shape[3] * scale)
    if result.ndim != 4 or result.shape[2:] != expected:
        raise ModelError(
            f"the model returned shape {result.shape} for input {region.shape}; with scale {scale} "
            f"it should end in {expected} (wrong 'scale' in its metadata?)"
        )
    crop = result[:, :, (y0 - ry0) * scale : (y1 - ry0) * scale, (x0 - rx0) * scale : (x1 - rx0) * scale]
    return np.array(crop, dtype=np.float32)  # a copy of our own: the caller weights it in place
