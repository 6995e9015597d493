"""gimp-gan runtime: the engine that runs gimp-gan ONNX models, its command line, and the GIMP 3 plug-in.

The engine (everything but the GIMP entry file) needs only numpy, pillow and onnxruntime; it imports
neither GIMP's `gi` nor torch. See docs/model-format.md for the model files it reads.
"""

from .engine import Engine
from .errors import GimpGanError, ImageError, ModelError, ModelNotFoundError, OutOfMemoryError

__all__ = ["Engine", "GimpGanError", "ImageError", "ModelError", "ModelNotFoundError", "OutOfMemoryError"]
__version__ = "0.1.0"
