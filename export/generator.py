"""Export a training checkpoint's generator to a model-format-1 ONNX file, verified against PyTorch.

Every number in the metadata comes from the checkpoint (its config, classes, step and time), so a
model cannot be described differently from how it was trained. The exported network is the EMA
generator in eval mode: what the training grids and `evaluate` showed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from google.protobuf.message import DecodeError

from export import style
from training.artwork import SOURCES
from training.networks import task
from training.sampling import load_generator
from training.tasks.translate import WORKING_SIZE

# max |PyTorch − onnxruntime| on images in [-1, 1]: an eighth of an 8-bit level, ten times float32's own
# error through emoji-style's 64-px synthesis network (PyTorch float32 against float64: 8e-5; onnxruntime 6e-5)
FP32_TOLERANCE = 1e-3
FP16_TOLERANCE = 1e-2  # on [-1, 1]: 1.3/255 of a pixel; fp16 keeps about three decimal digits
VERIFY_BATCHES = (1, 3, 8)
VERIFY_IMAGE_SIZES = ((1, 37, 53), (2, 64, 48), (3, 24, 24))  # (batch, height, width): odd sizes too
MAX_TILE_PADDING = 32  # input pixels; past this a deep network's far context changes a tile by < 1/255
MAX_TRANSLATE_PADDING = 96  # a U-Net sees far; tiles this much larger cost more than their seams (blended)
# A model's name, the model format's rule (docs/model-format.md; gimp_gan_plugin.modelformat.NAME_PATTERN is the
# reader's copy, and a test checks that the two agree). Used with fullmatch: the name is also a file name.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_RULE = "up to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
CARD_MARKER = "<!-- gimp-gan model card, written by python -m export -->"  # first line: a card we may replace
INDEX_HEADER = "# Models\n\nWritten by `python -m export`; each model's card is NAME.md.\n"
DEBIAN_PHOTOS = (
    "Debian's photos: mate-backgrounds (nature/), the photographic plasma-workspace-wallpapers (GPL-2+) and "
    "lomiri-wallpapers-16.04/-20.04 (CC-BY-4.0, CC-BY-SA-3.0/4.0, CC0; photographers named in their copyright files)"
)


EMOJI_DATA = (
    "Noto Color Emoji (Debian's fonts-noto-color-emoji; images Apache-2.0, Google), labelled with Unicode's "
    "emoji-test.txt (Debian's unicode-data, Unicode licence)"
)


class ExportError(Exception):
    """An export that cannot be made or does not reproduce PyTorch; nothing is written then."""


@dataclass
class ExportReport:
    path: Path
    max_error: float
    opset: int
    document: dict  # the metadata written into the file


def export_generator(
    state: dict,
    path: Path,
    name: str,
    title: str = "",
    description: str = "",
    license: str = "MIT",
    metrics: dict | None = None,
    fp16: bool = False,
    direction_labels: dict[int, str] | None = None,
) -> ExportReport:
    """Write `path` (one self-contained .onnx file) only after it matched PyTorch at several batch sizes.

    fp16 halves the file and speeds up GPUs with tensor cores; inputs and outputs stay float32
    (keep_io_types), so the metadata and the engine treat it like the fp32 model. direction_labels: what
    a style-based generator's directions (numbered from 1) visibly change, as someone looking at them saw.
    """
    check_name(name)
    G, config, classes = load_generator(state)
    make_document = {"enhance": _enhance_document, "translate": _translate_document, "generate": _generate_document}
    document = make_document[task(config.model.family)](
        state, config, classes, G, name, title, description, license, metrics
    )
    if direction_labels:
        _label_directions(document, direction_labels)
    return export_network(G, document, path, fp16)


def _label_directions(document: dict, labels: dict[int, str]) -> None:
    directions = document.get("styles", {}).get("directions", [])
    if not directions:
        raise ExportError("direction labels are for style-based generators, which have directions")
    for k, label in labels.items():
        if not 1 <= k <= len(directions):
            raise ExportError(f"direction {k} does not exist: this model has directions 1 to {len(directions)}")
        directions[k - 1]["label"] = label


def export_network(G: torch.nn.Module, document: dict, path: Path, fp16: bool = False) -> ExportReport:
    """Trace `G` for the task its model-format `document` names, check the graph against G, then write it.

    The path shared by our checkpoints and converted community models: image tasks need `G.channels`
    (and `G.size_multiple` where sizes are constrained), generators `G.latent_size`."""
    kind, classes = document["task"], document.get("classes", [])
    image_task, style_based = kind in ("enhance", "translate"), hasattr(G, "combined")
    graph = style.StyleGraph(G, bool(classes)).eval() if style_based else G
    if style_based:
        args = style.example_inputs(G, 3, 2, len(classes), torch.Generator().manual_seed(0))  # 3 ≠ 2: no shared symbol
        input_names, output_name = style.input_names(G, bool(classes)), "image"
        dynamic = style.dynamic_shapes(G, bool(classes))
    elif image_task:
        multiple = getattr(G, "size_multiple", 1)
        args, input_names, output_name = (torch.rand(1, G.channels, 3 * multiple, 4 * multiple),), ["image"], "result"
        dynamic = {"x": {0: "batch", 2: "height", 3: "width"}}
    else:
        z = torch.randn(2, G.latent_size)
        args = (z, torch.zeros(2, dtype=torch.int64)) if classes else (z,)
        input_names, output_name = ["z", "label"][: len(args)], "image"
        dynamic = {"z": {0: "batch"}, "labels": {0: "batch"}} if classes else {"z": {0: "batch"}}
    program = torch.onnx.export(
        graph, args, input_names=input_names, output_names=[output_name],
        dynamic_shapes=dynamic, dynamo=True, external_data=False,
    )  # fmt: skip
    model = program.model_proto
    if fp16:
        try:
            from onnxconverter_common import float16
        except ImportError:
            raise ExportError("--fp16 needs onnxconverter-common: pip install -e '.[train]'") from None

        model = float16.convert_float_to_float16(model, keep_io_types=True)
    document["provenance"]["opset"] = model.opset_import[0].version
    onnx.helper.set_model_props(model, {"gimp_gan": json.dumps(document)})
    model.producer_name, model.doc_string = "gimp-gan export", document["description"]
    onnx.checker.check_model(model)
    model_bytes = model.SerializeToString()
    if image_task:
        max_error = verify_image(model_bytes, G)
    else:
        max_error = (style.verify if style_based else verify)(model_bytes, G, len(classes))
    tolerance = FP16_TOLERANCE if fp16 else FP32_TOLERANCE
    if max_error > tolerance:
        raise ExportError(f"the ONNX graph differs from PyTorch by {max_error:.2e} (limit {tolerance:.0e})")
    path = Path(path)
    write_atomically(path, model_bytes)
    return ExportReport(path, max_error, model.opset_import[0].version, document)


def check_name(name: str, what: str = "the model name") -> None:
    """ExportError unless `name` follows the model format's rule, which also keeps it a plain file name."""
    if not NAME_PATTERN.fullmatch(name):
        raise ExportError(f"{what} {name!r} is not a model name: {NAME_RULE}")


def check_output(path: Path) -> None:
    """ExportError unless the .onnx file can be written, found before minutes of export and verification
    rather than after them. Nothing is created here: a failed export leaves no folder behind either."""
    path = Path(path)
    if path.suffix != ".onnx":
        raise ExportError(f"{path}: the model file must end in .onnx (its card is NAME.md beside it)")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the model file's path, e.g. {path / 'NAME.onnx'}")
    existing = next(folder for folder in (path.parent, *path.parent.parents) if folder.exists())
    if not existing.is_dir():
        raise ExportError(f"cannot make the folder {path.parent}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write into {existing}: no permission")


def write_atomically(path: Path, data: bytes) -> None:
    """Write by a temporary file in the same folder and a rename, so GIMP (or a reader of the index) never
    sees half a file and a failed write leaves the old one; an OSError becomes an ExportError."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as e:
        raise ExportError(f"cannot write {path} ({e.strerror or e})") from None
    finally:
        temporary.unlink(missing_ok=True)


def verify(model_bytes: bytes, G: torch.nn.Module, num_classes: int) -> float:
    """Largest |PyTorch − onnxruntime| over several batch sizes of random latents (and classes)."""
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for n in VERIFY_BATCHES:
        z = torch.randn(n, G.latent_size, generator=generator)
        label = torch.randint(num_classes, (n,), generator=generator) if num_classes else None
        feeds = {"z": z.numpy()} | ({"label": label.numpy()} if num_classes else {})
        with torch.no_grad():
            expected = G(z, label).numpy()
        (actual,) = session.run(["image"], feeds)
        if actual.shape != expected.shape:
            raise ExportError(f"batch {n}: ONNX output shape {actual.shape}, PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst


def verify_image(model_bytes: bytes, G: torch.nn.Module) -> float:
    """Largest |PyTorch − onnxruntime| over random images of several batch sizes, heights and widths
    (odd ones, rounded up to the network's size multiple)."""
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    multiple = getattr(G, "size_multiple", 1)
    worst = 0.0
    for n, height, width in VERIFY_IMAGE_SIZES:
        height, width = -(-height // multiple) * multiple, -(-width // multiple) * multiple
        image = torch.rand(n, G.channels, height, width, generator=generator)
        with torch.no_grad():
            expected = G(image).numpy()
        (actual,) = session.run(["result"], {"image": image.numpy()})
        if actual.shape != expected.shape:
            raise ExportError(f"input {tuple(image.shape)}: ONNX output shape {actual.shape}, PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst


def _debian_data(pairs: str, style_match: str = "", style_sources: list[str] | None = None) -> str:
    """Which Debian packages a model trained on when no folder was given, with their licences. A style's
    checkpoint records which painting sources it drew on; older ones did not, and get every source's."""
    if pairs == "lineart":
        return SOURCES["openclipart"].licence
    photos = [DEBIAN_PHOTOS, SOURCES["gcompris-photos"].licence, SOURCES["tuxpaint-photos"].licence]
    if pairs == "colorize":
        return "; ".join(photos)
    if pairs == "unpaired":
        paintings = [SOURCES[name].licence for name in style_sources or ("wesnoth-story", "gcompris-paintings")]
        if style_match:
            paintings = [f"of the paintings only those whose file names contain {style_match!r}", *paintings]
        return "; ".join(photos + paintings)
    return DEBIAN_PHOTOS


def _provenance(state: dict, config, metrics: dict | None) -> dict:
    if config.data.dataset == "fashion-mnist":
        data = "Fashion-MNIST (Zalando, MIT licence)"
    elif config.data.dataset == "emoji":
        data = EMOJI_DATA
    elif config.data.dataset == "photos" and not config.data.path:
        pairs = config.data.pairs if task(config.model.family) == "translate" else ""
        data = _debian_data(pairs, config.data.style_match, state.get("style_sources"))
    else:
        data = config.data.path
    provenance = {
        "data": data,
        "steps": state["step"],
        "images_seen": state["images_seen"],
        "training_time": f"{state['seconds'] / 60:.0f} min",
        "hardware": f"{state.get('hardware', 'not recorded')}, torch {state.get('torch', '?')}",
        "config": state["config"],
        "code": "gimp-gan training 0.1",
    }
    if metrics:
        provenance["metrics"] = metrics
    return provenance


def _generate_document(state, config, classes, G, name, title, description, license, metrics) -> dict:
    """The model-format-1 metadata of a generator, from the checkpoint alone."""
    style_based = hasattr(G, "combined")
    family = "style-based generator (StyleGAN2)" if style_based else "DCGAN"
    kind = f"class-conditional {family}" if classes else family
    provenance = _provenance(state, config, metrics)
    data = provenance["data"]
    document = {
        "format_version": 1,
        "task": "generate",
        "name": name,
        "title": title or name.replace("-", " ").title(),
        "description": description or f"A {kind} trained on {data}: {G.size}×{G.size} images from a seed.",
        "license": license,
        "provenance": provenance,
        "inputs": [{"name": "z", "role": "latent", "dtype": "float32"}],
        "outputs": [
            {
                "name": "image",
                "role": "image",
                "dtype": "float32",
                "layout": "NCHW",
                "channels": G.channels,
                "range": [-1.0, 1.0],
            }
        ],
        "latent_size": G.latent_size,
        "output_size": [G.size, G.size],
    }
    if style_based:
        document["inputs"] = [
            {"name": "latents", "role": "latents", "dtype": "float32"},
            {"name": "mix", "role": "style_mix", "dtype": "float32"},
            {"name": "offset", "role": "style_offset", "dtype": "float32"},
            *(
                {"name": f"noise{i}", "role": "noise", "dtype": "float32", "shape": list(shape)}
                for i, shape in enumerate(G.synthesis.noise_shapes())
            ),
        ]
        document["styles"] = style.styles_block(G)
    if classes:
        document["inputs"].append({"name": "label", "role": "class", "dtype": "int64"})
        document["classes"] = list(classes)
    return document


def _enhance_document(state, config, classes, G, name, title, description, license, metrics) -> dict:
    """The model-format-1 metadata of an enhance model: pixels in [0, 1] in and out, any size."""
    scale = config.model.scale
    if not description:
        what = f"Upscales photos ×{scale}" if scale > 1 else "Cleans up photos (noise, JPEG artefacts, blur)"
        how = "faithfully (PSNR-oriented)" if not config.train.adversarial_weight else "with sharper, GAN-made texture"
        description = f"{what}, {how}; trained on {config.data.degradation} inputs."
    title = title or _enhance_title(scale, bool(config.train.adversarial_weight), config.data.degradation)
    return enhance_document(name, title, description, license, _provenance(state, config, metrics), G, scale)


def enhance_document(
    name: str, title: str, description: str, license: str, provenance: dict, G: torch.nn.Module, scale: int
) -> dict:
    """An enhance model's metadata, for our checkpoints and converted community models alike: pixels in
    [0, 1] in and out, any size that is a multiple of `G.size_multiple` (1 if it has none)."""
    image = {"role": "image", "dtype": "float32", "layout": "NCHW", "channels": G.channels, "range": [0.0, 1.0]}
    return {
        "format_version": 1,
        "task": "enhance",
        "name": name,
        "title": title,
        "description": description,
        "license": license,
        "provenance": provenance,
        "inputs": [{"name": "image", **image}],
        "outputs": [{"name": "result", **image}],
        "scale": scale,
        "size_multiple": getattr(G, "size_multiple", 1),
        "tile_padding": min(G.receptive_radius, MAX_TILE_PADDING),
    }


# What images an enhance model is for, by the degradation it learned to undo: the title says it, so a user
# picks the clean-image upscaler for screenshots and downscales and the blind one for camera JPEGs.
IMAGES_FOR = {"bicubic": "clean / downscaled", "realistic": "real photos: noise, JPEG"}


def _enhance_title(scale: int, gan: bool, degradation: str) -> str:
    """E.g. "Enhance ×4 (clean / downscaled)", "Enhance ×4, detail (real photos: noise, JPEG)", "Restore (...)"."""
    what = (f"Enhance ×{scale}" if scale > 1 else "Restore") + (", detail" if gan else "")
    return f"{what} ({IMAGES_FOR[degradation]})"


def _translate_document(state, config, classes, G, name, title, description, license, metrics) -> dict:
    """The model-format-1 metadata of an image translation model: [0, 1] in, RGB in [0, 1] out, same size."""
    method = "CycleGAN" if config.train.unpaired_method == "cyclegan" else "CUT"
    described = {
        "colorize": (
            "Colorize",
            "Colorizes grey photos: predicts the colour and keeps the photo's own luminance, so no detail is lost.",
        ),
        "lineart": (
            "Line art → colour",
            "Colours line drawings (black lines on white): paints the areas between the lines and keeps every "
            "line as drawn.",
        ),
        "unpaired": (
            name.replace("-", " ").capitalize(),
            f"Restyles photos in the style of a set of images, learned without pairs ({method}); the photo's "
            "shapes stay where they are.",
        ),
    }
    default_title, default_description = described.get(
        config.data.pairs, (name.replace("-", " ").title(), f"Translates images ({config.data.pairs}).")
    )
    image = {"role": "image", "dtype": "float32", "layout": "NCHW", "range": [0.0, 1.0]}
    working = {"working_size": WORKING_SIZE} if config.model.keep_luma else {}
    return working | {
        "format_version": 1,
        "task": "translate",
        "name": name,
        "title": title or default_title,
        "description": description or default_description,
        "license": license,
        "provenance": _provenance(state, config, metrics),
        "inputs": [{"name": "image", **image, "channels": G.channels}],
        "outputs": [{"name": "result", **image, "channels": 3}],
        "scale": 1,
        "size_multiple": G.size_multiple,
        "tile_padding": min(G.receptive_radius, MAX_TRANSLATE_PADDING),
    }


def is_our_card(path: Path) -> bool:
    """Whether `path` is a model card that `python -m export` wrote (its first line is CARD_MARKER)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline().rstrip("\n") == CARD_MARKER
    except OSError:
        return False


def is_model_folder(folder: Path) -> bool:
    """Whether an index may be written into `folder`: its README.md is our index, or it has none and holds
    only models, our cards and sidecars (NAME.json beside NAME.onnx). Anything else is the user's folder,
    whose README.md is not ours to write."""
    folder, header = Path(folder), INDEX_HEADER.encode()
    try:
        if (folder / "README.md").exists():
            with open(folder / "README.md", "rb") as f:
                return f.read(len(header)) == header
        files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    except OSError:  # a README.md that is a folder, an unreadable folder: not ours to judge, so not ours to write
        return False
    return all(
        p.suffix == ".onnx"
        or (p.suffix == ".md" and is_our_card(p))
        or (p.suffix == ".json" and p.with_suffix(".onnx").is_file())
        for p in files
    )


def write_index(folder: Path) -> Path:
    """README.md of a model folder: one line per model, from the metadata inside each file (files that
    are not gimp-gan models, or cannot be read, are left out)."""
    rows = [INDEX_HEADER, "| model | task | what it makes | size | card |", "|---|---|---|---|---|"]
    for path in sorted(Path(folder).glob("*.onnx")):
        try:
            props = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
            doc = json.loads(props["gimp_gan"])
            size = "×".join(map(str, doc.get("output_size", []))) or f"any (output ×{doc.get('scale', 1)})"
            row = f"| `{doc['name']}` | {doc['task']} | {doc['description']} | {size} |"
        except (OSError, DecodeError, KeyError, ValueError, TypeError, AttributeError):
            continue
        card = f"[{path.stem}.md]({path.stem}.md)" if path.with_suffix(".md").exists() else "–"
        rows.append(f"{row} {card} |")
    index = Path(folder) / "README.md"
    write_atomically(index, ("\n".join(rows) + "\n").encode())
    return index


def write_card(document: dict, path: Path, reference: dict | None = None) -> None:
    """A Markdown model card beside the model, from its metadata: what a user needs to judge it. Its first
    line marks it as ours, so a later export may replace it (and never a file of the user's: is_our_card).

    reference: what `evaluate` measured beside the model: the real-data floor of a generator, or the
    resize (or damaged-input) scores of an enhance model."""
    card = {"enhance": _enhance_card, "translate": _translate_card, "generate": _generate_card}[document["task"]]
    if "converted_from" in document["provenance"]:
        card = _converted_card
    write_atomically(Path(path), f"{CARD_MARKER}\n{card(document, reference or {})}".encode())


def _card_heading(document: dict) -> list[str]:
    return [f"# {document['title']} (`{document['name']}`)", "", document["description"], "", "## Use", ""]


def _generate_card(document: dict, floor: dict) -> str:
    provenance, size = document["provenance"], document["output_size"]
    config, metrics, styles = provenance["config"], provenance.get("metrics", {}), document.get("styles")
    colours = {1: "grey", 3: "RGB", 4: "RGBA (transparent background)"}[document["outputs"][0]["channels"]]
    lines = [
        *_card_heading(document),
        f"Generates {size[0]}×{size[1]} {colours} images from a seed: the same seed gives the same image in GIMP,"
        " on the command line and in PyTorch.",
        f"`python -m gimp_gan_plugin generate --model {document['name']} --seed 0 --count 16 --grid -o out/`"
        + (" (add `--class NAME`)." if document.get("classes") else "."),
        "",
    ]
    if document.get("classes"):
        lines += [f"Classes: {', '.join(document['classes'])}.", ""]
    if styles:
        levels = ", ".join(f"{name} {start}–{stop - 1}" for name, (start, stop) in styles["levels"].items())
        labelled = [
            f"{k} {d['label']}" for k, d in enumerate(styles["directions"], 1) if d["label"] != f"direction {k}"
        ]
        seen = f"labelled by what they visibly change: {', '.join(labelled)}" if labelled else "unlabelled"
        lines += [
            f"Style-based: {styles['layers']} style layers ({levels}). `--truncation PSI` pulls w toward the average",
            "style; `--mix-seed S --mix coarse|middle|fine` takes those layers' styles from seed S;",
            f"`--direction K --amount A` moves along one of {len(styles['directions'])} directions found by SeFa",
            f"(closed-form, from the weights; {seen}); `--noise-seed N` and `--no-noise` change only the fine random",
            "detail.",
            "",
        ]
    train = config["train"]
    recipe = (
        f"loss {train['loss']}, R1 γ {train['r1_gamma']:g} every {train.get('r1_every', 1)} steps, style mixing "
        f"{config['model'].get('style_mixing', 0):g}, DiffAugment `{train['augment'] or 'off'}`"
        if styles
        else f"loss {config['train']['loss']}, spectral norm {'on' if config['model']['spectral_norm'] else 'off'}"
    )
    lines += [
        "## Training",
        "",
        f"- Data: {provenance['data']}",
        f"- {provenance['steps']} generator steps, {provenance['images_seen']:,} real images shown to D, "
        f"{provenance['training_time']} on {provenance['hardware']}",
        f"- Recipe: {recipe}, EMA half-life {config['train']['ema_halflife_kimg']}k images; the full config is in"
        " the model's metadata",
        f"- Code: {provenance['code']} (`python -m training train`, then `python -m export`)",
        "",
    ]
    if metrics:
        which = "emoji (by Unicode group)" if config["data"]["dataset"] == "emoji" else "Fashion-MNIST"
        lines += ["## Quality", "", "Measured by `python -m training evaluate` (10,000 samples vs the test set, in the",
                  f"features of our {which} classifier; the floor is real training images measured the same way):",
                  "", "| metric | this model | real floor |", "|---|---|---|"]  # fmt: skip
        for key in ("fid", "kid", "precision", "recall", "classes_covered", "class_evenness", "class_accuracy"):
            if key in metrics:
                floor_value = f"{floor[key]:.4f}" if key in floor else "–"
                lines.append(f"| {key} | {metrics[key]:.4f} | {floor_value} |")
        lines.append("")
    lines += [
        "## Licence and limits",
        "",
        f"Weights: {document['license']}. Small images only ({size[0]} px); a short CPU training run, so samples",
        "show artefacts and some variety of the data set is missing (see recall).",
        "",
    ]
    return "\n".join(lines)


def _converted_card(document: dict, _: dict) -> str:
    """The card of a community model (`--from-esrgan`): where it came from; its quality is its author's word."""
    source, scale = document["provenance"]["converted_from"], document["scale"]
    return "\n".join([
        *_card_heading(document),
        f"`python -m gimp_gan_plugin enhance photo.png -o result.png --model {document['name']}`: any size (tiles),",
        f"the result is exactly {scale} × the input's size; grey, alpha and 16-bit images are kept as they are.",
        "",
        "## Source",
        "",
        f"- File: `{source['file']}` (SHA-256 `{source['sha256']}`)",
        f"- Network: {source['architecture']}, rebuilt by `export/esrgan.py` and checked against the ONNX graph",
        f"- Converted by {document['provenance']['code']}",
        "",
        "## Licence and limits",
        "",
        f"Weights: {document['license']}. Not trained by gimp-gan: what images it suits, and how well, is what",
        "its author says where the file was published.",
        "",
    ])  # fmt: skip


def _enhance_card(document: dict, baselines: dict) -> str:
    """The card of an enhance model; `baselines` holds the resize (or damaged-input) scores of `evaluate`."""
    provenance, scale = document["provenance"], document["scale"]
    config, metrics = provenance["config"], provenance.get("metrics", {})
    train, model = config["train"], config["model"]
    stage = (
        f"GAN stage: L1 × {train['l1_weight']}, feature matching in the U-Net discriminator × "
        f"{train['feature_weight']}, relativistic average adversarial loss × {train['adversarial_weight']}, "
        f"starting from `{train['init_from']}`"
        if train["adversarial_weight"] or train["feature_weight"]
        else "PSNR-oriented: L1 loss only"
    )
    lines = [
        *_card_heading(document),
        f"`python -m gimp_gan_plugin enhance photo.png -o result.png --model {document['name']}`: any size (tiles),",
        f"the result is exactly {scale} × the input's size; grey, alpha and 16-bit images are kept as they are.",
        "",
        "## Training",
        "",
        f"- Data: {provenance['data']}; {config['data']['size']}-pixel crops of each photo at 1/2, 1/3 and 1/4 of",
        f"  its size, inputs made by {config['data']['degradation']} degradation (training/degradation.py)",
        f"- Network: {model['family']}, width {model['width']}, {model['blocks']} blocks, ×{scale}"
        + (", trained with summed-branch kernels folded into plain convolutions" if model.get("reparam") else ""),
        f"- {stage}; {provenance['steps']} steps of {train['batch_size']} crops, Adam {train['lr_g']:g}"
        f" ({train['lr_schedule']}), EMA half-life {train['ema_halflife_kimg']}k crops",
        f"- {provenance['training_time']} on {provenance['hardware']}",
        f"- Code: {provenance['code']} (`python -m training train --config training/configs/{config['name']}.toml`,"
        " then `python -m export`); the full config is in the model's metadata",
        "",
    ]
    if metrics:
        methods = [("this model", metrics)] + [
            (method, {"psnr_y": baselines[f"{method}_psnr_y"], "ssim_y": baselines[f"{method}_ssim_y"]})
            for method in ("input", "bicubic", "lanczos")
            if f"{method}_psnr_y" in baselines
        ]
        lines += [
            "## Quality",
            "",
            "Measured by `python -m training evaluate` on the validation photos (never trained on), at half size,",
            (
                f"downscaled ×{scale} (bicubic):"
                if config["data"]["degradation"] == "bicubic"
                else "damaged by the training's degradation with a fixed seed per photo"
                + ("" if scale == 1 else f", at 1/{scale} of their size")
                + ":"
            ),
            f"PSNR and SSIM of the luma (Y), {scale} border pixels left out, as the super-resolution literature does.",
            "",
            "| | PSNR-Y (dB) | SSIM-Y |",
            "|---|---|---|",
            *(f"| {method} | {values['psnr_y']:.2f} | {values['ssim_y']:.4f} |" for method, values in methods),
            "",
        ]
    lines += [
        "## Licence and limits",
        "",
        f"Weights: {document['license']} (the photos' licences are under Training). A small network trained on a",
        "CPU with a few dozen photos: it beats plain resizing, not the large published models.",
        "",
    ]
    return "\n".join(lines)


def _translate_card(document: dict, baselines: dict) -> str:
    """The card of a translation model; `baselines` holds the untouched input's scores from `evaluate`."""
    provenance = document["provenance"]
    config, metrics = provenance["config"], provenance.get("metrics", {})
    train, model, pairs = config["train"], config["model"], config["data"]["pairs"]
    if pairs == "unpaired" and train.get("unpaired_method") == "cyclegan":
        how = "photos and the style's images, unpaired (training/tasks/cyclegan.py)"
        loss = (
            f"two PatchGANs ({train['loss']}) × {train['adversarial_weight']} + round-trip L1 × "
            f"{train['cycle_weight']:g} + identity L1 × {train['cycle_weight'] * train['cycle_identity']:g} (CycleGAN)"
        )
    elif pairs == "unpaired":
        how = "photos and the style's images, unpaired (training/tasks/unpaired.py)"
        loss = f"PatchGAN ({train['loss']}) × {train['adversarial_weight']} + PatchNCE × {train['nce_weight']}" + (
            " with the identity term (CUT)" if train["nce_identity"] else " (FastCUT)"
        )
    else:
        how = f"{pairs} pairs made on the fly (training/tasks/translate.py)"
        pixel = [
            f"{name} × {train[f'{key}_weight']:g}"
            for name, key in (("L1", "l1"), ("MSE", "mse"))
            if train.get(f"{key}_weight")
        ]
        if train["adversarial_weight"]:
            pixel.append(f"conditional PatchGAN ({train['loss']}) × {train['adversarial_weight']:g}")
        loss = " + ".join(pixel)
    lines = [
        *_card_heading(document),
        f"`python -m gimp_gan_plugin translate photo.png -o result.png --model {document['name']}`: any size",
        "(tiles); "
        + (
            "RGB in and out."
            if document["inputs"][0]["channels"] == 3
            else "grey or RGB in (RGB is taken by its luma), RGB out."
        )
        + " In GIMP: Filters ▸ Generative (GAN) ▸ Style Transfer / Colorize, with a strength and inside the selection.",
        "",
        "## Training",
        "",
        f"- Data: {provenance['data']}; {config['data']['size']}-pixel crops of the images reduced to a shorter side"
        f" of 200 to 400 px, {how}",
        f"- Network: U-Net, width {model['width']}, {model['levels']} levels, no normalisation (tiles agree)"
        + (", chroma only (the input's luminance is kept)" if model.get("keep_luma") else "")
        + (", a colour fill multiplied by the drawing (the lines are kept)" if model.get("keep_lines") else "")
        + (f", colour at 1/{model['colour_downscale']} resolution" if model.get("colour_downscale", 1) > 1 else "")
        + (", residual (a change added to the photo)" if model.get("residual") else "")
        + (", edge-replicating padding (no frame at the borders)" if model.get("padding") == "replicate" else "")
        + (
            f", chroma × {model['chroma_gain']:g} (chosen on validation photos)"
            if model.get("chroma_gain", 1) != 1
            else ""
        ),
        f"- Loss: {loss}; {provenance['steps']} steps of {train['batch_size']} crops, Adam {train['lr_g']:g}"
        f" ({train['lr_schedule']})",
        f"- {provenance['training_time']} on {provenance['hardware']}",
        "",
    ]
    if metrics and pairs == "unpaired":
        lines += [
            "## Quality",
            "",
            "Measured by `python -m training evaluate` on the validation photos and style images (never trained on):",
            "",
            "| | patch distance to the style (SWD × 10³, lower is closer) | structure kept (SSIM-Y vs the photo) |",
            "|---|---|---|",
            f"| this model | {metrics['swd']:.0f} | {metrics['structure']:.3f} |",
        ]
        if "input_swd" in baselines:
            lines.append(f"| the photo itself | {baselines['input_swd']:.0f} | 1.000 |")
        lines.append("")
    elif metrics:
        colorize = pairs == "colorize"
        kept = f"{metrics['luma_psnr']:.2f}" if colorize else "—"
        lines += [
            "## Quality",
            "",
            "Measured by `python -m training evaluate` on the validation images (never trained on):",
            "",
            "| | PSNR (dB) | SSIM | colourfulness ÷ the originals' | luminance kept: PSNR-Y vs the input (dB) |",
            "|---|---|---|---|---|",
            f"| this model | {metrics['psnr']:.2f} | {metrics.get('ssim', float('nan')):.3f} |"
            f" {metrics['colourfulness']:.2f} | {kept} |",
        ]
        if "input_psnr" in baselines:
            shown = "the grey input" if colorize else "the line drawing"
            ssim = baselines.get("input_ssim", float("nan"))
            lines.append(f"| {shown} | {baselines['input_psnr']:.2f} | {ssim:.3f} | 0.00 | — |")
        lines.append("")
    lines += ["## Licence and limits", "", f"Weights: {document['license']}. A small network trained on a CPU.", ""]
    return "\n".join(lines)
