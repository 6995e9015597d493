"""Generation: seeds are reproducible and independent of batching; classes, truncation, interpolation."""

import numpy as np
import pytest
from onnx_models import make_generator

from gimp_gan_plugin import Engine, GimpGanError
from gimp_gan_plugin.generation import interpolate, latent_for_seed

CLASSES = ["shirt", "shoe", "bag"]


def test_latent_recipe_is_the_documented_one():
    expected = np.random.default_rng(7).standard_normal(128).astype(np.float32)
    assert np.array_equal(latent_for_seed(7, 128), expected)
    truncated = latent_for_seed(7, 128, truncate_at=0.5)
    assert np.abs(truncated).max() <= 0.5
    inside = np.abs(expected) <= 0.5
    assert np.array_equal(truncated[inside], expected[inside])  # only the outliers are redrawn


def test_same_seed_same_image_whatever_the_batch(generator):
    engine = Engine()
    batch = engine.generate(generator, [5, 6, 7])
    assert batch.shape == (3, 8, 8, 3) and batch.dtype == np.float32
    assert np.array_equal(engine.generate(generator, [6])[0], batch[1])
    assert np.array_equal(Engine().generate(generator, [5, 6, 7], batch_size=2), batch)
    assert not np.array_equal(batch[0], batch[1])
    assert batch.min() >= 0.0 and batch.max() <= 1.0


def test_truncation_pulls_images_toward_the_average(generator):
    engine = Engine()
    seeds = list(range(20))
    full, low = engine.generate(generator, seeds), engine.generate(generator, seeds, truncation=0.2)
    assert low.std(axis=0).mean() < 0.5 * full.std(axis=0).mean()
    with pytest.raises(GimpGanError, match="truncation"):
        engine.generate(generator, [1], truncation=1.5)


def test_conditional_classes_by_name_or_index(models):
    path = make_generator(models / "c.onnx", name="cond", classes=CLASSES)
    engine = Engine()
    by_name = engine.generate(path, [3], class_label="Shoe")
    assert np.array_equal(by_name, engine.generate(path, [3], class_label=1))
    assert np.array_equal(by_name, engine.generate(path, [3], class_label="1"))
    assert not np.array_equal(by_name, engine.generate(path, [3], class_label="bag"))
    drawn = engine.generate(path, list(range(12)))
    assert np.array_equal(drawn, engine.generate(path, list(range(12))))
    with pytest.raises(GimpGanError, match="has no class 'hat'; its classes: shirt, shoe, bag"):
        engine.generate(path, [1], class_label="hat")
    with pytest.raises(GimpGanError, match="out of range"):
        engine.generate(path, [1], class_label=3)


def test_class_on_an_unconditional_model_is_refused(generator):
    with pytest.raises(GimpGanError, match="not a class-conditional model"):
        Engine().generate(generator, [1], class_label=0)


def test_noise_inputs_come_from_the_seed(models):
    path = make_generator(models / "n.onnx", name="noisy", noise=True)
    engine = Engine()
    assert np.array_equal(engine.generate(path, [1, 2]), engine.generate(path, [1, 2]))
    assert np.array_equal(engine.generate(path, [2])[0], engine.generate(path, [1, 2])[1])


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolation_runs_from_one_seed_to_the_other(generator, mode):
    engine = Engine()
    frames = engine.interpolate(generator, 10, 20, 5, mode=mode)
    ends = engine.generate(generator, [10, 20])
    assert frames.shape == (5, 8, 8, 3)
    np.testing.assert_allclose(frames[0], ends[0], atol=1e-6)
    np.testing.assert_allclose(frames[-1], ends[1], atol=1e-5)
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert steps.max() < 3 * steps.min() + 1e-3  # an even morph, no jumps


def test_spherical_interpolation_keeps_the_latent_norm():
    z0, z1 = latent_for_seed(1, 512), latent_for_seed(2, 512)
    norms = np.linalg.norm(interpolate(z0, z1, 9, "spherical"), axis=1)
    linear = np.linalg.norm(interpolate(z0, z1, 9, "linear"), axis=1)
    assert norms.min() > 0.95 * min(np.linalg.norm(z0), np.linalg.norm(z1))
    assert linear[4] < 0.8 * norms[4]


def test_cancel_generation_returns_none(generator):
    assert (
        Engine().generate(generator, range(40), batch_size=8, progress=lambda done, total: done < 0.3 * total) is None
    )
