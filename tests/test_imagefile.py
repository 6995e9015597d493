"""Image files keep their precision: 16-bit colour PNG through our codec, the rest through Pillow."""

import numpy as np
import pytest
from PIL import Image

from gimp_gan_plugin.errors import ImageError
from gimp_gan_plugin.imagefile import _png_header, _read_png16, read_image, write_image


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
    with pytest.raises(ImageError, match="16-bit colour can be written as PNG only"):
        write_image(tmp_path / "x.tif", np.zeros((4, 4, 3), np.uint16))
