"""Pixels: alpha, grey, 16-bit and float in and out; masks and strength; exactness where nothing changes."""

import numpy as np
import pytest
from onnx_models import make_image_model

from gimp_gan_plugin import Engine
from gimp_gan_plugin.errors import ImageError


def test_identity_model_round_trips_every_8_and_16_bit_value_exactly(identity_model):
    engine = Engine()
    u8 = np.arange(256 * 3, dtype=np.uint16).reshape(16, 16, 3) % 256
    assert np.array_equal(engine.process_image(identity_model, u8.astype(np.uint8)), u8)
    u16 = (np.arange(4096 * 3).reshape(64, 64, 3) * 16).astype(np.uint16)
    assert np.array_equal(engine.process_image(identity_model, u16), u16)


def test_float_pixels_keep_their_dtype_and_are_not_clipped(identity_model):
    image = np.linspace(-0.5, 1.5, 20 * 20 * 3, dtype=np.float32).reshape(20, 20, 3)  # HDR/out-of-gamut values
    result = Engine().process_image(identity_model, image)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, image, atol=1e-6)


def test_alpha_is_passed_through_and_upscaled_with_the_image(identity_model, enhance_x2, photo):
    alpha = np.zeros(photo.shape[:2], np.uint8)
    alpha[20:50, 30:70] = 255
    rgba = np.dstack([photo, alpha])
    same = Engine().process_image(identity_model, rgba)
    assert same.shape == rgba.shape and np.array_equal(same[:, :, 3], alpha)
    big = Engine().process_image(enhance_x2, rgba)
    assert big.shape == (150, 202, 4)
    assert big[60:80, 100:120, 3].min() == 255 and big[:20, :20, 3].max() == 0  # inside and outside


@pytest.mark.parametrize("shape", [(40, 30), (40, 30, 1), (40, 30, 2)])
def test_grey_in_grey_out_through_an_rgb_model(enhance_x2, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    result = Engine().process_image(enhance_x2, image)
    assert result.shape == (80, 60, *shape[2:])


def test_grey_model_processes_each_colour_channel(models, photo):
    grey = make_image_model(models / "grey.onnx", name="grey", channels_in=1, channels_out=1)
    rgb = Engine().process_image(grey, photo)
    red_alone = Engine().process_image(grey, photo[:, :, 0])
    assert rgb.shape == (150, 202, 3)
    assert np.array_equal(rgb[:, :, 0], red_alone)


def test_colorize_model_turns_grey_into_rgb(models, photo):
    colorize = make_image_model(models / "c.onnx", name="c", task="translate", scale=1, channels_in=1)
    result = Engine().process_image(colorize, photo[:, :, 1])
    assert result.shape == (75, 101, 3)


def test_a_large_image_is_colorized_at_the_models_working_size_under_its_own_luminance(models):
    """The network sees a reduced copy (its scene scale); the chroma, enlarged, goes under the full-size
    grey, so the result keeps every detail of the input: its BT.601 luminance is the input's."""
    metadata = {"working_size": 40}
    path = make_image_model(models / "c.onnx", name="c", task="translate", scale=1, channels_in=1, metadata=metadata)
    y, x = np.mgrid[0:150, 0:210]
    grey = ((np.sin(x / 3.0) * np.cos(y / 5.0) * 0.4 + 0.5) * 255).astype(np.uint8)  # fine detail
    result = Engine().process_image(path, grey)
    assert result.shape == (150, 210, 3)
    luminance = result.astype(float) @ np.array([0.299, 0.587, 0.114])
    clipped = (result == 0).any(axis=2) | (result == 255).any(axis=2)  # where colour left the gamut
    assert np.abs(luminance - grey)[~clipped].max() <= 1.0
    small = Engine().process_image(path, grey[:30, :40])  # within the working size: the model runs as it is
    assert small.shape == (30, 40, 3)


def test_16_bit_results_keep_16_bit_precision(enhance_x2, photo):
    image16 = photo.astype(np.uint16) * 257
    result = Engine().process_image(enhance_x2, image16)
    assert result.dtype == np.uint16
    assert len(np.unique(result)) > 2 * len(np.unique(Engine().process_image(enhance_x2, photo)))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_strength_zero_returns_the_input_exactly(models, photo, dtype):
    model = make_image_model(models / "t.onnx", name="t", task="translate", scale=1)
    image = photo.astype(dtype) if dtype != np.float32 else photo.astype(np.float32) / 255
    assert np.array_equal(Engine().process_image(model, image, strength=0.0), image)


def test_strength_blends_linearly(models, photo):
    model = make_image_model(models / "t.onnx", name="t", task="translate", scale=1)
    image = photo.astype(np.float32) / 255
    full = Engine().process_image(model, image)
    half = Engine().process_image(model, image, strength=0.5)
    np.testing.assert_allclose(half, (image + full) / 2, atol=1e-5)


def test_mask_limits_the_change_and_feathering_softens_its_edge(models, photo):
    model = make_image_model(models / "t.onnx", name="t", task="translate", scale=1)
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[:, 50:] = 1.0
    hard = Engine().process_image(model, photo, mask=mask)
    full = Engine().process_image(model, photo)
    assert np.array_equal(hard[:, :50], photo[:, :50])  # outside the selection: untouched, bit for bit
    assert np.array_equal(hard[:, 50:], full[:, 50:])
    soft = Engine().process_image(model, photo, mask=mask, feather=8)
    weight = np.abs(soft.astype(float) - photo).mean(axis=(0, 2)) / np.abs(full.astype(float) - photo).mean(axis=(0, 2))
    assert 0.05 < weight[47] < weight[50] < weight[53] < 0.95  # a ramp across the edge, not a step
    assert np.array_equal(soft[:, :30], photo[:, :30])


def test_bad_pixels_and_arguments_are_clear_errors(enhance_x2):
    engine = Engine()
    with pytest.raises(ImageError, match="shape"):
        engine.process_image(enhance_x2, np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ImageError, match="unsupported pixel type int32"):
        engine.process_image(enhance_x2, np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ImageError, match="strength must be between 0 and 1"):
        engine.process_image(enhance_x2, np.zeros((4, 4, 3), np.uint8), strength=1.5)
    with pytest.raises(ImageError, match="the mask is"):
        engine.process_image(enhance_x2, np.zeros((4, 4, 3), np.uint8), mask=np.ones((5, 4)))


def test_the_callers_image_is_never_modified(enhance_x2, photo):
    before = photo.copy()
    Engine().process_image(enhance_x2, photo, strength=0.5)
    assert np.array_equal(photo, before)
