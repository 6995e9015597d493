"""Evaluate a checkpoint: the same metrics, measured the same way, for every model and for real data.

Generated images and real training images both go through `metrics.measure` against the test
split, so the real-train row is the floor a perfect generator could reach with this many samples.
"""

from __future__ import annotations

from pathlib import Path

import torch

from training.classifier import load_classifier
from training.data import DataError, FashionMNIST
from training.metrics import measure
from training.sampling import generate, load_generator, seeded_inputs


def evaluate_checkpoint(state: dict, samples: int = 10_000, data_root: Path | None = None) -> dict:
    """Metrics for `samples` images from seeds 0, 1, …; conditional models get the classes in turn.

    The real floor's class accuracy is the classifier's on real images of those classes: what a
    conditional generator that matched the data exactly would score.
    """
    G, config, classes = load_generator(state)
    if config.data.dataset != "fashion-mnist":
        raise DataError(
            "metrics are measured in the features of the Fashion-MNIST classifier, so only Fashion-MNIST runs "
            "can be evaluated; look at the run's sample grids for image-folder runs"
        )
    root = data_root or (Path(config.data.path) if config.data.path else None)
    classifier, info = load_classifier(data_root=root)
    test, train = FashionMNIST(root, "test", 32), FashionMNIST(root, "train", 32)
    z, _ = seeded_inputs(list(range(samples)), G.latent_size)
    requested = torch.arange(samples) % len(classes) if classes else None
    generated = generate(G, z, requested)
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:samples]
    return {
        "checkpoint_step": state["step"],
        "images_seen": state["images_seen"],
        "samples": samples,
        "classes": list(classes),
        "classifier": info,
        "generated": measure(classifier, test.images, generated, requested),
        "real_floor": measure(classifier, test.images, train.images[chosen], train.labels[chosen] if classes else None),
    }
