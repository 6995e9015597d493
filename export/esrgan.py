"""`python -m export --from-esrgan FILE`: the community's ESRGAN-family upscalers as gimp-gan models.

The upscalers that chaiNNer and upscayl users share are bare PyTorch state dicts in one of a few layouts:
ESRGAN's original RRDBNet ("old arch": `model.0` … `model.10`), the renamed RRDBNet of ESRGAN's later code
and of BasicSR / Real-ESRGAN ("new arch": `conv_first`, `RRDB_trunk` or `body`, …), and Real-ESRGAN's
SRVGGNetCompact (`body.0` … `body.N`). A file says nothing else about itself, so the architecture, width,
depth and scale are read from its keys and shapes; a layout we do not know is refused by name rather
than guessed. A .pth file loads with `weights_only=True` only (a pickle that would run code is never opened); a
.safetensors file is read as what it is, tensors.

The networks are rebuilt here as their authors defined them (the dense blocks are training's own, whose
computation is ESRGAN's), exported through the same path as our models and checked against PyTorch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from export.generator import NAME_PATTERN, ExportError, ExportReport, enhance_document, export_network
from training.networks.rrdb import RRDB

WRAPPERS = ("params_ema", "params", "model", "state_dict")  # BasicSR's EMA weights first, as Real-ESRGAN ships


@dataclass(frozen=True)
class Architecture:
    """What a state dict describes: enough to rebuild the network and to say so in the model's card."""

    kind: str  # "rrdb-old", "rrdb-new" or "compact"
    channels: int
    width: int
    blocks: int  # RRDBs, or the compact network's hidden convolutions
    scale: int
    growth: int = 0  # RRDBNet's dense-block growth
    unshuffle: int = 1  # RRDBNet: pixel-unshuffle of the input (Real-ESRGAN's ×2 and ×1)

    def describe(self) -> str:
        if self.kind == "compact":
            return f"Real-ESRGAN SRVGGNetCompact, {self.width} wide, {self.blocks} convolutions, ×{self.scale}"
        arch = "ESRGAN RRDBNet (old arch)" if self.kind == "rrdb-old" else "ESRGAN RRDBNet (new arch)"
        unshuffle = f", pixel-unshuffle ×{self.unshuffle} at the input" if self.unshuffle > 1 else ""
        return f"{arch}, {self.width} wide, growth {self.growth}, {self.blocks} blocks, ×{self.scale}{unshuffle}"


class RRDBNet(nn.Module):
    """ESRGAN's generator: dense blocks at the input resolution, nearest ×2 + convolution steps, two last convs.

    Unlike training's RRDB generator it adds no bicubic base: community weights were trained without one."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.channels, self.scale, self.size_multiple = arch.channels, arch.scale, arch.unshuffle
        self.unshuffle = arch.unshuffle
        width = arch.width
        self.conv_first = nn.Conv2d(arch.channels * arch.unshuffle**2, width, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(width, arch.growth) for _ in range(arch.blocks)))
        self.conv_body = nn.Conv2d(width, width, 3, padding=1)
        # ×2 steps, or ESRGAN's ×3: one ×3 step
        self.factors = [3] if arch.scale == 3 else [2] * round(math.log2(arch.scale * arch.unshuffle))
        self.conv_up = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in self.factors)
        self.conv_hr = nn.Conv2d(width, width, 3, padding=1)
        self.conv_last = nn.Conv2d(width, arch.channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)
        self.receptive_radius = 2 + arch.blocks * 15 + len(self.factors) + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] → (N, C, scale·H, scale·W), not clipped."""
        h = self.conv_first(F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x)
        h = h + self.conv_body(self.body(h))
        for conv, factor in zip(self.conv_up, self.factors, strict=True):
            h = self.act(conv(F.interpolate(h, scale_factor=factor, mode="nearest")))
        return self.conv_last(self.act(self.conv_hr(h)))


class CompactNet(nn.Module):
    """Real-ESRGAN's SRVGGNetCompact with PReLU: plain convolutions, one pixel shuffle, plus a nearest upsample."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.channels, self.scale, self.size_multiple = arch.channels, arch.scale, 1
        layers: list[nn.Module] = [nn.Conv2d(arch.channels, arch.width, 3, padding=1), nn.PReLU(arch.width)]
        for _ in range(arch.blocks):
            layers += [nn.Conv2d(arch.width, arch.width, 3, padding=1), nn.PReLU(arch.width)]
        layers.append(nn.Conv2d(arch.width, arch.channels * arch.scale**2, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.receptive_radius = arch.blocks + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] → (N, C, scale·H, scale·W), not clipped."""
        return F.pixel_shuffle(self.body(x), self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors as float32, unwrapped from BasicSR's `params_ema` (etc.) and DataParallel's `module.`.

    A .pth file is loaded with `weights_only` only: one that needs code to unpickle is refused with a
    clear reason. A .safetensors file holds nothing but tensors and is read directly."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the .pth or .safetensors file")
    try:
        if path.suffix.lower() == ".safetensors":
            loaded = read_safetensors(path)
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file") from None
    except pickle.UnpicklingError as e:
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if unsupported is None:
            raise ExportError(f"{path}: not a PyTorch weights file ({_first_line(e)})") from None
        raise ExportError(
            f"{path}: refused: unpickling it would call {unsupported.group(1)}, i.e. run code from the file. "
            "Only files of plain tensors (state dicts) are converted; ask its author for one."
        ) from None
    except (RuntimeError, EOFError, KeyError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise ExportError(f"{path}: not a PyTorch weights file ({_first_line(e)})") from None
    for key in WRAPPERS:
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ExportError(f"{path}: not a state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v.float() for k, v in loaded.items()}


SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A .safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
    shape and byte range, then the raw little-endian data. Simple enough to read without its package."""
    data = path.read_bytes()
    try:
        length = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + length])
        body = data[8 + length :]
        tensors = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            if entry["dtype"] not in SAFETENSORS_DTYPES:
                raise ValueError(f"tensor {name} is {entry['dtype']}, not a floating-point type")
            start, end = entry["data_offsets"]
            raw = bytearray(body[start:end])  # frombuffer needs a writable buffer
            tensors[name] = torch.frombuffer(raw, dtype=SAFETENSORS_DTYPES[entry["dtype"]]).reshape(entry["shape"])
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError) as e:
        raise ExportError(f"{path}: not a readable .safetensors file ({_first_line(e)})") from None
    return tensors


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# Old arch and ESRGAN's later names → BasicSR's; _recognise_rrdb then maps the dense blocks to training's RRDB.
_OLD_DENSE = re.compile(r"model\.1\.sub\.(\d+)\.(RDB\d\.conv\d)\.0\.(weight|bias)")
_ESRGAN_NEW = {"RRDB_trunk.": "body.", "trunk_conv.": "conv_body.", "HRconv.": "conv_hr.", "upconv": "conv_up"}


def _basicsr_names(state: dict[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor]]:
    """Which RRDBNet layout the keys are in, and the state with BasicSR's names (conv_up1, … numbered from 1)."""
    if "model.0.weight" in state:
        convs = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(r"model\.(\d+)\.weight", k))})
        dense = [m for k in state if (m := _OLD_DENSE.fullmatch(k))]
        if len(convs) < 3 or convs[0] != 0 or not dense:
            raise ExportError("an ESRGAN old-arch file without its expected model.N layers")
        *ups, hr, last = convs[1:]
        blocks = 1 + max(int(m.group(1)) for m in dense)
        renamed = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}", "conv_hr": f"model.{hr}"}
        renamed |= {"conv_last": f"model.{last}"} | {f"conv_up{i + 1}": f"model.{n}" for i, n in enumerate(ups)}
        try:
            out = {f"{new}.{p}": state[f"{old}.{p}"] for new, old in renamed.items() for p in ("weight", "bias")}
        except KeyError as e:
            raise ExportError(f"an ESRGAN old-arch file without the layer {e.args[0]}") from None
        for m in dense:
            block, conv, param = m.groups()
            out[f"body.{block}.{conv.lower()}.{param}"] = state[m.group(0)]
        return "rrdb-old", out
    out = {}
    for key, value in state.items():
        for old, new in _ESRGAN_NEW.items():
            key = key.replace(old, new) if key.startswith(old) else key
        out[re.sub(r"\.RDB(\d)\.", r".rdb\1.", key)] = value
    return "rrdb-new", out


def recognise(state: dict[str, torch.Tensor]) -> tuple[Architecture, dict[str, torch.Tensor]]:
    """The architecture a state dict describes, and its weights under the names of our rebuilt network."""
    if "conv_first.weight" in state or "model.0.weight" in state:
        return _recognise_rrdb(state)
    if "body.0.weight" in state:
        return _recognise_compact(state)
    sample = ", ".join(sorted(state)[:4])
    raise ExportError(
        f"unknown architecture (keys {sample}, …): supported are ESRGAN's RRDBNet (old and new arch, "
        "Real-ESRGAN's included) and Real-ESRGAN's SRVGGNetCompact"
    )


def _recognise_rrdb(state: dict[str, torch.Tensor]) -> tuple[Architecture, dict[str, torch.Tensor]]:
    kind, named = _basicsr_names(state)
    try:
        first, last = named["conv_first.weight"], named["conv_last.weight"]
        width, channels = first.shape[0], last.shape[0]
        growth = named["body.0.rdb1.conv1.weight"].shape[0]
    except KeyError as e:
        raise ExportError(f"an RRDBNet ({kind}) file without the layer {e.args[0]}") from None
    unshuffle = math.isqrt(first.shape[1] // channels)
    if unshuffle not in (1, 2, 4) or first.shape[1] != channels * unshuffle**2:
        raise ExportError(f"RRDBNet with {first.shape[1]} input channels for {channels} output ones: unknown layout")
    ups = sum(1 for k in named if re.fullmatch(r"conv_up\d+\.weight", k))
    if 2**ups < unshuffle:
        raise ExportError(f"RRDBNet that unshuffles ×{unshuffle} but upsamples only ×{2**ups}: unknown layout")
    blocks = len({k.split(".")[1] for k in named if k.startswith("body.") and ".rdb" in k})
    arch = Architecture(kind, channels, width, blocks, 2**ups // unshuffle, growth, unshuffle)
    ours = {}
    for key, value in named.items():
        if m := re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", key):
            block, rdb, conv, param = (int(g) if g.isdigit() else g for g in m.groups())
            layer = f"convs.{conv - 1}" if conv <= 4 else "fuse"
            key = f"body.{block}.blocks.{rdb - 1}.{layer}.{param}"
        elif m := re.fullmatch(r"conv_up(\d+)\.(weight|bias)", key):
            key = f"conv_up.{int(m.group(1)) - 1}.{m.group(2)}"
        ours[key] = value
    return arch, ours


def _recognise_compact(state: dict[str, torch.Tensor]) -> tuple[Architecture, dict[str, torch.Tensor]]:
    indices = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(r"body\.(\d+)\.weight", k))})
    convs = [i for i in indices if state[f"body.{i}.weight"].ndim == 4]
    prelus = [i for i in indices if state[f"body.{i}.weight"].ndim == 1]
    if convs != list(range(0, 2 * len(convs), 2)) or prelus != [c + 1 for c in convs[:-1]]:
        raise ExportError(
            "SRVGGNetCompact without a PReLU after each convolution: its activation (ReLU or LeakyReLU) is "
            "not recorded in the file, so it is not converted"
        )
    first, last = state["body.0.weight"], state[f"body.{convs[-1]}.weight"]
    channels, width = first.shape[1], first.shape[0]
    scale = math.isqrt(last.shape[0] // channels)
    if channels * scale**2 != last.shape[0]:
        raise ExportError(f"SRVGGNetCompact whose last layer has {last.shape[0]} channels for {channels}: unknown")
    return Architecture("compact", channels, width, len(convs) - 2, scale), state


def build(arch: Architecture, weights: dict[str, torch.Tensor]) -> nn.Module:
    """The rebuilt network with the file's weights; every weight must find its place and every place a weight."""
    net = CompactNet(arch) if arch.kind == "compact" else RRDBNet(arch)
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        raise ExportError(f"the weights do not fit a {arch.describe()}: {str(e).splitlines()[0]}") from None
    return net.eval().requires_grad_(False)


def model_name(path: Path) -> str:
    """A model-format name from the file's name: "4x-UltraSharp.pth" → "4x-ultrasharp"."""
    name = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-._")[:64]
    return name if NAME_PATTERN.fullmatch(name) else "converted-upscaler"


def convert(
    path: Path,
    output: Path,
    name: str,
    scale: int | None = None,
    title: str = "",
    license: str = "",
    fp16: bool = False,
) -> tuple[ExportReport, Architecture]:
    """Export the community upscaler in `path` to `output`, verified against the rebuilt PyTorch network."""
    arch, weights = recognise(load_state_dict(path))
    if scale == 3 and (arch.kind, arch.scale) == ("rrdb-old", 2):
        arch = dataclasses.replace(arch, scale=3)  # one upsampling layer: ×2 or ESRGAN's ×3, only --scale tells
    elif scale is not None and scale != arch.scale:
        raise ExportError(f"{path.name} upscales ×{arch.scale} (read from its layers), not ×{scale} as --scale says")
    net = build(arch, weights)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    document = enhance_document(
        name,
        title or (f"Enhance ×{arch.scale}" if arch.scale > 1 else "Restore") + f" ({path.stem}, community)",
        f"A community upscaler ({arch.describe()}) converted from {path.name}; what it suits is what its author "
        "trained it for.",
        license or "unknown: see where the file was published",
        {
            "data": "unknown (a community model: see where the file was published)",
            "converted_from": {"file": path.name, "sha256": digest, "architecture": arch.describe()},
            "code": "gimp-gan export 0.1 (`python -m export --from-esrgan`)",
        },
        net,
        arch.scale,
    )
    return export_network(net, document, output, fp16), arch
