"""A style-based generator from checkpoint to engine: export (one graph for truncation, mixing, interpolation
and directions), the metadata's styles block, and what the engine does with seeds, levels and noise."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from test_training import tiny  # noqa: E402
from test_training_data import tiny_fashion  # noqa: E402

from export.__main__ import main as export_main  # noqa: E402
from export.generator import export_generator  # noqa: E402
from gimp_gan_plugin import Engine, GimpGanError  # noqa: E402
from gimp_gan_plugin.generation import StyleEdit, latent_for_seed, seed_rng_after_latent  # noqa: E402
from gimp_gan_plugin.modelformat import read_model_info  # noqa: E402
from training import tasks  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.sampling import load_generator  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A conditional 32-px style-based generator after a few steps, its noise made visible."""
    root = tmp_path_factory.mktemp("style")
    config = tiny(root, tiny_fashion(root / "fashion", n=40), steps=4)
    config.model.family, config.model.width, config.model.conditional = "stylegan", 8, True
    config.data.size = 32
    state = load_checkpoint(tasks.train(config))
    for name in state["G_ema"]:
        if name.endswith("noise_strength"):
            state["G_ema"][name] = torch.tensor(0.5)
    return state


@pytest.fixture
def model(checkpoint, models):
    export_generator(checkpoint, models / "tiny-style.onnx", "tiny-style")
    return "tiny-style"


def test_export_matches_pytorch_for_every_input_and_describes_the_styles(checkpoint, models):
    report = export_generator(checkpoint, models / "tiny-style.onnx", "tiny-style")
    assert report.max_error < 1e-4  # over batches 1-5 and 1-3 latents per image, with mixes, offsets, noise, classes
    info = read_model_info(report.path)
    styles = info.styles
    assert (styles.layers, styles.w_size) == (8, 16) and info.output_size == (32, 32)
    assert styles.levels == {"coarse": (0, 3), "middle": (3, 5), "fine": (5, 8)}
    assert len(styles.directions) == 8 and all(d.scale > 0 for d in styles.directions)
    vectors = np.array([d.vector for d in styles.directions])
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(8), atol=1e-5)  # SeFa: orthonormal eigenvectors
    assert [t.role for t in info.inputs][:3] == ["latents", "style_mix", "style_offset"]
    assert len(info.inputs_with_role("noise")) == 7 and info.conditional


def test_directions_can_be_labelled_on_export_for_the_card_and_metadata(checkpoint, models, tmp_path, capsys):
    save_checkpoint(checkpoint, tmp_path / "run" / "checkpoint.pt")
    out = models / "labelled.onnx"
    args = [str(tmp_path / "run"), "-o", str(out), "--direction-label", "2=sleeve length"]
    assert export_main([*args, "--direction-label", "1 = brightness"]) == 0
    labels = [d.label for d in read_model_info(out).styles.directions]
    assert labels[:3] == ["brightness", "sleeve length", "direction 3"]
    assert "labelled by what they visibly change: 1 brightness, 2 sleeve length" in out.with_suffix(".md").read_text()
    assert export_main([*args, "--direction-label", "9=too far"]) == 2
    assert export_main([*args, "--direction-label", "sleeves"]) == 2
    err = capsys.readouterr().err
    assert "direction 9 does not exist: this model has directions 1 to 8" in err and "write K=TEXT" in err


def test_a_seed_is_the_same_image_as_in_pytorch(checkpoint, model):
    G = load_generator(checkpoint)[0]
    rng = seed_rng_after_latent(3, 16)
    shapes = G.synthesis.noise_shapes()
    noise = [torch.from_numpy(rng.standard_normal(shape).astype(np.float32))[None] for shape in shapes]
    label = torch.tensor([int(rng.integers(10))])
    z = torch.from_numpy(latent_for_seed(3, 16))[None]
    with torch.no_grad():
        expected = (G.synthesis(G.styles(z, label, truncation=0.7), noise)[0].permute(1, 2, 0).numpy() + 1) / 2
    image = Engine().generate(model, [3], truncation=0.7)[0]
    np.testing.assert_allclose(image, expected.clip(0, 1), atol=1e-5)


def test_truncation_zero_gives_one_image_for_every_seed_of_a_class(model):
    engine = Engine()
    average = engine.generate(model, [1, 2, 3], truncation=0.0, class_label=4, edit=StyleEdit(noise=False))
    assert np.array_equal(average[0], average[1]) and np.array_equal(average[0], average[2])
    assert not np.array_equal(*engine.generate(model, [1, 2], class_label=4, edit=StyleEdit(noise=False)))


def test_mixing_takes_exactly_the_named_layers_from_the_second_seed(model):
    engine = Engine()
    plain = engine.generate(model, [1], class_label=0)[0]
    assert np.array_equal(engine.generate(model, [1], class_label=0, edit=StyleEdit(mix_seed=1))[0], plain)
    mixed = {
        level: engine.generate(model, [1], class_label=0, edit=StyleEdit(mix_seed=9, mix_level=level))[0]
        for level in ("coarse", "middle", "fine")
    }
    assert all(not np.array_equal(image, plain) for image in mixed.values())
    assert len({image.tobytes() for image in mixed.values()}) == 3


def test_interpolation_in_w_starts_and_ends_at_the_two_seeds(model):
    engine, quiet = Engine(), StyleEdit(noise=False)
    frames = engine.interpolate(model, 4, 8, 5, class_label=2, edit=quiet)
    ends = engine.generate(model, [4, 8], class_label=2, edit=quiet)
    assert frames.shape[0] == 5
    np.testing.assert_array_equal(frames[0], ends[0])
    np.testing.assert_allclose(frames[-1], ends[1], atol=1e-6)
    assert not np.array_equal(frames[2], frames[0]) and not np.array_equal(frames[2], frames[-1])


def test_directions_move_the_image_and_an_amount_of_zero_changes_nothing(model):
    engine = Engine()
    plain = engine.generate(model, [5])[0]
    assert np.array_equal(engine.generate(model, [5], edit=StyleEdit(directions=((0, 0.0),)))[0], plain)
    assert not np.array_equal(engine.generate(model, [5], edit=StyleEdit(directions=((0, 3.0),)))[0], plain)
    with pytest.raises(GimpGanError, match="direction 9 does not exist: this model has directions 1 to 8"):
        engine.generate(model, [5], edit=StyleEdit(directions=((8, 1.0),)))


def test_the_noise_seed_changes_only_the_stochastic_detail(model):
    engine = Engine()
    plain = engine.generate(model, [6, 7])
    same_noise = engine.generate(model, [6, 7], edit=StyleEdit(noise_seed=0))
    assert np.array_equal(same_noise, engine.generate(model, [6, 7], edit=StyleEdit(noise_seed=0)))
    assert not np.array_equal(same_noise[0], plain[0])
    detail = np.abs(same_noise[0] - plain[0]).mean()
    other_seed = np.abs(plain[1] - plain[0]).mean()
    assert 0 < detail < other_seed  # the same style with other noise is closer than another seed
    silent = engine.generate(model, [6], edit=StyleEdit(noise=False))[0]
    assert not np.array_equal(silent, plain[0])


def test_style_options_on_a_z_only_generator_are_refused(generator):
    with pytest.raises(GimpGanError, match="not a style-based generator"):
        Engine().generate(generator, [1], edit=StyleEdit(mix_seed=2))
    with pytest.raises(GimpGanError, match="has no noise inputs"):
        Engine().generate(generator, [1], edit=StyleEdit(noise=False))


def test_the_command_line_mixes_edits_resizes_and_draws_the_style_mixing_grid(model, tmp_path, capsys):
    from PIL import Image

    from gimp_gan_plugin.cli import main

    assert main(["models"]) == 0
    assert "style-based (8 directions)" in capsys.readouterr().out
    out = tmp_path / "one.png"
    assert main(["generate", "--model", model, "--seed", "2", "--mix-seed", "5", "--mix", "coarse", "--direction",
                 "1", "--amount", "2", "--noise-seed", "3", "--size", "64", "-o", str(out), "-q"]) == 0  # fmt: skip
    expected = Engine().generate(model, [2], edit=StyleEdit(mix_seed=5, mix_level="coarse", directions=((0, 2.0),),
                                                            noise_seed=3))  # fmt: skip
    assert Image.open(out).size == (64, 64)
    assert main(["generate", "--model", model, "--seed", "2", "--mix-seed", "5", "--mix", "coarse", "--direction",
                 "1", "--amount", "2", "--noise-seed", "3", "-o", str(out), "-q"]) == 0  # fmt: skip
    assert np.array_equal(np.asarray(Image.open(out)), np.rint(expected[0, :, :, 0] * 255).astype(np.uint8))
    grid = tmp_path / "grid"
    assert main(["generate", "--model", model, "--count", "3", "--mix-seed", "7,8", "--grid", "-o", str(grid),
                 "-q"]) == 0  # fmt: skip
    assert Image.open(grid / "grid.png").size == (3 * 32 + 2 * 2, 4 * 32 + 3 * 2)  # 1 + 2 columns, 1 + 3 rows
    assert main(["generate", "--model", model, "--count", "3", "--mix-seed", "7,8", "--grid", "--size", "48", "-o",
                 str(grid), "-q"]) == 0  # fmt: skip
    assert Image.open(grid / "grid.png").size == (3 * 48 + 2 * 2, 4 * 48 + 3 * 2)  # --size: each cell's
    assert main(["generate", "--model", model, "--direction", "1", "-o", str(out)]) == 1  # no --amount
    assert main(["generate", "--model", model, "--mix-seed", "7,8", "-o", str(out)]) == 1  # several need --grid


def test_training_samples_and_evaluation_use_the_seeds_noise_as_the_engine_does(checkpoint, model):
    from training.sampling import generate, noise_shapes, seeded_inputs

    G = load_generator(checkpoint)[0]
    z, labels, noise = seeded_inputs([3, 9], 16, 10, None, noise_shapes(G))
    images = ((generate(G, z, labels, noise) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(images, Engine().generate(model, [3, 9]), atol=1e-5)


def test_evaluate_samples_at_a_truncation_as_the_engine_does(checkpoint, model, monkeypatch):
    from training.classifier import Classifier
    from training.evaluation import evaluate_checkpoint, evaluate_generator
    from training.sampling import generate, noise_shapes, seeded_inputs

    G = load_generator(checkpoint)[0]
    z, labels, noise = seeded_inputs([3, 9], 16, 10, 4, noise_shapes(G))
    images = ((generate(G, z, labels, noise, truncation=0.5) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(images, Engine().generate(model, [3, 9], class_label=4, truncation=0.5), atol=1e-5)
    torch.manual_seed(0)
    untrained = (Classifier().eval(), {"test_accuracy": 0.1})
    monkeypatch.setattr("training.evaluation.load_classifier", lambda dataset, data_root: untrained)
    full, average = evaluate_generator(checkpoint, 20, truncations=(1.0, 0.0))
    assert average["truncation"] == 0.0 and full["generated"]["fid"] != average["generated"]["fid"]
    assert full["real_floor"] == average["real_floor"]
    assert evaluate_checkpoint(checkpoint, 20, truncation=0.0)["generated"] == average["generated"]


def test_the_gimp_runtime_worker_takes_the_style_fields(model):
    from test_worker import run_worker

    fields = {"mix_seed": 5, "mix_level": "middle", "directions": [[2, -1.5]], "noise_seed": 1, "noise": False}
    (result, [data]), *_ = [
        m for m in run_worker({"command": "generate", "model": model, "seeds": [3], **fields}) if "result" in m[0]
    ]
    images = np.frombuffer(data, np.float32).reshape(result["arrays"][0]["shape"])
    edit = StyleEdit(mix_seed=5, mix_level="middle", directions=((2, -1.5),), noise_seed=1, noise=False)
    assert np.array_equal(images, Engine("cpu").generate(model, [3], edit=edit))


def test_the_shipped_emoji_are_opaque_figures_on_transparent_backgrounds(bundled_engine):
    images = bundled_engine("emoji-style").generate("emoji-style", range(8))
    assert images.shape == (8, 64, 64, 4)
    alpha = images[..., 3]
    corners = np.concatenate([alpha[:, :6, :6], alpha[:, :6, -6:], alpha[:, -6:, :6], alpha[:, -6:, -6:]], axis=1)
    assert corners.mean() < 0.08  # the held-out emoji: 0.014
    assert (alpha[:, 24:40, 24:40] > 0.9).mean() > 0.6  # their centres: 0.86
