"""Small real ONNX models for the tests, built with onnx.helper (fast, and no torch needed).

Each builder writes a self-contained .onnx file with random (seeded) weights and a gimp-gan metadata
document; `metadata` overrides let a test break one field at a time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Just enough of a graph builder for conv nets: named nodes, seeded weights."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def constant(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1, identity: bool = False) -> str:
        if identity:
            w = np.zeros((cout, cin, k, k), np.float32)
            for c in range(cout):
                w[c, c, k // 2, k // 2] = 1.0
        else:
            w = (self.rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        b = np.zeros(cout, np.float32) if identity else (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        pad = k // 2
        return self.op("Conv", [x, self.constant(w), self.constant(b)], pads=[pad] * 4, strides=[stride, stride])

    def save(self, path: Path, inputs, outputs, metadata: dict[str, Any] | None) -> Path:
        graph = helper.make_graph(self.nodes, "g", inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gimp-gan-tests")
        model.ir_version = 8
        onnx.checker.check_model(model)
        if metadata is not None:
            helper.set_model_props(model, {"gimp_gan": json.dumps(metadata)})
        onnx.save_model(model, str(path))
        return path


def image_tensor(name: str, channels: int, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, ["N", channels, "H", "W"])


def image_spec(name: str, channels: int, value_range=(0.0, 1.0)) -> dict:
    return {
        "name": name,
        "role": "image",
        "dtype": "float32",
        "layout": "NCHW",
        "channels": channels,
        "range": list(value_range),
    }


def base_document(task: str, name: str) -> dict:
    return {
        "format_version": 1,
        "task": task,
        "name": name,
        "title": name.replace("-", " ").title(),
        "description": f"test model {name}",
        "license": "CC0-1.0",
        "provenance": {"data": "random weights (tests)", "steps": 0},
    }


def make_image_model(
    path: Path,
    *,
    name: str = "test-x2",
    task: str = "enhance",
    scale: int = 2,
    channels_in: int = 3,
    channels_out: int = 3,
    strided: bool = False,
    identity: bool = False,
    value_range=(-1.0, 1.0),
    nonfinite: bool = False,
    seed: int = 0,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """A fully convolutional image model.

    Plain: conv3×3 → ReLU → conv3×3 → (DepthToSpace for scale > 1); receptive radius 2 px.
    strided: a stride-2 conv and a DepthToSpace back up, so sizes must be even (size_multiple 2).
    identity: the output equals the input exactly (scale 1, same channels), for exactness tests.
    nonfinite: a broken model whose output is NaN where the plain one is positive and -inf elsewhere.
    """
    g = GraphBuilder(seed)
    if identity:
        y = g.conv("image", channels_in, channels_out, identity=True)
        multiple, padding = 1, 1
    elif strided:
        h = g.op("Relu", [g.conv("image", channels_in, 8, stride=2)])
        h = g.op("Relu", [g.conv(h, 8, 8)])
        y = g.op("DepthToSpace", [g.conv(h, 8, channels_out * 4 * scale * scale)], blocksize=2 * scale)
        multiple, padding = 2, 8
    else:
        h = g.op("Relu", [g.conv("image", channels_in, 8)])
        y = g.conv(h, 8, channels_out * scale * scale)
        if scale > 1:
            y = g.op("DepthToSpace", [y], blocksize=scale)
        multiple, padding = 1, 3
    if nonfinite:  # log of a number ≤ 0: NaN for negatives, -inf for zeros
        g.op("Log", [g.op("Neg", [g.op("Relu", [y])])])
    g.nodes[-1].output[0] = "result"
    doc = base_document(task, name) | {
        "inputs": [image_spec("image", channels_in, value_range)],
        "outputs": [image_spec("result", channels_out, value_range)],
        "scale": scale,
        "size_multiple": multiple,
        "tile_padding": padding,
    }
    if metadata is not None:
        doc = doc | metadata
    return g.save(path, [image_tensor("image", channels_in)], [image_tensor("result", channels_out)], doc)


def make_generator(
    path: Path,
    *,
    name: str = "test-gen",
    latent: int = 16,
    size: int = 8,
    channels: int = 3,
    classes: list[str] | None = None,
    noise: bool = False,
    nonfinite: bool = False,
    seed: int = 0,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """latent (+ class embedding) → linear → (N, 4, size, size) (+ noise map) → conv → tanh, in [-1, 1].

    nonfinite: a broken generator whose output is NaN or -inf."""
    g = GraphBuilder(seed)
    inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", latent])]
    specs: list[dict] = [{"name": "z", "role": "latent", "dtype": "float32"}]
    z = "z"
    if classes:
        inputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))
        specs.append({"name": "label", "role": "class", "dtype": "int64"})
        table = g.constant(g.rng.standard_normal((len(classes), latent)).astype(np.float32) * 2, "embed")
        z = g.op("Add", [z, g.op("Gather", [table, "label"], axis=0)])
    weight = g.constant((g.rng.standard_normal((latent, 4 * size * size)) / np.sqrt(latent)).astype(np.float32))
    h = g.op("MatMul", [z, weight])
    h = g.op("Reshape", [h, g.constant(np.array([-1, 4, size, size], np.int64), "shape")])
    if noise:
        inputs.append(helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["N", 1, size, size]))
        specs.append({"name": "noise", "role": "noise", "dtype": "float32", "shape": [1, size, size]})
        h = g.op("Add", [h, "noise"])
    y = g.op("Tanh", [g.conv(g.op("Relu", [h]), 4, channels)])
    if nonfinite:
        g.op("Log", [g.op("Neg", [g.op("Relu", [y])])])
    g.nodes[-1].output[0] = "image"
    doc = base_document("generate", name) | {
        "inputs": specs,
        "outputs": [image_spec("image", channels, (-1.0, 1.0))],
        "latent_size": latent,
        "output_size": [size, size],
    }
    if classes:
        doc["classes"] = classes
    if metadata is not None:
        doc = doc | metadata
    out = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, size, size])
    return g.save(path, inputs, [out], doc)
