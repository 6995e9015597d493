"""Sessions: the provider that really ran, the CUDA fallback, caching, cancel."""

import os

import numpy as np
import onnxruntime as ort
import pytest
from onnx_models import make_image_model

from gimp_gan_plugin import Engine

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.skipif(HAS_CUDA, reason="this checks the fallback on a machine without CUDA")
def test_cuda_requested_without_cuda_gives_a_notice_and_the_cpu_result(enhance_x2, photo):
    cuda = Engine(provider="cuda")
    session = cuda.load(enhance_x2)
    assert session.report.used == "cpu"
    assert "CUDA was requested" in session.report.notice and "onnxruntime-gpu" in session.report.notice
    assert "running on CPU" in session.report.describe()
    assert np.array_equal(
        cuda.process_image(enhance_x2, photo), Engine(provider="cpu").process_image(enhance_x2, photo)
    )


def test_auto_reports_the_provider_that_actually_runs(enhance_x2):
    session = Engine(provider="auto").load(enhance_x2)
    assert session.report.used == ("cuda" if session.ort_session.get_providers()[0].startswith("CUDA") else "cpu")


def test_sessions_are_cached_until_the_model_file_changes(models):
    path = make_image_model(models / "m.onnx", name="m", seed=1)
    engine = Engine(threads=1)
    first = engine.load("m")
    assert engine.load(path) is first
    make_image_model(path, name="m", seed=2)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert engine.load("m") is not first


def test_cancel_midway_returns_none(enhance_x2):
    image = np.zeros((300, 300, 3), np.uint8)
    calls = []

    def cancel_after_two_tiles(done, total):
        calls.append((done, total))
        return len(calls) < 2

    assert Engine(tile=64).process_image(enhance_x2, image, progress=cancel_after_two_tiles) is None
    assert calls == [(1, 25), (2, 25)]


def test_progress_counts_every_tile(enhance_x2):
    calls = []
    Engine(tile=64).process_image(enhance_x2, np.zeros((150, 150, 3), np.uint8), progress=lambda *c: calls.append(c))
    assert calls == [(done, 9) for done in range(1, 10)]


def test_a_wrong_task_is_refused(generator, enhance_x2):
    from gimp_gan_plugin.errors import ModelError

    with pytest.raises(ModelError, match="is for generate, not enhance or translate"):
        Engine().process_image(generator, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ModelError, match="is for enhance, not generate"):
        Engine().generate(enhance_x2, [1])


def test_the_engine_imports_neither_torch_nor_gimp():
    """The runtime must work in a Python that has only numpy, pillow and onnxruntime."""
    import subprocess
    import sys

    code = "import sys, gimp_gan_plugin.cli; print(sorted(m for m in ('torch', 'gi', 'onnx') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
