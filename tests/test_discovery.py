"""Finding models: search path order, overrides, and unusable files reported rather than fatal."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from onnx_models import base_document, image_spec, make_image_model

from gimp_gan_plugin.discovery import discover_models, find_model, user_model_dir
from gimp_gan_plugin.errors import ModelError, ModelNotFoundError
from gimp_gan_plugin.modelformat import read_model_info


def test_models_on_the_env_path_are_listed_with_metadata(models):
    make_image_model(models / "a.onnx", name="alpha")
    make_image_model(models / "b.onnx", name="beta", scale=4)
    found = {e.info.name: e for e in discover_models() if e.info}
    assert set(found) == {"alpha", "beta"}
    assert found["beta"].info.scale == 4


def test_first_folder_wins_so_users_can_override_a_model(tmp_path, models, monkeypatch):
    make_image_model(models / "x.onnx", name="same", scale=2)
    user = user_model_dir()
    user.mkdir(parents=True)
    make_image_model(user / "x.onnx", name="same", scale=4)
    assert find_model("same") == models / "x.onnx"
    monkeypatch.setenv("GIMP_GAN_MODEL_PATH", "")
    assert find_model("same") == user / "x.onnx"


def test_unusable_models_are_listed_with_their_error(models):
    (models / "broken.onnx").write_bytes(b"garbage")
    make_image_model(models / "ok.onnx", name="ok")
    entries = discover_models()
    assert [e.name for e in entries if e.info] == ["ok"]
    (broken,) = [e for e in entries if e.error]
    assert "not a valid ONNX file" in broken.error
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        find_model("broken")


def test_unknown_name_lists_what_is_installed(models):
    make_image_model(models / "ok.onnx", name="ok")
    with pytest.raises(ModelNotFoundError, match="no model named 'nope' \\(installed: ok"):
        find_model("nope")
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        find_model(str(models / "missing.onnx"))


def test_bundled_models_are_valid_carded_and_run():
    from gimp_gan_plugin import Engine

    bundled = sorted((Path(__file__).resolve().parent.parent / "models").glob("*.onnx"))
    assert bundled, "models/ should hold the bundled models"
    for path in bundled:
        info = read_model_info(path)
        assert info.name == path.stem
        card = re.sub(r"\A<!--.*?-->\n", "", path.with_suffix(".md").read_text())  # export's marker line
        assert card.startswith(f"# {info.title}")
        assert info.document["provenance"]["steps"] > 0
        if info.task == "generate":
            images = Engine(provider="cpu").generate(path, [0, 1])
            assert images.shape == (2, *info.output_size, info.image_output.channels)
            assert images.std() > 0.05  # a trained generator, not a constant
        else:  # enhance models: quality is test_enhance's; here, that each runs and scales exactly
            image = np.random.default_rng(0).integers(0, 256, (21, 34, 3), dtype=np.uint8)
            result = Engine(provider="cpu").process_image(path, image)
            assert result.shape == (21 * info.scale, 34 * info.scale, 3)


BAD_SIDECARS = {
    "not-utf8": '{"name": "caf\xe9"}'.encode("latin-1"),
    "nested-deep": b"[" * 100_000 + b"]" * 100_000,
    "not-json": b"{name: 'x'}",
    "not-an-object": b"[1, 2, 3]",
    "absurd-scale": json.dumps(
        base_document("enhance", "bad")
        | {"inputs": [image_spec("image", 3)], "outputs": [image_spec("result", 3)], "scale": 10**9}
    ).encode(),
}


@pytest.mark.parametrize("content", BAD_SIDECARS.values(), ids=BAD_SIDECARS.keys())
def test_one_bad_sidecar_makes_one_model_unusable_and_hides_no_other(models, content, capsys):
    make_image_model(models / "ok.onnx", name="ok")
    make_image_model(models / "bad.onnx", name="bad")
    (models / "bad.json").write_bytes(content)
    entries = discover_models()
    assert [e.name for e in entries if e.info] == ["ok"]
    (bad,) = [e for e in entries if e.error]
    assert bad.error.startswith("bad.onnx (sidecar bad.json): ")
    with pytest.raises(ModelError, match=r"sidecar bad\.json"):
        find_model("bad")
    assert find_model("ok") == models / "ok.onnx"
    # the command line lists the good one and names the bad one
    from gimp_gan_plugin.cli import main

    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok ") and "unusable: bad.onnx (sidecar bad.json)" in err
