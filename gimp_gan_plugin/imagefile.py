"""Image files ↔ numpy arrays for the command line, keeping 16-bit precision and the photo's metadata.

Pillow reads and writes PNG, JPEG, TIFF and WebP, but it has no 16-bit-per-channel colour mode: it
silently reduces 16-bit RGB(A) PNGs to 8 bits. Those (the usual output of a photo workflow) go through
the small PNG codec below, built on zlib and numpy; everything else goes through Pillow.

A user's file is never half-written: results go to a temporary file in the same folder, which
replaces the target only once it is complete (a full disk, a kill or a failed encode leave the old
file as it was). `plan_output` checks, before any long computation, that the file can be written.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type → channels
WRITE_FORMATS = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP",
}  # fmt: skip
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # Pillow's guard against decompression bombs (about 89 megapixels)
_EXIF_ORIENTATION, _EXIF_IFD, _EXIF_WIDTH, _EXIF_HEIGHT = 0x0112, 0x8769, 0xA002, 0xA003


@dataclass(frozen=True)
class ImageMetadata:
    """What a photo carries besides its pixels and what a photographer expects to survive an edit."""

    exif: bytes | None = None
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None


# --- reading -------------------------------------------------------------------------------------


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """(H, W) or (H, W, C) in uint8, uint16 or float32, as stored (EXIF rotation applied).

    An image of more than `max_pixels` is refused before it is decoded: a few kilobytes of PNG can
    claim gigabytes of pixels (a decompression bomb), and the 16-bit reader is held to the same limit.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        header = _png_header(path)
        if header and header["depth"] == 16 and header["color_type"] in (2, 4, 6):
            _check_pixels(path, header["width"], header["height"], max_pixels)
            return _read_png16(path, header)
        with _pillow_size_limit_off(), Image.open(path) as im:
            _check_pixels(path, *im.size, max_pixels)
            return _pil_to_array(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot read this image ({e})") from None
    except MemoryError:
        raise ImageError(f"{path}: this image does not fit in memory") from None
    except OSError as e:
        raise ImageError(f"{path}: cannot read this image ({e.strerror or e})") from None


def read_metadata(path: str | Path) -> ImageMetadata:
    """The EXIF (orientation reset: read_image returns the pixels upright), ICC profile and resolution."""
    try:
        with _pillow_size_limit_off(), Image.open(path) as im:
            exif = im.getexif()
            if _EXIF_ORIENTATION in exif:
                exif[_EXIF_ORIENTATION] = 1
            dpi = im.info.get("dpi")
            return ImageMetadata(
                exif=exif.tobytes() if len(exif) else None,
                icc_profile=im.info.get("icc_profile") or None,
                dpi=(float(dpi[0]), float(dpi[1])) if dpi and all(d > 0 for d in dpi) else None,
            )
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ImageMetadata()  # metadata is a courtesy: an odd header never stops the work


@contextlib.contextmanager
def _pillow_size_limit_off() -> Iterator[None]:
    """Pillow warns above its limit and refuses above twice it; read_image applies its own one limit."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{path.name}: {width}×{height} is {width * height / 1e6:.0f} megapixels, more than the "
            f"{max_pixels / 1e6:.0f} allowed; a small file claiming this many is usually a decompression bomb. "
            "If the image is real, raise the limit with --max-megapixels"
        )


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


# --- writing -------------------------------------------------------------------------------------


def plan_output(path: str | Path, channels: int, dtype: np.dtype) -> list[str]:
    """Check that an image of `channels` (1–4) and `dtype` can be written to `path`, before the work.

    Returns notes on what the format will lose (alpha in a JPEG, 16 bits in a WebP); raises ImageError
    when the file cannot be written at all: an unknown format, a missing or read-only folder, a folder
    where a file is needed.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder; give a file name such as {path / 'result.png'}")
    fmt = _format(path)
    if not path.parent.is_dir():
        raise ImageError(f"{path.parent}: no such folder")
    sample = np.zeros((2, 2, channels), dtype)[:, :, 0] if channels == 1 else np.zeros((2, 2, channels), dtype)
    _, notes = _fit_format(fmt, sample)
    try:
        descriptor, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(descriptor)
        os.unlink(probe)
    except OSError as e:
        raise ImageError(f"{path.parent}: cannot write into this folder ({e.strerror or e})") from None
    return notes


def write_image(path: str | Path, pixels: np.ndarray, metadata: ImageMetadata | None = None) -> None:
    """Write in the array's precision where the format allows (16-bit and float become 16-bit PNG/TIFF
    grey or 16-bit PNG colour), with the metadata where the format holds it; atomically.

    What the format cannot hold is converted as `plan_output` describes: JPEG and WebP are 8-bit, and
    formats without alpha get the image flattened onto white.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.parent.is_dir():
        raise ImageError(f"{path.parent}: no such folder")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    pixels, _ = _fit_format(fmt, pixels)
    existed = path.exists()
    mode = path.stat().st_mode & 0o777 if existed else _default_file_mode()
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ImageError(f"{path.parent}: cannot write into this folder ({e.strerror or e})") from None
    try:
        with os.fdopen(descriptor, "wb") as f:
            _encode(f, fmt, pixels, metadata or ImageMetadata())
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename, or a crash could leave an empty file in its place
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(e, OSError):
            kept = "the existing file is unchanged" if existed else "nothing was written"
            raise ImageError(f"{path}: could not write the image ({e.strerror or e}); {kept}") from None
        raise


def _format(path: Path) -> str:
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(WRITE_FORMATS))
        raise ImageError(f"{path.name}: cannot write '{path.suffix or 'no extension'}' files; use one of {known}")
    return fmt


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fit_format(fmt: str, pixels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The pixels as `fmt` can store them, and a note for each loss. 16 bits survive in PNG, and in TIFF
    for grey (Pillow's other encoders would clip them); whether a format holds alpha is tried on a tiny
    sample, so that decision is the encoder's own and costs nothing for a big image."""
    notes = []
    if pixels.dtype.kind == "f":
        pixels = _float_to_uint16(pixels)
    if pixels.dtype == np.uint16 and not (fmt == "PNG" or (fmt == "TIFF" and pixels.ndim == 2)):
        notes.append(f"{fmt} cannot hold 16 bits per channel here: written as 8-bit (use .png to keep 16 bits)")
        pixels = _uint16_to_uint8(pixels)
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4) and not _encodes(fmt, pixels):
        notes.append(f"{fmt} has no transparency: the image is flattened onto white (use .png to keep alpha)")
        pixels = _flatten_onto_white(pixels)
    if pixels.dtype not in (np.uint8, np.uint16) or not _encodes(fmt, pixels):
        raise ImageError(f"{fmt} cannot store this image ({pixels.dtype}, shape {pixels.shape}); use .png")
    return pixels, notes


def _encodes(fmt: str, pixels: np.ndarray) -> bool:
    sample = np.zeros((2, 2, *pixels.shape[2:]), pixels.dtype)
    try:
        _encode(io.BytesIO(), fmt, sample, ImageMetadata())
    except (OSError, KeyError, ValueError, TypeError, ImageError):
        return False
    return True


def _float_to_uint16(pixels: np.ndarray) -> np.ndarray:
    out = np.empty(pixels.shape, np.uint16)
    for start in range(0, len(pixels), 256):  # in row blocks: no full-size float temporaries
        out[start : start + 256] = np.clip(np.rint(pixels[start : start + 256] * 65535.0), 0, 65535)
    return out


def _uint16_to_uint8(pixels: np.ndarray) -> np.ndarray:
    out = np.empty(pixels.shape, np.uint8)
    for start in range(0, len(pixels), 256):
        out[start : start + 256] = np.rint(pixels[start : start + 256] / 257.0)
    return out


def _flatten_onto_white(pixels: np.ndarray) -> np.ndarray:
    peak = float(np.iinfo(pixels.dtype).max)
    out = np.empty((*pixels.shape[:2], pixels.shape[2] - 1), pixels.dtype)
    for start in range(0, len(pixels), 256):
        block = pixels[start : start + 256].astype(np.float32)
        alpha = block[:, :, -1:] / peak
        out[start : start + 256] = np.rint(block[:, :, :-1] * alpha + peak * (1 - alpha))
    return out[:, :, 0] if out.shape[2] == 1 else out


def _encode(f, fmt: str, pixels: np.ndarray, metadata: ImageMetadata) -> None:
    exif = _exif_for(metadata.exif, pixels.shape[1], pixels.shape[0])
    if pixels.dtype == np.uint16 and pixels.ndim == 3:
        if fmt != "PNG":
            raise ImageError("16-bit colour is written as PNG only")
        _write_png16(f, pixels, metadata, exif)
        return
    options = {"exif": exif, "icc_profile": metadata.icc_profile, "dpi": metadata.dpi}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = 95
    Image.fromarray(pixels).save(f, format=fmt, **{k: v for k, v in options.items() if v is not None})


def _exif_for(exif: bytes | None, width: int, height: int) -> bytes | None:
    """The source's EXIF with the pixel size it now describes (orientation was reset when read)."""
    if not exif:
        return None
    tags = Image.Exif()
    tags.load(exif)
    details = tags.get_ifd(_EXIF_IFD)
    if _EXIF_WIDTH in details or _EXIF_HEIGHT in details:
        details[_EXIF_WIDTH], details[_EXIF_HEIGHT] = width, height
    return tags.tobytes()


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
    expected = height * (1 + width * bpp)
    try:  # never inflate more than the header's size: the check above bounds it
        raw = np.frombuffer(zlib.decompressobj().decompress(b"".join(chunks), expected), np.uint8)
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


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _write_png16(f, pixels: np.ndarray, metadata: ImageMetadata, exif: bytes | None) -> None:
    """Rows are filtered and compressed in blocks, so memory stays a small multiple of one block."""
    height, width, channels = pixels.shape
    color_type = {v: k for k, v in _PNG_CHANNELS.items()}[channels]
    f.write(_PNG_SIGNATURE + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)))
    if metadata.icc_profile:
        f.write(_png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(metadata.icc_profile)))
    if metadata.dpi:
        per_metre = [round(d / 0.0254) for d in metadata.dpi]
        f.write(_png_chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1)))
    if exif:
        f.write(_png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
    compressor = zlib.compressobj(6)
    previous = np.zeros((1, width * 2 * channels), np.uint8)
    for start in range(0, height, 256):
        rows = (
            np.ascontiguousarray(pixels[start : start + 256], dtype=">u2").view(np.uint8).reshape(-1, previous.shape[1])
        )
        # Filter "Up" (2): difference with the row above compresses photos well and is vectorised here.
        up = np.diff(rows, axis=0, prepend=previous)
        previous = rows[-1:]
        body = np.concatenate([np.full((len(rows), 1), 2, np.uint8), up], axis=1)
        if data := compressor.compress(body.tobytes()):
            f.write(_png_chunk(b"IDAT", data))
    f.write(_png_chunk(b"IDAT", compressor.flush()) + _png_chunk(b"IEND", b""))
