"""The exchange between the GIMP plug-in and the runtime worker: framed messages over a pipe.

Both ends use this file: the worker imports it from the package, and install.py copies it next to the
plug-in's entry file, which runs under GIMP's Python and may import nothing but `gi` and the standard
library. So this module uses the standard library only (tests/test_worker.py checks that).

A message is a 4-byte little-endian length, that many bytes of JSON, then the raw bytes of each array
the JSON lists under "arrays" (each {"dtype", "shape"}, C order). Pixels cross as they are, with no
PNG or other re-encoding: a 12-megapixel RGBA float layer is 192 MB, copied once each way.

Requests (plug-in → worker, one per worker process):
    {"command": "models"}
    {"command": "image", "model", "device", "strength"} + arrays [image, optional selection mask]
    {"command": "generate", "model", "device", "seeds", "class", "truncation", "size"} + style fields
    {"command": "interpolate", "model", "device", "seed", "seed_to", "frames", "class", "truncation", "size"} + style
    style fields, all optional: "mix_seed", "mix_level", "directions" ([[index, amount], ...]), "noise_seed",
    "noise" (false: none); what gimp_gan_plugin.generation.StyleEdit holds
Replies (worker → plug-in): {"device": "running on CPU"} once the model is loaded, any number of
{"progress": fraction}, then one of
    {"result": {...}} + arrays        {"error": "message for the user", "kind": "ModelError"}
"""

from __future__ import annotations

import json
import struct
from typing import BinaryIO

_LENGTH = struct.Struct("<I")
ITEMSIZE = {"uint8": 1, "uint16": 2, "float32": 4}
MAX_JSON_BYTES = 16 << 20  # a request is a few hundred bytes; a larger length is not a message
MAX_ARRAY_BYTES = 1 << 34  # 16 GiB: a 32768² RGBA float layer. Past it a shape is absurd, not an image
MAX_DIMENSIONS = 4


class ProtocolError(Exception):
    """The other end sent something that is not a message, or stopped mid-message."""


def array_header(dtype: str, shape: tuple[int, ...] | list[int]) -> dict:
    return {"dtype": dtype, "shape": list(shape)}


def nbytes(header: dict) -> int:
    size = ITEMSIZE[header["dtype"]]
    for n in header["shape"]:
        size *= n
    return size


def send(stream: BinaryIO, message: dict, payloads: list = ()) -> None:
    """Write one message; `payloads` are bytes-like objects matching message["arrays"] in order."""
    arrays = message.get("arrays", [])
    if len(arrays) != len(payloads):
        raise ProtocolError(f"{len(arrays)} arrays described but {len(payloads)} given")
    for header, payload in zip(arrays, payloads, strict=True):
        if memoryview(payload).nbytes != nbytes(header):
            raise ProtocolError(f"array {header} needs {nbytes(header)} bytes, got {memoryview(payload).nbytes}")
    data = json.dumps(message).encode()
    stream.write(_LENGTH.pack(len(data)) + data)
    for payload in payloads:
        stream.write(payload)
    stream.flush()


def receive(stream: BinaryIO) -> tuple[dict, list[bytes]] | None:
    """Read one message and its arrays' bytes; None at a clean end of stream (before a message starts)."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) < _LENGTH.size:
        raise ProtocolError("the stream ended inside a message")
    length = _LENGTH.unpack(head)[0]
    if length > MAX_JSON_BYTES:
        raise ProtocolError(f"a message of {length} bytes of JSON is not one of ours")
    try:
        message = json.loads(_read_exactly(stream, length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ProtocolError(f"the message is not valid UTF-8 JSON ({e})") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    headers = message.get("arrays", [])
    if not isinstance(headers, list):
        raise ProtocolError("'arrays' must be a list of {dtype, shape}")
    for header in headers:
        _check_header(header)
    return message, [_read_exactly(stream, nbytes(h)) for h in headers]


def _check_header(header) -> None:
    """An array header the receiver can trust before it reads (and allocates) the bytes it announces."""
    if not isinstance(header, dict) or header.get("dtype") not in ITEMSIZE:
        raise ProtocolError(f"an array needs a dtype of {', '.join(ITEMSIZE)}; got {header!r}")
    shape = header.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMENSIONS
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise ProtocolError(f"an array shape is a list of at most {MAX_DIMENSIONS} sizes ≥ 0; got {shape!r}")
    if nbytes(header) > MAX_ARRAY_BYTES:
        raise ProtocolError(f"an array of shape {shape} ({nbytes(header)} bytes) is too large to be an image")


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    try:
        data = stream.read(size)
    except MemoryError:
        raise ProtocolError(f"an array of {size} bytes does not fit in memory") from None
    if len(data) != size:
        raise ProtocolError(f"the stream ended inside a message ({len(data)} of {size} bytes)")
    return data
