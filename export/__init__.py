"""Turns trained generators into gimp-gan ONNX models (docs/model-format.md), verified against PyTorch.

`python -m export CHECKPOINT [-o MODEL.onnx]`; `export.generator` does the work.
"""
