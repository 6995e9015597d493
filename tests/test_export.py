"""Export: a trained checkpoint becomes a verified model-format-1 ONNX file that the engine runs.

The end-to-end test is the contract between the two halves: seed S through `python -m training
sample` (PyTorch) and through the engine (onnxruntime) is the same image.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
from test_training import tiny  # noqa: E402
from test_training_data import tiny_fashion  # noqa: E402

import export.__main__ as export_command  # noqa: E402
from export.__main__ import main  # noqa: E402
from export.generator import (  # noqa: E402
    CARD_MARKER,
    INDEX_HEADER,
    NAME_PATTERN,
    ExportError,
    export_generator,
    write_atomically,
)
from gimp_gan_plugin import Engine  # noqa: E402
from gimp_gan_plugin.modelformat import read_model_info  # noqa: E402
from training import tasks  # noqa: E402
from training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from training.sampling import load_generator, seeded_inputs  # noqa: E402


@pytest.fixture(autouse=True)
def no_cached_classifier(tmp_path, monkeypatch):
    monkeypatch.setattr("training.classifier.CACHE_DIR", tmp_path / "no-classifier-cache")


@pytest.mark.parametrize("conditional", [False, True])
def test_an_exported_generator_gives_pytorchs_image_for_each_seed(tmp_path, models, conditional):
    config = tiny(tmp_path, tiny_fashion(tmp_path / "fashion", n=40), steps=2)
    config.model.conditional = conditional
    state = load_checkpoint(tasks.train(config))
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
    z, labels, _ = seeded_inputs(seeds, G.latent_size, len(classes), class_label)
    with torch.no_grad():
        torch_images = ((G(z, labels) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert engine_images.shape == torch_images.shape == (3, 28, 28, 1)
    assert np.abs(engine_images - torch_images).max() < 1e-5


def test_the_command_writes_the_model_and_its_card(tmp_path, models, capsys):
    run_dir = tasks.train(tiny(tmp_path, tiny_fashion(tmp_path / "fashion", n=40), steps=2))
    out = models / "mine.onnx"
    assert main([str(run_dir), "-o", str(out), "--name", "mine", "--title", "Mine"]) == 0
    assert "max |PyTorch − ONNX|" in capsys.readouterr().out
    card = out.with_suffix(".md").read_text()
    assert card.startswith(f"{CARD_MARKER}\n# Mine (`mine`)") and "2 generator steps" in card
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
    state = load_checkpoint(tasks.train(tiny(tmp_path, tiny_fashion(tmp_path / "fashion", n=40), steps=2)))
    full = export_generator(state, models / "full.onnx", "full")
    half = export_generator(state, models / "half.onnx", "half", fp16=True)
    assert full.max_error < half.max_error <= 1e-2
    assert half.path.stat().st_size < 0.6 * full.path.stat().st_size
    engine = Engine(provider="cpu")
    a, b = engine.generate("full", [1, 2]), engine.generate("half", [1, 2])
    assert a.dtype == b.dtype == np.float32
    assert np.abs(a - b).max() < 1e-2


# -- names, paths and the files beside the model ------------------------------------------------------

NAMES = ["a", "0", "fashion-dcgan", "enhance-x4.v2_b", "a" * 64]  # model names
NOT_NAMES = ["", "A", "Fashion", "a\n", "\na", "a ", "a b", "../x", "../../x", "x/y", "x\\y", "-a", ".a", "_a",
             "é", "a:b", "a" * 65]  # fmt: skip


@pytest.mark.parametrize("name", NAMES + NOT_NAMES)
def test_export_and_the_model_reader_agree_on_names(name):
    from gimp_gan_plugin.modelformat import NAME_PATTERN as READERS_PATTERN

    assert bool(NAME_PATTERN.fullmatch(name)) == (name in NAMES) == bool(READERS_PATTERN.fullmatch(name))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(run folder, model bytes, report) of one real export, which the tests of the files around it reuse."""
    root = tmp_path_factory.mktemp("exported")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.classifier.CACHE_DIR", root / "no-classifier-cache")
        run_dir = tasks.train(tiny(root, tiny_fashion(root / "fashion", n=40), steps=2))
    report = export_generator(load_checkpoint(run_dir), root / "tiny.onnx", "tiny")
    return run_dir, report.path.read_bytes(), report


@pytest.fixture
def quick_export(tmp_path, monkeypatch, exported):
    """`python -m export` with the export itself replaced by writing the exported model (into tmp_path only)."""
    run_dir, model, report = exported
    calls = []

    def write_the_model(state, path, name, *args):
        assert Path(path).resolve().is_relative_to(tmp_path), f"would write {path}"
        calls.append(Path(path))
        write_atomically(Path(path), model)
        return dataclasses.replace(report, path=Path(path))

    monkeypatch.setattr(export_command, "export_generator", write_the_model)
    return run_dir, calls


def files_below(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_one_line_error(rc, capsys, *words):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert all(word in lines[0] for word in words), lines[0]


@pytest.mark.parametrize("name", NOT_NAMES)
def test_a_name_that_is_not_a_model_name_writes_nothing(tmp_path, monkeypatch, quick_export, capsys, name):
    monkeypatch.setattr(export_command, "BUNDLED_MODELS", tmp_path / "bundled")
    (tmp_path / "bundled").mkdir()
    run_dir, calls = quick_export
    before = files_below(tmp_path)
    for output in ([], ["-o", str(tmp_path / "bundled" / "m.onnx")]):
        assert_one_line_error(main([str(run_dir), f"--name={name}", *output]), capsys, "--name", "not a model name")
    assert not calls and files_below(tmp_path) == before


def test_the_runs_own_name_must_be_a_model_name_too(tmp_path, quick_export, capsys):
    run_dir, calls = quick_export
    state = load_checkpoint(run_dir)
    state["config"]["name"] = "My Run"
    save_checkpoint(state, tmp_path / "run" / "checkpoint.pt")
    output = tmp_path / "models" / "m.onnx"
    assert_one_line_error(main([str(tmp_path / "run"), "-o", str(output)]), capsys, "'My Run'", "--name")
    assert main([str(tmp_path / "run"), "-o", str(output), "--name", "my-run"]) == 0 and calls == [output]


@pytest.mark.parametrize("case", ["a-folder", "under-a-file", "deep-under-a-file", "not-onnx", "read-only"])
def test_an_output_that_cannot_be_written_is_one_line_before_the_export(
    tmp_path, monkeypatch, quick_export, capsys, case
):
    run_dir, calls = quick_export
    (tmp_path / "folder.onnx").mkdir()
    (tmp_path / "file.txt").write_text("a file")
    (tmp_path / "locked").mkdir()
    output = {
        "a-folder": tmp_path / "folder.onnx",
        "under-a-file": tmp_path / "file.txt" / "m.onnx",
        "deep-under-a-file": tmp_path / "file.txt" / "sub" / "m.onnx",
        "not-onnx": tmp_path / "m.md",
        "read-only": tmp_path / "locked" / "sub" / "m.onnx",
    }[case]
    if case == "read-only":
        (tmp_path / "locked").chmod(0o500)
        if os.geteuid() == 0:  # root writes anyway: let the permission check see what a user's would
            allowed = os.access
            monkeypatch.setattr(
                "export.generator.os.access",
                lambda path, mode: Path(path) != tmp_path / "locked" and allowed(path, mode),
            )
    before = files_below(tmp_path)
    assert_one_line_error(main([str(run_dir), "-o", str(output)]), capsys)
    assert not calls and files_below(tmp_path) == before and not (tmp_path / "locked" / "sub").exists()


OUR_INDEX = INDEX_HEADER + "\n| `old` | generate | an old model | 28×28 | – |\n"
OUR_CARD = f"{CARD_MARKER}\n# An old card\n"


@pytest.mark.parametrize(
    "before, card_written, index_written",
    [
        (None, True, True),  # a new folder
        ({}, True, True),
        ({"README.md": OUR_INDEX, "m.md": OUR_CARD}, True, True),
        ({"other.onnx": "model", "other.json": "{}", "other.md": OUR_CARD}, True, True),  # models, sidecars, cards
        ({"README.md": "# My project\n"}, True, False),
        ({"README.md": "# Models\n\nmine\n"}, True, False),
        ({"m.md": "# My notes on m\n"}, False, False),  # and a folder with the user's notes is not a model folder
        ({"notes.txt": "mine"}, True, False),
        ({"README.md": "# My project\n", "m.md": "# My notes\n"}, False, False),
    ],
)
def test_the_card_and_the_index_never_replace_a_users_file(
    tmp_path, quick_export, capsys, before, card_written, index_written
):
    run_dir, _ = quick_export
    folder, before = tmp_path / "out", before or {}
    for name, text in before.items():
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    if before == {}:
        folder.mkdir()
    assert main([str(run_dir), "-o", str(folder / "m.onnx")]) == 0
    out, err = capsys.readouterr()
    assert (folder / "m.onnx").exists() and (folder / "m.md").read_text().startswith(CARD_MARKER) == card_written
    index = folder / "README.md"
    if index_written:
        assert index.read_text().startswith(INDEX_HEADER) and "| `tiny` |" in index.read_text()
    else:
        assert (index.read_text() == before["README.md"]) if "README.md" in before else (not index.exists())
    for name, text in before.items():
        if not ((name == "m.md" and card_written) or (name == "README.md" and index_written)):
            assert (folder / name).read_text() == text, name  # untouched
    assert ("its card" in out) == card_written and ("the index" in out) == index_written
    assert len(err.splitlines()) == (not card_written) + (not index_written)  # one line for each file kept
    assert not list(folder.glob("*.tmp"))


def test_the_bundled_folder_is_ours_to_write(tmp_path, monkeypatch, quick_export):
    run_dir, calls = quick_export
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "README.md").write_text("# Models\n\nan index of an older layout\n")
    (bundled / "m.md").write_text("# A card from before cards were marked\n")
    monkeypatch.setattr(export_command, "BUNDLED_MODELS", bundled)
    assert main([str(run_dir), "--name", "m"]) == 0 and calls == [bundled / "m.onnx"]
    assert (bundled / "m.md").read_text().startswith(CARD_MARKER)
    assert (bundled / "README.md").read_text().startswith(INDEX_HEADER)


@pytest.mark.parametrize("text", ["{", "[]", '{"generated": {"fid": "low"}}', '{"real_floor": 3}', "\xff"])
def test_a_damaged_metrics_file_is_one_line(tmp_path, quick_export, capsys, text):
    run_dir, calls = quick_export
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes())
    (tmp_path / "run" / "metrics.json").write_text(text, encoding="latin-1")
    assert_one_line_error(main([str(tmp_path / "run"), "-o", str(tmp_path / "m.onnx")]), capsys, "metrics.json")
    assert not calls


def test_a_licence_is_required(tmp_path, quick_export, capsys):
    run_dir, calls = quick_export
    assert_one_line_error(main([str(run_dir), "-o", str(tmp_path / "m.onnx"), "--license", " "]), capsys, "--license")
    assert not calls


def test_files_are_replaced_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    write_atomically(folder / "a.md", b"first")
    write_atomically(folder / "a.md", b"second")
    assert (folder / "a.md").read_bytes() == b"second"
    (folder / "b.md").mkdir()
    (folder / "b.md" / "inside").write_text("kept")
    with pytest.raises(ExportError, match="cannot write"):
        write_atomically(folder / "b.md", b"x")  # a rename cannot replace a folder
    assert sorted(p.name for p in folder.iterdir()) == ["a.md", "b.md"]
    assert (folder / "b.md" / "inside").read_text() == "kept"
