"""The runtime worker: serves one request from the GIMP plug-in, then exits.

    python -m gimp_gan_plugin.worker      # started by the plug-in, with pipes on stdin and stdout

The plug-in runs under GIMP's own Python, which may be unable to load numpy or onnxruntime (Windows'
MSYS2 build), and a crash or out-of-memory in inference must never take GIMP down; so inference runs
here, in the runtime environment install.py made, in a process of its own. gimp_gan_plugin/protocol.py
describes the messages. One process per request keeps nothing alive between filter runs; starting it
costs well under a second (docs/benchmarks.md measures it).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from typing import BinaryIO

import numpy as np

from . import imaging, protocol
from .discovery import discover_models
from .engine import Engine
from .errors import GimpGanError
from .generation import StyleEdit
from .runtime import Session

log = logging.getLogger("gimp_gan")
DEVICES = {"auto": "auto", "gpu": "cuda", "cpu": "cpu"}


class ProgressSender:
    """Forwards the engine's progress to the plug-in, at most once per percent."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.last = stream, -1.0

    def started(self, session) -> None:
        """Tells the plug-in which device runs the model, before the work begins (shown with the progress)."""
        protocol.send(self.stream, {"device": session.report.describe()})

    def __call__(self, done: int, total: int) -> bool:
        fraction = done / total
        if fraction - self.last >= 0.01 or fraction >= 1.0:
            self.last = fraction
            protocol.send(self.stream, {"progress": round(fraction, 4)})
        return True


_REQUIRED = object()


def field(request: dict, key: str, kinds: type | tuple[type, ...], default=_REQUIRED):
    """One value of a request, of the expected type: a malformed request is an error reply, not a crash."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    value = request.get(key, default)
    if value is _REQUIRED:
        raise GimpGanError(f"malformed request: '{key}' is missing")
    if value is not default and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
        raise GimpGanError(f"malformed request: '{key}' must be {_kind_names(kinds)}, got {value!r}")
    return value


def _kind_names(kinds) -> str:
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        bool: "true or false",
        type(None): "null",
    }
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(names[k] for k in kinds if not (k is int and float in kinds))


def list_models(request: dict, arrays: list[np.ndarray], progress: ProgressSender) -> tuple[dict, list]:
    rows = []
    for entry in discover_models():
        info = entry.info
        row = {"name": entry.name, "path": str(entry.path), "error": entry.error}
        if info:
            row |= {"title": info.title, "task": info.task, "scale": info.scale, "classes": list(info.classes)}
        rows.append(row)
    return {"models": rows}, []


def _open(request: dict, tasks: tuple[str, ...], progress: ProgressSender) -> tuple[Engine, Session]:
    """The engine on the requested device and the model's session; the plug-in learns the device first."""
    device = field(request, "device", str, "auto")
    if device not in DEVICES:
        raise GimpGanError(f"malformed request: 'device' must be one of {', '.join(DEVICES)}, got {device!r}")
    engine = Engine(DEVICES[device])
    session = engine.load(field(request, "model", str), tasks)
    progress.started(session)
    return engine, session


def process_image(request: dict, arrays: list[np.ndarray], progress: ProgressSender) -> tuple[dict, list]:
    if len(arrays) not in (1, 2):
        raise GimpGanError(
            f"malformed request: an image request carries the image and an optional mask, not {len(arrays)} arrays"
        )
    engine, session = _open(request, ("enhance", "translate"), progress)
    image, mask = arrays[0], arrays[1] if len(arrays) > 1 else None  # mask: the selection, (H, W) float
    strength = float(field(request, "strength", (int, float), 1.0))
    result = engine.process_image(session.path, image, mask=mask, strength=strength, progress=progress)
    return _described(session, {"scale": session.info.scale}), [result]


def generate(request: dict, arrays: list[np.ndarray], progress: ProgressSender) -> tuple[dict, list]:
    size = imaging.check_generated_size(field(request, "size", (int, type(None)), 0) or 0)
    engine, session = _open(request, ("generate",), progress)
    common = dict(
        class_label=field(request, "class", (str, int, type(None)), None),
        truncation=float(field(request, "truncation", (int, float), 1.0)),
        edit=style_edit(request),
    )
    if request["command"] == "interpolate":
        seed, seed_to, frames = (field(request, key, int) for key in ("seed", "seed_to", "frames"))
        images = engine.interpolate(session.path, seed, seed_to, frames, progress=progress, **common)
    else:
        seeds = field(request, "seeds", list)
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise GimpGanError(f"malformed request: 'seeds' must be a list of integers, got {seeds!r}")
        images = engine.generate(session.path, seeds, progress=progress, **common)
    images = imaging.resize_generated(images, size)
    return _described(session, {"classes": list(session.info.classes)}), [images.astype(np.float32)]


def style_edit(request: dict) -> StyleEdit:
    """A generate request's optional style fields (protocol.py) as the engine's StyleEdit."""
    directions = field(request, "directions", list, [])
    if not all(
        isinstance(d, list) and len(d) == 2 and type(d[0]) is int and isinstance(d[1], (int, float)) for d in directions
    ):
        raise GimpGanError(f"malformed request: 'directions' must be [[index, amount], ...], got {directions!r}")
    return StyleEdit(
        mix_seed=field(request, "mix_seed", (int, type(None)), None),
        mix_level=field(request, "mix_level", str, "fine"),
        directions=tuple((index, float(amount)) for index, amount in directions),
        noise_seed=field(request, "noise_seed", (int, type(None)), None),
        noise=field(request, "noise", bool, True),
    )


def _described(session, result: dict) -> dict:
    report = session.report
    return result | {"model": session.info.name, "device": report.describe(), "notice": report.notice}


HANDLERS = {"models": list_models, "image": process_image, "generate": generate, "interpolate": generate}


def serve(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer one request. Whatever arrives, the plug-in gets a reply: a result or an error message."""
    try:
        received = protocol.receive(stdin)
    except protocol.ProtocolError as e:
        protocol.send(stdout, {"error": f"malformed request: {e}", "kind": "ProtocolError"})
        return 1
    if received is None:
        return 0
    request, payloads = received
    arrays = [
        np.frombuffer(data, dtype=h["dtype"]).reshape(h["shape"])
        for h, data in zip(request.get("arrays", []), payloads, strict=True)
    ]
    command = request.get("command")
    try:
        if not isinstance(command, str) or command not in HANDLERS:
            raise GimpGanError(f"the runtime does not know the command {command!r}; reinstall with install.py")
        started = time.perf_counter()
        result, outputs = HANDLERS[command](request, arrays, ProgressSender(stdout))
        result["engine_seconds"] = time.perf_counter() - started
    except GimpGanError as e:
        protocol.send(stdout, {"error": str(e), "kind": type(e).__name__})
        return 1
    except Exception as e:  # a bug, not the user's input: keep the traceback in the log the plug-in names
        traceback.print_exc()
        protocol.send(stdout, {"error": f"unexpected error in the runtime: {e}", "kind": "InternalError"})
        return 2
    outputs = [np.ascontiguousarray(a) for a in outputs]
    headers = [protocol.array_header(str(a.dtype), a.shape) for a in outputs]
    protocol.send(stdout, {"result": result, "arrays": headers}, outputs)
    return 0


def main() -> int:
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    if sys.argv[1:] == ["--models"]:  # for install.py, which records the list where the plug-in reads it
        print(json.dumps(list_models({}, [], None)[0]["models"], indent=1))
        return 0
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol stream
    try:
        return serve(stdin, stdout)
    except (BrokenPipeError, protocol.ProtocolError):
        return 3  # the plug-in went away (GIMP cancelled or closed it): nothing is left to answer


if __name__ == "__main__":
    sys.exit(main())
