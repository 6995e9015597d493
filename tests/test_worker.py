"""The plug-in's side of the seam without GIMP: the pipe protocol, the runtime worker, the entry file's imports."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gimp_gan_plugin import protocol

PACKAGE = Path(__file__).resolve().parent.parent / "gimp_gan_plugin"
ENTRY = PACKAGE / "gimp-gan" / "gimp-gan.py"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", [ENTRY, PACKAGE / "protocol.py"], ids=["entry", "protocol"])
def test_the_gimp_side_needs_only_gi_and_the_standard_library(path):
    allowed = set(sys.stdlib_module_names) | {"gi", "protocol"}
    assert imported_modules(path) - allowed == set()


def test_the_entry_file_is_executable_in_the_layout_gimp_requires():
    assert ENTRY.parent.name == ENTRY.stem and ENTRY.stat().st_mode & 0o111
    assert ENTRY.read_text().startswith("#!/usr/bin/env python3\n")


def test_messages_round_trip_with_raw_arrays():
    image = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    stream = io.BytesIO()
    protocol.send(stream, {"progress": 0.5})
    protocol.send(stream, {"command": "x", "arrays": [protocol.array_header("uint16", image.shape)]}, [image])
    stream.seek(0)
    assert protocol.receive(stream) == ({"progress": 0.5}, [])
    message, [data] = protocol.receive(stream)
    assert message["command"] == "x" and np.array_equal(np.frombuffer(data, np.uint16).reshape(2, 3, 4), image)
    assert protocol.receive(stream) is None


def test_a_truncated_message_or_a_wrong_payload_is_refused():
    stream = io.BytesIO()
    protocol.send(stream, {"arrays": [protocol.array_header("uint8", (10,))]}, [b"0123456789"])
    with pytest.raises(protocol.ProtocolError, match="ended inside"):
        protocol.receive(io.BytesIO(stream.getvalue()[:-3]))
    with pytest.raises(protocol.ProtocolError, match="needs 10 bytes"):
        protocol.send(io.BytesIO(), {"arrays": [protocol.array_header("uint8", (10,))]}, [b"short"])


def run_worker(request: dict, arrays=()) -> list[tuple[dict, list[bytes]]]:
    """Run `python -m gimp_gan_plugin.worker` as the plug-in does; return every message it sent."""
    stdin = io.BytesIO()
    headers = [protocol.array_header(str(a.dtype), a.shape) for a in arrays]
    protocol.send(stdin, request | {"arrays": headers}, [np.ascontiguousarray(a) for a in arrays])
    done = subprocess.run(
        [sys.executable, "-m", "gimp_gan_plugin.worker"], input=stdin.getvalue(), capture_output=True, timeout=120
    )
    stdout, messages = io.BytesIO(done.stdout), []
    while (message := protocol.receive(stdout)) is not None:
        messages.append(message)
    return messages


def test_worker_enhances_with_progress_and_names_the_device(enhance_x2, photo):
    image = (photo * 255).astype(np.uint8)
    messages = run_worker({"command": "image", "model": "test-x2", "device": "cpu"}, [image])
    (device, _), *progress, (result, [data]) = messages
    assert device == {"device": "running on CPU"}
    assert progress and all("progress" in m for m, _ in progress) and progress[-1][0]["progress"] == 1.0
    info = result["result"]
    assert info["device"] == "running on CPU" and info["scale"] == 2 and info["engine_seconds"] > 0
    assert result["arrays"][0] == protocol.array_header("uint8", (image.shape[0] * 2, image.shape[1] * 2, 3))
    assert len(data) == image.size * 4


def test_worker_generates_the_same_images_as_the_engine(generator):
    from gimp_gan_plugin import Engine

    (result, [data]), *_ = [
        m for m in run_worker({"command": "generate", "model": "test-gen", "seeds": [3, 4]}) if "result" in m[0]
    ]
    images = np.frombuffer(data, np.float32).reshape(result["arrays"][0]["shape"])
    assert np.array_equal(images, Engine("cpu").generate("test-gen", [3, 4]))


def test_worker_reports_user_errors_as_messages(models):
    [(message, _)] = run_worker({"command": "image", "model": "no-such-model"}, [np.zeros((4, 4, 3), np.uint8)])
    assert message["kind"] == "ModelNotFoundError" and "no-such-model" in message["error"]
    [(message, _)] = run_worker({"command": "format-disk"})
    assert "does not know the command" in message["error"]


def test_worker_stops_when_the_plug_in_goes_away(enhance_x2):
    """GIMP cancels a plug-in's progress by ending the plug-in: the worker must notice and exit, not linger."""
    stdin = io.BytesIO()
    image = np.zeros((1100, 1100, 3), np.uint8)
    protocol.send(
        stdin,
        {"command": "image", "model": "test-x2", "arrays": [protocol.array_header("uint8", image.shape)]},
        [image],
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "gimp_gan_plugin.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    worker.stdin.write(stdin.getvalue())
    worker.stdin.close()
    assert "device" in protocol.receive(worker.stdout)[0]
    worker.stdout.close()  # the plug-in is gone
    assert worker.wait(timeout=60) == 3


def worker_reply(stdin: bytes) -> tuple[int, dict, bytes]:
    """Feed raw bytes to a worker: its exit status, its final reply (after any device and progress
    messages), and its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "gimp_gan_plugin.worker"], input=stdin, capture_output=True, timeout=120
    )
    stdout, messages = io.BytesIO(done.stdout), []
    while (message := protocol.receive(stdout)) is not None:
        messages.append(message[0])
    assert messages and all("device" in m or "progress" in m for m in messages[:-1])
    return done.returncode, messages[-1], done.stderr


def framed(payload: bytes, tail: bytes = b"") -> bytes:
    return len(payload).to_bytes(4, "little") + payload + tail


def request(**fields) -> bytes:
    return framed(json.dumps(fields).encode())


MALFORMED = {
    "not-json": framed(b"{command: image"),
    "not-utf8": framed(b'{"command": "caf\xe9"}'),
    "nested-deep": framed(b"[" * 200_000 + b"]" * 200_000),
    "not-an-object": framed(b"[1, 2]"),
    "length-absurd": (2**32 - 1).to_bytes(4, "little") + b"{}",
    "unknown-dtype": request(command="image", model="test-x2", arrays=[{"dtype": "complex128", "shape": [2, 2]}]),
    "negative-shape": request(command="image", model="test-x2", arrays=[{"dtype": "uint8", "shape": [-4, 4, 3]}]),
    "absurd-shape": request(
        command="image", model="test-x2", arrays=[{"dtype": "float32", "shape": [2**31, 2**31, 4]}]
    ),
    "shape-not-a-list": request(command="image", model="test-x2", arrays=[{"dtype": "uint8", "shape": "4x4"}]),
    "arrays-not-a-list": request(command="image", model="test-x2", arrays={"dtype": "uint8"}),
    "too-few-bytes": framed(
        json.dumps({"command": "image", "arrays": [{"dtype": "uint8", "shape": [64, 64, 3]}]}).encode(), b"\0" * 100
    ),
    "no-model": request(command="generate", seeds=[1]),
    "model-not-a-string": request(command="generate", model=["test-gen"], seeds=[1]),
    "seeds-not-integers": request(command="generate", model="test-gen", seeds=["one"]),
    "negative-seed": request(command="generate", model="test-gen", seeds=[-3]),
    "bad-device": request(command="generate", model="test-gen", seeds=[1], device="tpu"),
    "bad-truncation": request(command="generate", model="test-gen", seeds=[1], truncation="high"),
    "absurd-size": request(command="generate", model="test-gen", seeds=[1], size=10**9),
    "directions-not-pairs": request(command="generate", model="test-gen", seeds=[1], directions=[1, 2]),
    "noise-not-a-bool": request(command="generate", model="test-gen", seeds=[1], noise="off"),
    "mix-on-a-z-only-model": request(command="generate", model="test-gen", seeds=[1], mix_seed=4),
    "interpolate-without-frames": request(command="interpolate", model="test-gen", seed=1, seed_to=2),
    "image-without-image": request(command="image", model="test-x2"),
    "image-wrong-rank": framed(
        json.dumps({"command": "image", "model": "test-x2", "arrays": [{"dtype": "uint8", "shape": [12]}]}).encode(),
        b"\0" * 12,
    ),
    "command-not-a-string": request(command={"x": 1}),
}


@pytest.mark.parametrize("stdin", MALFORMED.values(), ids=MALFORMED.keys())
def test_every_malformed_request_gets_an_error_reply_never_a_crash(enhance_x2, generator, stdin):
    code, reply, stderr = worker_reply(stdin)
    assert code == 1, stderr.decode()
    assert reply.get("kind") in ("ProtocolError", "GimpGanError", "ImageError", "ModelError"), reply
    assert reply["error"] and b"Traceback" not in stderr


def test_a_model_with_nan_output_is_an_error_reply_and_no_result(models):
    from onnx_models import make_image_model

    make_image_model(models / "nan.onnx", name="nan-x2", nonfinite=True)
    [(message, _)] = [
        m
        for m in run_worker({"command": "image", "model": "nan-x2"}, [np.zeros((8, 8, 3), np.uint8)])
        if "device" not in m[0]
    ]
    assert message["kind"] == "ModelError" and "NaN or infinite" in message["error"]
