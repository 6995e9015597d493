"""Paired translation (pix2pix colorize, line art): the pairs, the U-Net's kept luminance and lines,
training, metrics, export."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from PIL import Image  # noqa: E402

from export.__main__ import main as export_main  # noqa: E402
from export.generator import export_generator  # noqa: E402
from gimp_gan_plugin import Engine  # noqa: E402
from gimp_gan_plugin.imaging import luma as luma_of  # noqa: E402
from gimp_gan_plugin.imaging import psnr  # noqa: E402
from gimp_gan_plugin.modelformat import read_model_info  # noqa: E402
from training import tasks  # noqa: E402
from training.checkpoint import CheckpointError, load_checkpoint, with_chroma_gain  # noqa: E402
from training.config import Config, ConfigError, from_dict  # noqa: E402
from training.evaluation import evaluate_checkpoint  # noqa: E402
from training.image_metrics import colourfulness, psnr_rgb  # noqa: E402
from training.networks.unet import Generator, luma  # noqa: E402
from training.tasks.translate import (  # noqa: E402
    TranslateRun,
    make_pairs,
    scene_downscales,
    validation_downscale,
    xdog,
)

TEST_PHOTO = Path(__file__).parent / "data" / "ladybird.png"


@pytest.fixture
def photo_folder(tmp_path):
    """Two training photos (seen at a shorter side of 200 to 400 px, as training sees photos) and one
    validation photo."""
    image = Image.open(TEST_PHOTO).convert("RGB")
    (tmp_path / "photos" / "val").mkdir(parents=True)
    image.resize((1024, 1024)).save(tmp_path / "photos" / "a.png")  # seen at 1/3 to 1/5
    image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((640, 800)).save(tmp_path / "photos" / "b.png")
    image.resize((1024, 1024)).save(tmp_path / "photos" / "val" / "c.png")
    return tmp_path / "photos"


def tiny_colorize(tmp_path: Path, photos: Path, steps: int = 30, pairs="colorize", model=None, **train) -> Config:
    return from_dict({
        "name": f"tiny-{pairs}",
        "data": {"dataset": "photos", "path": str(photos), "size": 32, "pairs": pairs},
        "model": {"family": "unet", "width": 8, "levels": 2, "d_width": 8} | (model or {}),
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


def test_photos_are_seen_at_scene_sizes():
    assert scene_downscales((2560, 1600)) == [4, 5, 6, 7, 8]  # shorter sides 400 to 200
    assert scene_downscales((1024, 683)) == [2, 3]
    assert scene_downscales((320, 240)) == [1]
    assert scene_downscales((200, 180)) == [1]  # below the range: used whole
    assert validation_downscale((2560, 1600)) == [4] and validation_downscale((1920, 1080)) == [3]
    assert validation_downscale((300, 200)) == [1]


def test_xdog_draws_dark_lines_along_edges_and_leaves_flat_areas_white():
    grey = torch.full((2, 1, 40, 40), 0.8)
    grey[:, :, :, 20:] = 0.4  # a vertical edge between two light fills
    lines = xdog(grey, torch.tensor([0.6, 1.5]))
    assert lines.shape == grey.shape and lines.min() >= 0 and lines.max() <= 1
    assert torch.equal(lines[..., :, :14], torch.ones_like(lines[..., :, :14]))  # flat: paper
    assert torch.equal(lines[..., :, 28:], torch.ones_like(lines[..., :, 28:]))
    assert float(lines[0, 0, 20, 18:23].min()) < 0.1  # the edge is inked
    thin, bold = ((lines[i] < 0.5).sum() for i in range(2))
    assert bold > thin > 0  # σ is the pen's width
    assert xdog(torch.zeros(1, 1, 8, 8), torch.tensor([1.0])).max() < 0.01  # a black fill stays black


def test_line_art_pairs_are_deterministic_with_a_seed():
    targets = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = make_pairs(targets, "lineart", torch.Generator().manual_seed(5))
    assert a.shape == (3, 1, 32, 32) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, make_pairs(targets, "lineart", torch.Generator().manual_seed(5)))
    assert not torch.equal(a, make_pairs(targets, "lineart", torch.Generator().manual_seed(6)))
    assert torch.equal(make_pairs(targets, "lineart"), make_pairs(targets, "lineart"))  # validation: fixed pen


def test_a_line_art_model_keeps_every_line_black():
    G = Generator(channels=1, width=8, levels=2, keep_luma=False, keep_lines=True, colour_downscale=2)
    assert G.size_multiple == 8
    drawing = torch.ones(1, 1, 32, 48)
    drawing[..., 10, :] = 0  # a line
    drawing[..., 20, :] = 0.5  # a grey pencil line
    with torch.no_grad():
        for p in G.head.parameters():
            p.normal_(0, 1)
        result = G(drawing)
    assert result.shape == (1, 3, 32, 48)
    assert torch.equal(result[..., 10, :], torch.zeros_like(result[..., 10, :]))
    torch.testing.assert_close(result[..., 20, :], result[..., 21, :] * 0.5, atol=0.05, rtol=0)  # multiplied
    assert colourfulness(result).min() > 5


def test_unet_options_are_checked():
    for model, message in (
        ({"keep_luma": True, "keep_lines": True}, "one or the other"),
        ({"keep_luma": False, "colour_downscale": 2}, "colour_downscale"),
        ({"colour_downscale": 3}, "colour_downscale"),
        ({"chroma_gain": 0.0}, "chroma_gain"),
        ({"residual": True}, "residual"),
    ):
        with pytest.raises(ConfigError, match=message):
            tiny_colorize(Path("/tmp"), Path("/tmp"), model=model)
    with pytest.raises(ConfigError, match="multiple of"):
        tiny_colorize(Path("/tmp"), Path("/tmp"), model={"levels": 5, "colour_downscale": 2})  # 32 px, 2^5 × 2


@pytest.mark.parametrize("colour_downscale", [1, 2, 4])
def test_the_colorizer_keeps_the_inputs_luminance_exactly(colour_downscale):
    G = Generator(channels=1, width=8, levels=3, keep_luma=True, colour_downscale=colour_downscale)
    with torch.no_grad():
        for p in G.head.parameters():
            p.normal_(0, 1)  # strong colour
        grey = torch.rand(2, 1, 64, 96)  # multiples of 2^levels × colour_downscale
        result = G(grey)
    assert result.shape == (2, 3, 64, 96)
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


def test_a_colorizer_leaves_black_and_white_photos_out_of_training(tmp_path, photo_folder):
    grey = photo_folder / "old.jpg"
    Image.open(TEST_PHOTO).convert("L").convert("RGB").resize((600, 600)).save(grey, quality=80)  # JPEG noise
    colorize = TranslateRun(tiny_colorize(tmp_path / "c", photo_folder))
    assert colorize.photos.black_and_white == [grey] and "1 black-and-white left out" in colorize.describe_data()
    model = {"keep_luma": False, "keep_lines": True}
    lineart = TranslateRun(tiny_colorize(tmp_path / "l", photo_folder, pairs="lineart", model=model))
    assert lineart.photos.black_and_white == []  # a grey drawing is still a drawing to learn from


@pytest.mark.parametrize("colour_downscale", [1, 2, 4])
def test_a_trained_colorizer_exports_evaluates_and_runs_in_the_engine(tmp_path, photo_folder, models, colour_downscale):
    config = tiny_colorize(tmp_path, photo_folder, steps=10, model={"colour_downscale": colour_downscale})
    state = load_checkpoint(tasks.train(config))
    report = evaluate_checkpoint(state)
    assert report["photos"] == ["c"] and report["generated"]["luma_psnr"] > 35
    exported = export_generator(state, models / "tiny-colorize.onnx", "tiny-colorize", metrics=report["generated"])
    assert exported.max_error < 1e-4
    info = read_model_info(exported.path)
    assert (info.task, info.input("image").channels, info.image_output.channels) == ("translate", 1, 3)
    assert info.size_multiple == 4 * colour_downscale
    grey = np.asarray(Image.open(TEST_PHOTO).convert("L"))[:101, :77]  # not a multiple: padded, cropped
    result = Engine(provider="cpu").process_image("tiny-colorize", grey)
    assert result.shape == (*grey.shape, 3) and result.dtype == np.uint8
    luminance = np.asarray(Image.fromarray(result).convert("L")).astype(float)
    assert np.mean((luminance - grey) ** 2) < 255**2 / 10**3.5  # PSNR above 35 dB
    # No normalisation layer: tiles agree with the whole image (instance norm's per-tile statistics would not).
    photo = np.asarray(Image.open(TEST_PHOTO).convert("L"))[:180, :150]
    whole = Engine(provider="cpu", tile=4096).process_image("tiny-colorize", photo).astype(int)
    tiled = Engine(provider="cpu", tile=48).process_image("tiny-colorize", photo).astype(int)
    assert np.abs(whole - tiled).max() <= 2


def test_a_chroma_gain_is_evaluated_and_exported_as_the_same_model(tmp_path, photo_folder, models, capsys):
    run_dir = tasks.train(tiny_colorize(tmp_path, photo_folder, steps=10))
    state = load_checkpoint(run_dir)
    plain = evaluate_checkpoint(state)
    report = evaluate_checkpoint(with_chroma_gain(state, 2.0))
    assert (plain["chroma_gain"], report["chroma_gain"]) == (1.0, 2.0)
    assert report["generated"]["colourfulness"] > 1.5 * plain["generated"]["colourfulness"]
    assert report["generated"]["luma_psnr"] > 35  # more colour, the same luminance
    (run_dir / "metrics.json").write_text(json.dumps(plain))
    output = models / "tiny-colorize.onnx"
    assert export_main([str(run_dir), "-o", str(output), "--chroma-gain", "2"]) == 2
    assert "measured with chroma gain 1.0" in capsys.readouterr().err and not output.exists()
    (run_dir / "metrics.json").write_text(json.dumps(report))
    assert export_main([str(run_dir), "-o", str(output), "--chroma-gain", "2"]) == 0
    assert "chroma × 2" in output.with_suffix(".md").read_text()
    grey = np.asarray(Image.open(TEST_PHOTO).convert("L"))[:64, :64]
    G = Generator(channels=1, width=8, levels=2, chroma_gain=2.0).eval()
    G.load_state_dict(state["G_ema"])
    with torch.no_grad():
        expected = G(torch.from_numpy(grey)[None, None].float() / 255).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    result = Engine(provider="cpu").process_image("tiny-colorize", grey)
    assert np.abs(result.astype(float) - expected * 255).max() <= 1  # the ONNX file holds the gain
    with pytest.raises(CheckpointError, match="colorizers"):
        with_chroma_gain(load_checkpoint(tasks.train(tiny_colorize(tmp_path / "art", photo_folder, steps=5,
            pairs="lineart", model={"keep_luma": False, "keep_lines": True}))), 2.0)  # fmt: skip


def test_a_line_art_model_trains_exports_and_keeps_the_lines_in_the_engine(tmp_path, photo_folder, models):
    model = {"keep_luma": False, "keep_lines": True, "colour_downscale": 2}
    config = tiny_colorize(tmp_path, photo_folder, steps=40, pairs="lineart", model=model)
    run = TranslateRun(config)
    inputs, targets = run._batch()

    def loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.l1_loss(run.G_raw(inputs), targets))

    before = loss()
    for _ in range(40):
        run.train_step()
    assert loss() < 0.9 * before  # measured 0.85× (0.81× after 80 steps): the fill learns slowly at this size
    state = load_checkpoint(tasks.train(config))
    exported = export_generator(state, models / "tiny-lineart.onnx", "tiny-lineart")
    assert exported.max_error < 1e-4
    drawing = np.full((70, 90), 255, np.uint8)
    drawing[30:33, :] = 0
    drawing[:, 40:42] = 0
    result = Engine(provider="cpu").process_image("tiny-lineart", drawing)
    assert result.shape == (70, 90, 3) and np.abs(result[drawing == 0].astype(int)).max() <= 1  # lines stay black


# -- the shipped models ---------------------------------------------------------------------------------


def test_shipped_colorizer_colours_a_grey_photo_and_keeps_its_luminance(bundled_engine):
    engine = bundled_engine("colorize")
    photo = np.asarray(Image.open(TEST_PHOTO).convert("RGB").resize((600, 450)))  # above its working size
    grey = luma_of(photo.astype(np.float32), axis=2)[:, :, 0].round().astype(np.uint8)
    result = engine.process_image("colorize", grey)
    assert result.shape == (450, 600, 3)
    assert psnr(luma_of(result.astype(np.float32), axis=2)[:, :, 0].round(), grey) >= 35  # the bar
    as_tensor = [torch.from_numpy(image.copy()).permute(2, 0, 1)[None] / 255 for image in (result, photo)]
    assert float(colourfulness(as_tensor[0])) > 0.2 * float(colourfulness(as_tensor[1]))  # not grey, not sepia only


def test_shipped_style_agrees_across_tiles_and_changes_the_photo(bundled_engine):
    name = "style-van-gogh"
    photo = np.asarray(Image.open(TEST_PHOTO).convert("RGB"))[:200, :176]
    whole = bundled_engine(name, tile=4096).process_image(name, photo)
    tiled = bundled_engine(name, tile=64).process_image(name, photo)
    assert whole.shape == photo.shape and np.abs(whole.astype(int) - tiled).max() <= 2  # the 2/255
    assert np.abs(whole.astype(int) - photo).mean() > 2


def test_shipped_lineart_colorizer_keeps_every_line_black(bundled_engine):
    engine = bundled_engine("lineart-color")
    target = torch.from_numpy(np.asarray(Image.open(TEST_PHOTO).convert("RGB")).copy()).permute(2, 0, 1)[None] / 255
    drawing = (make_pairs(target, "lineart")[0, 0].numpy() * 255).round().astype(np.uint8)
    result = engine.process_image("lineart-color", drawing)
    assert result.shape == (*drawing.shape, 3)
    lines = drawing <= 10
    assert lines.mean() > 0.01 and result[lines].max() <= 20  # the fill multiplies the drawing
    coloured = torch.from_numpy(result.copy()).permute(2, 0, 1)[None] / 255
    assert float(colourfulness(coloured)) > 0.1 * float(colourfulness(target))  # not left black and white
