"""Can a discriminator tell a style's images from Debian's photos at all? The test before an unpaired
style run: if our PatchGAN, trained alone (no generator) on photo crops against style crops, stays at
chance on held-out images, a GAN on that style gets no signal, and no number of steps will make its
generator paint.

Trains training/networks/unet.py's PatchDiscriminator with the LSGAN loss on 128-pixel crops at scene
size, as an unpaired run does, and prints every 100 steps: the training loss (0.25 is chance), the loss
on crops of the validation photos and style images, and the share of those crops it puts on the right
side on average over its patches.

    python benchmarks/style_separability.py [--match van-gogh] [--steps 1000] [--width 32]

Prints a line per 100 steps for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from statistics import fmean

import torch

from training.losses import discriminator_loss
from training.networks.unet import PatchDiscriminator
from training.photos import PhotoCrops
from training.tasks.translate import scene_downscales, scene_photos
from training.tasks.unpaired import style_images

CROP, BATCH, HELD_OUT_CROPS = 128, 4, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--match", default="", help="only Debian's paintings with this in their file names")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--width", type=int, default=32, help="the discriminator's first width (d_width)")
    parser.add_argument("--lr", type=float, default=2e-4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    photos, validation_photos = scene_photos("", "colorize")
    styles, validation_styles = style_images("", args.match)
    training = [PhotoCrops(paths, CROP, True, scene_downscales, rotate=False) for paths in (photos, styles)]
    generator = torch.Generator().manual_seed(0)
    held_out = [
        PhotoCrops(paths, CROP, True, scene_downscales, rotate=False).sample(HELD_OUT_CROPS, generator).float() / 255
        for paths in (validation_photos, validation_styles)
    ]
    print(f"{len(photos)} photos against {len(styles)} style images; held out {len(validation_photos)} and "
          f"{len(validation_styles)}: {', '.join(p.stem for p in validation_styles)}")  # fmt: skip

    D = PatchDiscriminator(3, args.width, use_spectral_norm=True)
    optimiser = torch.optim.Adam(D.parameters(), args.lr, betas=(0.5, 0.999))
    losses, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        fake, real = (crops.sample(BATCH, generator).float() / 255 for crops in training)
        loss = discriminator_loss("lsgan", D(real), D(fake))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if step % 100 == 0:
            with torch.no_grad():
                fake_scores, real_scores = (D(images) for images in held_out)
                held_out_loss = discriminator_loss("lsgan", real_scores, fake_scores).item()
                right = torch.cat([real_scores.mean((1, 2, 3)) > 0.5, fake_scores.mean((1, 2, 3)) < 0.5])
            print(
                f"step {step}: training loss {fmean(losses[-100:]):.3f}, held out {held_out_loss:.3f}, "
                f"held-out crops right {right.float().mean():.0%} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
