"""Turns trained generators into gimp-gan ONNX models (docs/model-format.md), verified against PyTorch.

Not written yet: export follows the training toolkit (see README, "Status").
"""
