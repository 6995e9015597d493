from pathlib import Path

import numpy as np
import pytest
from onnx_models import make_generator, make_image_model

BUNDLED = Path(__file__).resolve().parent.parent / "models"  # the shipped models


@pytest.fixture(autouse=True)
def isolated_model_path(tmp_path, monkeypatch):
    """Each test sees only the models it makes: its own GIMP_GAN_MODEL_PATH, an empty user folder and no
    bundled models (in-process; subprocesses still see the bundled ones)."""
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("GIMP_GAN_MODEL_PATH", str(models))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("gimp_gan_plugin.discovery.BUNDLED_MODEL_DIR", tmp_path / "bundled")
    return models


@pytest.fixture
def models(isolated_model_path):
    return isolated_model_path


@pytest.fixture
def bundled_engine(monkeypatch):
    """engine(name, **options): an Engine that sees the models shipped in models/; the test is skipped
    when that model is not bundled in this checkout."""
    from gimp_gan_plugin import Engine

    def engine(name: str, **options) -> Engine:
        if not (BUNDLED / f"{name}.onnx").exists():
            pytest.skip(f"{name} is not bundled")
        monkeypatch.setattr("gimp_gan_plugin.discovery.BUNDLED_MODEL_DIR", BUNDLED)
        return Engine(provider="cpu", threads=2, **options)

    return engine


@pytest.fixture
def enhance_x2(models):
    return make_image_model(models / "test-x2.onnx")


@pytest.fixture
def identity_model(models):
    return make_image_model(models / "identity.onnx", name="identity", task="translate", scale=1, identity=True)


@pytest.fixture
def generator(models):
    return make_generator(models / "test-gen.onnx")


@pytest.fixture
def photo():
    """A smooth RGB test image with texture: odd size, so padding and tile edges get exercised."""
    y, x = np.mgrid[0:75, 0:101].astype(np.float32)
    image = np.stack([np.sin(x / 7) * np.cos(y / 5), np.sin((x + y) / 9), np.cos(x / 4 - y / 11)], axis=2)
    return np.rint((image * 0.5 + 0.5) * 255).astype(np.uint8)
