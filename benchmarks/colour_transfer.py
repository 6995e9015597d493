"""A training-free baseline for a style: each photo's Y'CbCr channels moved to the mean and spread of the
style's training images (Reinhard et al. 2001's colour transfer, in Y'CbCr), scored by the same
`evaluate_unpaired` as a trained style. What a style model scores beyond it is what a global colour grade
cannot do.

    python benchmarks/colour_transfer.py van-gogh        (a data.style_match; "hokusa|hiroshige" for the prints)

Prints the patch distance (per Laplacian level) and the structure kept, next to the photos' own distance.
"""

from __future__ import annotations

import argparse

import torch

from training.evaluation import evaluate_unpaired, validation_images
from training.networks.unet import rgb_to_ycbcr, ycbcr_to_rgb
from training.tasks.unpaired import style_images


class ColourTransfer(torch.nn.Module):
    """Called as evaluation calls a generator: (1, 3, H, W) in [0, 1] → the same, regraded."""

    size_multiple = 16  # as the style U-Nets: the same crops of the validation photos

    def __init__(self, style: list[torch.Tensor]):
        super().__init__()
        channels = torch.cat([rgb_to_ycbcr(image).flatten(2) for image in style], 2)[0]
        self.mean, self.std = channels.mean(1)[None, :, None, None], channels.std(1)[None, :, None, None]

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        channels = rgb_to_ycbcr(photo)
        mean, std = channels.mean((2, 3), keepdim=True), channels.std((2, 3), keepdim=True)
        moved = (channels - mean) / (std + 1e-6) * self.std + self.mean
        return ycbcr_to_rgb(moved[:, :1], moved[:, 1:2], moved[:, 2:3]).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("match", help="Debian's paintings whose file names contain this (data.style_match)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    style = [image for _, image in validation_images(style_images("", args.match)[0], 1)]
    report = evaluate_unpaired(ColourTransfer(style), "", "", args.match)
    scores, baselines = report["generated"], report["baselines"]
    levels = ", ".join(f"{scores[f'swd_level{level}']:.0f}" for level in range(3))
    print(f"colour transfer to {len(style)} images of {args.match!r}, on {len(report['photos'])} photos:")
    print(f"patch distance {scores['swd']:.0f} (levels fine → coarse {levels}), structure kept "
          f"{scores['structure']:.3f}; the photos' own distance {baselines['input_swd']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
