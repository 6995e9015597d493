"""A style-based generator (StyleGAN2, Karras et al. 2020) in small, and its residual discriminator.

G = synthesis(mapping(z)). The mapping MLP turns z (and a class, if any) into a style w; the synthesis
network starts from a learned 4×4 constant and, at each resolution, runs 3×3 convolutions whose input
channels are scaled by a style taken from w (modulation) and whose outputs are rescaled to unit
variance (demodulation), adds per-pixel noise with a learned strength, and sums RGB(A) outputs of every
resolution (skip to-RGB). Every layer takes its own copy of w, so the copies can differ: style mixing
takes the coarse layers' w from one latent and the fine ones' from another, truncation pulls w toward
the average w tracked in training, and edits move w along directions.

Modulation is not fused into per-sample weights (StyleGAN2's grouped convolution): the input is scaled,
one shared convolution runs, and the output is scaled by the demodulation factor, which is the same
function (Karras et al. 2020, appendix B). It exports to ONNX as plain convolutions with any batch size,
and on a CPU it is faster where channels are many (2.2× at 16 px, 128 channels; docs/benchmarks.md).

Weights use the equalised learning rate (stored N(0, 1), scaled by He's constant at run time), with
the mapping network's learning rate 100× lower, as in StyleGAN. Upsampling is bilinear before the
convolution rather than a transposed convolution with a blur filter: simpler, no checkerboard.

The discriminator is StyleGAN2's residual one with minibatch standard deviation, class-conditional by
projection like dcgan.py's. It has no spectral norm: StyleGAN trains it with R1 (train.r1_gamma, lazily
every train.r1_every steps).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from training.config import ModelConfig

TASK = "generate"
LRELU_GAIN = math.sqrt(2)  # keeps activations' variance through leaky ReLU(0.2) roughly constant
W_AVG_BETA = 0.995  # per step: the average w tracked in training (StyleGAN2's w_avg_beta)


def resolutions(size: int) -> list[int]:
    """4, 8, ..., size: the synthesis network's resolutions."""
    count = math.log2(size / 4)
    if size < 8 or count != int(count):
        raise ValueError(f"the style-based generator makes 4·2^k-pixel images (8, 16, 32, 64, ...), not {size}")
    return [4 * 2**k for k in range(int(count) + 1)]


def channels_at(resolution: int, size: int, width: int) -> int:
    """`width` channels at the output size, twice as many at each halving, at most 4 × width."""
    return min(width * size // resolution, 4 * width)


class EqualLinear(nn.Module):
    """A linear layer with the equalised learning rate: y = (W·c)x + b·lr_mul, W ~ N(0, 1/lr_mul²)."""

    def __init__(self, features_in: int, features_out: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(features_out, features_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((features_out,), float(bias_init)))
        self.weight_gain, self.lr_mul = lr_mul / math.sqrt(features_in), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)


def normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()


class Mapping(nn.Module):
    """z (and a class) → w. The class enters as a learned embedding beside z (StyleGAN2-ADA's way)."""

    def __init__(self, latent_size: int, w_size: int, layers: int, num_classes: int = 0):
        super().__init__()
        self.embed = EqualLinear(num_classes, w_size) if num_classes else None
        sizes = [latent_size + (w_size if num_classes else 0)] + [w_size] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=0.01) for a, b in pairwise(sizes))
        self.num_classes = num_classes

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass the class labels")
            one_hot = F.one_hot(labels, self.num_classes).to(z.dtype)
            x = torch.cat([x, normalize_2nd_moment(self.embed(one_hot))], dim=1)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * LRELU_GAIN
        return x


class ModulatedConv(nn.Module):
    """A convolution whose input channels are scaled by a style from w, demodulated, with noise added."""

    def __init__(
        self,
        w_size: int,
        channels_in: int,
        channels_out: int,
        kernel: int = 3,
        up: bool = False,
        demodulate: bool = True,
    ):
        super().__init__()
        self.affine = EqualLinear(w_size, channels_in, bias_init=1.0)  # styles start at 1: plain convolution
        self.weight = nn.Parameter(torch.randn(channels_out, channels_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(channels_out))
        self.weight_gain = 1 / math.sqrt(channels_in * kernel * kernel)
        self.up, self.demodulate, self.padding = up, demodulate, kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # (N, channels_in)
        weight = self.weight * self.weight_gain
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:  # 1/σ of each output channel as if the style were folded into the weights
            sigma_inv = (styles.square() @ weight.square().sum((2, 3)).T + 1e-8).rsqrt()  # (N, channels_out)
            x = x * sigma_inv[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution, noise with a learned strength, bias, leaky ReLU."""

    def __init__(self, w_size: int, channels_in: int, channels_out: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv(w_size, channels_in, channels_out, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x, w)
        if noise is not None:
            x = x + noise * self.noise_strength
        return F.leaky_relu(x + self.conv.bias[None, :, None, None], 0.2) * LRELU_GAIN


class ToImage(nn.Module):
    """Modulated 1×1 convolution to the image's channels, not demodulated (StyleGAN2's toRGB)."""

    def __init__(self, w_size: int, channels_in: int, channels_out: int):
        super().__init__()
        self.conv = ModulatedConv(w_size, channels_in, channels_out, kernel=1, demodulate=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.conv.bias[None, :, None, None]


class Synthesis(nn.Module):
    """ws (N, num_ws, w_size) and noise maps → images (N, channels, size, size), about [-1, 1].

    Layer i of `layers` takes ws[:, i]; the to-image layer of a resolution shares its w with the next
    resolution's first convolution (as in StyleGAN2), and the last one takes ws[:, -1].
    """

    def __init__(self, w_size: int, size: int, channels: int, width: int):
        super().__init__()
        self.resolutions = resolutions(size)
        widths = [channels_at(r, size, width) for r in self.resolutions]
        self.constant = nn.Parameter(torch.randn(widths[0], 4, 4))
        self.layers = nn.ModuleList([SynthesisLayer(w_size, widths[0], widths[0])])
        self.layer_resolutions = [4]
        for resolution, a, b in zip(self.resolutions[1:], widths[:-1], widths[1:], strict=True):
            self.layers.extend([SynthesisLayer(w_size, a, b, up=True), SynthesisLayer(w_size, b, b)])
            self.layer_resolutions += [resolution, resolution]
        self.to_images = nn.ModuleList(ToImage(w_size, c, channels) for c in widths)
        self.num_ws = len(self.layers) + 1

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """Per-sample shape of each layer's noise map, in layer order."""
        return [(1, r, r) for r in self.layer_resolutions]

    def forward(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """`noise`: one map per layer (N, 1, r, r), or None for none (noise is an input, never drawn here:
        the exported graph must take it from the seed)."""
        x = self.constant.expand(ws.shape[0], -1, -1, -1)  # not len(ws): an exported batch stays dynamic
        image = None
        layer = 0
        for block, to_image in enumerate(self.to_images):
            for _ in range(1 if block == 0 else 2):
                x = self.layers[layer](x, ws[:, layer], None if noise is None else noise[layer])
                layer += 1
            if image is not None:
                image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            rgb = to_image(x, ws[:, layer])  # shared with the next block's first layer
            image = rgb if image is None else image + rgb
        return image


class Generator(nn.Module):
    """z (N, latent_size) and, if conditional, labels (N,) → images (N, channels, size, size) in about [-1, 1].

    In training mode it draws its own noise, mixes styles of two latents with probability `style_mixing`
    (the regulariser that keeps neighbouring layers' styles from depending on each other), and tracks
    the average w. In eval mode (sampling, export) it is deterministic given z and the noise.
    """

    def __init__(
        self,
        latent_size: int = 128,
        size: int = 32,
        channels: int = 1,
        width: int = 64,
        num_classes: int = 0,
        mapping_layers: int = 4,
        style_mixing: float = 0.9,
    ):
        super().__init__()
        self.latent_size, self.size, self.channels, self.num_classes = latent_size, size, channels, num_classes
        self.mapping = Mapping(latent_size, latent_size, mapping_layers, num_classes)
        self.synthesis = Synthesis(latent_size, size, channels, width)
        self.num_ws, self.style_mixing = self.synthesis.num_ws, style_mixing
        self.register_buffer("w_avg", torch.zeros(latent_size))

    def styles(self, z: torch.Tensor, labels: torch.Tensor | None = None, truncation: float = 1.0) -> torch.Tensor:
        """(N, num_ws, w_size): w for every layer, pulled toward the average w by `truncation` ψ < 1."""
        w = self.mapping(z, labels)
        if truncation != 1:
            w = self.w_avg.lerp(w, truncation)
        return w[:, None].repeat(1, self.num_ws, 1)

    def combined(
        self,
        latents: torch.Tensor,
        mix: torch.Tensor,
        offset: torch.Tensor,
        noise: list[torch.Tensor] | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Images from K latents per image, their styles combined per layer (the exported graph's function):
        w_l = w_avg + Σ_k mix[:, l, k]·(w(latents[:, k]) − w_avg) + offset[:, l]. One form for truncation
        (mix = ψ), style mixing (a one-hot mix per layer), interpolation in w (mix = (1 − t, t)·ψ) and
        edits along directions (offset), so the engine needs one graph and never handles w itself."""
        n, k, _ = latents.shape
        if labels is not None:
            labels = labels[:, None].expand(n, k).reshape(n * k)
        w = self.mapping(latents.reshape(n * k, -1), labels).reshape(n, k, -1) - self.w_avg
        return self.synthesis(self.w_avg + mix @ w + offset, noise)

    def levels(self) -> dict[str, tuple[int, int]]:
        """Which style layers (ws indices, [start, stop)) are coarse, middle and fine. As in the StyleGAN
        paper's figure, by resolution: coarse up to 8 px (pose, shape), fine at the output size (colour,
        texture), middle between; a layer's w also drives the to-image output before it."""
        last_coarse = self.synthesis.layer_resolutions.index(16) if self.size > 8 else self.num_ws
        first_fine = self.synthesis.layer_resolutions.index(self.size) if self.size > 16 else self.num_ws
        return {"coarse": (0, last_coarse), "middle": (last_coarse, first_fine), "fine": (first_fine, self.num_ws)}

    def draw_noise(self, count: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        device = self.w_avg.device
        return [torch.randn(count, *shape, generator=generator).to(device) for shape in self.synthesis.noise_shapes()]

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        noise: list[torch.Tensor] | None = None,
        truncation: float = 1.0,
    ) -> torch.Tensor:
        """`noise`: one map per layer (from the seed, in sampling); in training mode, when not given, drawn here."""
        ws = self.styles(z, labels, truncation)
        if self.training:
            self.w_avg.lerp_(ws[:, 0].detach().float().mean(0), 1 - W_AVG_BETA)  # float under bf16 autocast
            if self.style_mixing > 0:
                ws = self._mix_at_random(ws, labels)
        if noise is None and self.training:
            noise = self.draw_noise(len(z))
        return self.synthesis(ws, noise)

    def _mix_at_random(self, ws: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """With probability `style_mixing`, the layers from a random cut on take a second latent's w."""
        if torch.rand(()) >= self.style_mixing:
            return ws
        cut = int(torch.randint(1, self.num_ws, ()))
        other = self.styles(torch.randn_like(ws[:, 0, : self.latent_size]), labels)
        return torch.cat([ws[:, :cut], other[:, cut:]], dim=1)


class EqualConv(nn.Module):
    """A convolution with the equalised learning rate."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels_out, channels_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(channels_out)) if bias else None
        self.weight_gain, self.padding = 1 / math.sqrt(channels_in * kernel * kernel), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)


class DiscriminatorBlock(nn.Module):
    """Two 3×3 convolutions and a 2× average-pool downsample, beside a 1×1 skip (StyleGAN2's resnet D)."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv0, self.conv1 = EqualConv(channels_in, channels_in, 3), EqualConv(channels_in, channels_out, 3)
        self.skip = EqualConv(channels_in, channels_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.leaky_relu(self.conv0(x), 0.2) * LRELU_GAIN
        x = F.leaky_relu(self.conv1(F.avg_pool2d(x, 2)), 0.2) * LRELU_GAIN
        return (x + skip) / math.sqrt(2)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """A feature map of how much each group of samples varies: a collapsed G's batches vary little,
    which D can then see (Karras et al. 2018). The group is the largest divisor of N up to `group`."""
    n = len(x)
    group = max(g for g in range(1, min(group, n) + 1) if n % g == 0)
    y = x.reshape(group, n // group, *x.shape[1:])
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # (N / group,)
    y = y.repeat(group)[:, None, None, None].expand(-1, 1, *x.shape[2:])
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, size: int = 32, channels: int = 1, width: int = 64, num_classes: int = 0, mbstd_group: int = 4):
        super().__init__()
        self.mbstd_group = mbstd_group
        steps = resolutions(size)[::-1]  # size, ..., 8, 4
        widths = [channels_at(r, size, width) for r in steps]
        self.from_image = EqualConv(channels, widths[0], 1)
        self.blocks = nn.Sequential(*(DiscriminatorBlock(a, b) for a, b in pairwise(widths)))
        self.last_conv = EqualConv(widths[-1] + 1, widths[-1], 3)
        self.features = EqualLinear(widths[-1] * 16, widths[-1])
        self.logit = EqualLinear(widths[-1], 1)
        self.embed = nn.Embedding(num_classes, widths[-1]) if num_classes else None

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """One real-vs-fake logit per image, shape (N,)."""
        x = F.leaky_relu(self.from_image(images), 0.2) * LRELU_GAIN
        x = minibatch_stddev(self.blocks(x), self.mbstd_group)
        x = F.leaky_relu(self.last_conv(x), 0.2) * LRELU_GAIN
        h = F.leaky_relu(self.features(x.flatten(1)), 0.2) * LRELU_GAIN
        out = self.logit(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1) / math.sqrt(h.shape[1])
        return out


def generator(config: ModelConfig, size: int, channels: int, num_classes: int) -> Generator:
    return Generator(
        config.latent_size, size, channels, config.width, num_classes, config.mapping_layers, config.style_mixing
    )


def discriminator(config: ModelConfig, size: int, channels: int, num_classes: int) -> Discriminator:
    return Discriminator(size, channels, config.width, num_classes, config.mbstd_group)
