"""Unpaired translation (CUT and CycleGAN): PatchNCE, the patch distance to a style, training, resume, export
and tiles."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from PIL import Image, ImageOps  # noqa: E402

from export.__main__ import main as export_main  # noqa: E402
from export.generator import export_generator  # noqa: E402
from gimp_gan_plugin import Engine  # noqa: E402
from gimp_gan_plugin.modelformat import read_model_info  # noqa: E402
from training import tasks  # noqa: E402
from training.checkpoint import load_checkpoint  # noqa: E402
from training.cli import main as training_main  # noqa: E402
from training.config import Config, ConfigError, from_dict  # noqa: E402
from training.evaluation import evaluate_checkpoint  # noqa: E402
from training.image_metrics import patch_swd  # noqa: E402
from training.losses import patch_nce  # noqa: E402
from training.tasks import unpaired  # noqa: E402
from training.tasks.cyclegan import CycleGanRun  # noqa: E402
from training.tasks.unpaired import UnpairedRun  # noqa: E402

TEST_PHOTO = Path(__file__).parent / "data" / "ladybird.png"


@pytest.fixture
def folders(tmp_path):
    """Photos (two to train on, one to validate) and a "style": the same photo posterised and with its
    colours turned, so the two sets differ in colour and texture, not in content."""
    image = Image.open(TEST_PHOTO).convert("RGB")
    for name, transform in (("photos", lambda im: im), ("style", lambda im: ImageOps.posterize(im.rotate(0), 2))):
        (tmp_path / name / "val").mkdir(parents=True)
        styled = transform(image)
        if name == "style":
            r, g, b = styled.split()
            styled = Image.merge("RGB", (b, r, g))
        styled.resize((1024, 1024)).save(tmp_path / name / "a.png")
        styled.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((640, 800)).save(tmp_path / name / "b.png")
        styled.resize((900, 900)).save(tmp_path / name / "val" / "c.png")
    return tmp_path / "photos", tmp_path / "style"


def tiny_style(tmp_path: Path, folders, steps: int = 30, model: dict | None = None, **train) -> Config:
    photos, style = folders
    return from_dict({
        "name": "tiny-style",
        "data": {"dataset": "photos", "path": str(photos), "style_path": str(style), "size": 32, "pairs": "unpaired"},
        "model": {"family": "unet", "width": 8, "levels": 2, "d_width": 8, "keep_luma": False} | (model or {}),
        "train": {"steps": steps, "batch_size": 2, "lr_g": 2e-3, "lr_d": 2e-3, "loss": "lsgan", "nce_patches": 64,
                  "ema_halflife_kimg": 0.05, "threads": 1} | train,
        "output": {"run_dir": str(tmp_path / "run"), "log_every": 5, "sample_every": 10, "checkpoint_every": 5},
    })  # fmt: skip


def test_patch_nce_is_low_when_each_query_matches_its_own_key():
    keys = torch.nn.functional.normalize(torch.randn(2, 64, 32, generator=torch.Generator().manual_seed(0)), dim=-1)
    matched = float(patch_nce(keys, keys))
    shuffled = float(patch_nce(keys[:, torch.randperm(64)], keys))
    assert matched < 1.0 < np.log(64) - 1 < shuffled  # chance is log(64) ≈ 4.2


def test_patch_nce_trains_the_queries_only():
    queries = torch.randn(1, 8, 4, requires_grad=True)
    keys = torch.randn(1, 8, 4, requires_grad=True)
    patch_nce(queries, keys).backward()
    assert queries.grad is not None and keys.grad is None  # keys are targets, as in CUT


def test_patch_distance_tells_a_style_from_the_same_images():
    generator = torch.Generator().manual_seed(0)
    photos = torch.rand(4, 3, 64, 64, generator=generator).cumsum(-1) / 64  # smooth gradients with noise
    more = torch.rand(4, 3, 64, 64, generator=generator).cumsum(-1) / 64
    styled = (photos * 4).round() / 4  # posterised: flat areas, hard edges
    same, other = patch_swd(photos, more), patch_swd(photos, styled)
    assert len(same) == len(other) == 3
    assert all(s * 3 < o for s, o in zip(same, other, strict=True))
    odd = [photos[0], photos[1, :, :41, :37]]  # any sizes, odd ones too
    assert patch_swd(odd, [more[2]]) == patch_swd(odd, [more[2]])


def test_unpaired_options_are_checked(tmp_path, folders):
    with pytest.raises(ConfigError, match="keep_luma = false"):
        from_dict(tiny_style(tmp_path, folders).to_dict() | {"model": {"family": "unet", "keep_luma": True}})
    assert tasks.run_class(tiny_style(tmp_path, folders)) is UnpairedRun
    assert tasks.run_class(tiny_style(tmp_path, folders, unpaired_method="cyclegan")) is CycleGanRun
    with pytest.raises(ConfigError, match="unpaired_method"):
        tiny_style(tmp_path, folders, unpaired_method="dualgan")


def test_a_few_steps_lower_patch_nce(tmp_path, folders):
    run = UnpairedRun(tiny_style(tmp_path, folders, adversarial_weight=0.0))
    photos, _ = run._batch(torch.Generator().manual_seed(0))

    def nce() -> float:
        with torch.no_grad():  # the same patches each time
            return float(run._patch_nce(photos, run.G_raw(photos), torch.Generator().manual_seed(1)))

    before = nce()
    for _ in range(40):
        run.train_step()
    assert nce() < 0.95 * before  # measured 0.91×; untrained it stays put (same patches, same weights)


def test_resume_restores_the_projections(tmp_path, folders):
    config = tiny_style(tmp_path, folders, steps=10)
    tasks.train(config)
    state = load_checkpoint(config.run_dir)
    assert set(state["helpers"]) == {"projections"}
    config.train.steps = 15
    resumed = UnpairedRun(config, resume=True)
    for name, tensor in resumed.helpers_raw["projections"].state_dict().items():
        assert torch.equal(tensor, state["helpers"]["projections"][name])
    straight = tiny_style(tmp_path / "straight", folders, steps=15)
    tasks.train(straight)
    resumed.train()
    a, b = load_checkpoint(config.run_dir), load_checkpoint(straight.run_dir)
    for key in a["G"]:
        assert torch.equal(a["G"][key], b["G"][key]), key  # 10 + 5 steps = 15 steps, bit for bit


def test_a_few_cyclegan_steps_lower_the_round_trip_error(tmp_path, folders):
    run = CycleGanRun(tiny_style(tmp_path, folders, adversarial_weight=0.0))
    photos, styles = run._batch(torch.Generator().manual_seed(0))
    G, back = run.G_raw, run.helpers_raw["backward"]

    def round_trips() -> float:
        with torch.no_grad():
            return float((back(G(photos)) - photos).abs().mean() + (G(back(styles)) - styles).abs().mean())

    before = round_trips()
    for _ in range(40):
        run.train_step()
    assert round_trips() < 0.9 * before  # measured 0.81×


def test_cyclegan_resumes_bit_for_bit_and_exports_the_forward_generator(tmp_path, folders, models):
    config = tiny_style(tmp_path, folders, steps=6, unpaired_method="cyclegan")
    tasks.train(config)
    assert set(load_checkpoint(config.run_dir)["helpers"]) == {"backward"}
    config.train.steps = 10
    tasks.train(config, resume=True)
    straight = tiny_style(tmp_path / "straight", folders, steps=10, unpaired_method="cyclegan")
    tasks.train(straight)
    a, b = load_checkpoint(config.run_dir), load_checkpoint(straight.run_dir)
    for part in ("G", "D"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)  # 6 + 4 steps = 10 steps
    for key in a["helpers"]["backward"]:
        assert torch.equal(a["helpers"]["backward"][key], b["helpers"]["backward"][key]), key
    report = evaluate_checkpoint(a)
    assert report["generated"]["swd"] > 0 and 0 < report["generated"]["structure"] <= 1
    exported = export_generator(a, models / "tiny-cycle.onnx", "tiny-cycle", metrics=report["generated"])
    assert exported.max_error < 1e-4 and "CycleGAN" in exported.document["description"]


def test_a_residual_generator_starts_as_the_identity_and_learns_a_change(tmp_path, folders):
    run = UnpairedRun(tiny_style(tmp_path, folders, model={"residual": True}, adversarial_weight=1.0, nce_weight=0.0))
    photos, _ = run._batch(torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(run.G_raw(photos), photos)
        for _ in range(10):
            with torch.enable_grad():
                run.train_step()
        assert (run.G_raw(photos) - photos).abs().mean() > 1e-3  # the adversarial loss alone moved it


def test_replicate_padding_leaves_no_border_to_draw_a_frame_on():
    from training.networks.unet import Generator

    flat = torch.full((1, 3, 64, 48), 0.4)
    for padding, frames in (("zeros", True), ("replicate", False)):
        torch.manual_seed(0)
        G = Generator(3, width=8, levels=3, keep_luma=False, padding=padding).eval()
        with torch.no_grad():
            result = G(flat)
        off_centre = float((result - result[:, :, 32:33, 24:25]).abs().max())
        assert (off_centre > 1e-4) == frames, off_centre  # zeros: the borders differ from the middle


@pytest.mark.parametrize("model", [{"residual": False}, {"residual": True, "padding": "replicate"}])
def test_a_style_model_trains_evaluates_exports_and_tiles_agree(tmp_path, folders, models, model):
    state = load_checkpoint(tasks.train(tiny_style(tmp_path, folders, steps=10, model=model)))
    assert state["style_sources"] == []  # the user's own folder: no Debian source to name
    report = evaluate_checkpoint(state)
    assert report["photos"] == ["c"] and report["styles"] == ["c"]
    assert report["generated"]["swd"] > 0 and 0 < report["generated"]["structure"] <= 1
    assert report["baselines"]["input_swd"] > 0
    exported = export_generator(state, models / "tiny-style.onnx", "tiny-style", metrics=report["generated"])
    assert exported.max_error < 1e-4
    info = read_model_info(exported.path)
    assert (info.task, info.input("image").channels, info.image_output.channels) == ("translate", 3, 3)
    assert "working_size" not in exported.document  # a style runs at full resolution, in tiles
    photo = np.asarray(Image.open(TEST_PHOTO).convert("RGB"))[:180, :150]
    whole = Engine(provider="cpu", tile=4096).process_image("tiny-style", photo).astype(int)
    tiled = Engine(provider="cpu", tile=48).process_image("tiny-style", photo).astype(int)
    assert whole.shape == photo.shape and np.abs(whole - tiled).max() <= 2


def test_evaluate_then_export_from_the_command_line_carry_the_scores_into_the_card(tmp_path, folders, capsys):
    run_dir = tiny_style(tmp_path, folders, steps=5).run_dir
    tasks.train(tiny_style(tmp_path, folders, steps=5))
    assert training_main(["evaluate", str(run_dir), "--json", str(run_dir / "metrics.json")]) == 0
    printed = capsys.readouterr().out
    assert "patch distance to the style" in printed and "the photos' own distance" in printed
    output = tmp_path / "exported" / "tiny-style.onnx"
    assert export_main([str(run_dir), "-o", str(output)]) == 0
    metrics = read_model_info(output).document["provenance"]["metrics"]
    assert {"swd", "swd_level0", "swd_level2", "structure"} <= set(metrics)
    card = output.with_suffix(".md").read_text()
    assert "the photo itself" in card and f"{metrics['swd']:.0f}" in card


def test_style_match_keeps_one_artists_paintings_and_holds_one_back(monkeypatch, tmp_path):
    names = {"gcompris-paintings": ["paintings--a-van-gogh-harvest", "details--a-van-gogh-cafe",
                                    "details--a-van-gogh-church", "paintings--hokusai-wave"],
             "wesnoth-story": ["wesnoth--story-battle"]}  # fmt: skip
    monkeypatch.setattr(
        unpaired,
        "debian_images_by_source",
        lambda kind: {source: [tmp_path / f"{name}.png" for name in files] for source, files in names.items()},
    )
    training, validation = unpaired.style_images("", "Van-Gogh")
    assert len(training) == 2 and len(validation) == 1
    assert all("van-gogh" in path.name for path in training + validation)
    with pytest.raises(ConfigError, match="picks 1 of Debian's paintings"):
        unpaired.style_images("", "hokusai")
    training, validation = unpaired.style_images("", "hokusai|story")  # two artists' works as one style
    assert sorted(p.stem for p in training + validation) == ["paintings--hokusai-wave", "wesnoth--story-battle"]
    assert list(unpaired.debian_paintings("van-gogh")) == ["gcompris-paintings"]  # what the card's licences name
    assert sorted(unpaired.debian_paintings("")) == ["gcompris-paintings", "wesnoth-story"]


def test_a_style_card_names_the_licences_of_the_paintings_it_used():
    from export.generator import _debian_data

    only_van_gogh = _debian_data("unpaired", "van-gogh", ["gcompris-paintings"])
    assert "public domain" in only_van_gogh.lower() and "Wesnoth" not in only_van_gogh
    assert "Wesnoth" in _debian_data("unpaired", "van-gogh", None)  # an older checkpoint: every source, to be safe


def test_a_residual_generator_clamps_only_in_use_so_an_overshoot_can_be_trained_back():
    from training.networks.unet import Generator

    G = Generator(3, width=8, levels=2, keep_luma=False, residual=True)
    torch.nn.init.constant_(G.head.bias, 0.5)  # pushes every bright pixel past 1
    photo = torch.full((1, 3, 16, 16), 0.8)
    G.train()
    overshot = G(photo)
    overshot.mean().backward()
    assert overshot.max() > 1 and G.head.bias.grad.abs().min() > 0  # a gradient to bring it back
    assert G.eval()(photo).max() == 1  # what is exported and validated stays in [0, 1]
