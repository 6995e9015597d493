"""Enhance models: degradations, PSNR/SSIM, training, export, and the shipped models on a real photo."""

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from gimp_gan_plugin import Engine  # noqa: E402
from training import photos as photo_sources  # noqa: E402
from training import tasks  # noqa: E402
from training.checkpoint import load_checkpoint  # noqa: E402
from training.config import Config, ConfigError, from_dict  # noqa: E402
from training.data import DataError  # noqa: E402
from training.degradation import bicubic_downscale, degrade, realistic_degradation  # noqa: E402
from training.image_metrics import luma, psnr_y, ssim_y  # noqa: E402
from training.tasks.enhance import EnhanceRun  # noqa: E402

TEST_PHOTO = Path(__file__).parent / "data" / "ladybird.png"


def photo_tensor() -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(TEST_PHOTO).convert("RGB")).copy()).permute(2, 0, 1)[None] / 255


# -- degradations -------------------------------------------------------------------------------------


def test_bicubic_downscale_is_pillows_antialiased_bicubic():
    image = photo_tensor()
    ours = bicubic_downscale(image, 4)
    pixels = Image.open(TEST_PHOTO).convert("RGB")
    pillows = np.asarray(pixels.resize((64, 64), Image.Resampling.BICUBIC)) / 255
    assert ours.shape == (1, 3, 64, 64)
    difference = np.abs(ours[0].permute(1, 2, 0).numpy() - pillows) * 255
    # Pillow rounds (and clips) to 8 bits between its horizontal and vertical passes: a level apart at most,
    # except for a few pixels at strong edges where the intermediate clipping shows.
    assert (difference <= 1.01).mean() > 0.99 and difference.max() <= 4.01


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_realistic_degradation_shapes_ranges_and_seeds(scale):
    images = photo_tensor()[..., :128, :128].repeat(3, 1, 1, 1)

    def degrade(seed):
        return realistic_degradation(images, scale, torch.Generator().manual_seed(seed))

    first, again, other = degrade(1), degrade(1), degrade(2)
    assert first.shape == (3, 3, 128 // scale, 128 // scale)
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal((first * 255).round(), first * 255)  # 8-bit values, as a saved JPEG has
    assert torch.equal(first, again)  # a seed fixes every random choice
    assert not torch.equal(first, other)
    assert not torch.equal(first[0], first[1])  # each image of a batch is damaged its own way
    if scale == 1:
        assert float(psnr_y(first, images).mean()) < 40  # it really damages the image


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_generators_bicubic_base_is_torchs_bicubic_resize(scale):
    from training.networks.srvgg import BicubicUpsample

    image = torch.rand(2, 3, 13, 17, generator=torch.Generator().manual_seed(scale))
    expected = torch.nn.functional.interpolate(image, scale_factor=scale, mode="bicubic", align_corners=False)
    assert (BicubicUpsample(3, scale)(image) - expected).abs().max() < 1e-5  # borders included


# -- metrics --------------------------------------------------------------------------------------------


def test_psnr_y_is_the_literatures_formula():
    a = photo_tensor()
    b = (a + 0.02 * torch.randn(a.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    y = lambda x: 16 + (np.round(x[0].numpy() * 255) / 255 * np.array([65.481, 128.553, 24.966])[:, None, None]).sum(0)  # noqa: E731
    mse = ((y(a) - y(b))[4:-4, 4:-4] ** 2).mean()
    assert float(psnr_y(a, b, border=4)) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-4)
    assert luma(a).min() >= 16 and luma(a).max() <= 235


def test_ssim_is_one_for_equal_images_and_falls_with_noise():
    a = photo_tensor()
    noisy = lambda s: (a + s * torch.randn(a.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)  # noqa: E731
    assert float(ssim_y(a, a)) == pytest.approx(1.0)
    assert 1.0 > float(ssim_y(noisy(0.02), a)) > float(ssim_y(noisy(0.1), a)) > 0


def test_border_pixels_are_left_out():
    a = photo_tensor()
    b = a.clone()
    b[..., :2, :] = 0  # damage only the top two rows
    assert float(psnr_y(b, a, border=2)) > 90
    assert float(psnr_y(b, a, border=0)) < 40


# -- training -------------------------------------------------------------------------------------------


@pytest.fixture
def photo_folder(tmp_path):
    """A tiny set: two 64-pixel crops of the test photo (one 32-pixel training crop each at half size, so
    a few steps can learn them) and the whole photo, enlarged to hold a validation crop, for validation."""
    image = Image.open(TEST_PHOTO).convert("RGB")
    (tmp_path / "photos" / "val").mkdir(parents=True)
    image.crop((96, 96, 160, 160)).save(tmp_path / "photos" / "a.png")
    image.crop((120, 60, 184, 124)).save(tmp_path / "photos" / "b.png")
    image.resize((448, 448), Image.Resampling.BICUBIC).save(tmp_path / "photos" / "val" / "c.png")
    return tmp_path / "photos"


def tiny_enhance(tmp_path: Path, photos: Path, steps: int = 30, **model) -> Config:
    return from_dict({
        "name": "tiny-enhance",
        "data": {"dataset": "photos", "path": str(photos), "size": 32, "degradation": "bicubic"},
        "model": {"family": "srvgg", "scale": 2, "width": 8, "blocks": 2, "d_width": 8} | model,
        "train": {"steps": steps, "batch_size": 4, "lr_g": 2e-3, "betas": [0.9, 0.99], "ema_halflife_kimg": 0.05,
                  "threads": 1},
        "output": {"run_dir": str(tmp_path / "run"), "log_every": 5, "sample_every": 15, "checkpoint_every": 5},
    })  # fmt: skip


def read_log(run_dir: Path) -> list[dict]:
    with open(run_dir / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("family", ["srvgg", "rrdb"])
def test_a_few_steps_lower_the_loss(tmp_path, photo_folder, family):
    config = tiny_enhance(
        tmp_path, photo_folder, steps=100, family=family, width=16, blocks=2 if family == "srvgg" else 1
    )
    config.train.lr_g, config.output.sample_every = 5e-3, 50
    run = EnhanceRun(config)
    targets, inputs = run._batch()  # step 0's batch, held fixed to compare before and after

    def loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.l1_loss(run.G_raw(inputs), targets))

    before = loss()
    run.train()
    assert loss() < 0.9 * before
    rows = read_log(run.run_dir)
    assert rows[-1]["psnr_y"] and float(rows[-1]["baseline_psnr_y"]) > 20  # validation measured
    assert (run.run_dir / "samples" / "step-000100.png").exists()


def test_a_reparameterised_generator_trains_and_folds_into_a_plain_one(tmp_path, photo_folder):
    from training.networks import build_generator, for_inference
    from training.networks.srvgg import Generator, RepConv

    state = load_checkpoint(tasks.train(tiny_enhance(tmp_path, photo_folder, steps=5, reparam=True)))
    G = build_generator(from_dict(state["config"]).model, 32, 3)
    G.load_state_dict(state["G_ema"])
    with torch.no_grad():
        for parameter in G.parameters():  # far from the start, so every branch counts in the comparison
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(0)))
    plain = for_inference(G)
    assert not any(isinstance(m, RepConv) for m in plain.modules())
    assert [p.shape for p in plain.parameters()] == [p.shape for p in Generator(3, 8, 2, 2).parameters()]
    image = torch.rand(2, 3, 19, 23, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (G(image) - image.repeat_interleave(2, 2).repeat_interleave(2, 3)).abs().max() > 0.1
        assert torch.allclose(plain(image), G(image), atol=1e-5)


def test_enhance_resume_equals_a_straight_run(tmp_path, photo_folder):
    straight = load_checkpoint(tasks.train(tiny_enhance(tmp_path / "a", photo_folder, steps=10)))
    tasks.train(tiny_enhance(tmp_path / "b", photo_folder, steps=5))
    resumed = load_checkpoint(tasks.train(tiny_enhance(tmp_path / "b", photo_folder, steps=10), resume=True))
    for key in straight["G"]:
        assert torch.equal(straight["G"][key], resumed["G"][key]), key


def test_the_gan_stage_starts_from_the_psnr_model_and_trains_d(tmp_path, photo_folder):
    psnr_stage = tasks.train(tiny_enhance(tmp_path / "psnr", photo_folder, steps=5))
    config = tiny_enhance(tmp_path / "gan", photo_folder, steps=5)
    config.train.feature_weight, config.train.adversarial_weight = 1.0, 0.1
    config.train.init_from = str(psnr_stage / "checkpoint.pt")
    run = EnhanceRun(config)
    source = load_checkpoint(psnr_stage)["G_ema"]
    assert all(torch.equal(run.G_raw.state_dict()[k], source[k]) for k in source)
    run.train()
    rows = read_log(config.run_dir)
    assert float(rows[-1]["d_loss"]) > 0 and float(rows[-1]["feature"]) > 0

    config.model.width = 16  # another generator cannot start from it
    config.output.run_dir = str(tmp_path / "other")
    with pytest.raises(ConfigError, match="differs from this run's"):
        EnhanceRun(config)


def test_configs_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="multiple of 32"):
        from_dict({"data": {"dataset": "photos", "size": 48}, "model": {"family": "srvgg", "scale": 4}})
    with pytest.raises(ConfigError, match="does not train on"):
        from_dict({"data": {"dataset": "photos", "size": 64}, "model": {"family": "dcgan"}})


def test_debian_photos_need_every_package_and_say_how_to_install_them(tmp_path, monkeypatch):
    """A machine with only some of the packages would train on other data than the shipped models did."""
    mate, plasma = tmp_path / "mate" / "nature", tmp_path / "wallpapers"
    mate.mkdir(parents=True)
    plasma.mkdir()
    Image.new("RGB", (8, 8)).save(mate / "Leaf.jpg")
    monkeypatch.setattr(photo_sources, "MATE_NATURE", mate)
    monkeypatch.setattr(photo_sources, "PLASMA_WALLPAPERS", plasma)
    monkeypatch.setattr(photo_sources, "LOMIRI_BACKGROUNDS", tmp_path / "backgrounds")
    with pytest.raises(DataError, match=r"apt-get install .*lomiri-wallpapers-16.04 lomiri-wallpapers-20.04"):
        photo_sources.debian_photos()
    (tmp_path / "backgrounds").mkdir()
    for name in photo_sources.LOMIRI_PHOTOS:
        Image.new("RGB", (8, 8)).save(tmp_path / "backgrounds" / f"{name}.jpg")
    found = photo_sources.debian_photos()
    assert found[0] == mate / "Leaf.jpg" and len(found) == 1 + len(photo_sources.LOMIRI_PHOTOS)


# -- export and the engine ------------------------------------------------------------------------------


@pytest.mark.parametrize("reparam", [False, True])
def test_an_exported_enhance_model_gives_pytorchs_result_at_any_size(tmp_path, photo_folder, models, reparam):
    pytest.importorskip("onnxscript")
    import onnx

    from export.generator import export_generator
    from training.sampling import load_generator

    state = load_checkpoint(tasks.train(tiny_enhance(tmp_path, photo_folder, steps=5, reparam=reparam)))
    report = export_generator(state, models / "tiny-x2.onnx", "tiny-x2")
    assert report.max_error <= 1e-4
    assert (report.document["task"], report.document["scale"]) == ("enhance", 2)
    assert report.document["title"] == "Enhance ×2 (clean / downscaled)"  # which images it is for
    operators = [node.op_type for node in onnx.load(report.path).graph.node]
    assert operators.count("Conv") == (2 + 2) + 1  # the body (blocks + 2), the bicubic base: kernels folded

    image = np.asarray(Image.open(TEST_PHOTO).convert("RGB"))[:45, :70]
    result = Engine(provider="cpu").process_image("tiny-x2", image.astype(np.float32) / 255)
    G, _, _ = load_generator(state)
    with torch.no_grad():
        expected = G(torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy()
    assert result.shape == (90, 140, 3)
    assert np.abs(result - expected).max() < 1e-4


# -- the shipped models ---------------------------------------------------------------------------------

SHIPPED = ["enhance-x2", "enhance-x4", "enhance-x4-detail", "enhance-x4-photo", "restore"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_beat_plain_resizing_on_a_photo_they_never_saw(name, bundled_engine):
    engine = bundled_engine(name)
    info = engine.load(name).info
    scale, degradation = info.scale, info.document["provenance"]["config"]["data"]["degradation"]
    target = photo_tensor()
    degraded = degrade(target, scale, degradation, torch.Generator().manual_seed(0))  # what it is for
    if scale == 1:
        baseline = degraded
    else:
        low = Image.fromarray((degraded[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        baseline = np.asarray(low.resize((256, 256), Image.Resampling.BICUBIC))
        baseline = torch.from_numpy(baseline.copy()).permute(2, 0, 1)[None] / 255
    pixels = (degraded[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    result = engine.process_image(name, pixels)
    assert result.shape == (256, 256, 3) and result.dtype == np.uint8
    result = torch.from_numpy(result.copy()).permute(2, 0, 1)[None] / 255
    assert float(psnr_y(result, target, scale)) > float(psnr_y(baseline, target, scale))
