"""Run configuration: small TOML files mapped onto dataclasses, so every option has one home and a default.

A config file names only what differs from the defaults below; an unknown section or key is an error
(a typo must not silently train with the default). `--set section.key=value` on the command line
overrides single values the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


# How translation pairs are made (training/tasks/translate.py), or "unpaired": photos in, the style's images
# as examples of the output (training/tasks/unpaired.py).
PAIRS = ("colorize", "lineart", "unpaired")
UNPAIRED_METHODS = ("cut", "cyclegan")  # training/tasks/unpaired.py, training/tasks/cyclegan.py


class ConfigError(Exception):
    """A config file or override that cannot be used; the message names the file and key."""


@dataclass
class DataConfig:
    dataset: str = "fashion-mnist"  # "fashion-mnist", "emoji" (RGBA), "folder" (GANs) or "photos" (image models)
    path: str = ""  # the image folder; "" = Debian's Fashion-MNIST, or Debian's photos for "photos"
    size: int = 32  # GANs: 28, 32 or 64 px; enhance models: the high-resolution training crop
    channels: int = 1  # 1 (grey) or 3 (RGB), image folders only: Fashion-MNIST is grey, photos RGB
    flip: bool = True  # random horizontal flips (and, for photos, rotations)
    degradation: str = "bicubic"  # photos: "bicubic" (faithful upscaling) or "realistic" (restoration)
    pairs: str = "colorize"  # translation families: what the input is made from ("colorize": the photo's grey)
    style_path: str = ""  # unpaired translation: a folder of the style's images ("" = Debian's paintings)
    style_match: str = ""  # with Debian's paintings: only those whose file name has this ("van-gogh", "a|b")


@dataclass
class ModelConfig:
    family: str = "dcgan"  # a key of training.networks.FAMILIES
    latent_size: int = 128
    width: int = 64  # channels of the last generator / first discriminator layer
    conditional: bool = False  # class embedding in G, projection discriminator; needs labelled data
    spectral_norm: bool = True  # on every discriminator layer (Miyato et al. 2018)
    d_batch_norm: bool = False  # the original DCGAN discriminator; off when spectral norm is on
    # Convolutions per resolution in D. 1 is DCGAN's single stride-2 one; 2 puts a 3×3 convolution
    # before each (SNGAN's "standard CNN"): a spectrally normalised D that shallow is too weak to teach G.
    d_depth: int = 2
    scale: int = 1  # enhance families: output size / input size (1 = restoration at the same size)
    blocks: int = 16  # enhance families: body depth (convolutions for srvgg, RRDB blocks for rrdb)
    d_width: int = 32  # enhance families: channels of the U-Net discriminator's first layer (GAN stage)
    reparam: bool = False  # srvgg: train each convolution through summed branches, folded for inference
    levels: int = 4  # unet: stride-2 levels (inputs must be multiples of 2^levels)
    keep_luma: bool = True  # unet: predict chroma only and keep the input's luminance (colorization)
    keep_lines: bool = False  # unet: predict a colour fill, multiplied by the input drawing (line art)
    colour_downscale: int = 1  # unet with keep_luma or keep_lines: 2 or 4 predict colour at 1/2 or 1/4 resolution
    # unet with keep_luma: the predicted chroma is multiplied by this. Set after training (evaluate and export
    # take --chroma-gain) to trade PSNR against colour, measured on the validation photos: a regression's
    # colours are a mean of the plausible ones, so a gain above 1 buys colour for PSNR, below 1 the reverse.
    chroma_gain: float = 1.0
    mapping_layers: int = 4  # stylegan: layers of the mapping MLP z → w (StyleGAN's 8 is for 1024-px faces)
    style_mixing: float = 0.9  # stylegan: probability that a training batch mixes two latents' styles
    mbstd_group: int = 4  # stylegan D: samples per minibatch-stddev group (StyleGAN2 4; its CIFAR setting 32)
    residual: bool = False  # unet, unpaired (RGB to RGB): predict a change added to the input (G starts as identity)
    padding: str = "zeros"  # unet G's convolutions: "zeros" or "replicate" (no border for a style to draw a frame on)


@dataclass
class TrainConfig:
    steps: int = 20_000  # generator updates
    batch_size: int = 64  # per step, over all processes
    loss: str = "hinge"  # "ns" (non-saturating), "hinge", "lsgan", "wgan-gp"
    lr_g: float = 1e-4
    lr_d: float = 4e-4  # TTUR (Heusel et al. 2017): a faster discriminator instead of n_critic > 1
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # discriminator updates per generator update
    r1_gamma: float = 0.0  # R1 gradient penalty on real images (Mescheder et al. 2018); 0 = off
    r1_every: int = 1  # lazy regularisation (StyleGAN2): R1 every k D steps, weighted k×
    gp_weight: float = 10.0  # WGAN-GP's gradient penalty (loss "wgan-gp" only)
    ema_halflife_kimg: float = 10.0  # EMA of G's weights, half-life in thousands of images; 0 = off
    augment: str = ""  # DiffAugment policy for small data sets, e.g. "color,translation,cutout"
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present), "cuda" or "cpu"
    mixed_precision: bool = True  # bfloat16 autocast, on CUDA only
    # bfloat16 autocast on a CPU with native bf16 (AVX512-BF16 or AMX): stylegan steps 1.3-1.6× faster when
    # two trainings share the CPU, 1.05× alone (docs/benchmarks.md). Off by default: it changes a run's numbers.
    cpu_bfloat16: bool = False
    threads: int = 0  # CPU threads for torch; 0 = torch's default
    lr_schedule: str = "constant"  # or "cosine": both rates decay to 0 over train.steps
    # Enhance models. The loss is l1_weight·L1 + feature_weight·(L1 between D's feature maps of result
    # and target) + adversarial_weight·(relativistic average GAN loss). With the last two at 0 the D is
    # not trained at all (the PSNR-oriented stage); the GAN stage starts from its result (init_from).
    l1_weight: float = 1.0
    feature_weight: float = 0.0
    adversarial_weight: float = 0.0
    init_from: str = ""  # a checkpoint whose EMA generator starts this run (not a resume: new optimisers)
    # Paired translation adds mse_weight·MSE: the loss whose optimum is the conditional mean, the best a
    # colorizer can do for PSNR where several colours are plausible (L1's optimum, the median, commits to one).
    mse_weight: float = 0.0
    # Unpaired translation (CUT): adversarial_weight·GAN + nce_weight·PatchNCE(input, output), plus with
    # nce_identity the same PatchNCE between a style image and G's output for it (CUT; off: FastCUT).
    nce_weight: float = 1.0
    nce_identity: bool = True
    nce_patches: int = 256  # patches compared per image and encoder level
    # ... or CycleGAN (Zhu et al. 2017): a second generator back to photos and a second discriminator;
    # adversarial_weight·(both GANs) + cycle_weight·(L1 of each round trip) + cycle_identity·cycle_weight·(L1
    # of each generator on its own output domain).
    unpaired_method: str = "cut"  # or "cyclegan"
    cycle_weight: float = 10.0
    cycle_identity: float = 0.5


@dataclass
class OutputConfig:
    run_dir: str = ""  # default: runs/<config name>
    log_every: int = 50  # steps between progress and CSV lines
    sample_every: int = 500  # steps between sample grids and the collapse check
    checkpoint_every: int = 1000  # steps between checkpoints (also written at the end)
    # Also keep every k-th step's checkpoint as checkpoint-STEP.pt (0: only the latest): a GAN can collapse
    # between two checkpoints, and then the latest one holds only the collapsed state.
    keep_every: int = 0
    grid_seeds: int = 64  # fixed seeds shown in every grid (and used by the collapse check)


_SECTIONS = (DataConfig, ModelConfig, TrainConfig, OutputConfig)


@dataclass
class Config:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.output.run_dir or Path("runs") / self.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so a checkpoint can hold it and still load with weights_only=True."""
        return _plain(dataclasses.asdict(self))


def load_config(path: Path, overrides: list[str] = ()) -> Config:
    """Read a TOML config; the config's name defaults to the file's stem."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (shipped configs are in training/configs/)") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    document.setdefault("name", path.stem)
    config = _parse(document, str(path))
    for override in overrides:
        _override(config, override)
    validate(config, str(path))  # after the overrides: --data may supply what the file leaves out
    return config


def from_dict(document: dict[str, Any], source: str = "config") -> Config:
    config = _parse(document, source)
    validate(config, source)
    return config


def _parse(document: dict[str, Any], source: str) -> Config:
    config = Config()
    for key, value in document.items():
        if key == "name":
            config.name = str(value)
        elif isinstance(key, str) and isinstance(getattr(config, key, None), _SECTIONS):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{key}] must be a section")
            for name, item in value.items():
                _set(config, key, name, item, source)
        else:
            raise ConfigError(f"{source}: unknown section {key!r} (sections: data, model, train, output)")
    return config


def apply_override(config: Config, override: str) -> None:
    """`section.key=value`, the value in TOML syntax (bare words are taken as strings)."""
    _override(config, override)
    validate(config, "--set")


def _override(config: Config, override: str) -> None:
    target, sep, text = override.partition("=")
    section, dot, name = target.strip().partition(".")
    if not sep or not dot:
        raise ConfigError(f"--set {override!r}: expected section.key=value, e.g. train.steps=500")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    if not isinstance(getattr(config, section, None), _SECTIONS):
        raise ConfigError(f"--set {override!r}: unknown section {section!r}")
    _set(config, section, name, value, "--set")


def _set(config: Config, section: str, name: str, value: Any, source: str) -> None:
    part = getattr(config, section)
    fields = {f.name: f for f in dataclasses.fields(part)}
    if name not in fields:
        raise ConfigError(f"{source}: unknown key {section}.{name} (known: {', '.join(fields)})")
    default = getattr(part, name)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = isinstance(value, (list, tuple)) and len(value) == len(default)
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        value = tuple(float(v) for v in value) if ok else value
    else:
        ok = isinstance(value, type(default)) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{source}: {section}.{name} must be like {default!r}, got {value!r}")
    setattr(part, name, value)


def validate(config: Config, source: str) -> None:
    """The checks a user would otherwise meet as a confusing failure minutes into a run."""
    from training.losses import LOSSES
    from training.networks import FAMILIES, task

    data, model, train, output = config.data, config.model, config.train, config.output
    problems = []
    if data.dataset not in ("fashion-mnist", "emoji", "folder", "photos"):
        problems.append(f"data.dataset must be 'fashion-mnist', 'emoji', 'folder' or 'photos', got {data.dataset!r}")
    if data.dataset == "folder" and not data.path:
        problems.append("data.path must name the image folder when data.dataset = 'folder'")
    kind = task(model.family) if model.family in FAMILIES else None
    enhance, translate = kind == "enhance", kind == "translate"
    if (enhance or translate) != (data.dataset == "photos"):
        problems.append(f"model.family {model.family!r} does not train on data.dataset {data.dataset!r} "
                        "(enhance and translation families train on 'photos', GANs on the others)")  # fmt: skip
    if translate:
        if data.pairs not in PAIRS:
            problems.append(f"data.pairs must be one of {', '.join(PAIRS)}, got {data.pairs!r}")
        multiple = 2**model.levels * model.colour_downscale
        if not 1 <= model.levels <= 6 or data.size % multiple:
            problems.append(f"model.levels must be 1 to 6 and data.size a multiple of 2^levels × colour_downscale "
                            f"({multiple})")  # fmt: skip
        if not 0 < model.chroma_gain <= 4:
            problems.append(f"model.chroma_gain must be above 0 and at most 4, not {model.chroma_gain}")
        if model.residual and data.pairs != "unpaired":
            problems.append("model.residual is for unpaired translation (RGB in and out)")
        if model.keep_luma and model.keep_lines:
            problems.append("model.keep_luma and model.keep_lines: one or the other")
        if model.padding not in ("zeros", "replicate"):
            problems.append(f"model.padding is 'zeros' or 'replicate', not {model.padding!r}")
        keeps_input = model.keep_luma or model.keep_lines
        if model.colour_downscale not in (1, 2, 4) or (model.colour_downscale > 1 and not keeps_input):
            problems.append("model.colour_downscale must be 1, or 2 or 4 with model.keep_luma or model.keep_lines")
        if min(train.l1_weight, train.mse_weight, train.adversarial_weight, train.nce_weight) < 0:
            problems.append("train.l1_weight, mse_weight, adversarial_weight and nce_weight must not be negative")
        if data.pairs == "unpaired" and keeps_input:
            problems.append("unpaired translation restyles colour images: set model.keep_luma = false")
        if train.nce_patches < 1:
            problems.append("train.nce_patches must be at least 1")
        if train.unpaired_method not in UNPAIRED_METHODS:
            problems.append(f"train.unpaired_method must be one of {', '.join(UNPAIRED_METHODS)}")
        if min(train.cycle_weight, train.cycle_identity) < 0:
            problems.append("train.cycle_weight and cycle_identity must not be negative")
    elif enhance:
        if model.scale not in (1, 2, 3, 4):
            problems.append(f"model.scale must be 1, 2, 3 or 4, got {model.scale}")
        elif data.size < 32 or data.size % (8 * model.scale):
            problems.append(f"data.size must be a multiple of {8 * model.scale} (8 × scale) and at least 32")
        if data.degradation not in ("bicubic", "realistic"):
            problems.append(f"data.degradation must be 'bicubic' or 'realistic', got {data.degradation!r}")
        if model.blocks < 1:
            problems.append(f"model.blocks must be at least 1, got {model.blocks}")
        if min(train.l1_weight, train.feature_weight, train.adversarial_weight) < 0:
            problems.append("train.l1_weight, feature_weight and adversarial_weight must not be negative")
    elif data.size not in (28, 32, 64):
        problems.append(f"data.size must be 28, 32 or 64, got {data.size}")
    elif model.family == "stylegan" and data.size == 28:
        problems.append("the stylegan family makes 32 or 64 px images (4·2^k), not 28")
    if train.lr_schedule not in ("constant", "cosine"):
        problems.append(f"train.lr_schedule must be 'constant' or 'cosine', got {train.lr_schedule!r}")
    if data.channels not in (1, 3):
        problems.append(f"data.channels must be 1 or 3, got {data.channels}")
    for name in ("latent_size", "width", "d_width", "d_depth"):
        if getattr(model, name) < 1:
            problems.append(f"model.{name} must be at least 1, got {getattr(model, name)}")
    if model.family not in FAMILIES:
        problems.append(f"model.family must be one of {', '.join(FAMILIES)}, got {model.family!r}")
    if train.loss not in LOSSES:
        problems.append(f"train.loss must be one of {', '.join(LOSSES)}, got {train.loss!r}")
    if train.loss == "wgan-gp" and model.d_batch_norm:
        problems.append("train.loss 'wgan-gp' needs model.d_batch_norm = false (the penalty is per sample)")
    if not 0 <= model.style_mixing <= 1 or model.mapping_layers < 1 or model.mbstd_group < 1:
        problems.append("model.style_mixing must be 0 to 1, model.mapping_layers and model.mbstd_group at least 1")
    for name in ("steps", "batch_size", "n_critic", "r1_every"):
        if getattr(train, name) < 1:
            problems.append(f"train.{name} must be at least 1")
    for name in ("log_every", "sample_every", "checkpoint_every", "grid_seeds"):
        if getattr(output, name) < 1:
            problems.append(f"output.{name} must be at least 1")
    kept = output.keep_every
    if kept < 0 or (kept and output.checkpoint_every >= 1 and kept % output.checkpoint_every):
        problems.append("output.keep_every must be 0 or a multiple of output.checkpoint_every")
    if output.log_every >= 1 and output.checkpoint_every % output.log_every:
        problems.append("output.checkpoint_every must be a multiple of output.log_every (losses are checked then)")
    if train.device not in ("auto", "cuda", "cpu"):
        problems.append(f"train.device must be 'auto', 'cuda' or 'cpu', got {train.device!r}")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
