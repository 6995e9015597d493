"""Network families by name: adding a family is one new module and one line here.

Each family module defines TASK ("generate": z → image, "enhance": image → larger or cleaner image,
or "translate": image → restyled or colorized image of the same size) and `generator(config, size,
channels, num_classes)` and `discriminator(...)`.
"""

from __future__ import annotations

from types import ModuleType

from torch import nn

from training.config import ModelConfig
from training.networks import dcgan, rrdb, srvgg, stylegan, unet

FAMILIES: dict[str, ModuleType] = {
    "dcgan": dcgan, "stylegan": stylegan, "srvgg": srvgg, "rrdb": rrdb, "unet": unet,
}  # fmt: skip


def task(family: str) -> str:
    return FAMILIES[family].TASK


def build_generator(config: ModelConfig, size: int, channels: int, num_classes: int = 0) -> nn.Module:
    return FAMILIES[config.family].generator(config, size, channels, num_classes)


def for_inference(G: nn.Module) -> nn.Module:
    """G as it is sampled, measured and exported: structure that only helps training (srvgg's summed
    kernels) folded into the plain network that computes the same function."""
    return G.fused() if hasattr(G, "fused") else G


def build(config: ModelConfig, size: int, channels: int, num_classes: int = 0) -> tuple[nn.Module, nn.Module]:
    """G and D for images of `size`² × `channels`; `num_classes` > 0 makes both class-conditional."""
    family = FAMILIES[config.family]
    return (
        family.generator(config, size, channels, num_classes),
        family.discriminator(config, size, channels, num_classes),
    )
