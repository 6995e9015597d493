"""A small Fashion-MNIST classifier whose features stand in for Inception's in our GAN metrics.

FID and its relatives are usually computed in Inception-v3 features, but those weights cannot be downloaded
here, and ImageNet features say little about 28-px clothing anyway. A CNN trained on the real data gives every
model, and the real-vs-real floor, the same yardstick. It trains in a few minutes on a CPU, once: the weights are
cached, and retrained only when the recipe below changes.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from training.checkpoint import save_checkpoint
from training.data import FashionMNIST, fit_size

log = logging.getLogger("training")

RECIPE = 1  # bump whenever the architecture or the training changes, so cached weights are not reused
EPOCHS = 4
BATCH_SIZE = 128
SIZE = 32
DEFAULT_CLASSIFIER_PATH = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gimp-gan" / "fashion-mnist-classifier.pt"
)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)
    )


def prepare(x: torch.Tensor) -> torch.Tensor:
    """Generators make grey or RGB images of 28, 32 or 64 px; the classifier must see what it was trained on.

    28 px is padded with black exactly as the data set pads it, so a 28-px generator is not penalised for the
    blur a resize would add.
    """
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    elif x.shape[1] != 1:
        raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
    return x if x.shape[-2:] == (SIZE, SIZE) else fit_size(x, SIZE)


class Classifier(nn.Module):
    """conv-bn-relu-pool ×3 (32 → 64 → 128 channels, 32 → 4 px), a 128-d feature layer, then the logits.

    The metrics compare images in `features`, so `forward` is the head on top of them: one pass gives both.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            _block(1, 32), _block(32, 64), _block(64, 128), nn.Flatten(),
            nn.Linear(128 * 4 * 4, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, num_classes))
        self.to(memory_format=torch.channels_last)  # 2-3× faster convolutions and pooling on a CPU

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flips: clothing is roughly symmetric. (2-px shifts cost 1% accuracy in so short a
    training: the net underfits, and needs no more regularising.)"""
    flipped = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flipped[:, None, None, None], x.flip(-1), x)


@torch.no_grad()
def accuracy(model: Classifier, data: FashionMNIST, batch_size: int = 1000) -> float:
    """Share of `data` classified right; in batches, so 10,000 images never pass through the net at once."""
    model.eval()
    correct = sum(
        (model(data.images[i : i + batch_size]).argmax(1) == data.labels[i : i + batch_size]).sum().item()
        for i in range(0, len(data.labels), batch_size)
    )
    return correct / len(data.labels)


def train_classifier(
    train: FashionMNIST, test: FashionMNIST, epochs: int = EPOCHS, seed: int = 0
) -> tuple[Classifier, float]:
    """Train from scratch; the seed fixes the weights, the batches and the flips, so a retrained cache
    gives the same metrics as the one it replaces (on the same torch build)."""
    generator = torch.Generator().manual_seed(seed)
    images, labels = prepare(train.images), train.labels
    batch_size = min(BATCH_SIZE, len(labels))
    steps = len(labels) // batch_size  # full batches only: BatchNorm cannot learn from a batch of one
    with torch.random.fork_rng(devices=[]):  # weight init and dropout use the global generator: seed, then restore it
        torch.manual_seed(seed)
        model = Classifier()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * steps)
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(len(labels), generator=generator)
            for step in range(steps):
                batch = order[step * batch_size : (step + 1) * batch_size]
                loss = F.cross_entropy(model(_flip(images[batch], generator)), labels[batch], label_smoothing=0.1)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            log.debug("classifier epoch %d/%d: loss %.3f", epoch + 1, epochs, loss.item())
    return model.eval(), accuracy(model, test)


def _read(path: Path) -> dict | None:
    """The cached weights, or None when they are missing, unreadable or made by another recipe."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)  # weights only: never run pickled code
    except Exception as e:  # refused by weights_only, truncated, or not a checkpoint at all: all mean retrain
        log.warning("%s: cannot read the cached classifier (%s); training a new one", path, e)
        return None
    recipe = saved.get("info", {}).get("recipe") if isinstance(saved, dict) else None
    if recipe != RECIPE:
        log.info("%s: made by classifier recipe %s, not %s; training a new one", path, recipe, RECIPE)
        return None
    return saved


def load_classifier(path: Path | None = None, data_root: Path | None = None) -> tuple[Classifier, dict]:
    """The metrics classifier, trained on first use and cached, so every later measurement uses the same one.

    The file is written to a temporary name and renamed, so an interrupted run never leaves half a file behind.
    """
    path = Path(path or DEFAULT_CLASSIFIER_PATH)
    saved = _read(path)
    if saved is not None:
        model = Classifier()
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["info"]
    log.info("training the Fashion-MNIST classifier for the metrics (once; it is cached in %s)", path)
    start = time.perf_counter()
    seed = 0
    model, test_accuracy = train_classifier(
        FashionMNIST(data_root, "train", SIZE), FashionMNIST(data_root, "test", SIZE), EPOCHS, seed
    )
    log.info("classifier trained in %.0f s: test accuracy %.2f%%", time.perf_counter() - start, 100 * test_accuracy)
    info = {
        "test_accuracy": test_accuracy,
        "epochs": EPOCHS,
        "seed": seed,
        "torch": str(torch.__version__),
        "recipe": RECIPE,
    }
    save_checkpoint({"state_dict": model.state_dict(), "info": info}, path)
    return model, info
