"""The training toolkit: networks, losses, the loop, exact resume, divergence, checkpoints, DDP and the CLI.

Runs use a tiny random stand-in for Fashion-MNIST and tiny networks: these tests check behaviour,
not image quality (that is what docs/benchmarks.md records).
"""

import csv
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from test_training_data import tiny_fashion  # noqa: E402

from training import loop, tasks  # noqa: E402
from training.augment import diff_augment  # noqa: E402
from training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from training.cli import main  # noqa: E402
from training.config import ConfigError, apply_override, from_dict, load_config  # noqa: E402
from training.data import fetch  # noqa: E402
from training.losses import LOSSES, discriminator_loss, generator_loss, gradient_penalty, r1_penalty  # noqa: E402
from training.networks import build  # noqa: E402
from training.networks.dcgan import Discriminator, Generator  # noqa: E402
from training.plot import plot_curves  # noqa: E402
from training.sampling import parse_seeds, seeded_inputs  # noqa: E402
from training.tasks import gan  # noqa: E402
from training.tasks.gan import GanRun  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_cached_classifier(tmp_path, monkeypatch):
    """Runs must not depend on whether this machine has trained the metric classifier already."""
    monkeypatch.setattr("training.classifier.CACHE_DIR", tmp_path / "no-classifier-cache")


@pytest.fixture
def data(tmp_path):
    return tiny_fashion(tmp_path / "fashion", n=40)


def tiny(tmp_path, data, run="run", **train):
    document = {
        "name": "tiny",
        "data": {"path": str(data), "size": 28},
        "model": {"width": 8, "latent_size": 16},
        "train": {"steps": 6, "batch_size": 8, "threads": 1, **train},
        "output": {"run_dir": str(tmp_path / run), "log_every": 2, "sample_every": 4, "checkpoint_every": 2,
                   "grid_seeds": 8},
    }  # fmt: skip
    return from_dict(document)


def write_toml(path, config):
    lines = [f'name = "{config.name}"']
    for section, values in config.to_dict().items():
        if isinstance(values, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {json_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_log(run_dir):
    with open(run_dir / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def json_value(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


# -- networks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_generator_and_discriminator_shapes(size, num_classes):
    config = from_dict({"model": {"width": 8, "latent_size": 16}})
    G, D = build(config.model, size, 3, num_classes)
    labels = torch.arange(5) % 10 if num_classes else None
    images = G(torch.randn(5, 16), labels)
    assert images.shape == (5, 3, size, size)
    assert images.abs().max() <= 1
    assert D(images, labels).shape == (5,)


def test_unsupported_size_and_missing_labels_are_clear_errors():
    with pytest.raises(ValueError, match=r"28, 32, 64"):
        Generator(size=48)
    with pytest.raises(ValueError, match="class labels"):
        Generator(latent_size=16, width=8, num_classes=10)(torch.randn(2, 16))


def test_spectral_norm_bounds_every_discriminator_layer():
    D = Discriminator(size=32, width=8, num_classes=10, use_spectral_norm=True)
    for _ in range(30):  # power iteration converges over forward passes
        D(torch.randn(4, 1, 32, 32), torch.arange(4))
    weights = [m.weight for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert len(weights) == 3 * 2 + 2  # two convolutions per resolution, the logit and the class embedding
    for weight in weights:
        assert torch.linalg.matrix_norm(weight.detach().flatten(1), ord=2) == pytest.approx(1.0, abs=0.05)


def test_projection_discriminator_depends_on_the_class():
    D = Discriminator(size=28, width=8, num_classes=10)
    images = torch.randn(1, 1, 28, 28).repeat(10, 1, 1, 1)
    assert D(images, torch.arange(10)).unique().numel() == 10


# -- losses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LOSSES)
def test_losses_reward_the_right_side(kind):
    real_target, fake_target = {"lsgan": (1.0, 0.0), "hinge": (1.0, -1.0)}.get(kind, (3.0, -3.0))
    real, fake, unsure = torch.full((8,), real_target), torch.full((8,), fake_target), torch.full((8,), 0.5)
    assert discriminator_loss(kind, real, fake) < discriminator_loss(kind, unsure, unsure)
    assert generator_loss(kind, real) < generator_loss(kind, fake)


def test_penalties_on_a_linear_critic():
    w = torch.randn(1, 4, 4)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731  ∇critic = w everywhere
    real = torch.randn(6, 1, 4, 4, requires_grad=True)
    assert r1_penalty(critic(real), real).item() == pytest.approx(w.square().sum().item(), rel=1e-5)
    expected = (w.norm() - 1).square().item()
    assert gradient_penalty(critic, real.detach(), torch.randn(6, 1, 4, 4)).item() == pytest.approx(expected, rel=1e-5)


def test_diff_augment_is_differentiable_and_checks_its_policy():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    out = diff_augment(x, "color,translation,cutout")
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert diff_augment(x, "") is x
    with pytest.raises(ValueError, match="unknown augmentation"):
        diff_augment(x, "rotate")


def test_translation_moves_content_without_changing_it():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0  # a square far enough from the border to survive a 2-px shift
    out = diff_augment(x, "translation")
    assert torch.equal(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))
    assert not torch.equal(out, x)


# -- the loop ----------------------------------------------------------------------------------------


def test_discriminator_steps_lower_its_loss(tmp_path, data):
    run = GanRun(tiny(tmp_path, data))
    real, _ = fetch(run.data, torch.arange(8))
    losses = [run.d_step(real, None)[0].item() for _ in range(15)]
    assert losses[-1] < 0.5 * losses[0]


def test_batches_shard_the_data_and_depend_only_on_the_step():
    ranks = [loop.Batches(12, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    first_epoch = [set(torch.cat([b.indices(i) for i in range(3)]).tolist()) for b in ranks]
    assert first_epoch[0].isdisjoint(first_epoch[1]) and len(first_epoch[0] | first_epoch[1]) == 12
    fresh = loop.Batches(12, 2, seed=3, rank=0, world_size=2)
    assert torch.equal(fresh.indices(7), ranks[0].indices(7))
    assert loop.Batches(10, 4, seed=0).indices(2).numel() == 4  # a batch may straddle two epochs


@pytest.mark.parametrize("conditional", [False, True])
def test_resume_is_bit_exact(tmp_path, data, conditional):
    """N steps, save, resume, N steps: the same weights, optimiser state and RNG as 2N straight steps."""
    config = tiny(tmp_path, data, steps=6, r1_gamma=0.1)
    config.model.conditional = conditional
    config.output.log_every, config.output.checkpoint_every = 1, 3
    path = write_toml(tmp_path / "tiny.toml", config)
    halves = ["--run-dir", str(tmp_path / "halves")]
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "straight")]) == 0
    assert main(["train", "--config", str(path), "--steps", "3", *halves]) == 0
    assert main(["train", "--config", str(path), "--resume", *halves]) == 0

    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "halves")
    assert a["step"] == b["step"] == 6
    for key in ("G", "G_ema", "D"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    for key in ("opt_G", "opt_D"):
        for moments_a, moments_b in zip(a[key]["state"].values(), b[key]["state"].values(), strict=True):
            assert all(torch.equal(moments_a[m], moments_b[m]) for m in moments_a)
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    rows = [read_log(tmp_path / run) for run in ("straight", "halves")]
    assert [r["step"] for r in rows[1]] == [str(i) for i in range(1, 7)]
    assert [r["d_loss"] for r in rows[0]] == [r["d_loss"] for r in rows[1]]


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(tmp_path, data):
    config = write_toml(tmp_path / "tiny.toml", tiny(tmp_path, data, steps=100_000))
    command = [sys.executable, "-m", "training", "train", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (checkpoint.exists() and load_checkpoint(checkpoint)["step"] >= 6):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    step = load_checkpoint(checkpoint)["step"]  # intact despite the kill: written by rename
    assert step >= 6

    result = subprocess.run(
        [*command, "--resume", "--steps", str(step + 4)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(checkpoint)["step"] == step + 4
    steps = [int(row["step"]) for row in read_log(tmp_path / "run")]
    assert steps == list(range(2, step + 5, 2))  # the curve continues: no gap, no repeated steps


def test_sigterm_stops_after_the_current_step_with_a_checkpoint(tmp_path, data, monkeypatch):
    original = GanRun.train_step

    def step_then_terminate(self):
        stats = original(self)
        if self.step == 3:  # between checkpoints (every 2 steps in tiny)
            os.kill(os.getpid(), signal.SIGTERM)
        return stats

    monkeypatch.setattr(GanRun, "train_step", step_then_terminate)
    before = signal.getsignal(signal.SIGTERM)
    tasks.train(tiny(tmp_path, data, steps=10))
    assert load_checkpoint(tmp_path / "run")["step"] == 3
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the caller's again


def test_a_fresh_run_will_not_overwrite_an_existing_one(tmp_path, data):
    tasks.train(tiny(tmp_path, data, steps=2))
    with pytest.raises(ConfigError, match="--resume"):
        GanRun(tiny(tmp_path, data, steps=2))


def test_nan_losses_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path, data, monkeypatch):
    calls = []

    def poisoned(kind, fake):
        calls.append(1)
        loss = generator_loss(kind, fake)
        return loss * math.nan if len(calls) > 4 else loss

    monkeypatch.setattr(gan, "generator_loss", poisoned)
    with pytest.raises(loop.TrainingDiverged, match="last good checkpoint") as failure:
        tasks.train(tiny(tmp_path, data, steps=10))
    assert "checkpoint.pt" in str(failure.value)
    state = load_checkpoint(tmp_path / "run")
    assert state["step"] == 4
    assert all(torch.isfinite(t).all() for t in state["G"].values())


def test_kept_checkpoints_let_a_run_go_back_to_before_a_collapse(tmp_path, data):
    config = tiny(tmp_path, data, steps=6)
    config.output.keep_every = 4  # checkpoints every 2 steps (tiny), every second one kept
    run_dir = tasks.train(config)
    kept = sorted(p.name for p in run_dir.glob("checkpoint-*.pt"))
    assert kept == ["checkpoint-000004.pt"]
    earlier, latest = load_checkpoint(run_dir / kept[0]), load_checkpoint(run_dir)
    assert (earlier["step"], latest["step"]) == (4, 6)
    assert not all(torch.equal(earlier["G"][k], latest["G"][k]) for k in latest["G"])
    (run_dir / "checkpoint-000004.pt").replace(run_dir / "checkpoint.pt")  # going back, as the README says
    config.train.steps = 8
    assert load_checkpoint(tasks.train(config, resume=True))["step"] == 8
    with pytest.raises(ConfigError, match=r"keep_every must be 0 or a multiple of output\.checkpoint_every"):
        from_dict({"output": {"checkpoint_every": 4, "keep_every": 6}})


def test_watching_a_run_writes_grids_log_and_curves(tmp_path, data):
    run_dir = tasks.train(tiny(tmp_path, data, steps=8))
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["step-000004.png", "step-000008.png"]
    rows = read_log(run_dir)
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    assert rows[1]["diversity"] and not rows[0]["diversity"]
    assert float(rows[-1]["images_per_s"]) > 0
    from PIL import Image

    assert Image.open(run_dir / "losses.png").size[0] > 600


def test_a_collapsed_generator_is_reported_after_the_warm_up(tmp_path, data, caplog):
    run = GanRun(tiny(tmp_path, data, steps=10))
    run.run_dir.mkdir(parents=True)
    run.rows = []
    with torch.no_grad():
        run.G_raw.to_image.weight.zero_()  # every seed now gives the same image
    with caplog.at_level(logging.WARNING, logger="training"):
        run._watch()  # step 0: an untrained G is not called collapsed
        assert "mode collapse" not in caplog.text
        run.step = 5
        run._watch()
    assert "possible mode collapse at step 5: samples from fixed seeds vary 0.00×" in caplog.text


def test_conditional_training_needs_labels(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (40, 40), (i * 60, 0, 0)).save(folder / f"{i}.png")
    config = tiny(tmp_path, folder)
    config.data.dataset, config.data.channels, config.model.conditional = "folder", 3, True
    with pytest.raises(ConfigError, match="sub-folder per class"):
        GanRun(config)


def test_cli_reports_bad_data_and_configs_in_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    config = tmp_path / "folder.toml"
    config.write_text('[data]\ndataset = "folder"\nsize = 32\nchannels = 3\n')
    assert main(["train", "--config", str(config), "--data", str(empty), "--run-dir", str(tmp_path / "r")]) == 2
    assert "no usable images" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such config file" in capsys.readouterr().err


# -- configuration -----------------------------------------------------------------------------------


def test_shipped_configs_load():
    configs = sorted((REPO / "training" / "configs").glob("*.toml"))
    assert len(configs) >= 4
    for path in configs:
        assert load_config(path, ["data.path=/images"]).name == path.stem  # folder configs need --data


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key train.stesp"):
        from_dict({"train": {"stesp": 5}})
    with pytest.raises(ConfigError, match="unknown section"):
        from_dict({"trian": {}})
    with pytest.raises(ConfigError, match=r"train.steps must be like"):
        from_dict({"train": {"steps": "many"}})
    with pytest.raises(ConfigError, match=r"train.loss must be one of"):
        from_dict({"train": {"loss": "wasserstein"}})
    with pytest.raises(ConfigError, match="d_batch_norm"):
        from_dict({"train": {"loss": "wgan-gp"}, "model": {"d_batch_norm": True}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nsteps = 1")
    with pytest.raises(ConfigError, match=r"bad.toml"):
        load_config(bad)


def test_overrides_parse_toml_values():
    config = from_dict({})
    apply_override(config, "train.lr_d=0.001")
    apply_override(config, "train.betas=[0.0, 0.99]")
    apply_override(config, "data.path=/some/where")
    assert (config.train.lr_d, config.train.betas, config.data.path) == (0.001, (0.0, 0.99), "/some/where")
    with pytest.raises(ConfigError, match=r"section.key=value"):
        apply_override(config, "steps=5")


# -- checkpoints and sampling ------------------------------------------------------------------------


class Payload:
    def __reduce__(self):
        return (print, ("this ran while loading",))


def test_checkpoints_never_unpickle_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "config": {}, "G": Payload()}, path)
    with pytest.raises(CheckpointError, match="not a readable gimp-gan checkpoint"):
        load_checkpoint(path)


def test_checkpoints_are_written_by_rename_and_damage_is_reported(tmp_path):
    path = tmp_path / "run" / "c.pt"
    save_checkpoint({"step": 1, "config": {}, "G": {"w": torch.ones(3)}}, path)
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "run" / "missing.pt")


def test_seeds_give_the_plugins_latents_and_classes():
    from gimp_gan_plugin.generation import latent_for_seed, seed_rng_after_latent

    z, labels, noise = seeded_inputs([0, 7, 123], 16, num_classes=10)
    assert noise is None
    for row, seed in enumerate([0, 7, 123]):
        assert np.array_equal(z[row].numpy(), latent_for_seed(seed, 16))
        assert labels[row] == seed_rng_after_latent(seed, 16).integers(10)
    assert parse_seeds("0-3,9") == [0, 1, 2, 3, 9]
    with pytest.raises(ValueError, match="seeds must look like"):
        parse_seeds("a-b")


def test_cli_samples_a_conditional_checkpoint(tmp_path, data, capsys):
    config = tiny(tmp_path, data, steps=2)
    config.model.conditional = True
    run_dir = tasks.train(config)
    out = tmp_path / "grid.png"
    assert main(["sample", str(run_dir), "--seeds", "0-9", "--class", "Trouser", "-o", str(out), "--columns", "5"]) == 0
    from PIL import Image

    assert Image.open(out).size == (5 * 30 + 2, 2 * 30 + 2)
    assert main(["sample", str(run_dir), "--class", "Hat", "-o", str(out)]) == 2
    assert "--class must be one of" in capsys.readouterr().err
    for psi in ("1", "0"):
        argv = ["sample", str(run_dir), "--seeds", "0-3", "--class", "0", "--truncation", psi, "-o", str(out)]
        assert main(argv) == 0
        grid = np.asarray(Image.open(out))
        cells = [grid[2:30, 2 + 30 * i : 30 * (i + 1)] for i in range(4)]  # one row of 28-px images, 2-px borders
        assert all(np.array_equal(cells[0], cell) for cell in cells[1:]) == (psi == "0")  # ψ = 0: the average image


def test_evaluate_measures_samples_and_the_real_floor_the_same_way(tmp_path, data, monkeypatch, capsys):
    from training.classifier import Classifier

    torch.manual_seed(0)
    classifier = Classifier().eval()  # untrained: the real classifier takes minutes; the code path is the same
    untrained = (classifier, {"test_accuracy": 0.1})
    monkeypatch.setattr("training.evaluation.load_classifier", lambda dataset, data_root: untrained)
    config = tiny(tmp_path, data, steps=2)
    config.model.conditional = True
    run_dir = tasks.train(config)
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(run_dir), "--samples", "20", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    generated, floor = report["generated"], report["real_floor"]
    assert generated.keys() == floor.keys() and "class_accuracy_9" in generated
    assert floor["fid"] < generated["fid"]  # random real images vs a barely trained G
    assert report["samples"] == 20 and report["checkpoint_step"] == 2
    printed = capsys.readouterr().out
    assert "real floor" in printed and "class_accuracy" in printed


def test_loss_curves_plot_with_gaps(tmp_path):
    steps = list(range(0, 100, 10))
    plot_curves(steps, {"a": [1.0] * 10, "b": [math.nan, *range(9)]}, tmp_path / "curves.png")
    from PIL import Image

    image = np.asarray(Image.open(tmp_path / "curves.png"))
    assert image.shape[2] == 3 and (image != 255).any()


# -- scale-out ---------------------------------------------------------------------------------------


def test_two_processes_train_identical_replicas(tmp_path, data):
    config = write_toml(tmp_path / "tiny.toml", tiny(tmp_path, data, steps=4, r1_gamma=0.1))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "training", "train", "--config", str(config)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "all 2 processes hold identical G and D weights" in result.stderr
    assert load_checkpoint(tmp_path / "run")["step"] == 4
