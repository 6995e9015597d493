"""Image-to-image at any size: tiles with blended seams give the whole-image result away from the border."""

import logging

import numpy as np
import pytest
from onnx_models import make_image_model
from PIL import Image

from gimp_gan_plugin import Engine
from gimp_gan_plugin.imaging import blend_weights, resize, resize_region, run_tiled, tile_starts
from gimp_gan_plugin.runtime import Session

WHOLE = 4096  # a tile larger than any test image: one pass over the whole image


def interior(a, border):
    return a[border:-border, border:-border]


@pytest.mark.parametrize("kind", ["x2", "x1-strided", "x2-strided"])
@pytest.mark.parametrize(("height", "width", "tile"), [(75, 101, 32), (64, 64, 40), (129, 67, 48), (33, 200, 64)])
def test_tiled_equals_whole_image_away_from_the_border(models, kind, height, width, tile):
    scale = 1 if kind.startswith("x1") else 2
    path = make_image_model(models / f"{kind}.onnx", name=kind, scale=scale, strided="strided" in kind)
    image = np.random.default_rng(height * width).random((height, width, 3)).astype(np.float32)
    whole = Engine(tile=WHOLE).process_image(path, image)
    tiled = Engine(tile=tile).process_image(path, image)
    assert tiled.shape == whole.shape == (height * scale, width * scale, 3)
    border = 12 * scale  # the strided model's receptive field reaches ~10 px; the image border is padded
    assert np.abs(interior(tiled, border) - interior(whole, border)).max() <= 1 / 255
    assert np.abs(tiled - whole).max() < 0.5  # near the border: still the same picture, not garbage


def test_tile_weights_sum_to_one_everywhere():
    for length, tile, overlap in [(1000, 256, 16), (257, 256, 16), (300, 100, 60), (31, 64, 8)]:
        starts = tile_starts(length, tile, overlap)
        size = min(tile, length)
        assert starts[0] == 0 and starts[-1] + size == length
        for scale in (1, 3):
            total = np.zeros(length * scale)
            for s, w in zip(starts, blend_weights(starts, size, length, scale), strict=True):
                total[s * scale : (s + size) * scale] += w
            np.testing.assert_allclose(total, 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap", "scale"),
    [(500, 37, 256, 16, 1), (37, 500, 256, 16, 2), (97, 131, 40, 4, 3), (64, 64, 64, 8, 2), (300, 300, 100, 60, 1)],
    ids=["tall-triple-overlap", "wide-triple-overlap", "x3", "one-tile", "wide-overlaps"],
)
def test_tiles_stream_out_each_output_pixel_once_and_blend_like_summing_them_all(height, width, tile, overlap, scale):
    """The streamed result equals the plain sum of every weighted tile, though only strips are ever kept.

    With a model that answers each tile with its own constant, every output pixel is the blend of the
    tiles over it, so a pixel written twice, missed, or given a wrong carry shows up here."""
    rng = np.random.default_rng(height + width)
    source = rng.random((1, 2, height, width)).astype(np.float32)
    calls = iter(range(10**6))

    def model_fn(batch):  # a different answer from each tile: nothing agrees by luck
        up = batch.repeat(scale, axis=2).repeat(scale, axis=3)
        return up + next(calls)

    out = np.full((1, 2, height * scale, width * scale), np.nan, np.float32)
    written = np.zeros((height * scale, width * scale), int)

    def write(y0, y1, x0, x1, values):
        out[:, :, y0:y1, x0:x1] = values
        written[y0:y1, x0:x1] += 1

    def read(y0, y1, x0, x1):
        return source[:, :, y0:y1, x0:x1]

    run_tiled(read, (height, width), model_fn, write, scale=scale, multiple=1, padding=0, tile=tile, overlap=overlap)
    assert (written == 1).all()

    # the same tiles summed into a whole-image accumulator, the obvious way
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    th, tw = min(tile, height), min(tile, width)
    wys, wxs = blend_weights(ys, th, height, scale), blend_weights(xs, tw, width, scale)
    expected, k = np.zeros_like(out), 0
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            tile_in = source[:, :, y : y + th, x : x + tw]
            weight = wys[iy][:, None] * wxs[ix][None, :]
            expected[:, :, y * scale : (y + th) * scale, x * scale : (x + tw) * scale] += (
                tile_in.repeat(scale, 2).repeat(scale, 3) + k
            ) * weight
            k += 1
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("resample", [Image.Resampling.BICUBIC, Image.Resampling.BILINEAR])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_resizing_a_region_equals_cropping_the_resized_image(scale, resample):
    pixels = np.random.default_rng(scale).integers(0, 256, (23, 31, 2), dtype=np.uint8)
    whole = resize(pixels.astype(np.float32) / 255, 23 * scale, 31 * scale, resample)
    for span_y, span_x in [
        ((0, 23 * scale), (0, 31 * scale)),
        ((5, 17), (scale * 10 + 1, scale * 25 - 3)),
        ((23 * scale - 6, 23 * scale), (0, 1)),
    ]:
        region = resize_region(pixels, scale, span_y, span_x, resample)
        np.testing.assert_allclose(region, whole[slice(*span_y), slice(*span_x)], atol=2e-6)


def test_seams_blend_smoothly_with_a_model_that_is_not_tile_exact(models):
    """A model whose declared padding is too small: tiles disagree, and the blend must hide the cut."""
    path = make_image_model(models / "m.onnx", name="m", scale=1, strided=True, metadata={"tile_padding": 0})
    image = np.full((96, 96, 3), 0.5, np.float32)
    image += np.random.default_rng(1).normal(0, 0.05, image.shape).astype(np.float32)
    tiled = Engine(tile=48).process_image(path, image)
    whole = Engine(tile=WHOLE).process_image(path, image)
    # No hard step: neighbouring columns around the seams differ no more than elsewhere in the image.
    column_steps = np.abs(np.diff(tiled - whole, axis=1)).max(axis=(0, 2))
    assert column_steps.max() < 4 * np.median(column_steps) + 0.02


def test_out_of_memory_halves_the_tile_and_retries(enhance_x2, photo, monkeypatch, caplog):
    expected = Engine(tile=WHOLE).process_image(enhance_x2, photo)
    real_run = Session.run
    seen = []

    def run_with_small_memory(self, feeds):
        height, width = feeds["image"].shape[2:]
        seen.append(max(height, width))
        if height * width > 48 * 48:
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for buffer")
        return real_run(self, feeds)

    monkeypatch.setattr(Session, "run", run_with_small_memory)
    with caplog.at_level(logging.WARNING, logger="gimp_gan"):
        result = Engine(tile=128).process_image(enhance_x2, photo)
    assert "retrying with 64-pixel tiles" in caplog.text and "retrying with 32-pixel tiles" in caplog.text
    assert np.abs(interior(result.astype(int), 8) - interior(expected.astype(int), 8)).max() <= 1
    assert max(seen[-4:]) <= 48


def test_out_of_memory_at_the_smallest_tile_is_a_clear_error(enhance_x2, photo, monkeypatch):
    from gimp_gan_plugin.errors import OutOfMemoryError

    def always_oom(self, feeds):
        raise MemoryError

    monkeypatch.setattr(Session, "run", always_oom)
    with pytest.raises(OutOfMemoryError, match="out of memory even with 32-pixel tiles"):
        Engine(tile=64).process_image(enhance_x2, photo)


@pytest.mark.parametrize("channels", [3, 4])
def test_memory_besides_the_result_does_not_grow_with_the_image(enhance_x2, channels):
    """numpy's allocations (tracemalloc sees them) while a large image is enhanced: the result in its own
    dtype plus tile-sized buffers, never a full-size float copy of the image or of the result."""
    import tracemalloc

    engine = Engine(tile=64)
    extra = {}
    for height in (300, 1200):
        image = np.random.default_rng(0).integers(0, 256, (height, 800, channels), dtype=np.uint8)
        engine.process_image(enhance_x2, image[:70, :70])  # the model's session, loaded before measuring
        tracemalloc.start()
        result = engine.process_image(enhance_x2, image)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        extra[height] = peak - result.nbytes
    assert extra[1200] < 1.2 * extra[300] + 1e6  # 4× the pixels, the same working set
    assert extra[1200] < result.nbytes / 4  # far below even one uint8 copy of the result
