"""The gimp-gan model format: one self-contained .onnx file with a JSON document in its metadata.

docs/model-format.md is the specification; this module is its reference reader. It is the only seam
between the training half (which writes models) and the runtime half (which reads them), so every rule
here is enforced with a message that names the field, and nothing outside this module parses the JSON.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

METADATA_KEY = "gimp_gan"
FORMAT_VERSION = 1
TASKS = ("generate", "enhance", "translate")
IMAGE_TASKS = ("enhance", "translate")
ROLES = ("image", "latent", "class", "noise", "latents", "style_mix", "style_offset")
STYLE_ROLES = ("latents", "style_mix", "style_offset")  # a style-based generator's inputs besides noise and class
STYLE_LEVELS = ("coarse", "middle", "fine")
DTYPES = ("float32", "float16", "int64")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # used with fullmatch: a name is also a file name
# Bounds that no real model comes near; past them a number is a typo or a hostile file, and believing
# it would cost the engine absurd amounts of memory (a ×10⁶ "scale", a 10⁹-element noise map).
MAX_SCALE = 16
MAX_SIZE_MULTIPLE = 256
MAX_TILE_PADDING = 512
MAX_LATENT_SIZE = 65536
MAX_OUTPUT_SIDE = 16384
MAX_NOISE_ELEMENTS = 1 << 26
MAX_CLASSES = 100_000
MAX_STYLE_LAYERS = 64
MAX_DIRECTIONS = 64
MAX_DOCUMENT_BYTES = 16 << 20


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output, with what the engine must feed or expect there.

    For image tensors, pixel values p in [0, 1] (gamma-encoded sRGB, what GIMP calls R'G'B') map to
    model values p * gain + bias, per channel; `gain`/`bias` come from `range` or `mean`/`std`.
    """

    name: str
    role: str
    dtype: str
    channels: int = 0
    gain: tuple[float, ...] = ()
    bias: tuple[float, ...] = ()
    shape: tuple[int, ...] = ()

    def to_model(self, pixels: np.ndarray) -> np.ndarray:
        """Map pixels (N, C, H, W) in [0, 1] to the model's value range."""
        return pixels * _per_channel(self.gain) + _per_channel(self.bias)

    def to_pixels(self, values: np.ndarray) -> np.ndarray:
        """Map model values (N, C, H, W) back to pixels in [0, 1] (not clipped)."""
        return (values - _per_channel(self.bias)) / _per_channel(self.gain)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _per_channel(values: tuple[float, ...]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).reshape(1, -1, 1, 1)


@dataclass(frozen=True)
class Direction:
    """An edit: a unit vector in w, and `scale`, the spread of w along it (an amount of 1 is a typical step)."""

    label: str
    vector: tuple[float, ...]
    scale: float


@dataclass(frozen=True)
class Styles:
    """A style-based generator's style layers: how many, w's size, each level's layers [start, stop)."""

    layers: int
    w_size: int
    levels: dict[str, tuple[int, int]]
    directions: tuple[Direction, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    """A validated model description; `document` keeps the original JSON for listings and tools."""

    name: str
    title: str
    description: str
    task: str
    license: str
    provenance: dict[str, Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    scale: int = 1
    size_multiple: int = 1
    tile_padding: int = 0
    working_size: int = 0  # colorizers: the longer side at which the model sees a whole scene (0: any)
    latent_size: int = 0
    output_size: tuple[int, int] = (0, 0)
    classes: tuple[str, ...] = ()
    styles: Styles | None = None  # style-based generators only
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def input(self, role: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.role == role), None)

    def inputs_with_role(self, role: str) -> list[TensorSpec]:
        return [t for t in self.inputs if t.role == role]

    @property
    def image_output(self) -> TensorSpec:
        return next(t for t in self.outputs if t.role == "image")

    @property
    def conditional(self) -> bool:
        return bool(self.classes)


def parse_document(doc: Any, source: str) -> ModelInfo:
    """Validate a metadata document and build a ModelInfo; `source` names the file in error messages."""
    r = _Fields(doc, source, "metadata")
    version = r.integer("format_version", minimum=1)
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{source}: made for a newer gimp-gan (model format {version}); this version reads format "
            f"{FORMAT_VERSION}. Update gimp-gan to use this model."
        )
    task = r.choice("task", TASKS)
    if "graphs" in doc:
        raise ModelError(f"{source}: multi-graph models ('graphs') are not supported by model format 1")
    inputs = tuple(_parse_tensor(t, source, f"inputs[{i}]") for i, t in enumerate(r.list("inputs")))
    outputs = tuple(_parse_tensor(t, source, f"outputs[{i}]") for i, t in enumerate(r.list("outputs")))
    info = dict(
        name=r.string("name", pattern=NAME_PATTERN),
        title=r.string("title"),
        description=r.string("description"),
        task=task,
        license=r.string("license"),
        provenance=r.object("provenance"),
        inputs=inputs,
        outputs=outputs,
        document=doc,
    )
    _Fields(info["provenance"], source, "provenance").string("data")
    style_based = "styles" in doc
    _check_roles(inputs, outputs, task, source, style_based)
    if task in IMAGE_TASKS:
        enhance = task == "enhance"
        info["scale"] = r.integer("scale", minimum=1, maximum=MAX_SCALE) if enhance else r.integer("scale", 1, 1, 1)
        info["size_multiple"] = r.integer("size_multiple", default=1, minimum=1, maximum=MAX_SIZE_MULTIPLE)
        info["tile_padding"] = r.integer("tile_padding", default=0, minimum=0, maximum=MAX_TILE_PADDING)
        info["working_size"] = r.integer("working_size", default=0, minimum=0, maximum=MAX_OUTPUT_SIDE)
        colorizer = [t.channels for t in (*inputs, *outputs) if t.role == "image"] == [1, 3]
        if info["working_size"] and not colorizer:
            raise ModelError(f"{source}: metadata 'working_size' is for colorizers (1 channel in, 3 out)")
    else:
        info["latent_size"] = r.integer("latent_size", minimum=1, maximum=MAX_LATENT_SIZE)
        size = r.list("output_size")
        if len(size) != 2 or not all(_is_int(s) and 0 < s <= MAX_OUTPUT_SIDE for s in size):
            raise ModelError(
                f"{source}: metadata 'output_size' must be [height, width] in pixels (1 to {MAX_OUTPUT_SIDE}), "
                f"got {size!r}"
            )
        info["output_size"] = (size[0], size[1])
        classes = r.list("classes", default=[])
        if len(classes) > MAX_CLASSES or not all(isinstance(c, str) and c for c in classes):
            raise ModelError(f"{source}: metadata 'classes' must be a list of at most {MAX_CLASSES} class names")
        info["classes"] = tuple(classes)
        if style_based:
            info["styles"] = _parse_styles(r.object("styles"), source)
        has_class_input = any(t.role == "class" for t in inputs)
        if has_class_input != bool(classes):
            raise ModelError(
                f"{source}: a conditional model needs both a 'class' input and a 'classes' list "
                f"(found class input: {has_class_input}, classes: {len(classes)})"
            )
    return ModelInfo(**info)


def _check_roles(
    inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], task: str, source: str, style_based: bool
) -> None:
    def count(tensors, role):
        return sum(t.role == role for t in tensors)

    if task in IMAGE_TASKS:
        expected_inputs, allowed = ("image",), {"image"}
    elif style_based:
        expected_inputs, allowed = STYLE_ROLES, {*STYLE_ROLES, "class", "noise"}
    else:
        expected_inputs, allowed = ("latent",), {"latent", "class", "noise"}
    kind = "style-based generator" if style_based and task == "generate" else f"'{task}' model"
    for role in expected_inputs:
        if count(inputs, role) != 1:
            raise ModelError(f"{source}: a {kind} needs exactly 1 '{role}' input, found {count(inputs, role)}")
    for t in inputs:
        if t.role not in allowed:
            raise ModelError(f"{source}: input '{t.name}' has role '{t.role}', which a {kind} cannot take")
    if count(inputs, "class") > 1:
        raise ModelError(f"{source}: at most one 'class' input is allowed")
    if count(outputs, "image") != 1 or len(outputs) != 1:
        raise ModelError(f"{source}: a model needs exactly one output, with role 'image'")
    if any(t.channels == 4 for t in inputs) or (task != "generate" and outputs[0].channels == 4):
        raise ModelError(f"{source}: only a generator's output may have 4 channels (RGBA); image inputs have 1 or 3")
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        raise ModelError(f"{source}: input names repeat: {names}")


def _parse_tensor(doc: Any, source: str, where: str) -> TensorSpec:
    r = _Fields(doc, source, where)
    name = r.string("name")
    role = r.choice("role", ROLES)
    dtype = r.choice("dtype", DTYPES)
    expected_dtype = {"class": ("int64",)}.get(role, ("float32", "float16"))
    if dtype not in expected_dtype:
        raise ModelError(f"{source}: {where}.dtype must be {' or '.join(expected_dtype)} for role '{role}'")
    if role == "noise":
        shape = r.list("shape")
        if not shape or not all(_is_int(s) and s > 0 for s in shape) or math.prod(shape) > MAX_NOISE_ELEMENTS:
            raise ModelError(
                f"{source}: {where}.shape must list the per-sample noise shape (at most {MAX_NOISE_ELEMENTS} "
                f"elements), got {shape!r}"
            )
        return TensorSpec(name, role, dtype, shape=tuple(shape))
    if role != "image":
        return TensorSpec(name, role, dtype)
    layout = r.choice("layout", ("NCHW",))
    del layout  # the only layout format 1 knows; checked so that a future NHWC model is refused clearly
    channels = r.integer("channels", minimum=1, maximum=4)
    if channels == 2:
        raise ModelError(f"{source}: {where}.channels must be 1, 3 or 4 (RGBA), got 2")
    gain, bias = _normalisation(r, doc, source, where, channels)
    return TensorSpec(name, role, dtype, channels=channels, gain=gain, bias=bias)


def _parse_styles(doc: dict, source: str) -> Styles:
    r = _Fields(doc, source, "styles")
    layers = r.integer("layers", minimum=1, maximum=MAX_STYLE_LAYERS)
    w_size = r.integer("w_size", minimum=1, maximum=MAX_LATENT_SIZE)
    levels = _Fields(r.object("levels"), source, "styles.levels")
    spans = {}
    for level in STYLE_LEVELS:
        start, stop = levels.numbers(level, length=2)
        if start != int(start) or stop != int(stop) or not 0 <= start <= stop <= layers:
            raise ModelError(f"{source}: styles.levels.{level} must be [start, stop] with 0 ≤ start ≤ stop ≤ {layers}")
        spans[level] = (int(start), int(stop))
    directions = []
    listed = r.list("directions", default=[])
    if len(listed) > MAX_DIRECTIONS:
        raise ModelError(f"{source}: styles.directions lists more than {MAX_DIRECTIONS} directions")
    for i, entry in enumerate(listed):
        d = _Fields(entry, source, f"styles.directions[{i}]")
        directions.append(Direction(d.string("label"), d.numbers("vector", length=w_size), d.number("scale")))
    return Styles(layers, w_size, spans, tuple(directions))


def _normalisation(r: _Fields, doc: dict, source: str, where: str, channels: int):
    """Turn `range: [lo, hi]` or `mean`/`std` into one per-channel affine map from [0, 1] pixels."""
    if ("range" in doc) == ("mean" in doc or "std" in doc):
        raise ModelError(f"{source}: {where} needs either 'range' or 'mean' and 'std' (exactly one of the two)")
    if "range" in doc:
        lo_hi = r.numbers("range", length=2)
        lo, hi = lo_hi
        if lo == hi:
            raise ModelError(f"{source}: {where}.range must have two different ends, got {lo_hi}")
        return (hi - lo,) * channels, (lo,) * channels
    mean, std = r.numbers("mean", length=channels), r.numbers("std", length=channels)
    if any(s == 0 for s in std):
        raise ModelError(f"{source}: {where}.std must not contain 0")
    return tuple(1.0 / s for s in std), tuple(-m / s for m, s in zip(mean, std, strict=True))


class _Fields:
    """Typed access to one JSON object, raising ModelError that names the field and what was found."""

    _MISSING = object()

    def __init__(self, doc: Any, source: str, where: str):
        if not isinstance(doc, dict):
            raise ModelError(f"{source}: {where} must be a JSON object, got {type(doc).__name__}")
        self.doc, self.source, self.where = doc, source, where

    def _get(self, key: str, default: Any):
        value = self.doc.get(key, default)
        if value is self._MISSING:
            raise ModelError(f"{self.source}: {self._label(key)} is missing")
        return value

    def _label(self, key: str) -> str:
        return f"metadata '{key}'" if self.where == "metadata" else f"{self.where}.{key}"

    def _fail(self, key: str, wanted: str, value: Any):
        raise ModelError(f"{self.source}: {self._label(key)} must be {wanted}, got {value!r}")

    def string(self, key: str, pattern: re.Pattern | None = None) -> str:
        value = self._get(key, self._MISSING)
        if not isinstance(value, str) or not value.strip():
            self._fail(key, "a non-empty string", value)
        if pattern and not pattern.fullmatch(value):
            self._fail(key, "lower-case letters, digits, '.', '_' or '-' (1 to 64, the first a letter or digit)", value)
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self._get(key, self._MISSING)
        if value not in options:
            self._fail(key, "one of " + ", ".join(options), value)
        return value

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._get(key, default)
        if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self._fail(key, f"an integer {bounds}", value)
        return value

    def numbers(self, key: str, length: int) -> tuple[float, ...]:
        value = self._get(key, self._MISSING)
        if (
            not isinstance(value, list)
            or len(value) != length
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        ):
            self._fail(key, f"a list of {length} finite numbers", value)
        return tuple(float(v) for v in value)

    def number(self, key: str) -> float:
        value = self._get(key, self._MISSING)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            self._fail(key, "a finite number", value)
        return float(value)

    def list(self, key: str, default: Any = _MISSING) -> list:
        value = self._get(key, default)
        if not isinstance(value, list):
            self._fail(key, "a list", value)
        return value

    def object(self, key: str) -> dict:
        value = self._get(key, self._MISSING)
        if not isinstance(value, dict):
            self._fail(key, "a JSON object", value)
        return value


def sidecar_path(model_path: Path) -> Path:
    """`model.onnx` → `model.json`: where a document for a third-party model without metadata may live."""
    return model_path.with_suffix(".json")


def read_model_info(path: str | Path) -> ModelInfo:
    """Read and validate a model's document: the sidecar JSON when present, else the embedded one."""
    path = Path(path)
    source = path.name
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    props = read_metadata_props(path)  # also proves the file is a readable ONNX model
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        source = f"{path.name} (sidecar {sidecar.name})"
        text = _read_sidecar(sidecar, source)
    elif METADATA_KEY in props:
        text = props[METADATA_KEY]
    else:
        raise ModelError(
            f"{source}: no gimp-gan metadata (key '{METADATA_KEY}' in the ONNX metadata_props, or a sidecar "
            f"{sidecar.name}); see docs/model-format.md"
        )
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelError(f"{source}: metadata is not valid JSON ({e})") from None
    except RecursionError:
        raise ModelError(f"{source}: metadata is nested too deeply to be a model description") from None
    return parse_document(doc, source)


def _read_sidecar(sidecar: Path, source: str) -> str:
    try:
        if sidecar.stat().st_size > MAX_DOCUMENT_BYTES:
            raise ModelError(f"{source}: the sidecar is larger than {MAX_DOCUMENT_BYTES >> 20} MB: not a description")
        return sidecar.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(f"{source}: the sidecar is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ModelError(f"{source}: cannot read the sidecar ({e.strerror or e})") from None


# --- reading metadata_props without the onnx package -------------------------------------------
# The runtime does not depend on `onnx`, and onnxruntime would have to build a whole session just to
# read a few strings. ModelProto is protobuf: walk its top-level fields, seek past the (large) graph,
# and decode field 14 (metadata_props: repeated {1: key, 2: value}).

_GRAPH_FIELD, _METADATA_FIELD = 7, 14


def read_metadata_props(path: Path) -> dict[str, str]:
    """Return the ONNX model's metadata_props; raise ModelError if the file is not an ONNX model."""
    try:
        return _read_metadata_props(path)
    except OSError as e:
        raise ModelError(f"{path.name}: cannot read this file ({e.strerror or e})") from None


def _read_metadata_props(path: Path) -> dict[str, str]:
    props: dict[str, str] = {}
    seen_graph = False
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        try:
            while f.tell() < size:
                number, wire_type = _split_tag(_read_varint(f))
                if wire_type == 0:
                    _read_varint(f)
                elif wire_type == 2:
                    length = _read_varint(f)
                    if f.tell() + length > size:
                        raise ValueError("field runs past the end of the file")
                    if number == _METADATA_FIELD:
                        key, value = _parse_entry(f.read(length))
                        props[key] = value
                    else:
                        seen_graph |= number == _GRAPH_FIELD and length > 0
                        f.seek(length, 1)
                elif wire_type in (1, 5):
                    f.seek(8 if wire_type == 1 else 4, 1)
                else:
                    raise ValueError(f"unknown wire type {wire_type}")
        except (ValueError, UnicodeDecodeError) as e:
            raise ModelError(f"{path.name}: not a valid ONNX file (corrupt or truncated: {e})") from None
    if not seen_graph:
        raise ModelError(f"{path.name}: not a valid ONNX file (no graph found)")
    return props


def _split_tag(tag: int) -> tuple[int, int]:
    number, wire_type = tag >> 3, tag & 7
    if number == 0:
        raise ValueError("field number 0")
    return number, wire_type


def _read_varint(f) -> int:
    result = shift = 0
    while True:
        byte = f.read(1)
        if not byte:
            raise ValueError("unexpected end of file")
        result |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _parse_entry(data: bytes) -> tuple[str, str]:
    f = io.BytesIO(data)
    fields = {1: "", 2: ""}
    while f.tell() < len(data):
        number, wire_type = _split_tag(_read_varint(f))
        if wire_type != 2:
            raise ValueError("metadata entry has a non-string field")
        length = _read_varint(f)
        fields[number] = f.read(length).decode("utf-8")
    return fields[1], fields[2]
