"""Runs inside a real GIMP 3 (gimp-console, python-fu-eval): each procedure through the PDB on real images.

tests/test_gimp.py runs this once and asserts on what it leaves in OUT: report.json (statuses, sizes,
precisions, messages) and raw pixel dumps (NAME.raw, read back with the format the report gives).
Nothing here judges the results; that is the tests' job, on the host, with numpy.
"""

import json
import traceback
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

IN, OUT = Path("/tmp/gimp-gan-in"), Path("/tmp/gimp-gan-out")
OUT.mkdir(parents=True, exist_ok=True)
report = {}


def load(name):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(str(IN / name)))


def dump(key, drawable, fmt):
    width, height = drawable.get_width(), drawable.get_height()
    data = drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, width, height), 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
    (OUT / f"{key}.raw").write_bytes(bytes(data))
    return {"width": width, "height": height, "format": fmt, "offsets": list(drawable.get_offsets()[1:])}


def call(name, image=None, drawables=(), **arguments):
    procedure = Gimp.get_pdb().lookup_procedure(name)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if image is not None:
        config.set_property("image", image)
        config.set_core_object_array("drawables", list(drawables))
    for key, value in arguments.items():
        config.set_property(key.replace("_", "-"), value)
    result = procedure.run(config)
    status = result.index(0)
    outcome = {"status": status.value_nick}
    if status == Gimp.PDBStatusType.SUCCESS:
        outcome |= {"image": result.index(1), "device": result.index(2)}
    else:
        outcome["message"] = result.index(1).message if hasattr(result.index(1), "message") else str(result.index(1))
    return outcome


def scenario(function):
    try:
        report[function.__name__] = function()
    except Exception:
        report[function.__name__] = {"crash": traceback.format_exc()}
    return function


@scenario
def enhance_in_image():
    image = load("photo-small.png")
    layer = image.get_layers()[0]
    result = call("plug-in-gan-enhance", image, [layer], model="enhance-x2", output="scale-image")
    return {
        "status": result["status"],
        "device": result.get("device"),
        "same_image": result.get("image") == image,
        "image_size": [image.get_width(), image.get_height()],
        "layer": dump("enhance_in_image", layer, "R'G'B' u8"),
    }


@scenario
def enhance_new_image():
    image = load("photo-small.png")
    layer = image.get_layers()[0]
    result = call("plug-in-gan-enhance", image, [layer], model="enhance-x2", output="new-image")
    new = result["image"]
    return {
        "status": result["status"],
        "source_size": [image.get_width(), image.get_height()],
        "new_size": [new.get_width(), new.get_height()],
        "new_layer": dump("enhance_new_image", new.get_layers()[0], "R'G'B' u8"),
        "source_layer": dump("enhance_new_image_source", layer, "R'G'B' u8"),
    }


@scenario
def enhance_16bit():
    image = load("photo-small-16bit.png")
    layer = image.get_layers()[0]
    result = call("plug-in-gan-enhance", image, [layer], model="enhance-x2")
    return {
        "status": result["status"],
        "precision": image.get_precision().value_nick,
        "layer": dump("enhance_16bit", layer, "R'G'B' u16"),
    }


@scenario
def enhance_gray_alpha():
    image = load("gray-alpha.png")
    layer = image.get_layers()[0]
    result = call("plug-in-gan-enhance", image, [layer], model="enhance-x2")
    return {
        "status": result["status"],
        "base_type": image.get_base_type().value_nick,
        "has_alpha": layer.has_alpha(),
        "layer": dump("enhance_gray_alpha", layer, "Y'A u8"),
    }


@scenario
def enhance_two_layers():
    image = load("photo-small.png")
    bottom = image.get_layers()[0]
    top = Gimp.Layer.new_from_drawable(bottom, image)
    image.insert_layer(top, None, 0)
    top.set_offsets(10, 6)
    result = call("plug-in-gan-enhance", image, [top, bottom], model="enhance-x2")
    layers = image.get_layers()
    return {
        "status": result["status"],
        "sizes": [[layer.get_width(), layer.get_height()] for layer in layers],
        "offsets": [list(layer.get_offsets()[1:]) for layer in layers],
        "top": dump("two_layers_top", layers[0], "R'G'B' u8"),
        "bottom": dump("two_layers_bottom", layers[1], "R'G'B' u8"),
    }


@scenario
def runtime_missing():
    """The runtime's folder was deleted after install: the message says how to install it again."""
    record_path = Path(Gimp.directory()) / "plug-ins" / "gimp-gan" / "runtime.json"
    original = record_path.read_text()
    record_path.write_text(json.dumps(json.loads(original) | {"python": "/deleted/runtime/bin/python"}))
    try:
        image = load("photo-small.png")
        result = call("plug-in-gan-enhance", image, image.get_layers(), model="enhance-x2")
    finally:
        record_path.write_text(original)
    return {
        "status": result["status"],
        "message": result.get("message"),
        "size": [image.get_width(), image.get_height()],
    }


@scenario
def style_strength_zero():
    image = load("photo-small.png")
    layer = image.get_layers()[0]
    before = dump("style_zero_before", layer, "R'G'B' u8")
    result = call("plug-in-gan-style", image, [layer], model="test-style", strength=0.0, output="in-place")
    return {"status": result["status"], "before": before, "after": dump("style_zero_after", layer, "R'G'B' u8")}


@scenario
def style_in_selection():
    """A layer off the canvas origin, a selection over part of it, the result as a new layer above."""
    image = Gimp.Image.new(200, 160, Gimp.ImageBaseType.RGB)
    background = Gimp.Layer.new(image, "background", 200, 160, Gimp.ImageType.RGB_IMAGE, 100, Gimp.LayerMode.NORMAL)
    image.insert_layer(background, None, 0)
    background.fill(Gimp.FillType.WHITE)
    photo = load("photo-small.png")
    layer = Gimp.Layer.new_from_drawable(photo.get_layers()[0], image)
    image.insert_layer(layer, None, 0)
    layer.set_offsets(30, 20)
    layer.set_name("photo")
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 60, 40, 50, 60)  # canvas coordinates
    result = call("plug-in-gan-style", image, [layer], model="test-style", strength=1.0)
    layers = image.get_layers()
    return {
        "status": result["status"],
        "layer_names": [item.get_name() for item in layers],
        "original": dump("style_selection_original", layer, "R'G'B' u8"),
        "styled": dump("style_selection_styled", layers[0], "R'G'B' u8"),
    }


@scenario
def colorize_grey_with_alpha():
    """A grey image with alpha, colorized in place: the image turns RGB, the alpha stays."""
    image = load("gray-alpha.png")
    layer = image.get_layers()[0]
    before = dump("colorize_alpha_before", layer, "Y'A u8")
    result = call("plug-in-gan-style", image, [layer], model="test-colorize", strength=1.0, output="in-place")
    return {
        "status": result["status"],
        "base_type": image.get_base_type().value_nick,
        "before": before,
        "after": dump("colorize_alpha_after", layer, "R'G'B'A u8"),
    }


@scenario
def colorize_selection_as_new_layer():
    """A grey photo, a selection over part of it: a colour layer above, the grey layer as it was."""
    image = load("grey-photo.png")
    layer = image.get_layers()[0]
    before = dump("colorize_layer_before", layer, "Y' u8")
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 16, 64, 48)
    result = call("plug-in-gan-style", image, [layer], model="test-colorize", strength=1.0)
    layers = image.get_layers()
    return {
        "status": result["status"],
        "base_type": image.get_base_type().value_nick,
        "layer_names": [item.get_name() for item in layers],
        "original": dump("colorize_layer_original", layers[1], "R'G'B' u8"),
        "before": before,
        "coloured": dump("colorize_layer_coloured", layers[0], "R'G'B' u8"),
    }


@scenario
def colorize_failure_leaves_grey():
    image = load("grey-photo.png")
    result = call("plug-in-gan-style", image, image.get_layers(), model="test-nan-colorize", output="in-place")
    return {"status": result["status"], "message": result.get("message"), "base_type": image.get_base_type().value_nick}


@scenario
def shipped_translate_models():
    """The bundled colorize on a grey photo, style-van-gogh on a colour one and lineart-color on a grey
    image (not a drawing, but what the procedure does with it is the same), in place."""
    grey = load("grey-photo.png")
    before = dump("shipped_colorize_before", grey.get_layers()[0], "Y' u8")
    colorize = call("plug-in-gan-style", grey, grey.get_layers(), model="colorize", output="in-place")
    photo = load("photo-small.png")
    style = call("plug-in-gan-style", photo, photo.get_layers(), model="style-van-gogh", output="in-place")
    drawing = load("grey-photo.png")
    lineart = call("plug-in-gan-style", drawing, drawing.get_layers(), model="lineart-color", output="in-place")
    return {
        "lineart": lineart["status"],
        "lineart_base_type": drawing.get_base_type().value_nick,
        "colorize": colorize["status"],
        "base_type": grey.get_base_type().value_nick,
        "before": before,
        "colorized": dump("shipped_colorize_after", grey.get_layers()[0], "R'G'B' u8"),
        "style": style["status"],
        "styled": dump("shipped_style_after", photo.get_layers()[0], "R'G'B' u8"),
    }


@scenario
def generate_twice():
    runs = []
    for run in range(2):
        result = call("plug-in-gan-generate", model="fashion-style", seed=7, count=2, output="image")
        image = result["image"]
        runs.append(
            {
                "status": result["status"],
                "base_type": image.get_base_type().value_nick,
                "layers": [dump(f"generate_{run}_{i}", lay, "Y' u8") for i, lay in enumerate(image.get_layers())],
                "names": [lay.get_name() for lay in image.get_layers()],
            }
        )
    return runs


@scenario
def generate_frames_into_image():
    image = load("photo-small.png")
    before = len(image.get_layers())
    result = call(
        "plug-in-gan-generate",
        image,
        image.get_layers(),
        model="fashion-style",
        seed=1,
        seed_to=2,
        interpolate=True,
        count=5,
        output="layers",
        size=64,
        **{"class": "Sneaker"},
    )
    layers = image.get_layers()
    return {
        "status": result["status"],
        "same_image": result.get("image") == image,
        "added": len(layers) - before,
        "names": [lay.get_name() for lay in layers],
        "size": [layers[0].get_width(), layers[0].get_height()],
    }


@scenario
def generate_style_based():
    """A style-based RGBA generator: same settings, same pixels; ψ = 0 one image for every seed; mixing,
    a direction and the noise switch each change the picture."""

    def run(key, **arguments):
        result = call("plug-in-gan-generate", model="test-stylegen", seed=3, count=2, output="image", **arguments)
        if result["status"] != "success":
            return result
        layers = result["image"].get_layers()
        return {
            "status": result["status"],
            "alpha": [layer.has_alpha() for layer in layers],
            "names": [layer.get_name() for layer in layers],
            "layers": [dump(f"style_{key}_{i}", layer, "R'G'B'A u8") for i, layer in enumerate(layers)],
        }

    return {
        "plain": run("plain"),
        "again": run("again"),
        "average": run("average", truncation=0.0, noise=False),
        "mixed": run("mixed", mix_level="coarse", mix_seed=11),
        "edited": run("edited", edit_1=3.0),
        "quiet": run("quiet", noise=False),
    }


@scenario
def forced_error_leaves_image():
    """A model that breaks after install: the run fails with a message and the image is as it was."""
    image = load("photo-small.png")
    layer = image.get_layers()[0]
    before = dump("error_before", layer, "R'G'B' u8")
    broken = Path(json.loads((IN / "broken-model.json").read_text())["path"])
    broken.write_bytes(b"this is not an ONNX file any more")
    result = call("plug-in-gan-enhance", image, [layer], model="test-broken")
    return {
        "status": result["status"],
        "message": result.get("message"),
        "image_size": [image.get_width(), image.get_height()],
        "layers": len(image.get_layers()),
        "before": before,
        "after": dump("error_after", layer, "R'G'B' u8"),
    }


@scenario
def nan_model_leaves_image():
    """Models whose output is NaN, in place (canvas scaling, style in place): errors, the image as it was."""
    image = load("photo-small.png")
    layer = image.get_layers()[0]
    before = dump("nan_before", layer, "R'G'B' u8")
    enhance = call("plug-in-gan-enhance", image, [layer], model="test-nan", output="scale-image")
    style = call("plug-in-gan-style", image, [layer], model="test-nan-style", output="in-place")
    return {
        "enhance": enhance,
        "style": style,
        "image_size": [image.get_width(), image.get_height()],
        "layers": len(image.get_layers()),
        "before": before,
        "after": dump("nan_after", layer, "R'G'B' u8"),
    }


@scenario
def indexed_refused():
    image = load("photo-small.png")
    image.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False, "")
    result = call("plug-in-gan-enhance", image, image.get_layers(), model="enhance-x2")
    return {
        "status": result["status"],
        "message": result.get("message"),
        "size": [image.get_width(), image.get_height()],
    }


(OUT / "report.json").write_text(json.dumps(report, indent=1, default=str))
