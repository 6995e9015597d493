"""GAN losses and gradient penalties, as functions of discriminator logits.

"ns" is the non-saturating loss of the original GAN and DCGAN papers; "hinge" is SNGAN/BigGAN's;
"lsgan" is least squares (Mao et al. 2017); "wgan-gp" is the Wasserstein critic with a gradient
penalty (Gulrajani et al. 2017), whose penalty the training step adds through `gradient_penalty`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ("ns", "hinge", "lsgan", "wgan-gp")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {kind!r}; one of {', '.join(LOSSES)}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "ns":
        return F.softplus(-fake).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    raise ValueError(f"unknown loss {kind!r}; one of {', '.join(LOSSES)}")


def r1_penalty(logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E‖∇ₓD(x)‖² on real images (`real` must require grad): keeps D flat around the data."""
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """E(‖∇D(x̂)‖ − 1)² at random points x̂ between real and fake images: WGAN-GP's Lipschitz constraint."""
    mix = torch.rand(len(real), 1, 1, 1, device=real.device, dtype=real.dtype)
    between = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def relativistic_discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """ESRGAN's relativistic average loss for D: real images should look more real than the average fake,
    and fakes less real than the average real image (Jolicoeur-Martineau 2018)."""
    return (F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean()) / 2


def relativistic_generator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The same comparison reversed: G also gains from making real images look less real than its fakes."""
    return (F.softplus(real - fake.mean()).mean() + F.softplus(-(fake - real.mean())).mean()) / 2


def patch_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """CUT's PatchNCE (Park et al. 2020): InfoNCE over (N, P, C) unit embeddings of P patches per image.

    Query p of an output patch should be closer to key p, the input patch at the same place, than to the
    other P − 1 keys of the same image: so the output keeps the input's content place by place, with no
    cycle and no second generator. The keys are targets only (detached), as in CUT."""
    logits = queries @ keys.detach().transpose(1, 2) / temperature  # (N, P, P); the diagonal is the positive
    targets = torch.arange(queries.shape[1], device=queries.device).expand(queries.shape[0], -1)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
