#!/usr/bin/env python3
"""gimp-gan for GIMP 3: Generate, Enhance (upscale, restore) and Style Transfer with GAN models.

This file runs under GIMP's own Python and imports only `gi` and the standard library. The models run
in the gimp-gan runtime, a separate Python that install.py sets up (see gimp_gan_plugin/worker.py):
pixels go there through a pipe and come back the same way. So a crash or an out-of-memory there can
never take GIMP down, and this file never needs numpy or onnxruntime.

The image is only touched after the runtime has answered: a failure or a cancel leaves it as it was,
and every change a run makes is one undo step.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from array import array
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, Gegl, Gimp, GimpUi, GLib, GObject, Gtk  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))  # protocol.py lies beside this file once installed, one folder up in the repo
import protocol  # noqa: E402

RUNTIME_RECORD = HERE / "runtime.json"  # written by install.py: {"python", "model_dir", "models", "install_command"}
RUNTIME_LOG = Path(tempfile.gettempdir()) / "gimp-gan-runtime.log"
MENU = "<Image>/Filters/Generative (GAN)"
EIGHT_BIT = (Gimp.Precision.U8_LINEAR, Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.U8_PERCEPTUAL)
NO_MODEL = "none"
RANDOM_CLASS = "random"
NO_MIXING = "none"
EDITS = 4  # direction sliders in the Generate dialog (a style-based model's first directions)
READWRITE = GObject.ParamFlags.READWRITE


class PluginError(Exception):
    """A problem the user can act on; its text is shown as it is, as GIMP's error message."""


# --- the runtime ---------------------------------------------------------------------------------------


def runtime_record() -> dict:
    record = json.loads(RUNTIME_RECORD.read_text()) if RUNTIME_RECORD.exists() else {}
    if os.environ.get("GIMP_GAN_RUNTIME"):
        record["python"] = os.environ["GIMP_GAN_RUNTIME"]
    return record


def install_hint(record: dict) -> str:
    command = record.get("install_command", "python3 install.py   (in the gimp-gan folder you downloaded)")
    return f"Install or repair it with:\n    {command}"


def call_runtime(request: dict, arrays=(), progress=None) -> tuple:
    """Send one request to a fresh runtime process; returns (result, [(array header, bytes)]) or raises PluginError."""
    record = runtime_record()
    python = record.get("python")
    if not python or not Path(python).exists():
        raise PluginError(
            f"The gimp-gan runtime is not installed (looked for {python or RUNTIME_RECORD}).\n" + install_hint(record)
        )
    # GIMP's environment may point PYTHONHOME/PYTHONPATH at its own Python, which would break the runtime's.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    if record.get("model_dir"):
        env["GIMP_GAN_MODEL_PATH"] = os.pathsep.join(
            p for p in (record["model_dir"], env.get("GIMP_GAN_MODEL_PATH")) if p
        )
    with RUNTIME_LOG.open("wb") as log:
        worker = subprocess.Popen(
            [python, "-m", "gimp_gan_plugin.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        try:
            try:
                protocol.send(worker.stdin, request | {"arrays": [h for h, _ in arrays]}, [d for _, d in arrays])
                worker.stdin.close()
            except BrokenPipeError:
                pass  # the worker died before reading everything; its exit status is reported below
            while (message := protocol.receive(worker.stdout)) is not None:
                header, arrays = message
                if "progress" in header or "device" in header:
                    if progress:
                        progress.update(header)
                    continue
                if "error" in header:
                    hint = f"\n\nDetails: {RUNTIME_LOG}" if header.get("kind") == "InternalError" else ""
                    raise PluginError(header["error"] + hint)
                return header["result"], list(zip(header.get("arrays", []), arrays, strict=True))
        finally:  # the worker exits by itself once it has answered; one that hangs is stopped
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    code = worker.returncode
    why = " (killed: probably out of memory; try a smaller image or the CPU)" if code in (-9, 137) else ""
    raise PluginError(f"The gimp-gan runtime stopped unexpectedly with exit code {code}{why}.\nIts log: {RUNTIME_LOG}")


def installed_models() -> list:
    """The usable models, as install.py recorded them (GIMP asks for procedures at start-up, when
    starting the runtime just to list models would slow every launch)."""
    return runtime_record().get("models", [])


# --- pixels ----------------------------------------------------------------------------------------------


def babl_format(channels: int, dtype: str) -> str:
    """The gamma-encoded babl format of pixels as they cross the pipe (GEGL converts to the layer's own)."""
    model = {1: "Y'", 2: "Y'A", 3: "R'G'B'", 4: "R'G'B'A"}[channels]
    return f"{model} {'u8' if dtype == 'uint8' else 'float'}"


def read_pixels(drawable) -> tuple:
    """A drawable's pixels without losing precision: 8-bit images as u8, deeper ones as float."""
    if drawable.is_indexed():
        raise PluginError("Indexed images are not supported: convert with Image ▸ Mode ▸ RGB first.")
    channels = (1 if drawable.is_gray() else 3) + drawable.has_alpha()
    dtype = "uint8" if drawable.get_image().get_precision() in EIGHT_BIT else "float32"
    width, height = drawable.get_width(), drawable.get_height()
    rect = Gegl.Rectangle.new(0, 0, width, height)
    data = drawable.get_buffer().get(rect, 1.0, babl_format(channels, dtype), Gegl.AbyssPolicy.CLAMP)
    return protocol.array_header(dtype, (height, width, channels)), data


def read_selection(drawable):
    """The selection over the drawable as float weights, or None when nothing is selected."""
    image = drawable.get_image()
    if Gimp.Selection.is_empty(image):
        return None
    x, y = drawable.get_offsets()[1:]
    width, height = drawable.get_width(), drawable.get_height()
    rect = Gegl.Rectangle.new(x, y, width, height)
    data = image.get_selection().get_buffer().get(rect, 1.0, "Y float", Gegl.AbyssPolicy.NONE)
    return protocol.array_header("float32", (height, width)), data


def write_pixels(drawable, header: dict, data: bytes, fresh: bool = False) -> None:
    """Replace a drawable's pixels. An existing one goes through its shadow buffer, which makes the
    change an undo step and applies the selection (so the selection's own soft edge blends the result
    in); a fresh layer, whose creation is the undo step, is written directly and in full."""
    height, width = header["shape"][:2]
    channels = header["shape"][2] if len(header["shape"]) == 3 else 1
    buffer = drawable.get_buffer() if fresh else drawable.get_shadow_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), babl_format(channels, header["dtype"]), data)
    buffer.flush()
    if not fresh:
        drawable.merge_shadow(True)
    drawable.update(0, 0, width, height)


# --- procedures ------------------------------------------------------------------------------------------


def add_model_argument(procedure, models: list, tasks: tuple) -> None:
    choice = Gimp.Choice.new()
    usable = [m for m in models if m["task"] in tasks]
    for i, model in enumerate(usable):
        choice.add(model["name"], i, model["title"], model["path"])
    if not usable:
        choice.add(NO_MODEL, 0, "(no models installed)", "Run install.py to install the bundled models")
    default = usable[0]["name"] if usable else NO_MODEL
    procedure.add_choice_argument("model", "_Model", "Name of an installed model", choice, default, READWRITE)


def add_device_argument(procedure) -> None:
    choice = Gimp.Choice.new()
    choice.add("auto", 0, "Auto (GPU when usable)", "CUDA on an NVIDIA GPU when usable, else the CPU")
    choice.add("gpu", 1, "GPU (CUDA)", "NVIDIA GPU; falls back to the CPU with a message when CUDA is not usable")
    choice.add("cpu", 2, "CPU", "Always the CPU")
    procedure.add_choice_argument("device", "_Device", "Where the model runs", choice, "auto", READWRITE)
    procedure.add_string_return_value(
        "device-used", "Device used", "Which device actually ran the model", "", READWRITE
    )


def add_choice(procedure, name: str, label: str, blurb: str, options: list) -> None:
    choice = Gimp.Choice.new()
    for i, (option, option_label) in enumerate(options):
        choice.add(option, i, option_label, "")
    procedure.add_choice_argument(name, label, blurb, choice, options[0][0], READWRITE)


def chosen_model(config, task: str) -> str:
    model = config.get_property("model")
    if model == NO_MODEL:
        record = runtime_record()
        if task == "translate":  # install.py cannot help: no style or colorize model is bundled yet
            folder = record.get("model_dir", "your gimp-gan model folder")
            raise PluginError(
                "No style transfer or colorize model is installed, and none is bundled yet.\n"
                f"Put a gimp-gan translate model (.onnx) into {folder}, then run install.py again."
            )
        raise PluginError("No gimp-gan models of this kind are installed.\n" + install_hint(record))
    return model


def finish(procedure, image, result: dict):
    """Success, with the image the results went to and the device that ran; CUDA fallbacks are told."""
    if result.get("notice"):
        Gimp.message(f"gimp-gan: {result['notice']}")
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    for index, value in ((1, GObject.Value(Gimp.Image, image)), (2, GObject.Value(str, result["device"]))):
        values.remove(index)
        values.insert(index, value)
    return values


class Progress:
    """GIMP's progress bar for one run that may span several layers (part `index` of `parts`)."""

    def __init__(self, text: str, parts: int = 1):
        Gimp.progress_init(text)
        self.text, self.parts, self.index = text, parts, 0

    def update(self, message: dict) -> None:
        if "device" in message:  # which device really runs, shown while it runs
            Gimp.progress_set_text(f"{self.text}: {message['device']}")
        else:
            Gimp.progress_update((self.index + message["progress"]) / self.parts)


def layers_to_process(drawables) -> list:
    layers = [d for d in drawables if d.is_layer() and not d.is_group_layer()]
    if not layers or len(layers) != len(drawables):
        raise PluginError("Select one or more ordinary layers (not a channel, mask or layer group).")
    return layers


def process_layers(request: dict, layers: list, progress, fresh: bool) -> list:
    """Run an image-to-image model on each layer: [(layer, result, (header, bytes))].

    Results bound for fresh layers are blended into the original inside the selection here; results
    written back into a layer are not, since GIMP applies the selection when it merges them.
    """
    done = []
    for progress.index, layer in enumerate(layers):
        arrays = [read_pixels(layer)]
        selection = read_selection(layer) if fresh else None
        if selection is not None:
            arrays.append(selection)
        result, outputs = call_runtime(request, arrays, progress)
        done.append((layer, result, outputs[0]))
    return done


def in_colour(header: dict) -> bool:
    """Whether a result holds RGB (3 channels, or 4 with alpha) rather than grey (1, or 2 with alpha)."""
    return len(header["shape"]) == 3 and header["shape"][2] >= 3


def check_size(layer, header: dict, scale: int) -> None:
    wanted = [layer.get_height() * scale, layer.get_width() * scale]
    if header["shape"][:2] != wanted:
        raise PluginError(f"The model returned {header['shape'][:2]} pixels where {wanted} were expected.")


def run_enhance(procedure, run_mode, image, drawables, config, timer):
    layers = layers_to_process(drawables)
    request = {"command": "image", "model": chosen_model(config, "enhance"), "device": config.get_property("device")}
    new_image = config.get_property("output") == "new-image"
    progress = Progress(f"Enhancing with {request['model']}", len(layers))
    results = process_layers(request, layers, progress, fresh=new_image)
    timer.lap("runtime", engine_seconds=sum(r["engine_seconds"] for _, r, _ in results))
    scale = results[0][1]["scale"]
    for layer, _, (header, _) in results:
        check_size(layer, header, scale)
    if new_image:
        target = Gimp.Image.new_with_precision(
            image.get_width() * scale, image.get_height() * scale, image.get_base_type(), image.get_precision()
        )
        for layer, _, (header, data) in reversed(results):
            copy = Gimp.Layer.new(
                target,
                layer.get_name(),
                header["shape"][1],
                header["shape"][0],
                layer.type(),
                100,
                Gimp.LayerMode.NORMAL,
            )
            target.insert_layer(copy, None, 0)
            x, y = layer.get_offsets()[1:]
            copy.set_offsets(x * scale, y * scale)
            write_pixels(copy, header, data, fresh=True)
        if run_mode == Gimp.RunMode.INTERACTIVE:
            Gimp.Display.new(target)
    else:
        target = image
        image.undo_group_start()
        try:
            if scale > 1:  # every layer, path and the selection scale with the canvas; ours then get the model's pixels
                if nothing_else_to_resample(image, layers):
                    Gimp.context_set_interpolation(Gimp.InterpolationType.NONE)  # run() restores the user's context
                image.scale(image.get_width() * scale, image.get_height() * scale)
                timer.lap("scale")
            for layer, _, (header, data) in results:
                write_pixels(layer, header, data)
        finally:
            image.undo_group_end()
    timer.lap("write")
    return finish(procedure, target, results[-1][1])


def nothing_else_to_resample(image, layers: list) -> bool:
    """True when scaling the canvas resamples only pixels the model's results replace; GIMP's cubic
    resampling of a 12-megapixel layer costs seconds, thrown away the moment the result is written."""
    chosen = {layer.get_id() for layer in layers}
    others = [layer for layer in image.get_layers() if layer.get_id() not in chosen]
    return not others and not any(layer.get_mask() for layer in layers) and Gimp.Selection.is_empty(image)


def run_style(procedure, run_mode, image, drawables, config, timer):
    layers = layers_to_process(drawables)
    request = {
        "command": "image",
        "model": chosen_model(config, "translate"),
        "device": config.get_property("device"),
        "strength": config.get_property("strength"),
    }
    new_layer = config.get_property("output") == "new-layer"
    progress = Progress(f"Applying {request['model']}", len(layers))
    results = process_layers(request, layers, progress, fresh=new_layer)
    timer.lap("runtime", engine_seconds=sum(r["engine_seconds"] for _, r, _ in results))
    for layer, _, (header, _) in results:
        check_size(layer, header, 1)
    image.undo_group_start()
    try:
        if image.get_base_type() == Gimp.ImageBaseType.GRAY and any(in_colour(h) for _, _, (h, _) in results):
            image.convert_rgb()  # a colorizer's result: the image becomes RGB in the same undo step
        for layer, result, (header, data) in results:
            if new_layer:
                name = f"{layer.get_name()} ({result['model']})"
                target = Gimp.Layer.new(
                    image, name, layer.get_width(), layer.get_height(), layer.type(), 100, Gimp.LayerMode.NORMAL
                )
                image.insert_layer(target, layer.get_parent(), image.get_item_position(layer))
                target.set_offsets(*layer.get_offsets()[1:])
            else:
                target = layer
            write_pixels(target, header, data, fresh=new_layer)
    finally:
        image.undo_group_end()
    timer.lap("write")
    return finish(procedure, image, results[-1][1])


def generation_request(config, model: str) -> dict:
    """What the Generate dialog's settings ask of the runtime, besides the seeds (shared with the preview)."""
    return {
        "model": model,
        "device": config.get_property("device"),
        "class": None if config.get_property("class") == RANDOM_CLASS else config.get_property("class"),
        "truncation": config.get_property("truncation"),
    } | style_fields(config)


def run_generate(procedure, run_mode, image, drawables, config, timer):
    model = chosen_model(config, "generate")
    seed, count = config.get_property("seed"), config.get_property("count")
    if config.get_property("random-seed"):
        seed = random.randrange(2**31)
        config.set_property("seed", seed)
    request = generation_request(config, model) | {"size": config.get_property("size")}
    if config.get_property("interpolate"):
        seed_to = config.get_property("seed-to")
        request |= {"command": "interpolate", "seed": seed, "seed_to": seed_to, "frames": count}
        names = [f"{model} {seed}→{seed_to} frame {i + 1} (100ms)" for i in range(count)]
    else:
        request |= {"command": "generate", "seeds": list(range(seed, seed + count))}
        mixed = f", {request['mix_level']} styles of seed {request['mix_seed']}" if "mix_seed" in request else ""
        names = [f"{model} seed {seed + i}{mixed}" for i in range(count)]
    result, [(header, data)] = call_runtime(request, (), Progress(f"Generating with {model}"))
    timer.lap("runtime", engine_seconds=result["engine_seconds"])
    height, width, channels = header["shape"][1:]
    if image is None or config.get_property("output") == "image":
        base = Gimp.ImageBaseType.GRAY if channels == 1 else Gimp.ImageBaseType.RGB
        image = Gimp.Image.new(width, height, base)
        if run_mode == Gimp.RunMode.INTERACTIVE:
            Gimp.Display.new(image)
    elif image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise PluginError("Cannot add layers to an indexed image: choose “A new image” or convert to RGB.")
    one = protocol.array_header("float32", (height, width, channels))
    size = protocol.nbytes(one)
    image.undo_group_start()
    try:
        if image.get_base_type() == Gimp.ImageBaseType.GRAY and in_colour(one):
            image.convert_rgb()  # colour images into a grey one: it becomes RGB in the same undo step
        grey = image.get_base_type() == Gimp.ImageBaseType.GRAY
        alpha = channels in (2, 4)  # RGBA: a generated emoji is a layer with a transparent background
        layer_type = {
            (True, False): Gimp.ImageType.GRAY_IMAGE, (True, True): Gimp.ImageType.GRAYA_IMAGE,
            (False, False): Gimp.ImageType.RGB_IMAGE, (False, True): Gimp.ImageType.RGBA_IMAGE,
        }[grey, alpha]  # fmt: skip
        for i, name in enumerate(names):  # the first image ends up lowest: GIMP plays animation frames bottom-up
            layer = Gimp.Layer.new(image, name, width, height, layer_type, 100, Gimp.LayerMode.NORMAL)
            image.insert_layer(layer, None, 0)
            write_pixels(layer, one, data[i * size : (i + 1) * size], fresh=True)
    finally:
        image.undo_group_end()
    timer.lap("write")
    return finish(procedure, image, result)


def style_fields(config) -> dict:
    """The Generate dialog's style mixing, direction sliders and noise switch as request fields (protocol.py);
    left at their defaults they add nothing, so a model without styles is not refused for them."""
    fields = {}
    if config.get_property("mix-level") != NO_MIXING:
        fields |= {"mix_seed": config.get_property("mix-seed"), "mix_level": config.get_property("mix-level")}
    directions = [[k, config.get_property(f"edit-{k + 1}")] for k in range(EDITS)]
    if any(amount for _, amount in directions):
        fields["directions"] = [d for d in directions if d[1]]
    if not config.get_property("noise"):
        fields["noise"] = False
    return fields


class GeneratePreview:
    """The first image of the Generate dialog's settings, redrawn shortly after any of them changes.

    The runtime runs in a thread, so the dialog stays responsive; changes made while an image is on its
    way are drawn once it arrives (only the latest settings). Errors show as the preview's caption."""

    SIDE = 160  # pixels on screen: a 64-px emoji at 2.5×, nearest-neighbour so pixels stay crisp
    DELAY_MS = 150
    SETTINGS = {"model", "seed", "class", "truncation", "mix-level", "mix-seed", "noise", "device"} | {
        f"edit-{k}" for k in range(1, EDITS + 1)
    }  # what the first image depends on

    def __init__(self, dialog, config):
        self.config, self.pending, self.busy, self.dirty = config, None, False, False
        self.picture, self.caption = Gtk.Image(), Gtk.Label(label="Preview")
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        box.set_size_request(self.SIDE, self.SIDE)
        box.pack_start(self.picture, False, False, 0)
        box.pack_start(self.caption, False, False, 0)
        # Beside the settings, not below them: the dialog is already tall, and the picture stays in view.
        content = dialog.get_content_area()
        settings = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
        for child in content.get_children():  # fill() packed each setting's widget here
            content.remove(child)
            settings.pack_start(child, False, False, 0)
        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12)
        row.pack_start(settings, True, True, 0)
        row.pack_start(box, False, False, 0)
        content.pack_start(row, True, True, 0)
        row.show_all()
        config.connect("notify", lambda _, spec: spec.name in self.SETTINGS and self.schedule())
        self.schedule()

    def schedule(self) -> None:
        if self.pending is not None:
            GLib.source_remove(self.pending)
        self.pending = GLib.timeout_add(self.DELAY_MS, self.start)

    def start(self) -> bool:
        self.pending = None
        if self.busy:
            self.dirty = True
            return False
        model = self.config.get_property("model")
        if model == NO_MODEL:
            self.caption.set_text("No generator installed")
            return False
        seed = self.config.get_property("seed")
        request = generation_request(self.config, model) | {"command": "generate", "seeds": [seed]}
        self.busy, self.dirty = True, False
        threading.Thread(target=self.fetch, args=(request,), daemon=True).start()
        return False

    def fetch(self, request: dict) -> None:
        start = time.perf_counter()
        try:
            _, [(header, data)] = call_runtime(request)
            shown = (header, data, f"Seed {request['seeds'][0]} ({time.perf_counter() - start:.1f} s)")
        except PluginError as e:
            shown = (None, None, str(e).splitlines()[0])
        print(f"gimp-gan timing preview {json.dumps({'seconds': time.perf_counter() - start})}", file=sys.stderr)
        GLib.idle_add(self.show, *shown)

    def show(self, header, data, caption: str) -> bool:
        self.busy = False
        self.caption.set_text(caption)
        if header is not None:
            self.picture.set_from_pixbuf(to_pixbuf(header, data, self.SIDE))
        if self.dirty:
            self.start()
        return False


def to_pixbuf(header: dict, data: bytes, side: int):
    """The first float image of a generate result as a pixbuf whose longer side is `side`."""
    height, width, channels = header["shape"][1:]
    values = array("f")
    values.frombytes(data[: height * width * channels * 4])
    if sys.byteorder != "little":
        values.byteswap()
    alpha = channels in (2, 4)
    pixels = bytearray()
    for i in range(0, len(values), channels):
        colour = values[i : i + channels - alpha] if channels > 2 else values[i : i + 1] * 3
        pixels += bytes(round(min(max(v, 0.0), 1.0) * 255) for v in colour)
        if alpha:
            pixels.append(round(min(max(values[i + channels - 1], 0.0), 1.0) * 255))
    stride = width * (4 if alpha else 3)
    pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(
        GLib.Bytes.new(bytes(pixels)), GdkPixbuf.Colorspace.RGB, alpha, 8, width, height, stride
    )
    scale = side / max(width, height)
    return pixbuf.scale_simple(round(width * scale), round(height * scale), GdkPixbuf.InterpType.NEAREST)


class Timer:
    """Where a run's time went, printed to stderr for benchmarks/plugin_overhead.py."""

    def __init__(self, name: str):
        self.name, self.start, self.laps = name, time.perf_counter(), {}

    def lap(self, phase: str, engine_seconds: float = 0.0) -> None:
        """Ends `phase`; the engine's share of it (reported by the runtime) is kept apart."""
        elapsed = time.perf_counter() - self.start - sum(self.laps.values())
        if engine_seconds:
            self.laps["engine"] = engine_seconds
        self.laps[phase] = elapsed - engine_seconds

    def report(self) -> None:
        print(f"gimp-gan timing {self.name} " + json.dumps(self.laps), file=sys.stderr)


TITLES = {
    "plug-in-gan-generate": "Generate",
    "plug-in-gan-enhance": "Enhance (Upscale / Restore)",
    "plug-in-gan-style": "Style Transfer / Colorize",
}
RUNS = {"plug-in-gan-generate": run_generate, "plug-in-gan-enhance": run_enhance, "plug-in-gan-style": run_style}


def run(procedure, run_mode, image, drawables, config, data):
    """Every procedure's entry: the dialog when interactive, then the work, with errors as GIMP messages."""
    name = procedure.get_name()
    if run_mode == Gimp.RunMode.INTERACTIVE:
        GimpUi.init(name)
        dialog = GimpUi.ProcedureDialog.new(procedure, config, TITLES[name])
        dialog.fill(None)
        if name == "plug-in-gan-generate":
            GeneratePreview(dialog, config)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    timer = Timer(name)
    Gimp.context_push()
    try:
        values = RUNS[name](procedure, run_mode, image, drawables, config, timer)
        timer.report()
        return values
    except PluginError as e:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(e)))
    except Exception as e:  # a bug: say so plainly, and keep the traceback for the report
        traceback.print_exc()
        message = f"gimp-gan failed unexpectedly: {e!r}.\nPlease report it, with the runtime log {RUNTIME_LOG}."
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))
    finally:
        Gimp.progress_end()
        Gimp.context_pop()


class GimpGan(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        return list(TITLES)

    def do_create_procedure(self, name):
        if not hasattr(self, "models"):
            self.models = installed_models()
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("*")
        procedure.set_menu_label(f"_{TITLES[name]}…")
        procedure.add_menu_path(MENU)
        procedure.set_attribution("gimp-gan contributors", "GPL-3.0-or-later", "2026")
        procedure.add_image_return_value(
            "result-image", "Result image", "The image the results went to", True, READWRITE
        )
        {
            "plug-in-gan-generate": self._generate_arguments,
            "plug-in-gan-enhance": self._enhance_arguments,
            "plug-in-gan-style": self._style_arguments,
        }[name](procedure)
        add_device_argument(procedure)  # last, below the model's own settings in the dialog
        return procedure

    def _enhance_arguments(self, procedure):
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES)
        procedure.set_documentation(
            "Upscale or restore layers with a GAN model",
            "Runs an enhance model (upscaling ×2/×4, or ×1 restoration) on each selected layer. The canvas is "
            "scaled with the layers (other layers by GIMP's own interpolation), or the results go to a new "
            "image. Alpha is kept; inside a selection only the selected part changes.",
            procedure.get_name(),
        )
        add_model_argument(procedure, self.models, ("enhance",))
        outputs = [("scale-image", "This image (canvas scaled with the layer)"), ("new-image", "A new image")]
        add_choice(procedure, "output", "Out_put", "Where the result goes", outputs)

    def _style_arguments(self, procedure):
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES)
        procedure.set_documentation(
            "Style transfer or colorize layers with a GAN model",
            "Runs an image translation model on each selected layer, blended with the original by strength, "
            "and only inside the selection when there is one (soften its edge with Select ▸ Feather). The "
            "result is a new layer above, or replaces the layer.",
            procedure.get_name(),
        )
        add_model_argument(procedure, self.models, ("translate",))
        blurb = "0 keeps the original, 1 is the model's result"
        procedure.add_double_argument("strength", "_Strength", blurb, 0.0, 1.0, 1.0, READWRITE)
        outputs = [("new-layer", "A new layer above"), ("in-place", "Replace the layer")]
        add_choice(procedure, "output", "Out_put", "Where the result goes", outputs)

    def _generate_arguments(self, procedure):
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
        procedure.add_menu_path("<Image>/File/Create")
        procedure.set_documentation(
            "Generate images with a GAN model",
            "Draws new images from a generator: each seed always gives the same image. The images become new "
            "layers (or a new image); with interpolation, frames morph from one seed to another (an animation).",
            "plug-in-gan-generate",
        )
        add_model_argument(procedure, self.models, ("generate",))
        procedure.add_int_argument("seed", "S_eed", "Seed of the first image", 0, 2**31 - 1, 42, READWRITE)
        procedure.add_boolean_argument("random-seed", "Ra_ndom seed", "Pick a new seed on every run", False, READWRITE)
        procedure.add_int_argument("count", "Co_unt", "How many images (or frames)", 1, 256, 4, READWRITE)
        classes = Gimp.Choice.new()
        classes.add(RANDOM_CLASS, 0, "Random (from the seed)", "")
        names = sorted({c for m in self.models if m["task"] == "generate" for c in m["classes"]})
        for i, label in enumerate(names, 1):
            classes.add(label, i, label, "For class-conditional models")
        procedure.add_choice_argument(
            "class", "Cl_ass", "Class, for class-conditional models", classes, RANDOM_CLASS, READWRITE
        )
        procedure.add_double_argument(
            "truncation", "Trunca_tion ψ", "Below 1 trades variety for typical images", 0.0, 1.0, 1.0, READWRITE
        )
        procedure.add_boolean_argument(
            "interpolate", "_Interpolate to another seed", "Frames morph from the seed to seed-to", False, READWRITE
        )
        procedure.add_int_argument(
            "seed-to", "Last _frame's seed", "Seed of the last frame, with interpolate", 0, 2**31 - 1, 7, READWRITE
        )
        levels = [
            (NO_MIXING, "No style mixing"),
            ("coarse", "Coarse styles (pose, shape)"),
            ("middle", "Middle styles (features)"),
            ("fine", "Fine styles (colour, texture)"),
        ]
        add_choice(procedure, "mix-level", "St_yle mixing", "Style-based models: styles from the mix seed", levels)
        procedure.add_int_argument(
            "mix-seed", "Mi_x seed", "Seed whose styles are mixed in", 0, 2**31 - 1, 1, READWRITE
        )
        for k in range(1, EDITS + 1):
            procedure.add_double_argument(
                f"edit-{k}", f"Direction {k}", f"Style-based models: move along direction {k} (0: unchanged)",
                -5.0, 5.0, 0.0, READWRITE,
            )  # fmt: skip
        procedure.add_boolean_argument(
            "noise", "_Noise", "Models with noise inputs: fine random detail (off: none)", True, READWRITE
        )
        outputs = [("layers", "New layers in this image"), ("image", "A new image")]
        add_choice(procedure, "output", "Out_put", "Where the images go", outputs)
        procedure.add_int_argument(
            "size", "Si_ze", "Longer side in pixels (0: the model's own size)", 0, 4096, 0, READWRITE
        )


Gimp.main(GimpGan.__gtype__, sys.argv)
