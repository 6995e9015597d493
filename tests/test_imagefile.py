"""Image files keep their precision: 16-bit colour PNG through our codec, the rest through Pillow."""

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from gimp_gan_plugin import imagefile
from gimp_gan_plugin.errors import ImageError
from gimp_gan_plugin.imagefile import (
    _png_header,
    _read_png16,
    plan_output,
    read_image,
    read_metadata,
    write_image,
)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16_bit_png_round_trip(tmp_path, channels):
    pixels = np.random.default_rng(channels).integers(0, 65536, (31, 47, channels)).astype(np.uint16)
    write_image(tmp_path / "x.png", pixels)
    assert np.array_equal(read_image(tmp_path / "x.png"), pixels)


def test_png_decoder_undoes_all_filter_types_like_pillow(tmp_path):
    """Pillow writes 16-bit grey with adaptive filters (Up, Average, Paeth): decode it with our codec."""
    y, x = np.mgrid[0:90, 0:70]
    grey = ((y * 300 + x * 200) % 65536 + np.random.default_rng(0).integers(0, 40, y.shape)).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png", optimize=True)
    ours = _read_png16(tmp_path / "g.png", _png_header(tmp_path / "g.png"))[:, :, 0]
    assert np.array_equal(ours, np.asarray(Image.open(tmp_path / "g.png")).astype(np.uint16))


@pytest.mark.parametrize(
    ("dtype", "shape", "suffix"),
    [
        (np.uint8, (20, 30, 3), ".png"),
        (np.uint8, (20, 30, 4), ".webp"),
        (np.uint8, (20, 30), ".tif"),
        (np.uint16, (20, 30), ".png"),
        (np.uint16, (20, 30), ".tif"),
    ],
)
def test_pillow_formats_round_trip(tmp_path, dtype, shape, suffix):
    info = np.iinfo(dtype)
    pixels = np.random.default_rng(1).integers(0, info.max + 1, shape).astype(dtype)
    write_image(tmp_path / f"x{suffix}", pixels)
    back = read_image(tmp_path / f"x{suffix}")
    assert back.dtype == dtype and back.shape == shape
    if suffix != ".webp":  # lossy by default
        assert np.array_equal(back, pixels)


def test_jpeg_is_written_in_8_bit_from_16_bit_data(tmp_path):
    write_image(tmp_path / "x.jpg", np.full((8, 8, 3), 65535, np.uint16))
    assert read_image(tmp_path / "x.jpg").dtype == np.uint8


def test_unreadable_files_are_image_errors(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match="cannot read this image"):
        read_image(tmp_path / "x.png")
    with pytest.raises(ImageError, match=r"cannot write '\.xyz' files"):
        write_image(tmp_path / "x.xyz", np.zeros((4, 4, 3), np.uint8))


# --- a user's file is never lost ------------------------------------------------------------------


def test_a_failed_write_leaves_the_existing_file_and_no_debris(tmp_path, monkeypatch):
    target = tmp_path / "photo.png"
    original = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_image(target, original)
    before = target.read_bytes()

    real_encode = imagefile._encode

    def encode_half_then_fail(f, fmt, pixels, metadata):
        if pixels.shape[0] <= 2:  # the format probe on a tiny sample
            return real_encode(f, fmt, pixels, metadata)
        f.write(b"\x89PNG half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imagefile, "_encode", encode_half_then_fail)
    with pytest.raises(ImageError, match=r"No space left on device\); the existing file is unchanged"):
        write_image(target, np.zeros((20, 30, 3), np.uint8))
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


WRITE_UNDER_A_FILE_SIZE_LIMIT = """
import resource, signal, sys
import numpy as np
from gimp_gan_plugin.imagefile import write_image
if sys.argv[2] == "full":  # the write fails as on a full disk; otherwise the process is killed mid-write
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
write_image(sys.argv[1], np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8))
"""


@pytest.mark.parametrize("how", ["full", "killed"])
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_a_full_disk_or_a_kill_mid_write_keeps_the_previous_file(tmp_path, how, suffix):
    target = tmp_path / f"photo{suffix}"
    write_image(target, np.full((10, 10, 3), 200, np.uint8))
    before = target.read_bytes()
    done = subprocess.run([sys.executable, "-c", WRITE_UNDER_A_FILE_SIZE_LIMIT, str(target), how], capture_output=True)
    assert done.returncode != 0
    if how == "full":
        assert (
            "could not write the image" in done.stderr.decode() and "existing file is unchanged" in done.stderr.decode()
        )
    assert target.read_bytes() == before
    assert read_image(target).shape == (10, 10, 3)


def test_written_files_get_the_usual_permissions(tmp_path):
    write_image(tmp_path / "new.png", np.zeros((4, 4), np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / "mine.png").write_bytes(b"")
    os.chmod(tmp_path / "mine.png", 0o640)
    write_image(tmp_path / "mine.png", np.zeros((4, 4), np.uint8))
    assert (tmp_path / "mine.png").stat().st_mode & 0o777 == 0o640


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]).returncode != 0:
        pytest.skip("root here cannot mount a read-only tmpfs, and file modes do not stop root")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_plan_output_refuses_what_cannot_be_written_before_any_work(tmp_path, read_only_folder):
    (tmp_path / "a-folder").mkdir()
    cases = [
        (read_only_folder / "out.png", "cannot write into this folder"),
        (tmp_path / "missing" / "out.png", "no such folder"),
        (tmp_path / "a-folder", "is a folder"),
        (tmp_path / "out.xcf", "cannot write '.xcf' files"),
        (tmp_path / "out", "cannot write 'no extension' files"),
    ]
    for path, message in cases:
        with pytest.raises(ImageError, match=message):
            plan_output(path, 3, np.uint8)
    assert not [p for p in tmp_path.rglob(".*")]  # no probe file left behind


@pytest.mark.parametrize(
    ("suffix", "channels", "dtype", "lost"),
    [
        (".jpg", 4, np.uint8, ["no transparency"]),
        (".jpg", 3, np.uint16, ["16 bits"]),
        (".jpg", 2, np.float32, ["16 bits", "no transparency"]),
        (".webp", 3, np.uint16, ["16 bits"]),
        (".tif", 3, np.uint16, ["16 bits"]),
        (".bmp", 2, np.uint8, ["no transparency"]),
        (".png", 4, np.uint16, []),
        (".tif", 1, np.uint16, []),
    ],
)
def test_what_a_format_cannot_hold_is_converted_and_said_in_advance(tmp_path, suffix, channels, dtype, lost):
    notes = plan_output(tmp_path / f"out{suffix}", channels, dtype)
    assert len(notes) == len(lost) and all(word in note for word, note in zip(lost, notes, strict=True))
    peak = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    pixels = np.full((6, 5, channels) if channels > 1 else (6, 5), peak, dtype)
    if channels in (2, 4):
        pixels[:, :, -1] = 0  # fully transparent: flattened onto white
    write_image(tmp_path / f"out{suffix}", pixels)
    back = read_image(tmp_path / f"out{suffix}")
    assert back.shape[:2] == (6, 5)
    keeps_alpha = channels in (2, 4) and "no transparency" not in lost
    assert (back.ndim == 3 and back.shape[2] in (2, 4)) == keeps_alpha
    assert back[..., 0].min() >= 0.9 * np.iinfo(back.dtype).max  # white, whatever the conversion


# --- what photographers expect to survive -----------------------------------------------------------


def tagged_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Maker", "Camera 1", orientation  # Make, Model, Orientation
    exif.get_ifd(0x8769)[0x9003] = "2026:12:02 10:00:00"  # DateTimeOriginal
    return exif


@pytest.mark.parametrize("out_suffix", [".png", ".jpg", ".tif", ".webp"])
@pytest.mark.parametrize("sixteen_bit", [False, True])
def test_exif_icc_and_resolution_survive_with_the_orientation_made_upright(tmp_path, out_suffix, sixteen_bit):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:5, :5] = 255  # a white corner, top left as stored
    source = tmp_path / ("in.png" if sixteen_bit else "in.jpg")
    if sixteen_bit:  # the camera's rotation already applied, as editors write 16-bit files
        write_image(
            source,
            pixels.astype(np.uint16) * 257,
            imagefile.ImageMetadata(tagged_exif(1).tobytes(), icc, (300.0, 300.0)),
        )
    else:
        Image.fromarray(pixels).save(source, exif=tagged_exif(6), icc_profile=icc, dpi=(300, 300), quality=95)
    image, metadata = read_image(source), read_metadata(source)
    if not sixteen_bit:
        assert image.shape[:2] == (30, 20) and image[:5, -5:].min() > 200  # orientation 6: turned upright
    out = tmp_path / f"out{out_suffix}"
    write_image(out, image, metadata)
    with Image.open(out) as written:
        exif = written.getexif()
        assert exif.get(0x0112, 1) == 1 and exif[0x010F] == "Maker" and exif[0x0110] == "Camera 1"
        assert exif.get_ifd(0x8769)[0x9003] == "2026:12:02 10:00:00"
        assert written.info.get("icc_profile") == icc
        if out_suffix != ".webp":  # WebP has no resolution field
            assert tuple(round(d) for d in written.info["dpi"]) == (300, 300)


# --- decompression bombs --------------------------------------------------------------------------


def png_claiming(width: int, height: int, depth: int, color_type: int) -> bytes:
    """A tiny PNG whose header claims a huge image: what a decompression bomb looks like before inflating."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1_000_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("depth", "color_type"), [(16, 2), (16, 6), (16, 0), (8, 2), (8, 6), (8, 0)])
@pytest.mark.parametrize("size", [(12000, 12000), (30000, 4000), (65535, 65535)])
def test_images_claiming_too_many_pixels_are_refused_before_decoding(tmp_path, depth, color_type, size):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(*size, depth, color_type))
    with pytest.raises(ImageError, match=r"decompression bomb.*--max-megapixels"):
        read_image(path)


def test_the_pixel_limit_can_be_raised_for_a_real_large_image(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65536, (300, 400, 3)).astype(np.uint16)
    write_image(tmp_path / "big.png", pixels)
    with pytest.raises(ImageError, match="decompression bomb"):
        read_image(tmp_path / "big.png", max_pixels=100_000)
    assert np.array_equal(read_image(tmp_path / "big.png", max_pixels=120_000), pixels)


def test_16_bit_writer_streams_rows_and_round_trips_tall_images(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 65536, (1000, 7, 3)).astype(np.uint16)  # > 256-row blocks
    write_image(tmp_path / "tall.png", pixels)
    assert np.array_equal(read_image(tmp_path / "tall.png"), pixels)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "tall.png").convert("RGB")), (pixels >> 8).astype(np.uint8))
