"""Errors the engine raises for things a user can fix: each message is meant to be shown as it is."""


class GimpGanError(Exception):
    """Base of every error that is the user's input, not a bug: the command line prints these in one line."""


class ModelError(GimpGanError):
    """A model file that cannot be used: corrupt, not ONNX, or with missing or invalid metadata."""


class ModelNotFoundError(GimpGanError):
    """No installed model has the requested name."""


class ImageError(GimpGanError):
    """An image the engine cannot process (unsupported shape, dtype or file)."""


class OutOfMemoryError(GimpGanError):
    """Inference ran out of memory even with the smallest tile."""
