"""The command line as a user meets it: files in, files out, and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from onnx_models import make_generator, make_image_model
from PIL import Image

from gimp_gan_plugin.cli import main
from gimp_gan_plugin.imagefile import read_image, write_image


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "gimp_gan_plugin", *map(str, args)], capture_output=True, text=True, env=env
    )


def test_enhance_writes_an_image_of_scale_times_the_size(enhance_x2, photo, tmp_path, capsys):
    Image.fromarray(photo).save(tmp_path / "in.jpg")
    assert main(["enhance", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "out.png"), "--model", "test-x2"]) == 0
    assert Image.open(tmp_path / "out.png").size == (202, 150)
    assert "running on CPU" in capsys.readouterr().err


def test_16_bit_png_in_gives_16_bit_png_out(enhance_x2, photo, tmp_path):
    write_image(tmp_path / "in.png", np.dstack([photo, photo[:, :, :1]]).astype(np.uint16) * 257)
    assert main(["enhance", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--model", "test-x2"]) == 0
    out = read_image(tmp_path / "out.png")
    assert out.dtype == np.uint16 and out.shape == (150, 202, 4)


def test_translate_with_strength_zero_keeps_the_image(models, photo, tmp_path):
    make_image_model(models / "t.onnx", name="style", task="translate", scale=1)
    Image.fromarray(photo).save(tmp_path / "in.png")
    args = ["translate", tmp_path / "in.png", "-o", tmp_path / "out.png", "--model", "style", "--strength", "0"]
    assert main(list(map(str, args))) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), photo)


def test_generate_many_writes_one_png_per_seed_and_a_grid(generator, tmp_path):
    out = tmp_path / "samples"
    assert main(["generate", "--model", "test-gen", "--seed", "3", "--count", "4", "-o", str(out), "--grid"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "seed-3.png", "seed-4.png", "seed-5.png", "seed-6.png"]
    single = tmp_path / "one.png"
    assert main(["generate", "--model", "test-gen", "--seed", "5", "-o", str(single)]) == 0
    assert np.array_equal(np.asarray(Image.open(single)), np.asarray(Image.open(out / "seed-5.png")))


def test_generate_interpolation_frames(generator, tmp_path):
    assert (
        main(
            [
                "generate",
                "--model",
                "test-gen",
                "--seed",
                "1",
                "--to-seed",
                "2",
                "--count",
                "3",
                "-o",
                str(tmp_path / "f"),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["frame-000.png", "frame-001.png", "frame-002.png"]


def test_models_json_lists_metadata_and_errors(models, capsys):
    make_generator(models / "g.onnx", name="gen", classes=["a", "b"])
    (models / "bad.onnx").write_bytes(b"nope")
    assert main(["models", "--json"]) == 0
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["g.onnx"]["metadata"]["classes"] == ["a", "b"]
    assert "not a valid ONNX file" in rows["bad.onnx"]["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enhance", "missing.png", "-o", "out.png", "--model", "test-x2"], "missing.png: no such file"),
        (["enhance", "{photo}", "-o", "out.png", "--model", "nope"], "no model named 'nope'"),
        (["enhance", "{photo}", "-o", "out.png", "--model", "test-x2", "--strength", "2"], "strength must be"),
        (["enhance", "{photo}", "-o", "no/such/dir/out.png", "--model", "test-x2"], "no such folder"),
        (["translate", "{photo}", "-o", "out.png", "--model", "test-x2"], "is for enhance, not translate"),
        (["generate", "--model", "test-x2", "-o", "x.png"], "is for enhance, not generate"),
    ],
)
def test_user_mistakes_are_one_line_errors_not_tracebacks(enhance_x2, photo, tmp_path, args, message):
    Image.fromarray(photo).save(tmp_path / "photo.png")
    args = [a.replace("{photo}", str(tmp_path / "photo.png")) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "gimp_gan_plugin", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [[], ["models"], ["enhance"], ["translate"], ["generate"]])
def test_help_is_available_for_every_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: python -m gimp_gan_plugin" in result.stdout
