"""The model format: what a valid document is, and a clear refusal for each way a model can be broken."""

import json

import onnx
import pytest
from onnx_models import base_document, image_spec, make_generator, make_image_model

from gimp_gan_plugin import Engine
from gimp_gan_plugin.errors import ModelError
from gimp_gan_plugin.modelformat import METADATA_KEY, parse_document, read_metadata_props, read_model_info


def enhance_document(**changes):
    doc = base_document("enhance", "x2") | {
        "inputs": [image_spec("image", 3)],
        "outputs": [image_spec("result", 3)],
        "scale": 2,
        "size_multiple": 4,
        "tile_padding": 8,
    }
    return {k: v for k, v in (doc | changes).items() if v is not None}


def generate_document(**changes):
    doc = base_document("generate", "gen") | {
        "inputs": [{"name": "z", "role": "latent", "dtype": "float32"}],
        "outputs": [image_spec("image", 1, (-1, 1))],
        "latent_size": 128,
        "output_size": [28, 28],
    }
    return {k: v for k, v in (doc | changes).items() if v is not None}


def style_document(**styles):
    inputs = [
        {"name": "latents", "role": "latents", "dtype": "float32"},
        {"name": "mix", "role": "style_mix", "dtype": "float32"},
        {"name": "offset", "role": "style_offset", "dtype": "float32"},
    ]
    block = {
        "layers": 4, "w_size": 2, "levels": {"coarse": [0, 1], "middle": [1, 3], "fine": [3, 4]},
        "directions": [{"label": "smile", "vector": [1.0, 0.0], "scale": 0.5}],
    }  # fmt: skip
    return generate_document(inputs=inputs, styles=block | styles, outputs=[image_spec("image", 4, (-1, 1))])


def test_valid_documents_parse_with_their_numbers():
    info = parse_document(enhance_document(), "m.onnx")
    assert (info.task, info.scale, info.size_multiple, info.tile_padding) == ("enhance", 2, 4, 8)
    assert info.input("image").gain == (1.0, 1.0, 1.0)
    gen = parse_document(generate_document(), "g.onnx")
    assert (gen.latent_size, gen.output_size, gen.conditional) == (128, (28, 28), False)
    # [-1, 1] range: pixel 0 → -1, pixel 1 → +1
    assert gen.image_output.gain == (2.0,) and gen.image_output.bias == (-1.0,)
    styles = parse_document(style_document(), "s.onnx").styles
    assert (styles.layers, styles.w_size, styles.levels["middle"]) == (4, 2, (1, 3))
    assert styles.directions[0].label == "smile" and styles.directions[0].scale == 0.5


def test_mean_std_normalisation_maps_pixels_like_torchvision():
    import numpy as np

    spec = {
        "name": "image",
        "role": "image",
        "dtype": "float32",
        "layout": "NCHW",
        "channels": 3,
        "mean": [0.5, 0.4, 0.3],
        "std": [0.2, 0.25, 0.5],
    }
    info = parse_document(enhance_document(inputs=[spec]), "m.onnx")
    pixels = np.full((1, 3, 1, 1), 0.9, np.float32)
    expected = (0.9 - np.array([0.5, 0.4, 0.3])) / np.array([0.2, 0.25, 0.5])
    np.testing.assert_allclose(info.input("image").to_model(pixels).ravel(), expected, rtol=1e-6)
    np.testing.assert_allclose(info.input("image").to_pixels(info.input("image").to_model(pixels)), pixels, rtol=1e-6)


INVALID = [
    (enhance_document(format_version=None), "'format_version' is missing"),
    (enhance_document(format_version=2), "newer gimp-gan"),
    (enhance_document(task="upscale"), "'task' must be one of"),
    (enhance_document(name="My Model"), "'name' must be lower-case"),
    (enhance_document(title=""), "'title' must be a non-empty string"),
    (enhance_document(license=None), "'license' is missing"),
    (enhance_document(provenance={"steps": 3}), "provenance.data is missing"),
    (enhance_document(scale=0), "'scale' must be an integer between 1 and 16"),
    (enhance_document(scale=10**6), "'scale' must be an integer between 1 and 16"),
    (enhance_document(scale=True), "'scale' must be an integer"),
    (enhance_document(task="translate"), "'scale' must be an integer between 1 and 1"),
    (enhance_document(size_multiple=0), "'size_multiple' must be an integer between 1 and"),
    (enhance_document(size_multiple=2**40), "'size_multiple' must be an integer between 1 and"),
    (enhance_document(tile_padding=-1), "'tile_padding' must be an integer between 0 and"),
    (enhance_document(tile_padding=10**9), "'tile_padding' must be an integer between 0 and"),
    (enhance_document(name="enhance\n"), "'name' must be lower-case"),
    (enhance_document(name="../../x"), "'name' must be lower-case"),
    (enhance_document(name="a" * 65), "'name' must be lower-case"),
    (enhance_document(inputs=[]), "needs exactly 1 'image' input"),
    (enhance_document(outputs=[image_spec("a", 3), image_spec("b", 3)]), "exactly one output"),
    (enhance_document(inputs=[image_spec("image", 2)]), "channels must be 1, 3 or 4 (RGBA)"),
    (enhance_document(inputs=[image_spec("image", 5)]), "channels must be an integer between 1 and 4"),
    (enhance_document(inputs=[image_spec("image", 4)]), "only a generator's output may have 4 channels"),
    (style_document(levels={"coarse": [0, 1], "middle": [1, 3], "fine": [3, 9]}), "styles.levels.fine must be"),
    (style_document(directions=[{"label": "x", "vector": [1.0], "scale": 1}]), "vector must be a list of 2"),
    (style_document(directions=[{"label": "x", "vector": [1.0, 0], "scale": "big"}]), "scale must be a finite"),
    (generate_document(styles=style_document()["styles"]), "style-based generator needs exactly 1 'latents'"),
    (enhance_document(inputs=[image_spec("image", 3, (1, 1))]), "range must have two different ends"),
    (enhance_document(inputs=[image_spec("image", 3) | {"layout": "NHWC"}]), "layout must be one of NCHW"),
    (enhance_document(inputs=[image_spec("image", 3) | {"mean": [0, 0, 0], "std": [1, 1, 1]}]), "exactly one"),
    (enhance_document(inputs=[image_spec("image", 3) | {"dtype": "int64"}]), "must be float32 or float16"),
    (enhance_document(graphs={"mapping": "m.onnx"}), "multi-graph models"),
    (enhance_document(task="translate", scale=1, working_size=512), "'working_size' is for colorizers"),
    (generate_document(latent_size=None), "'latent_size' is missing"),
    (generate_document(output_size=[28]), "'output_size' must be [height, width]"),
    (generate_document(output_size=[28, 10**7]), "'output_size' must be [height, width]"),
    (generate_document(latent_size=2**31), "'latent_size' must be an integer between 1 and"),
    (
        generate_document(
            inputs=[
                {"name": "z", "role": "latent", "dtype": "float32"},
                {"name": "n", "role": "noise", "dtype": "float32", "shape": [1, 100000, 100000]},
            ]
        ),
        "inputs[1].shape must list the per-sample noise shape",
    ),
    (generate_document(classes=["a", "b"]), "needs both a 'class' input and a 'classes' list"),
    (
        generate_document(
            inputs=[
                {"name": "z", "role": "latent", "dtype": "float32"},
                {"name": "c", "role": "class", "dtype": "int64"},
            ]
        ),
        "needs both",
    ),
    (
        generate_document(
            inputs=[
                {"name": "z", "role": "latent", "dtype": "float32"},
                {"name": "n", "role": "noise", "dtype": "float32"},
            ]
        ),
        "inputs[1].shape is missing",
    ),
    (generate_document(inputs=[image_spec("image", 3)]), "needs exactly 1 'latent' input"),
    ([1, 2], "metadata must be a JSON object"),
]


@pytest.mark.parametrize(("doc", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_metadata_is_refused_with_a_message_naming_the_problem(doc, message):
    with pytest.raises(ModelError) as err:
        parse_document(doc, "broken.onnx")
    assert message in str(err.value)
    assert str(err.value).startswith("broken.onnx: ")


def test_metadata_reader_agrees_with_onnx(tmp_path):
    path = make_generator(tmp_path / "g.onnx", classes=["a", "b"])
    expected = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert read_metadata_props(path) == expected
    assert read_model_info(path).classes == ("a", "b")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated download
        lambda data: b"\x89PNG\r\n\x1a\n" + data[8:200],  # wrong file renamed
        lambda data: b"this is not a model\n" * 20,
        lambda data: b"",
    ],
    ids=["truncated", "png-header", "text", "empty"],
)
def test_corrupt_onnx_files_are_refused(tmp_path, damage):
    good = make_image_model(tmp_path / "good.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ModelError, match=r"bad\.onnx"):
        Engine().load(bad)


def test_model_without_metadata_names_the_key_and_the_sidecar(tmp_path):
    path = make_image_model(tmp_path / "third-party.onnx")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save_model(model, str(path))
    with pytest.raises(ModelError, match=f"key '{METADATA_KEY}'.*third-party.json"):
        read_model_info(path)


def test_sidecar_json_supplies_the_document(tmp_path):
    path = tmp_path / "third-party.onnx"
    make_image_model(path, name="ignored")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save_model(model, str(path))
    doc = json.loads(json.dumps(enhance_document(name="from-sidecar", size_multiple=1, tile_padding=3)))
    doc["outputs"][0]["name"] = "result"
    (tmp_path / "third-party.json").write_text(json.dumps(doc))
    session = Engine().load(path)
    assert session.info.name == "from-sidecar"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: make_image_model(p, metadata={"inputs": [image_spec("pixels", 3)]}), "names input 'pixels'"),
        (lambda p: make_image_model(p, metadata={"outputs": [image_spec("out", 3)]}), "names output 'out'"),
        (lambda p: make_image_model(p, metadata={"inputs": [image_spec("image", 1)]}), "input 'image' as"),
        (lambda p: make_image_model(p, metadata={"outputs": [image_spec("result", 1)]}), "output 'result' as"),
        (
            lambda p: make_image_model(p, metadata={"inputs": [image_spec("image", 3) | {"dtype": "float16"}]}),
            "input 'image' is float16, the graph has tensor(float)",
        ),
        (lambda p: make_generator(p, metadata={"latent_size": 17}), "input 'z' as"),
        (lambda p: make_generator(p, metadata={"output_size": [9, 8]}), "output 'image' as"),
        (
            lambda p: make_generator(
                p,
                noise=True,
                metadata={
                    "inputs": [
                        {"name": "z", "role": "latent", "dtype": "float32"},
                        {"name": "noise", "role": "noise", "dtype": "float32", "shape": [2, 8, 8]},
                    ]
                },
            ),
            "input 'noise' as",
        ),
    ],
    ids=["input-name", "output-name", "input-channels", "output-channels", "dtype", "latent", "size", "noise"],
)
def test_metadata_that_does_not_match_the_graph_is_refused(tmp_path, build, message):
    path = build(tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        Engine().load(path)
    assert str(err.value).startswith("m.onnx: ")


def test_a_graph_that_fails_inside_is_a_model_error(tmp_path):
    """A graph with an open channel axis cannot be checked at load time: fed the one channel its metadata
    promises, its 3-channel convolution fails inside onnxruntime. That is one ModelError, not a crash."""
    import numpy as np

    path = make_image_model(tmp_path / "m.onnx", metadata={"inputs": [image_spec("image", 1, (-1, 1))]})
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "C"
    onnx.save_model(model, str(path))
    with pytest.raises(ModelError, match=r"m\.onnx: the model failed on inputs image \[1, 1, 7, 9\]: "):
        Engine().process_image(path, np.zeros((7, 9), np.uint8))
