"""Evaluate a checkpoint: the same metrics, measured the same way, for every model and for real data.

Generators: generated images and real training images both go through `metrics.measure` against the
test split, so the real-train row is the floor a perfect generator could reach with this many samples.
Enhance models: PSNR-Y and SSIM-Y on the whole validation photos, next to what plain resizing (or, for
restoration, the damaged input itself) scores; the benchmarks measure the exported models the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.checkpoint import check_checkpoint
from training.classifier import RECIPES, load_classifier
from training.config import DataConfig
from training.data import DataError, load_dataset
from training.degradation import degrade
from training.image_metrics import psnr_y, ssim_y
from training.metrics import MIN_SAMPLES, measure
from training.networks import task
from training.photos import HR_DOWNSCALES, photo_name, readable_photos, split_photos
from training.sampling import generate, load_generator, noise_shapes, seeded_inputs

BASELINES = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


def evaluate_checkpoint(
    state: dict, samples: int = 10_000, data_root: Path | None = None, truncation: float = 1.0
) -> dict:
    """The report of `python -m training evaluate`: each task's metrics, measured as for every model of it."""
    config = check_checkpoint(state)
    if task(config.model.family) == "generate":
        return evaluate_generator(state, samples, data_root, (truncation,))[0]
    G = load_generator(state)[0]
    if task(config.model.family) == "translate" and config.data.pairs == "unpaired":
        return evaluate_unpaired(G, str(data_root or config.data.path), config.data.style_path, config.data.style_match)
    if task(config.model.family) == "translate":
        report = evaluate_translate(G, config.data.pairs, str(data_root or config.data.path))
        return report | ({"chroma_gain": config.model.chroma_gain} if config.model.keep_luma else {})
    return evaluate_enhance(G, config.model.scale, config.data.degradation, str(data_root or config.data.path))


def evaluate_generator(
    state: dict, samples: int = 10_000, data_root: Path | None = None, truncations: Sequence[float] = (1.0,)
) -> list[dict]:
    """A generator's metrics at each truncation ψ, for `samples` images from seeds 0, 1, …; conditional models
    are asked for the classes in the training set's proportions (as the test set has them), taking turns.

    The real floor's class accuracy is the classifier's on real images of those classes: what a conditional
    generator that matched the data exactly would score. The floor, the classifier and the data do not
    depend on ψ, so a curve over ψ loads and measures them once."""
    G, config, classes = load_generator(state)
    dataset = config.data.dataset
    if dataset not in RECIPES:
        raise DataError(
            "metrics are measured in the features of a classifier of the data set (Fashion-MNIST's or the emoji's), "
            "so image-folder runs cannot be evaluated; look at the run's sample grids"
        )
    if samples < MIN_SAMPLES:
        raise ValueError(f"--samples must be at least {MIN_SAMPLES}: precision and recall need that many images")
    root = data_root or (Path(config.data.path) if config.data.path else None)
    classifier, info = load_classifier(dataset, data_root=root)
    real = DataConfig(dataset=dataset, path=str(root or ""), size=RECIPES[dataset].size)
    test, train = load_dataset(real, "test"), load_dataset(real, "train")
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:samples]
    real_floor = measure(classifier, test.images, train.images[chosen], train.labels[chosen] if classes else None)
    z, _, noise = seeded_inputs(list(range(samples)), G.latent_size, noise_shapes=noise_shapes(G))
    requested = proportional_labels(train.labels, len(classes), samples) if classes else None
    return [
        {
            "checkpoint_step": state["step"],
            "images_seen": state["images_seen"],
            "samples": samples,
            "truncation": truncation,
            "classes": list(classes),
            "classifier": info,
            "generated": measure(classifier, test.images, generate(G, z, requested, noise, truncation), requested),
            "real_floor": real_floor,
        }
        for truncation in truncations
    ]


def proportional_labels(labels: torch.Tensor, num_classes: int, count: int) -> torch.Tensor:
    """`count` labels with each class's share of `labels` (largest remainders round), taking turns so
    that every stretch of the sequence is mixed: a balanced set gives 0, 1, …, C-1, 0, 1, ….

    FID compares distributions, so a conditional generator asked for every class equally would be
    penalised against an unbalanced test set (59 % of the emoji are People & Body)."""
    share = torch.bincount(labels, minlength=num_classes).double() * count / len(labels)
    quota = share.floor().long()
    quota[torch.argsort(share - quota, descending=True, stable=True)[: count - int(quota.sum())]] += 1
    turns = [((k + 0.5) / int(q), c) for c, q in enumerate(quota) for k in range(int(q))]
    return torch.tensor([c for _, c in sorted(turns)], dtype=torch.int64)


def validation_pairs(data_path: str, scale: int, degradation: str) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(photo name, input, target) for each validation photo, as (1, 3, H, W) tensors in [0, 1].

    The target is the photo at the half size that training crops come from (cropped to a multiple of
    the scale); the input is its bicubic downscale, or for restoration its realistic degradation
    with a fixed seed per photo (its place in the list, so skipping an unreadable photo changes no other's)."""
    pairs = []
    for i, path, (image,) in readable_photos(split_photos(data_path)[1], HR_DOWNSCALES[:1], skipped=[]):
        height, width = image.shape[0] // scale * scale, image.shape[1] // scale * scale
        target = torch.from_numpy(image[:height, :width].copy()).permute(2, 0, 1)[None].float() / 255
        degraded = degrade(target, scale, degradation, torch.Generator().manual_seed(i))
        pairs.append((photo_name(path), degraded, target))
    if not pairs:
        raise DataError(
            f"no readable validation photos in {data_path or 'the Debian photos'} (a val/ sub-folder holds them)"
        )
    return pairs


def resize_baseline(image: torch.Tensor, scale: int, filter: Image.Resampling) -> torch.Tensor:
    """What resizing in an image editor gives: Pillow's 8-bit resize (GIMP's cubic and Lanczos are alike)."""
    pixels = (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    resized = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), filter)
    return torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1)[None].float() / 255


@torch.no_grad()
def evaluate_enhance(G: torch.nn.Module, scale: int, degradation: str, data_path: str) -> dict:
    """Mean PSNR-Y / SSIM-Y (border = scale) of the model and of the baselines over the validation photos."""
    results: dict[str, list[float]] = {}

    def add(method: str, result: torch.Tensor, target: torch.Tensor) -> None:
        results.setdefault(f"{method}_psnr_y", []).append(float(psnr_y(result, target, scale)))
        results.setdefault(f"{method}_ssim_y", []).append(float(ssim_y(result, target, scale)))

    pairs = validation_pairs(data_path, scale, degradation)
    for _, degraded, target in pairs:
        add("model", G(degraded).clamp(0, 1), target)
        if scale == 1:
            add("input", degraded, target)
        else:
            for method, filter in BASELINES.items():
                add(method, resize_baseline(degraded, scale, filter), target)
    means = {key: float(np.mean(values)) for key, values in results.items()}
    return {
        "photos": [name for name, _, _ in pairs],
        "degradation": degradation,
        "scale": scale,
        "generated": {k.removeprefix("model_"): v for k, v in means.items() if k.startswith("model_")},
        "baselines": {k: v for k, v in means.items() if not k.startswith("model_")},
    }


@torch.no_grad()
def evaluate_translate(G: torch.nn.Module, pairs: str, data_path: str) -> dict:
    """PSNR and SSIM (RGB), colourfulness ÷ the photos' and the luminance kept (PSNR-Y against the input) on
    the whole validation photos at the size training sees, next to the untouched input's PSNR and SSIM."""
    from training.image_metrics import colourfulness, psnr_rgb, ssim_rgb
    from training.tasks.translate import make_pairs, scene_photos

    scores: dict[str, list[float]] = {}
    names = []
    for name, target in validation_images(scene_photos(data_path, pairs)[1], G.size_multiple):
        source = make_pairs(target, pairs)
        result = G(source).clamp(0, 1)
        for key, value in (
            ("psnr", psnr_rgb(result, target)),
            ("ssim", ssim_rgb(result, target)),
            ("input_psnr", psnr_rgb(source, target)),
            ("input_ssim", ssim_rgb(source, target)),
            ("colourfulness", colourfulness(result) / colourfulness(target).clamp(min=1e-6)),
            ("luma_psnr", psnr_y(result, source.expand(-1, 3, -1, -1))),
        ):
            scores.setdefault(key, []).append(float(value))
        names.append(name)
    if not names:
        raise DataError(f"no validation photos in {data_path or 'the Debian photos'} (a val/ sub-folder holds them)")
    means = {key: float(np.mean(values)) for key, values in scores.items()}
    return {
        "photos": names,
        "pairs": pairs,
        "generated": {k: means[k] for k in ("psnr", "ssim", "colourfulness", "luma_psnr")},
        "baselines": {k: means[k] for k in ("input_psnr", "input_ssim")},
    }


@torch.no_grad()
def evaluate_unpaired(G: torch.nn.Module, data_path: str, style_path: str, style_match: str = "") -> dict:
    """How close the results' patch statistics come to the held-out style images' (sliced Wasserstein
    distance, per Laplacian level) and how much structure they keep (SSIM of the luminance against the
    photo's), on the whole validation photos at the size training sees; the untouched photos' distance
    is the do-nothing baseline."""
    from training.image_metrics import patch_swd
    from training.tasks.translate import scene_photos
    from training.tasks.unpaired import style_images

    photos = validation_images(scene_photos(data_path, "colorize")[1], G.size_multiple)
    styles = validation_images(style_images(style_path, style_match)[1], 1)
    if not photos or not styles:
        raise DataError("no validation photos or style images (a val/ sub-folder holds them)")
    inputs = [image for _, image in photos]
    results = [G(image).clamp(0, 1) for image in inputs]
    references = [image[0] for _, image in styles]
    swd = patch_swd([image[0] for image in results], references)
    baseline = patch_swd([image[0] for image in inputs], references)
    return {
        "photos": [name for name, _ in photos],
        "styles": [name for name, _ in styles],
        "pairs": "unpaired",
        "generated": {
            "swd": float(np.mean(swd)),
            **{f"swd_level{level}": value for level, value in enumerate(swd)},  # finest first
            "structure": float(np.mean([float(ssim_y(r, i)) for r, i in zip(results, inputs, strict=True)])),
        },
        "baselines": {
            "input_swd": float(np.mean(baseline)),
            **{f"input_swd_level{level}": value for level, value in enumerate(baseline)},
        },
    }


def validation_images(paths: list[Path], multiple: int) -> list[tuple[str, torch.Tensor]]:
    """(name, (1, 3, H, W) image in [0, 1]) of each readable validation image at the size training sees it,
    cropped to a multiple of `multiple`."""
    from training.tasks.translate import validation_downscale

    images = []
    for _, path, (image,) in readable_photos(paths, validation_downscale, skipped=[]):
        height, width = image.shape[0] // multiple * multiple, image.shape[1] // multiple * multiple
        tensor = torch.from_numpy(image[:height, :width].copy()).permute(2, 0, 1)[None].float() / 255
        images.append((photo_name(path), tensor))
    return images
