"""`python -m export --from-esrgan`: community ESRGAN-family upscalers become gimp-gan models.

The state dicts are made here by the architectures as their authors wrote them (ESRGAN's old arch with
BasicSR's flattening `sequential`, ESRGAN's later RRDBNet, BasicSR's / Real-ESRGAN's RRDBNet and
SRVGGNetCompact), small but with every layer, so the keys are the community's, not the converter's.
The converted model must give the reference network's pixels through the engine.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from export.__main__ import main  # noqa: E402
from export.generator import CARD_MARKER  # noqa: E402
from gimp_gan_plugin import Engine  # noqa: E402
from gimp_gan_plugin.modelformat import read_model_info  # noqa: E402


class ResidualDenseBlock(nn.Module):
    """ESRGAN's ResidualDenseBlock_5C; `wrapped` puts each conv in a Sequential as the old arch's conv_block."""

    def __init__(self, nf: int, gc: int, wrapped: bool = False):
        super().__init__()
        for i in range(5):
            conv = nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, 1, 1)
            setattr(self, f"conv{i + 1}", nn.Sequential(conv) if wrapped else conv)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        features = [x]
        for i in range(1, 5):
            features.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(features, 1))))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class RRDBBlock(nn.Module):
    def __init__(self, nf: int, gc: int, prefix: str, wrapped: bool = False):
        super().__init__()
        self.names = [f"{prefix}{i}" for i in (1, 2, 3)]
        for name in self.names:
            setattr(self, name, ResidualDenseBlock(nf, gc, wrapped))

    def forward(self, x):
        out = x
        for name in self.names:
            out = getattr(self, name)(out)
        return out * 0.2 + x


class BasicSRRRDBNet(nn.Module):
    """BasicSR's RRDBNet (Real-ESRGAN's RealESRGAN_x4plus / x2plus); `esrgan_names` gives ESRGAN's later
    RRDBNet_arch.py names (RRDB_trunk, trunk_conv, upconv1, HRconv), the same computation at ×4."""

    def __init__(self, scale: int, nf: int = 8, nb: int = 2, gc: int = 4, esrgan_names: bool = False):
        super().__init__()
        self.scale, self.esrgan_names = scale, esrgan_names
        unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        names = ("RRDB_trunk", "trunk_conv", "upconv", "HRconv", "RDB") if esrgan_names else None
        self.n = names or ("body", "conv_body", "conv_up", "conv_hr", "rdb")
        self.conv_first = nn.Conv2d(3 * unshuffle**2, nf, 3, 1, 1)
        setattr(self, self.n[0], nn.Sequential(*(RRDBBlock(nf, gc, self.n[4]) for _ in range(nb))))
        setattr(self, self.n[1], nn.Conv2d(nf, nf, 3, 1, 1))
        setattr(self, f"{self.n[2]}1", nn.Conv2d(nf, nf, 3, 1, 1))
        setattr(self, f"{self.n[2]}2", nn.Conv2d(nf, nf, 3, 1, 1))
        setattr(self, self.n[3], nn.Conv2d(nf, nf, 3, 1, 1))
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        unshuffle = {4: 1, 2: 2, 1: 4}[self.scale]
        feat = self.conv_first(F.pixel_unshuffle(x, unshuffle) if unshuffle > 1 else x)
        feat = feat + getattr(self, self.n[1])(getattr(self, self.n[0])(feat))
        for i in (1, 2):
            feat = self.lrelu(getattr(self, f"{self.n[2]}{i}")(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(getattr(self, self.n[3])(feat)))


class ShortcutBlock(nn.Module):
    def __init__(self, sub: nn.Module):
        super().__init__()
        self.sub = sub

    def forward(self, x):
        return x + self.sub(x)


def old_arch(scale: int, nf: int = 8, nb: int = 2, gc: int = 4) -> nn.Sequential:
    """ESRGAN's original RRDBNet as BasicSR's old `sequential` flattened it: model.0, model.1.sub…, model.N.
    ×3 is one ×3 upsampling step, ×2ⁿ n ×2 steps."""
    upsampler = []
    for factor in [3] if scale == 3 else [2] * int(math.log2(scale)):
        upsampler += [nn.Upsample(scale_factor=factor, mode="nearest"), nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2)]
    trunk = nn.Sequential(*(RRDBBlock(nf, gc, "RDB", wrapped=True) for _ in range(nb)), nn.Conv2d(nf, nf, 3, 1, 1))
    layers = [nn.Conv2d(3, nf, 3, 1, 1), ShortcutBlock(trunk), *upsampler]
    return nn.Sequential(*layers, nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(nf, 3, 3, 1, 1))


class OldArch(nn.Module):
    def __init__(self, scale: int):
        super().__init__()
        self.model = old_arch(scale)

    def forward(self, x):
        return self.model(x)


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network (realesr-general-x4v3, realesr-animevideov3) with its PReLU."""

    def __init__(self, scale: int, num_feat: int = 8, num_conv: int = 3, act: str = "prelu"):
        super().__init__()
        self.scale = scale
        self.body = nn.ModuleList([nn.Conv2d(3, num_feat, 3, 1, 1)])
        activation = (lambda: nn.PReLU(num_feat)) if act == "prelu" else nn.ReLU
        self.body.append(activation())
        for _ in range(num_conv):
            self.body.extend([nn.Conv2d(num_feat, num_feat, 3, 1, 1), activation()])
        self.body.append(nn.Conv2d(num_feat, 3 * scale * scale, 3, 1, 1))

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def randomised(net: nn.Module) -> nn.Module:
    """Weights of a trained network's size (default init leaves the output near a constant)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    return net.eval()


LAYOUTS = {
    "old-x4": (lambda: OldArch(4), "model.1.sub.0.RDB1.conv1.0.weight", "old arch", 4),
    "old-x2": (lambda: OldArch(2), "model.1.sub.1.RDB3.conv5.0.bias", "old arch", 2),
    "old-x1": (lambda: OldArch(1), "model.4.weight", "old arch", 1),
    "esrgan-new-x4": (lambda: BasicSRRRDBNet(4, esrgan_names=True), "RRDB_trunk.1.RDB2.conv3.weight", "new arch", 4),
    "realesrgan-x4": (lambda: BasicSRRRDBNet(4), "body.0.rdb1.conv1.weight", "new arch", 4),
    "realesrgan-x2": (lambda: BasicSRRRDBNet(2), "conv_up2.weight", "unshuffle ×2", 2),
    "realesrgan-x1": (lambda: BasicSRRRDBNet(1), "conv_hr.weight", "unshuffle ×4", 1),
    "compact-x4": (lambda: SRVGGNetCompact(4), "body.1.weight", "SRVGGNetCompact", 4),
    "compact-x2": (lambda: SRVGGNetCompact(2), "body.8.weight", "SRVGGNetCompact", 2),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_community_layout_converts_to_a_model_that_gives_the_original_pixels(layout, tmp_path, models, capsys):
    make, sample_key, described, scale = LAYOUTS[layout]
    net = randomised(make())
    state = net.state_dict()
    assert sample_key in state  # the layout is the community's
    saved = {"params_ema": state} if layout.startswith("realesrgan") else state  # as BasicSR saves
    path = tmp_path / f"{scale}x-Some_Model v2.pth"
    torch.save(saved, path)

    assert main(["--from-esrgan", str(path), "-o", str(models / "community.onnx")]) == 0
    printed = capsys.readouterr().out
    assert described in printed and f"×{scale}" in printed

    info = read_model_info(models / "community.onnx")
    assert (info.task, info.scale, info.name) == ("enhance", scale, f"{scale}x-some_model-v2")  # from the file
    assert "community" in info.title and info.size_multiple == {"realesrgan-x2": 2, "realesrgan-x1": 4}.get(layout, 1)
    card = (models / "community.md").read_text()
    assert card.startswith(CARD_MARKER) and path.name in card and "SHA-256" in card

    image = np.random.default_rng(1).random((20, 28, 3), dtype=np.float32)
    result = Engine(provider="cpu").process_image(info.name, image)
    with torch.no_grad():
        expected = net(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert result.shape == (20 * scale, 28 * scale, 3)
    assert np.abs(result - expected).max() < 1e-4  # process_image leaves clipping to the writer


def test_an_old_arch_x3_model_needs_scale_to_tell_it_from_x2(tmp_path, models, capsys):
    net = randomised(OldArch(3))
    path = tmp_path / "3x-old.pth"
    torch.save(net.state_dict(), path)
    assert main(["--from-esrgan", str(path), "-o", str(models / "x3.onnx"), "--scale", "3"]) == 0
    assert "×3" in capsys.readouterr().out and read_model_info(models / "x3.onnx").scale == 3
    image = np.random.default_rng(3).random((10, 13, 3), dtype=np.float32)
    result = Engine(provider="cpu").process_image("3x-old", image)
    with torch.no_grad():
        expected = net(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert result.shape == (30, 39, 3) and np.abs(result - expected).max() < 1e-4


def test_the_name_comes_from_the_file_and_scale_is_checked(tmp_path, monkeypatch, capsys):
    path = tmp_path / "4x-UltraSharp.pth"
    torch.save(randomised(SRVGGNetCompact(4)).state_dict(), path)
    monkeypatch.chdir(tmp_path)
    assert main(["--from-esrgan", str(path), "--scale", "2"]) == 2
    assert "upscales ×4" in capsys.readouterr().err and not list(tmp_path.glob("*.onnx"))
    assert main(["--from-esrgan", str(path), "--scale", "4", "--license", "CC-BY-NC-SA-4.0"]) == 0
    info = read_model_info(tmp_path / "4x-ultrasharp.onnx")
    assert info.license == "CC-BY-NC-SA-4.0"


class RunsCode:
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, capsys):
    path = tmp_path / "4x-evil.pth"
    with open(path, "wb") as f:
        torch.save({"conv_first.weight": torch.zeros(1), "payload": RunsCode()}, f)
    assert main(["--from-esrgan", str(path), "-o", str(tmp_path / "evil.onnx")]) == 2
    out, err = capsys.readouterr()
    assert "this ran" not in out and "would call print" in err and "refused" in err
    assert not (tmp_path / "evil.onnx").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ({"layers.0.attn.qkv.weight": torch.zeros(3, 3)}, "unknown architecture (keys layers.0.attn.qkv.weight"),
        (SRVGGNetCompact(4, act="relu").state_dict(), "activation (ReLU or LeakyReLU) is not recorded"),
        ({"conv_first.weight": torch.zeros(8, 3, 3, 3)}, "without the layer conv_last.weight"),
        ([torch.zeros(1)], "not a state dict"),
        (b"not a pytorch file", "not a PyTorch weights file"),
    ],
    ids=["swinir", "compact-relu", "rrdb-truncated", "a-list", "garbage"],
)
def test_what_cannot_be_converted_is_refused_by_name(content, message, tmp_path, capsys):
    path = tmp_path / "model.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    assert main(["--from-esrgan", str(path), "-o", str(tmp_path / "out.onnx")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.onnx").exists()


def test_a_checkpoint_and_a_community_file_are_not_both_given(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "run"), "--from-esrgan", str(tmp_path / "x.pth")])
    with pytest.raises(SystemExit):
        main([str(tmp_path / "run"), "--scale", "4"])
    assert "one of the two" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_a_safetensors_file_converts_like_its_pth(dtype, tmp_path, models):
    safetensors = pytest.importorskip("safetensors.torch")  # the format's own writer, to check our reader
    net = randomised(BasicSRRRDBNet(2))
    net.load_state_dict({k: v.to(dtype).float() for k, v in net.state_dict().items()})  # what the file can hold
    path = tmp_path / "2x-Model.safetensors"
    safetensors.save_file({k: v.to(dtype).contiguous() for k, v in net.state_dict().items()}, str(path))
    assert main(["--from-esrgan", str(path), "-o", str(models / "st.onnx")]) == 0
    image = np.random.default_rng(4).random((12, 14, 3), dtype=np.float32)
    result = Engine(provider="cpu").process_image("2x-model", image)
    with torch.no_grad():
        expected = net(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert result.shape == (24, 28, 3) and np.abs(result - expected).max() < 1e-4


def test_a_damaged_safetensors_file_is_refused(tmp_path, capsys):
    path = tmp_path / "4x-cut.safetensors"
    path.write_bytes((200).to_bytes(8, "little") + b'{"conv_first.weight": {"dtype": "F32", "sha')
    assert main(["--from-esrgan", str(path), "-o", str(tmp_path / "out.onnx")]) == 2
    assert "not a readable .safetensors file" in capsys.readouterr().err


def test_weights_in_half_precision_load_as_float32(tmp_path, models):
    net = randomised(SRVGGNetCompact(2))
    path = tmp_path / "2x-half.pth"
    torch.save({k: v.half() for k, v in net.state_dict().items()}, path)
    assert main(["--from-esrgan", str(path), "-o", str(models / "half.onnx")]) == 0
    image = np.random.default_rng(2).random((9, 11, 3), dtype=np.float32)
    result = Engine(provider="cpu").process_image("2x-half", image)
    with torch.no_grad():
        net.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
        expected = net(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.abs(result - expected).max() < 1e-4  # process_image leaves clipping to the writer
