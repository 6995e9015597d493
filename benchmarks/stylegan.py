"""The style-based generator on a CPU: fused vs unfused modulation, training speed, onnxruntime vs PyTorch.

1. Modulation: StyleGAN2's fused form (each sample's weights scaled by its style and demodulated, one
   grouped convolution) against ours (scale the input, one shared convolution, scale the output), forward
   and backward, at emoji-style's layer sizes, batch 16.
2. Training: images/s of emoji-style.toml's real training step (D step with lazy R1, G step, EMA), in
   float32 and with bfloat16 autocast (train.cpu_bfloat16; needs a CPU with native bfloat16).
3. Inference: the exported graph (random weights: speed does not depend on them) in onnxruntime against
   the same network in PyTorch eager, one image and 16, with every input the engine feeds.

Median of 30 runs after 5 warm-up runs (export_latency.median_ms), on the threads given. Prints Markdown
for docs/benchmarks.md.

    python benchmarks/stylegan.py [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import onnxruntime
import torch
import torch.nn.functional as F
from export_latency import median_ms  # run as a script: benchmarks/ is on the path
from training_speed import images_per_second

from export import style
from export.generator import export_generator
from training.config import load_config
from training.networks.stylegan import ModulatedConv
from training.tasks.gan import GanRun

CONFIG = Path(__file__).resolve().parent.parent / "training" / "configs" / "emoji-style.toml"


def fused(conv: ModulatedConv, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's reference form: per-sample modulated and demodulated weights, one grouped convolution."""
    n, c, h, width = x.shape
    styles = conv.affine(w)
    weights = conv.weight * conv.weight_gain * styles[:, None, :, None, None]
    weights = weights * (weights.square().sum((2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    out = F.conv2d(x.reshape(1, n * c, h, width), weights.reshape(-1, c, 3, 3), padding=1, groups=n)
    return out.reshape(n, -1, h, width)


def modulation_rows(batch: int = 16) -> list[str]:
    rows = []
    for size, channels in ((16, 128), (32, 64), (64, 32)):
        conv = ModulatedConv(256, channels, channels)
        x = torch.randn(batch, channels, size, size, requires_grad=True)
        w = torch.randn(batch, 256)
        times = {
            "fused": median_ms(lambda conv=conv, x=x, w=w: fused(conv, x, w).square().mean().backward()),
            "unfused": median_ms(lambda conv=conv, x=x, w=w: conv(x, w).square().mean().backward()),
        }
        rows.append(
            f"| {size} px, {channels} channels | {times['fused']:.1f} | {times['unfused']:.1f} | "
            f"{times['fused'] / times['unfused']:.2f}× |"
        )
    return rows


def inference_rows(config_path: Path, threads: int) -> list[str]:
    config = load_config(config_path)
    with tempfile.TemporaryDirectory() as folder:
        config.output.run_dir = folder
        config.train.steps = 1
        run = GanRun(config)
        state = run.state_dict()
        path = Path(folder) / "emoji-style-random.onnx"
        export_generator(state, path, "emoji-style-random")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        G = run.G_ema.eval()
        names, graph = style.input_names(G, False), style.StyleGraph(G, False).eval()
        rows = []
        for batch in (1, 16):
            inputs = style.example_inputs(G, batch, 1, 0, torch.Generator().manual_seed(0))
            feeds = {name: x.numpy() for name, x in zip(names, inputs, strict=True)}
            with torch.no_grad():
                eager = median_ms(lambda inputs=inputs: graph(*inputs))
            ort = median_ms(lambda feeds=feeds: session.run(["image"], feeds))
            rows.append(f"| {batch} | {eager:.1f} | {ort:.1f} | {eager / ort:.2f}× |")
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} thread(s), CPU\n")
    print("| layer (batch 16, forward + backward) | fused (ms) | unfused, ours (ms) | fused ÷ unfused |")
    print("|---|---|---|---|")
    print("\n".join(modulation_rows()))
    fp32 = images_per_second(CONFIG.stem, args.threads, 10)
    bf16 = images_per_second(CONFIG.stem, args.threads, 10, ("train.cpu_bfloat16=true",))
    print(f"\nemoji-style training: {fp32:.1f} images/s, {bf16:.1f} with train.cpu_bfloat16 ({bf16 / fp32:.2f}×)\n")
    print("| batch | PyTorch eager (ms) | onnxruntime (ms) | PyTorch ÷ onnxruntime |")
    print("|---|---|---|---|")
    print("\n".join(inference_rows(CONFIG, args.threads)))


if __name__ == "__main__":
    main()
