"""A small classifier per data set whose features stand in for Inception's in our GAN metrics.

FID and its relatives are usually computed in Inception-v3 features, but those weights cannot be downloaded
here, and ImageNet features say little about 28-px clothing or 64-px emoji anyway. A CNN trained on the real
data (Fashion-MNIST's ten classes, the emoji's Unicode groups) gives every model, and the real-vs-real floor,
the same yardstick. It trains in minutes on a CPU, once: the weights are cached, and retrained only when the
data set's recipe below changes.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from training.checkpoint import save_checkpoint
from training.config import DataConfig
from training.data import fit_size, load_dataset

log = logging.getLogger("training")


@dataclass(frozen=True)
class Recipe:
    """How one data set's classifier is built and trained; bump `version` on any change, so cached weights
    made by another recipe are not reused."""

    version: int
    channels: int  # what the classifier sees: 1 (grey) or 4 (RGBA)
    size: int
    epochs: int
    # Classes weighted by their rarity: the emoji are 59 % "People & Body", and features that only tell people
    # apart would miss what a generator does to the other groups.
    balanced: bool = False


RECIPES = {"fashion-mnist": Recipe(1, 1, 32, 4), "emoji": Recipe(1, 4, 64, 30, balanced=True)}
BATCH_SIZE = 128
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gimp-gan"


def classifier_path(dataset: str) -> Path:
    return CACHE_DIR / f"{dataset}-classifier.pt"


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)
    )


class Classifier(nn.Module):
    """conv-bn-relu-pool blocks (32 → 64 → 128 channels) down to 4 px, a 128-d feature layer, then the logits.

    The metrics compare images in `features`, so `forward` is the head on top of them: one pass gives both.
    """

    def __init__(self, num_classes: int = 10, channels: int = 1, size: int = 32):
        super().__init__()
        self.channels, self.size = channels, size
        widths = [channels] + [min(32 * 2**i, 128) for i in range(int(math.log2(size // 4)))]
        self.body = nn.Sequential(
            *(_block(a, b) for a, b in pairwise(widths)), nn.Flatten(),
            nn.Linear(128 * 4 * 4, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, num_classes))
        self.to(memory_format=torch.channels_last)  # 2-3× faster convolutions and pooling on a CPU

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Generators make images of other sizes (28, 32 or 64 px) or channels (RGB for a grey data set); the
        classifier must see what it was trained on. 28 px is padded with black exactly as Fashion-MNIST is,
        so a 28-px generator is not penalised for the blur a resize would add."""
        if x.shape[1] == 3 and self.channels == 1:
            x = x.mean(1, keepdim=True)
        elif x.shape[1] != self.channels:
            expected = "1 or 3" if self.channels == 1 else str(self.channels)
            raise ValueError(f"expected {expected} channels, got {x.shape[1]}")
        return x if x.shape[-2:] == (self.size, self.size) else fit_size(x, self.size)

    @property
    def num_classes(self) -> int:
        return self.head[1].out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flips: clothing is roughly symmetric. (2-px shifts cost 1% accuracy in so short a
    training: the net underfits, and needs no more regularising.)"""
    flipped = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flipped[:, None, None, None], x.flip(-1), x)


@torch.no_grad()
def accuracy(model: Classifier, data, batch_size: int = 1000) -> float:
    """Share of `data` classified right; in batches, so 10,000 images never pass through the net at once."""
    model.eval()
    correct = sum(
        (model(data.images[i : i + batch_size]).argmax(1) == data.labels[i : i + batch_size]).sum().item()
        for i in range(0, len(data.labels), batch_size)
    )
    return correct / len(data.labels)


def train_classifier(train, test, recipe: Recipe, num_classes: int, seed: int = 0) -> tuple[Classifier, float]:
    """Train from scratch on data sets of `.images` and `.labels`; the seed fixes the weights, the batches and
    the flips, so a retrained cache gives the same metrics as the one it replaces (on the same torch build)."""
    generator = torch.Generator().manual_seed(seed)
    labels = train.labels
    weights = None
    if recipe.balanced:
        weights = len(labels) / (num_classes * torch.bincount(labels, minlength=num_classes).clamp(min=1).float())
    batch_size = min(BATCH_SIZE, len(labels))
    steps = len(labels) // batch_size  # full batches only: BatchNorm cannot learn from a batch of one
    epochs = recipe.epochs
    with torch.random.fork_rng(devices=[]):  # weight init and dropout use the global generator: seed, then restore it
        torch.manual_seed(seed)
        model = Classifier(num_classes, recipe.channels, recipe.size)
        images = model.prepare(train.images)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * steps)
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(len(labels), generator=generator)
            for step in range(steps):
                batch = order[step * batch_size : (step + 1) * batch_size]
                logits = model(_flip(images[batch], generator))
                loss = F.cross_entropy(logits, labels[batch], weight=weights, label_smoothing=0.1)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            log.debug("classifier epoch %d/%d: loss %.3f", epoch + 1, epochs, loss.item())
    return model.eval(), accuracy(model, test)


def _read(path: Path, recipe: Recipe) -> dict | None:
    """The cached weights, or None when they are missing, unreadable or made by another recipe."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)  # weights only: never run pickled code
    except Exception as e:  # refused by weights_only, truncated, or not a checkpoint at all: all mean retrain
        log.warning("%s: cannot read the cached classifier (%s); training a new one", path, e)
        return None
    version = saved.get("info", {}).get("recipe") if isinstance(saved, dict) else None
    if version != recipe.version:
        log.info("%s: made by classifier recipe %s, not %s; training a new one", path, version, recipe.version)
        return None
    return saved


def load_classifier(
    dataset: str = "fashion-mnist", path: Path | None = None, data_root: Path | None = None
) -> tuple[Classifier, dict]:
    """A data set's metrics classifier, trained on first use and cached, so every later measurement uses the
    same one. The file is written to a temporary name and renamed: an interrupted run never leaves half a file.
    """
    recipe = RECIPES[dataset]
    path = Path(path or classifier_path(dataset))
    saved = _read(path, recipe)
    if saved is not None:
        model = Classifier(len(saved["state_dict"]["head.1.bias"]), recipe.channels, recipe.size)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["info"]
    log.info("training the %s classifier for the metrics (once; it is cached in %s)", dataset, path)
    start = time.perf_counter()
    seed = 0
    config = DataConfig(dataset=dataset, path=str(data_root or ""), size=recipe.size)
    train, test = load_dataset(config, "train"), load_dataset(config, "test")
    model, test_accuracy = train_classifier(train, test, recipe, len(train.classes), seed)
    log.info("classifier trained in %.0f s: test accuracy %.2f%%", time.perf_counter() - start, 100 * test_accuracy)
    info = {
        "test_accuracy": test_accuracy,
        "epochs": recipe.epochs,
        "seed": seed,
        "torch": str(torch.__version__),
        "recipe": recipe.version,
    }
    save_checkpoint({"state_dict": model.state_dict(), "info": info}, path)
    return model, info
