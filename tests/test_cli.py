"""The command line as a user meets it: files in, files out, and one-line errors."""

import json
import os
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


def test_demo_upscales_colorizes_and_restyles_the_photo(models, photo, tmp_path, capsys):
    make_image_model(models / "x4.onnx", name="test-x4", scale=4)
    colorizer = {"task": "translate", "scale": 1, "channels_in": 1, "channels_out": 3}
    make_image_model(models / "colorize.onnx", name="test-colorize", metadata={"working_size": 64}, **colorizer)
    make_image_model(models / "lines.onnx", name="test-lineart", **colorizer)  # wants line drawings: not shown
    make_image_model(models / "style.onnx", name="test-style", task="translate", scale=1)
    write_image(tmp_path / "photo.png", photo)
    assert main(["demo", str(tmp_path / "out"), "--photo", str(tmp_path / "photo.png")]) == 0
    written = {p.name: read_image(p) for p in (tmp_path / "out").iterdir()}
    assert set(written) == {
        "photo-small.png", "photo-bicubic-x4.png", "photo-test-x4.png", "photo-grey.png",
        "photo-test-colorize.png", "photo-test-style.png",
    }  # fmt: skip
    assert written["photo-grey.png"].shape == (72, 100)  # cropped to a multiple of 4, for the ×4 round trip
    assert written["photo-test-colorize.png"].shape == written["photo-test-style.png"].shape == (72, 100, 3)
    assert written["photo-test-x4.png"].shape == (72, 100, 3)
    out = capsys.readouterr().out
    assert "test-colorize        colorized the grey copy" in out and "test-style           restyled" in out


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
        (["enhance", "{photo}", "-o", "out.png", "--model", "test-x2", "--feather", "nan"], "feather must be"),
        (["enhance", "{photo}", "-o", "out.png", "--model", "test-x2", "--strength", "nan"], "strength must be"),
        (["enhance", "{photo}", "-o", "out.png", "--model", "test-x2", "--threads", "-2"], "threads must be"),
        (
            ["enhance", "{photo}", "-o", "out.png", "--model", "test-x2", "--max-megapixels", "nan"],
            "must be a positive",
        ),
        (["enhance", "{photo}", "-o", ".", "--model", "test-x2"], "is a folder"),
        (["enhance", "{photo}", "-o", "out.psd", "--model", "test-x2"], "cannot write '.psd' files"),
        (["enhance", "{small}", "-o", "out.png", "--model", "test-x2", "--mask", "{photo}"], "the mask is"),
        (["generate", "--model", "test-gen", "--seed", "-5", "-o", "x.png"], "a seed must be a whole number from 0"),
        (["generate", "--model", "test-gen", "--to-seed", "-1", "--count", "2", "-o", "f"], "a seed must be"),
        (["generate", "--model", "test-gen", "--truncation", "nan", "-o", "x.png"], "truncation"),
        (["generate", "--model", "test-gen", "--count", "3", "-o", "{photo}"], "is a file; with --count above 1"),
        (["generate", "--model", "test-gen", "--grid", "-o", "{photo}"], "is a file"),
        (["demo", "{photo}", "--photo", "{photo}"], "is a file"),
    ],
)
def test_user_mistakes_are_one_line_errors_not_tracebacks(enhance_x2, generator, photo, tmp_path, args, message):
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(photo[:10]).save(tmp_path / "small.png")
    args = [
        a.replace("{photo}", str(tmp_path / "photo.png")).replace("{small}", str(tmp_path / "small.png")) for a in args
    ]
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


def test_writing_over_the_input_is_safe_even_when_the_format_cannot_hold_it(enhance_x2, photo, tmp_path):
    """An RGBA picture named .jpg, enhanced onto itself: once the failure that emptied the user's file."""
    path = tmp_path / "a.jpg"
    Image.fromarray(np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])).save(path, format="PNG")
    done = run_cli("enhance", path, "-o", path, "--model", "test-x2", "--provider", "cpu")
    assert done.returncode == 0, done.stderr
    assert "warning: JPEG has no transparency: the image is flattened onto white" in done.stderr
    with Image.open(path) as written:
        assert written.format == "JPEG" and written.size == (202, 150) and written.mode == "RGB"


@pytest.mark.parametrize("output", ["read-only/out.png", "out.xcf", "missing/out.png"])
def test_an_output_that_cannot_be_written_is_refused_before_the_model_runs(enhance_x2, photo, tmp_path, output):
    Image.fromarray(photo).save(tmp_path / "in.png")
    (tmp_path / "read-only").mkdir()
    (tmp_path / "read-only").chmod(0o555)
    if output.startswith("read-only") and os.access(tmp_path / "read-only", os.W_OK):
        pytest.skip("root writes into read-only folders (test_imagefile checks a read-only file system)")
    done = run_cli("enhance", tmp_path / "in.png", "-o", tmp_path / output, "--model", "test-x2")
    assert done.returncode == 1 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
    assert "running on" not in done.stderr  # refused before the model was even started


@pytest.mark.parametrize("command", ["enhance", "generate"])
def test_a_model_that_outputs_nan_is_an_error_and_writes_nothing(models, photo, tmp_path, command):
    make_image_model(models / "nan.onnx", name="nan-x2", nonfinite=True)
    make_generator(models / "nan-gen.onnx", name="nan-gen", nonfinite=True)
    Image.fromarray(photo).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    if command == "enhance":
        code = main(["enhance", str(tmp_path / "in.png"), "-o", str(out), "--model", "nan-x2"])
    else:
        code = main(["generate", "--model", "nan-gen", "-o", str(out)])
    assert code == 1 and not out.exists()


def test_translate_without_a_translate_model_says_how_to_get_one(enhance_x2, photo, tmp_path, capsys):
    Image.fromarray(photo).save(tmp_path / "in.png")
    assert main(["translate", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--model", "colorize"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no translate model is installed") and "python -m export" in err


def test_decompression_bombs_are_one_line_errors(enhance_x2, tmp_path):
    from test_imagefile import png_claiming

    (tmp_path / "bomb.png").write_bytes(png_claiming(20000, 20000, 16, 2))
    done = run_cli("enhance", tmp_path / "bomb.png", "-o", tmp_path / "out.png", "--model", "test-x2")
    assert done.returncode == 1 and "decompression bomb" in done.stderr and "Traceback" not in done.stderr


def test_exif_orientation_icc_and_resolution_are_kept(enhance_x2, photo, tmp_path):
    from test_imagefile import tagged_exif

    icc = b"\0\0\0\x10not-a-real-profile"
    Image.fromarray(photo).save(tmp_path / "in.jpg", exif=tagged_exif(8), icc_profile=icc, dpi=(240, 240))
    assert main(["enhance", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "out.jpg"), "--model", "test-x2"]) == 0
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (150, 202)  # turned upright (orientation 8), then ×2
        assert out.getexif()[0x0112] == 1 and out.getexif()[0x0110] == "Camera 1"
        assert out.info["icc_profile"] == icc and out.info["dpi"] == (240, 240)


def test_progress_shows_tiles_done_and_time_left_and_quiet_silences_everything(monkeypatch, capsys):
    from gimp_gan_plugin import cli

    clock = iter([0.0, 0.5, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 13.0])
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    bar = cli.ProgressBar("Enhance", "tiles")
    for done in range(1, 8):
        bar(done, 7)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Enhance 2/7 tiles, 0:02 so far, 0:05 left" and lines[-1].startswith("Enhance 7/7 tiles")
    assert len(lines) == 6  # the first call came before a second had passed

    quiet = cli.ProgressBar("Enhance", "tiles", quiet=True)
    quiet(7, 7)
    assert capsys.readouterr().err == ""


def test_quiet_runs_print_nothing_but_warnings(enhance_x2, photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "in.png")
    done = run_cli("enhance", tmp_path / "in.png", "-o", tmp_path / "out.png", "--model", "test-x2", "--quiet")
    assert done.returncode == 0 and done.stderr == "" and done.stdout == ""
