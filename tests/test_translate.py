"""Paired translation (pix2pix colorize): the pairs, the U-Net's kept luminance, training, metrics, export."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from PIL import Image  # noqa: E402

from export.generator import export_generator  # noqa: E402
from gimp_gan_plugin import Engine  # noqa: E402
from gimp_gan_plugin.modelformat import read_model_info  # noqa: E402
from training import tasks  # noqa: E402
from training.checkpoint import load_checkpoint  # noqa: E402
from training.config import Config, from_dict  # noqa: E402
from training.evaluation import evaluate_checkpoint  # noqa: E402
from training.image_metrics import colourfulness, psnr_rgb  # noqa: E402
from training.networks.unet import Generator, luma  # noqa: E402
from training.tasks.translate import TranslateRun, make_pairs  # noqa: E402

TEST_PHOTO = Path(__file__).parent / "data" / "ladybird.png"


@pytest.fixture
def photo_folder(tmp_path):
    """Two training photos (64 px at the smallest training size) and one validation photo."""
    image = Image.open(TEST_PHOTO).convert("RGB")
    (tmp_path / "photos" / "val").mkdir(parents=True)
    image.resize((384, 384)).save(tmp_path / "photos" / "a.png")
    image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((256, 320)).save(tmp_path / "photos" / "b.png")
    image.resize((1024, 1024)).save(tmp_path / "photos" / "val" / "c.png")
    return tmp_path / "photos"


def tiny_colorize(tmp_path: Path, photos: Path, steps: int = 30, **train) -> Config:
    return from_dict({
        "name": "tiny-colorize",
        "data": {"dataset": "photos", "path": str(photos), "size": 32, "pairs": "colorize"},
        "model": {"family": "unet", "width": 8, "levels": 2, "d_width": 8},
        "train": {"steps": steps, "batch_size": 4, "lr_g": 2e-3, "lr_d": 2e-3, "l1_weight": 100.0,
                  "ema_halflife_kimg": 0.05, "threads": 1} | train,
        "output": {"run_dir": str(tmp_path / "run"), "log_every": 5, "sample_every": 15, "checkpoint_every": 5},
    })  # fmt: skip


def test_colorize_pairs_are_the_photos_own_grey():
    photos = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    grey = make_pairs(photos, "colorize")
    assert grey.shape == (3, 1, 16, 16) and grey.min() >= 0 and grey.max() <= 1
    weights = torch.tensor([0.299, 0.587, 0.114])[:, None, None]
    torch.testing.assert_close(grey[:, 0], (photos * weights).sum(1))
    assert torch.equal(make_pairs(photos, "colorize"), grey)  # no randomness in a pair


def test_the_colorizer_keeps_the_inputs_luminance_exactly():
    G = Generator(channels=1, width=8, levels=3, keep_luma=True)
    with torch.no_grad():
        for p in G.head.parameters():
            p.normal_(0, 1)  # strong colour
        grey = torch.rand(2, 1, 24, 40)
        result = G(grey)
    assert result.shape == (2, 3, 24, 40)
    torch.testing.assert_close(luma(result), grey, atol=1e-5, rtol=0)
    assert colourfulness(result.clamp(0, 1)).min() > 5  # it did colour the image


def test_metrics_of_colour():
    grey = torch.full((1, 1, 8, 8), 0.5)
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0
    assert float(colourfulness(grey.expand(-1, 3, -1, -1))) == 0.0
    assert float(colourfulness(red)) > 50
    assert float(psnr_rgb(red, red)) > 100  # identical: only the floor on the error
    assert float(psnr_rgb(grey, red)) < 10


def test_a_few_steps_lower_the_loss(tmp_path, photo_folder):
    run = TranslateRun(tiny_colorize(tmp_path, photo_folder, steps=60, adversarial_weight=0.0))
    inputs, targets = run._batch()

    def loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.l1_loss(run.G_raw(inputs), targets))

    before = loss()
    for _ in range(60):
        run.train_step()
    assert loss() < 0.8 * before


def test_a_trained_colorizer_exports_evaluates_and_runs_in_the_engine(tmp_path, photo_folder, models):
    run_dir = tasks.train(tiny_colorize(tmp_path, photo_folder, steps=10))
    state = load_checkpoint(run_dir)
    report = evaluate_checkpoint(state)
    assert report["photos"] == ["c"] and report["generated"]["luma_psnr"] > 35
    exported = export_generator(state, models / "tiny-colorize.onnx", "tiny-colorize", metrics=report["generated"])
    assert exported.max_error < 1e-4
    info = read_model_info(exported.path)
    assert (info.task, info.input("image").channels, info.image_output.channels) == ("translate", 1, 3)
    assert info.size_multiple == 4
    grey = np.asarray(Image.open(TEST_PHOTO).convert("L"))[:101, :77]  # not a multiple of 4: padded, cropped
    result = Engine(provider="cpu").process_image("tiny-colorize", grey)
    assert result.shape == (*grey.shape, 3) and result.dtype == np.uint8
    luminance = np.asarray(Image.fromarray(result).convert("L")).astype(float)
    assert 10 * np.log10(255**2 / np.mean((luminance - grey) ** 2)) > 35
    # No normalisation layer: tiles agree with the whole image (instance norm's per-tile statistics would not).
    photo = np.asarray(Image.open(TEST_PHOTO).convert("L"))[:180, :150]
    whole = Engine(provider="cpu", tile=4096).process_image("tiny-colorize", photo).astype(int)
    tiled = Engine(provider="cpu", tile=48).process_image("tiny-colorize", photo).astype(int)
    assert np.abs(whole - tiled).max() <= 2
