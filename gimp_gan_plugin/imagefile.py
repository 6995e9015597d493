"""Image files ↔ numpy arrays for the command line, keeping 16-bit precision.

Pillow reads and writes PNG, JPEG, TIFF and WebP, but it has no 16-bit-per-channel colour mode: it
silently reduces 16-bit RGB(A) PNGs to 8 bits. Those (the usual output of a photo workflow) go through
the small PNG codec below, built on zlib and numpy; everything else goes through Pillow.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type → channels
_EIGHT_BIT_ONLY = {".jpg", ".jpeg", ".webp"}


def read_image(path: str | Path) -> np.ndarray:
    """(H, W) or (H, W, C) in uint8, uint16 or float32, as stored (EXIF rotation applied)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    header = _png_header(path)
    if header and header["depth"] == 16 and header["color_type"] in (2, 4, 6):
        return _read_png16(path, header)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return _pil_to_array(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"{path}: cannot read this image ({e})") from None


def _pil_to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im).astype(np.uint16)
    if im.mode == "I":  # 16-bit grey PNGs may open as 32-bit integers
        values = np.asarray(im)
        if values.min() < 0 or values.max() > 65535:
            raise ImageError("32-bit integer images are not supported")
        return values.astype(np.uint16)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float32)
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        has_alpha = "A" in im.getbands() or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(im)


def write_image(path: str | Path, pixels: np.ndarray) -> None:
    """Write in the array's precision where the format allows: 16-bit and float become 16-bit PNG/TIFF
    grey or 16-bit PNG colour; JPEG and WebP are always 8-bit."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ImageError(f"{path.parent}: no such folder")
    suffix = path.suffix.lower()
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.dtype.kind == "f":
        pixels = np.clip(np.rint(pixels * 65535.0), 0, 65535).astype(np.uint16)
    if pixels.dtype == np.uint16 and suffix in _EIGHT_BIT_ONLY:
        pixels = np.rint(pixels / 257.0).astype(np.uint8)
    try:
        if pixels.dtype == np.uint16 and pixels.ndim == 3:
            if suffix != ".png":
                raise ImageError(f"{path.name}: 16-bit colour can be written as PNG only; use a .png name")
            _write_png16(path, pixels)
        elif pixels.dtype == np.uint16:
            Image.fromarray(pixels).save(path)  # uint16 (H, W) → mode I;16
        else:
            Image.fromarray(pixels).save(path, **({"quality": 95} if suffix in _EIGHT_BIT_ONLY else {}))
    except (KeyError, ValueError) as e:
        raise ImageError(f"{path.name}: cannot write this format ({e})") from None


# --- 16-bit colour PNG ---------------------------------------------------------------------------


def _png_header(path: Path) -> dict | None:
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return {"width": width, "height": height, "depth": depth, "color_type": color_type, "interlace": interlace}


def _read_png16(path: Path, header: dict) -> np.ndarray:
    if header["interlace"]:
        raise ImageError(f"{path.name}: interlaced 16-bit PNGs are not supported; save it without interlacing")
    data = path.read_bytes()
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, channels = header["width"], header["height"], _PNG_CHANNELS[header["color_type"]]
    bpp = 2 * channels
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8)
        rows = raw.reshape(height, 1 + width * bpp)
    except (zlib.error, ValueError) as e:
        raise ImageError(f"{path.name}: corrupt PNG data ({e})") from None
    filters = rows[:, 0]
    if filters.max() > 4:
        raise ImageError(f"{path.name}: corrupt PNG data (filter type {filters.max()})")
    decoded = _unfilter(rows[:, 1:].reshape(height, width, bpp), filters)
    return decoded.reshape(height, width * bpp).view(">u2").reshape(height, width, channels).astype(np.uint16)


def _unfilter(filtered: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Undo PNG's per-row filters, one anti-diagonal of pixels at a time.

    A pixel depends on its left, upper and upper-left neighbours only, so every pixel on the diagonal
    x + y = d is ready once diagonal d − 1 is done: H + W − 1 vectorised steps instead of H·W scalar ones.
    """
    height, width, bpp = filtered.shape
    out = np.zeros((height + 1, width + 1, bpp), np.int16)  # row 0 and column 0 are the zero border
    values = filtered.astype(np.int16)
    for d in range(height + width - 1):
        y = np.arange(max(0, d - width + 1), min(height, d + 1))
        x = d - y
        a, b, c = out[y + 1, x], out[y, x + 1], out[y, x]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        kind = filters[y][:, None]
        predictor = np.select([kind == 1, kind == 2, kind == 3, kind == 4], [a, b, (a + b) // 2, paeth], 0)
        out[y + 1, x + 1] = (values[y, x] + predictor) & 0xFF
    return out[1:, 1:].astype(np.uint8)


def _write_png16(path: Path, pixels: np.ndarray) -> None:
    height, width, channels = pixels.shape
    color_type = {v: k for k, v in _PNG_CHANNELS.items()}[channels]
    rows = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(height, width * 2 * channels)
    # Filter "Up" (2): difference with the row above compresses photos well and is vectorised here.
    up = np.diff(rows, axis=0, prepend=np.zeros((1, rows.shape[1]), np.uint8))
    body = np.concatenate([np.full((height, 1), 2, np.uint8), up], axis=1)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(
        _PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body.tobytes(), 6)) + chunk(b"IEND", b"")
    )
