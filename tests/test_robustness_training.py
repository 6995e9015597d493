"""Damaged, foreign and mistaken input to `python -m training` and `python -m export`: one line `error: …`.

Each kind of bad checkpoint goes through every command that reads one (sample, evaluate, export and
train --resume); the data cases are a folder of one image or photo and one with damaged files.
"""

import copy
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402
from test_training import REPO, read_log, tiny, write_toml  # noqa: E402
from test_training_data import DAMAGED, tiny_fashion, write_damaged  # noqa: E402

from export.__main__ import main as export_main  # noqa: E402
from training import tasks  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.cli import main as training_main  # noqa: E402
from training.config import from_dict  # noqa: E402

TEST_PHOTO = REPO / "tests" / "data" / "ladybird.png"


@pytest.fixture(autouse=True)
def no_cached_classifier(tmp_path, monkeypatch):
    """No command here may get as far as the metric classifier: a bad checkpoint fails before it."""
    monkeypatch.setattr("training.classifier.CACHE_DIR", tmp_path / "no-classifier-cache")

    def refuse(*args, **kwargs):
        raise AssertionError("evaluate got past the checkpoint")

    monkeypatch.setattr("training.evaluation.load_classifier", refuse)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(config, checkpoint state, checkpoint bytes) of a tiny run of 2 steps."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.classifier.CACHE_DIR", root / "no-classifier-cache")
        config = tiny(root, tiny_fashion(root / "fashion", n=40), steps=2)
        run_dir = tasks.train(config)
    return config, load_checkpoint(run_dir), (run_dir / "checkpoint.pt").read_bytes()


def assert_one_line_error(rc, capsys, *words):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert all(word in lines[0] for word in words), lines[0]


# -- checkpoints ---------------------------------------------------------------------------------------


class Payload:
    def __reduce__(self):
        return (print, ("this ran while loading",))


def zip_of_something_else() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes/readme.txt", "not a checkpoint")
    return buffer.getvalue()


# name -> the file's bytes, made from a good checkpoint's bytes
BAD_FILES = {
    "garbage": lambda good: np.random.default_rng(0).bytes(5000),
    "empty": lambda good: b"",
    "cut-early": lambda good: good[:200],
    "cut-in-half": lambda good: good[: len(good) // 2],
    "cut-at-the-end": lambda good: good[:-30],
    "another-zip": lambda good: zip_of_something_else(),
    "a-pickle-of-code": lambda good: pickle.dumps(Payload()),
    "a-plain-pickle": lambda good: pickle.dumps({"step": 1, "config": {}}),
    "text": lambda good: b"[train]\nsteps = 2\n",
}


def config_change(change):
    def edit(state):
        change(state["config"])
        return state

    return edit


def first_tensor_reshaped(weights):
    key = next(iter(weights))
    return weights | {key: torch.zeros(3, 5)}


# name -> a change to a good checkpoint's dict, which is then saved as a checkpoint
BAD_STATES = {
    "the-classifier-cache": lambda s: {"state_dict": s["G"], "info": {"recipe": 1}},
    "a-tensor": lambda s: torch.ones(3),
    "a-list": lambda s: [s["G"]],
    "config-not-a-table": lambda s: s | {"config": "fashion-dcgan"},
    "config-unknown-family": config_change(lambda c: c["model"].update(family="stylegan9")),
    "config-unknown-key": config_change(lambda c: c["train"].update(stesp=5)),
    "config-negative-width": config_change(lambda c: c["model"].update(width=-8)),
    "config-odd-size": config_change(lambda c: c["data"].update(size=30)),
    "config-wrong-type": config_change(lambda c: c["train"].update(steps="many")),
    "config-zero-log-every": config_change(lambda c: c["output"].update(log_every=0)),
    "config-betas-of-words": config_change(lambda c: c["train"].update(betas=["a", "b"])),
    "config-number-keys": config_change(lambda c: c.update({1: {}})),
    "config-section-not-a-table": config_change(lambda c: c.update(model=3)),
    "no-G_ema": lambda s: {k: v for k, v in s.items() if k != "G_ema"},
    "G_ema-not-weights": lambda s: s | {"G_ema": {k: 1.0 for k in s["G_ema"]}},
    "G_ema-of-another-shape": lambda s: s | {"G_ema": first_tensor_reshaped(s["G_ema"])},
    "G_ema-missing-a-tensor": lambda s: s | {"G_ema": dict(list(s["G_ema"].items())[1:])},
    "G_ema-with-an-extra-tensor": lambda s: s | {"G_ema": s["G_ema"] | {"extra.weight": torch.ones(2)}},
    "G_ema-of-sparse-tensors": lambda s: s | {"G_ema": {k: v.to_sparse() for k, v in s["G_ema"].items()}},
    "G-of-another-shape": lambda s: s | {"G": first_tensor_reshaped(s["G"]), "G_ema": first_tensor_reshaped(s["G"])},
    "classes-not-a-list": lambda s: s | {"classes": "Trouser"},
    "classes-of-numbers": lambda s: s | {"classes": [1, 2]},
    "conditional-without-classes": config_change(lambda c: c["model"].update(conditional=True)),
    "channels-2": lambda s: s | {"channels": 2},
    "step-negative": lambda s: s | {"step": -1},
    "step-as-text": lambda s: s | {"step": "2"},
    "no-seconds": lambda s: {k: v for k, v in s.items() if k != "seconds"},
}

# what only resuming reads
BAD_FOR_RESUMING = {
    "no-D": lambda s: s | {"D": None},
    "D-of-another-shape": lambda s: s | {"D": first_tensor_reshaped(s["D"])},
    "opt_G-of-another-network": lambda s: s | {"opt_G": {"state": {}, "param_groups": []}},
    "opt_D-missing": lambda s: {k: v for k, v in s.items() if k != "opt_D"},
    "rng-not-a-tensor": lambda s: s | {"rng": {"torch": "seed"}},
    "rng-missing": lambda s: {k: v for k, v in s.items() if k != "rng"},
}


def write_bad_checkpoint(case, trained, path):
    _, state, good = trained
    path.parent.mkdir(parents=True, exist_ok=True)
    if case in BAD_FILES:
        path.write_bytes(BAD_FILES[case](good))
    else:
        changes = BAD_STATES | BAD_FOR_RESUMING
        save_checkpoint(changes[case](copy.deepcopy(state)), path)
    return path


@pytest.mark.parametrize("case", [*BAD_FILES, *BAD_STATES])
@pytest.mark.parametrize("command", ["sample", "evaluate", "export", "resume"])
def test_a_bad_checkpoint_is_one_line_in_every_command(tmp_path, trained, capsys, command, case):
    path = write_bad_checkpoint(case, trained, tmp_path / "run" / "checkpoint.pt")
    if command == "sample":
        rc = training_main(["sample", str(path), "-o", str(tmp_path / "grid.png")])
    elif command == "evaluate":
        rc = training_main(["evaluate", str(path.parent), "--samples", "20"])
    elif command == "export":
        rc = export_main([str(path), "-o", str(tmp_path / "out" / "model.onnx")])
    else:
        config = copy.deepcopy(trained[0])
        config.output.run_dir = str(path.parent)
        rc = training_main(["train", "--config", str(write_toml(tmp_path / "tiny.toml", config)), "--resume"])
    assert_one_line_error(rc, capsys, str(path) if case in BAD_FILES else "")
    assert not (tmp_path / "grid.png").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", BAD_FOR_RESUMING)
def test_a_checkpoint_that_cannot_continue_this_run_is_one_line(tmp_path, trained, capsys, case):
    path = write_bad_checkpoint(case, trained, tmp_path / "run" / "checkpoint.pt")
    config = copy.deepcopy(trained[0])
    config.output.run_dir = str(path.parent)
    rc = training_main(["train", "--config", str(write_toml(tmp_path / "tiny.toml", config)), "--resume"])
    assert_one_line_error(rc, capsys, str(path))


def test_resuming_after_the_data_gained_a_class_is_one_line(tmp_path, capsys):
    folder = tmp_path / "shapes"
    for index, name in enumerate(["circles", "squares"]):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (80 * index, 30 * i, 0)).save(folder / name / f"{i}.png")
    config = tiny(tmp_path, folder, steps=2)
    config.data.dataset, config.data.channels, config.model.conditional = "folder", 3, True
    tasks.train(config)
    capsys.readouterr()  # the run's progress lines
    (folder / "stars").mkdir()
    Image.new("RGB", (32, 32)).save(folder / "stars" / "0.png")
    config.train.steps = 4
    rc = training_main(["train", "--config", str(write_toml(tmp_path / "tiny.toml", config)), "--resume"])
    assert_one_line_error(rc, capsys, "circles, squares", "circles, squares, stars")


def test_the_real_commands_print_one_line_and_no_warnings(tmp_path, trained):
    """In a fresh process: torch's warnings about foreign pickles and tracebacks would show here."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for case, command in [("a-pickle-of-code", "export"), ("G_ema-of-another-shape", "training")]:
        path = write_bad_checkpoint(case, trained, tmp_path / case / "checkpoint.pt")
        argv = [str(path), "-o", str(tmp_path / "m.onnx")] if command == "export" else ["sample", str(path)]
        result = subprocess.run(
            [sys.executable, "-m", command, *argv], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: "), result.stderr


# -- data ----------------------------------------------------------------------------------------------


def folder_config(tmp_path, folder, steps=4):
    config = tiny(tmp_path, folder, steps=steps)
    config.data.dataset, config.data.channels = "folder", 3
    return config


def test_a_folder_of_one_image_trains_and_lists_what_it_skipped(tmp_path, caplog):
    folder = tmp_path / "one"
    write_damaged(folder)
    Image.open(TEST_PHOTO).save(folder / "ladybird.png")
    with caplog.at_level("INFO", logger="training"):
        run_dir = tasks.train(folder_config(tmp_path, folder))
    assert f"1 images ({len(DAMAGED)} unreadable skipped: " in caplog.text
    assert "no mode-collapse check" in caplog.text and "mode collapse at" not in caplog.text
    rows = read_log(run_dir)
    assert int(rows[-1]["step"]) == 4 and not any(row["diversity"] for row in rows)


def test_enhance_trains_on_a_folder_of_one_photo(tmp_path, caplog):
    folder = tmp_path / "photo"
    write_damaged(folder)
    Image.open(TEST_PHOTO).convert("RGB").crop((64, 64, 192, 192)).save(folder / "crop.png")
    config = from_dict({
        "name": "one-photo",
        "data": {"dataset": "photos", "path": str(folder), "size": 32},
        "model": {"family": "srvgg", "scale": 2, "width": 8, "blocks": 2},
        "train": {"steps": 4, "batch_size": 4, "threads": 1},
        "output": {"run_dir": str(tmp_path / "run"), "log_every": 2, "sample_every": 2, "checkpoint_every": 2},
    })  # fmt: skip
    with caplog.at_level("INFO", logger="training"):
        run_dir = tasks.train(config)
    assert f"({len(DAMAGED)} unreadable skipped: " in caplog.text
    assert load_checkpoint(run_dir)["step"] == 4 and read_log(run_dir)[-1]["psnr_y"]


def test_sampling_an_enhance_model_is_one_line(tmp_path, capsys):
    folder = tmp_path / "photo"
    folder.mkdir()
    Image.open(TEST_PHOTO).convert("RGB").crop((64, 64, 192, 192)).save(folder / "crop.png")
    config = from_dict({
        "data": {"dataset": "photos", "path": str(folder), "size": 32},
        "model": {"family": "srvgg", "scale": 2, "width": 8, "blocks": 1},
        "train": {"steps": 1, "batch_size": 2, "threads": 1},
        "output": {"run_dir": str(tmp_path / "run"), "log_every": 1, "sample_every": 1, "checkpoint_every": 1},
    })  # fmt: skip
    run_dir = tasks.train(config)
    capsys.readouterr()  # the run's progress lines
    assert_one_line_error(training_main(["sample", str(run_dir)]), capsys, "enhance model")


# -- command-line mistakes -----------------------------------------------------------------------------


@pytest.mark.parametrize("seeds", ["x", "-3", "1--2", "5-2", "0-99999999999", "1,,2", "", "0.5", "1e3", "³"])
def test_mistyped_seed_lists_are_one_line(tmp_path, trained, capsys, seeds):
    path = write_bad_checkpoint("garbage", trained, tmp_path / "never-read.pt")  # seeds are checked first
    assert_one_line_error(training_main(["sample", str(path), "--seeds", seeds]), capsys, "seeds")


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "run", "--columns", "0"],
        ["evaluate", "run", "--samples", "-1"],
        ["train", "--config", "c", "--steps", "0"],
    ],
)
def test_counts_below_one_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        training_main(argv)
    assert stopped.value.code == 2 and "must be a whole number ≥ 1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["sample", "evaluate"])
@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "half"])
def test_truncation_outside_0_to_1_is_refused_by_the_parser(command, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        training_main([command, "run", "--truncation", value])
    assert stopped.value.code == 2 and "must be between 0 and 1" in capsys.readouterr().err


def test_a_grid_that_cannot_be_written_is_one_line(tmp_path, trained, capsys):
    path = tmp_path / "c.pt"
    save_checkpoint(trained[1], path)
    (tmp_path / "grid.png").mkdir()  # a folder where the grid should go
    assert_one_line_error(training_main(["sample", str(path), "-o", str(tmp_path / "grid.png")]), capsys, "grid.png")


def test_too_few_samples_to_measure_is_one_line_before_the_classifier(tmp_path, trained, capsys):
    path = tmp_path / "c.pt"
    save_checkpoint(trained[1], path)
    assert_one_line_error(training_main(["evaluate", str(path), "--samples", "3"]), capsys, "--samples", "at least 4")
