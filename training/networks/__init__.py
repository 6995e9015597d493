"""Generator and discriminator families by name: adding a family is one new module and one line here."""

from __future__ import annotations

from torch import nn

from training.config import ModelConfig
from training.networks import dcgan

FAMILIES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "dcgan": (dcgan.Generator, dcgan.Discriminator),
}


def build(config: ModelConfig, size: int, channels: int, num_classes: int) -> tuple[nn.Module, nn.Module]:
    """G and D for images of `size`² × `channels`; `num_classes` > 0 makes both class-conditional."""
    generator, discriminator = FAMILIES[config.family]
    G = generator(config.latent_size, size, channels, config.width, num_classes)
    D = discriminator(
        size, channels, config.width, num_classes, config.spectral_norm, config.d_batch_norm, config.d_depth
    )
    return G, D
