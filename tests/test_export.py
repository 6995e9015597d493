"""Export: a trained checkpoint becomes a verified model-format-1 ONNX file that the engine runs.

The end-to-end test is the contract between the two halves: seed S through `python -m training
sample` (PyTorch) and through the engine (onnxruntime) is the same image.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from test_training import tiny  # noqa: E402
from test_training_data import tiny_fashion  # noqa: E402

from export.__main__ import main  # noqa: E402
from export.generator import export_generator  # noqa: E402
from gimp_gan_plugin import Engine  # noqa: E402
from gimp_gan_plugin.modelformat import read_model_info  # noqa: E402
from training import loop  # noqa: E402
from training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from training.sampling import load_generator, seeded_inputs  # noqa: E402


@pytest.fixture(autouse=True)
def no_cached_classifier(tmp_path, monkeypatch):
    monkeypatch.setattr("training.classifier.DEFAULT_CLASSIFIER_PATH", tmp_path / "no-classifier.pt")


@pytest.mark.parametrize("conditional", [False, True])
def test_an_exported_generator_gives_pytorchs_image_for_each_seed(tmp_path, models, conditional):
    config = tiny(tmp_path, tiny_fashion(tmp_path / "fashion", n=40), steps=2)
    config.model.conditional = conditional
    state = load_checkpoint(loop.train(config))
    report = export_generator(state, models / "tiny.onnx", "tiny")
    assert report.max_error <= 1e-4 and report.path.exists()

    info = read_model_info(report.path)  # every number from the checkpoint, none typed by hand
    assert (info.latent_size, info.output_size) == (16, (28, 28))
    assert info.document["provenance"]["steps"] == 2
    assert info.document["provenance"]["config"]["model"]["width"] == 8
    assert list(info.classes) == (list(state["classes"]) if conditional else [])

    seeds, class_label = [0, 5, 123], (3 if conditional else None)
    engine_images = Engine(provider="cpu").generate("tiny", seeds, class_label=class_label)
    G, _, classes = load_generator(state)
    z, labels = seeded_inputs(seeds, G.latent_size, len(classes), class_label)
    with torch.no_grad():
        torch_images = ((G(z, labels) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert engine_images.shape == torch_images.shape == (3, 28, 28, 1)
    assert np.abs(engine_images - torch_images).max() < 1e-5


def test_the_command_writes_the_model_and_its_card(tmp_path, models, capsys):
    run_dir = loop.train(tiny(tmp_path, tiny_fashion(tmp_path / "fashion", n=40), steps=2))
    out = models / "mine.onnx"
    assert main([str(run_dir), "-o", str(out), "--name", "mine", "--title", "Mine"]) == 0
    assert "max |PyTorch − ONNX|" in capsys.readouterr().out
    card = out.with_suffix(".md").read_text()
    assert card.startswith("# Mine (`mine`)") and "2 generator steps" in card
    assert "| `mine` | generate |" in (models / "README.md").read_text()  # the folder's index


def test_a_checkpoint_without_a_config_is_refused(tmp_path, capsys):
    path = tmp_path / "bare.pt"
    save_checkpoint({"step": 1, "config": {}, "G": {}}, path)
    with pytest.raises(CheckpointError, match="no training config"):
        export_generator({"step": 1, "G": {}}, tmp_path / "x.onnx", "x")
    assert main([str(path), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_the_fp16_variant_keeps_float32_io_and_stays_close(tmp_path, models):
    pytest.importorskip("onnxconverter_common")
    state = load_checkpoint(loop.train(tiny(tmp_path, tiny_fashion(tmp_path / "fashion", n=40), steps=2)))
    full = export_generator(state, models / "full.onnx", "full")
    half = export_generator(state, models / "half.onnx", "half", fp16=True)
    assert full.max_error < half.max_error <= 1e-2
    assert half.path.stat().st_size < 0.6 * full.path.stat().st_size
    engine = Engine(provider="cpu")
    a, b = engine.generate("full", [1, 2]), engine.generate("half", [1, 2])
    assert a.dtype == b.dtype == np.float32
    assert np.abs(a - b).max() < 1e-2
