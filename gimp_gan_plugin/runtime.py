"""onnxruntime sessions: which device actually runs a model, and why.

onnxruntime-gpu silently falls back to the CPU when the CUDA or cuDNN libraries are missing, so the
provider a session asked for is not evidence of what runs: `session.get_providers()` is. Every session
here carries a `ProviderReport` that the command line and the plug-in show to the user.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from .errors import ModelError
from .modelformat import ModelInfo, TensorSpec, read_model_info

Provider = Literal["auto", "cuda", "cpu"]
PROVIDERS: tuple[Provider, ...] = ("auto", "cuda", "cpu")
_CUDA, _CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
_NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64}


@dataclass(frozen=True)
class ProviderReport:
    requested: Provider
    used: Literal["cuda", "cpu"]
    notice: str | None = None  # set when the user asked for CUDA (or auto found it) and did not get it

    def describe(self) -> str:
        text = f"running on {'CUDA GPU' if self.used == 'cuda' else 'CPU'}"
        return f"{text} ({self.notice})" if self.notice else text


class Session:
    """A loaded model: the ONNX session, its validated metadata, and the device it really runs on."""

    def __init__(self, path: Path, info: ModelInfo, session: ort.InferenceSession, report: ProviderReport):
        self.path, self.info, self.ort_session, self.report = path, info, session, report
        _check_graph_matches(path, info, session)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run the graph; inputs are cast to the declared dtypes and the image output comes back as float32.

        A model that fails inside its graph (a shape its metadata promised but the graph refuses) is
        a ModelError naming the model; running out of memory is passed on for the caller to retry."""
        cast = {t.name: np.ascontiguousarray(feeds[t.name], dtype=_NUMPY_DTYPES[t.dtype]) for t in self.info.inputs}
        try:
            (output,) = self.ort_session.run([self.info.image_output.name], cast)
        except Exception as e:  # onnxruntime raises its own unrelated exception types
            if is_out_of_memory(e):
                raise
            shapes = ", ".join(f"{name} {list(a.shape)}" for name, a in cast.items())
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{self.path.name}: the model failed on inputs {shapes}: {reason}") from None
        return output.astype(np.float32, copy=False)


_ORT_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)", "int64": "tensor(int64)"}


def _check_graph_matches(path: Path, info: ModelInfo, session: ort.InferenceSession) -> None:
    """Refuse at load time a graph that its metadata misdescribes, rather than fail (or worse, run) later."""
    graph_inputs = {i.name: i for i in session.get_inputs()}
    graph_outputs = {o.name: o for o in session.get_outputs()}
    declared = {t.name for t in info.inputs}
    for name in declared - graph_inputs.keys():
        raise ModelError(
            f"{path.name}: metadata names input '{name}', but the graph's inputs are {sorted(graph_inputs)}"
        )
    for name in graph_inputs.keys() - declared:
        raise ModelError(f"{path.name}: graph input '{name}' is not described in the metadata")
    output = info.image_output
    if output.name not in graph_outputs:
        raise ModelError(
            f"{path.name}: metadata names output '{output.name}', but the graph's outputs are {sorted(graph_outputs)}"
        )
    for spec in info.inputs:
        node = graph_inputs[spec.name]
        if node.type != _ORT_TYPES[spec.dtype]:
            raise ModelError(
                f"{path.name}: metadata says input '{spec.name}' is {spec.dtype}, the graph has {node.type}"
            )
        _check_shape(path, f"input '{spec.name}'", node.shape, _expected_shape(spec, info))
    _check_shape(path, f"output '{output.name}'", graph_outputs[output.name].shape, _expected_shape(output, info))


def _expected_shape(spec: TensorSpec, info: ModelInfo) -> list[int | None]:
    """The shape the metadata promises; None where any size is allowed (batch, image height and width)."""
    if spec.role == "image":
        size = list(info.output_size) if info.task == "generate" else [None, None]
        return [None, spec.channels, *size]
    if spec.role == "latent":
        return [None, info.latent_size]
    if spec.role == "noise":
        return [None, *spec.shape]
    if spec.role == "latents":  # K latents per image
        return [None, None, info.latent_size]
    if spec.role == "style_mix":
        return [None, info.styles.layers, None]
    if spec.role == "style_offset":
        return [None, info.styles.layers, info.styles.w_size]
    return [None]  # class


def _check_shape(path: Path, what: str, graph_shape: list, expected: list[int | None]) -> None:
    """Fixed graph dimensions must agree with the metadata; symbolic ones (names, None) accept anything."""
    if len(graph_shape) != len(expected) or any(
        isinstance(dim, int) and want is not None and dim != want
        for dim, want in zip(graph_shape, expected, strict=True)
    ):
        promised = ["any" if d is None else d for d in expected]
        shown = [d if isinstance(d, int) else "any" for d in graph_shape]
        raise ModelError(f"{path.name}: the metadata describes {what} as {promised}, the graph as {shown}")


class Runtime:
    """Creates and caches sessions for one provider choice and thread count.

    Building a session costs from milliseconds to seconds (graph optimisation, CUDA kernels), and the
    plug-in runtime serves many requests, so sessions are cached per model file; the cache key includes
    the file's modification time so that a re-exported model is picked up.
    """

    def __init__(self, provider: Provider = "auto", threads: int | None = None):
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}, got {provider!r}")
        self.provider = provider
        self.threads = threads or os.cpu_count() or 1
        self._sessions: dict[tuple[Path, float], Session] = {}

    def session(self, path: str | Path) -> Session:
        path = Path(path).resolve()
        key = (path, path.stat().st_mtime)
        if key not in self._sessions:
            info = read_model_info(path)
            ort_session, report = self._create(path)
            self._sessions[key] = Session(path, info, ort_session, report)
        return self._sessions[key]

    def _options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # The host is an interactive editor: idle worker threads must sleep, not spin on the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return options

    def _create(self, path: Path) -> tuple[ort.InferenceSession, ProviderReport]:
        cuda_built = _CUDA in ort.get_available_providers()
        if self.provider == "cpu":
            return self._load(path, [_CPU]), ProviderReport("cpu", "cpu")
        if not cuda_built:
            notice = None
            if self.provider == "cuda":
                notice = "CUDA was requested, but this onnxruntime has no CUDA support; install onnxruntime-gpu"
            return self._load(path, [_CPU]), ProviderReport(self.provider, "cpu", notice)
        if hasattr(ort, "preload_dlls"):  # finds the CUDA/cuDNN libraries that pip's nvidia-* wheels installed
            with contextlib.suppress(Exception):  # a missing library shows up below as a CPU fallback
                ort.preload_dlls()
        cuda = (_CUDA, {"cudnn_conv_algo_search": "HEURISTIC"})  # image sizes change on every call
        try:
            session = self._load(path, [cuda, _CPU])
        except ModelError as e:
            notice = f"CUDA session failed ({e}); fell back to CPU"
            return self._load(path, [_CPU]), ProviderReport(self.provider, "cpu", notice)
        if session.get_providers()[0] == _CUDA:
            return session, ProviderReport(self.provider, "cuda")
        notice = "CUDA or cuDNN libraries could not be loaded (check the NVIDIA driver); fell back to CPU"
        return session, ProviderReport(self.provider, "cpu", notice)

    def _load(self, path: Path, providers: list) -> ort.InferenceSession:
        try:
            return ort.InferenceSession(str(path), sess_options=self._options(), providers=providers)
        except Exception as e:  # onnxruntime raises several unrelated exception types for bad files
            raise ModelError(f"{path.name}: onnxruntime cannot load this model: {e}") from None


def is_out_of_memory(error: BaseException) -> bool:
    """onnxruntime reports allocation failures as generic RuntimeExceptions; recognise them by message."""
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return any(s in text for s in ("failed to allocate memory", "bad_alloc", "bad allocation", "out of memory"))
