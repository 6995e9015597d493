"""GAN quality metrics in the features of our Fashion-MNIST classifier (training/classifier.py).

The feature metrics take two matrices (N, D), as torch tensors or numpy arrays, and compute in float64: FID and
KID summarise how far apart the two distributions are, precision and recall say whether the generated images
are realistic and whether they cover the variety of the real ones, which FID alone cannot tell apart.
The label metrics say whether a generator makes every class (mode collapse shows up as missing classes) and
whether a conditional one makes the class it was asked for.

`measure` is the one entry point: the same code scores every model and the real-vs-real floor, so the numbers
are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

Array = torch.Tensor | np.ndarray
BLOCK_ELEMENTS = 2**23  # distances held at once by precision_recall: 64 MiB of float64
NEIGHBOURS = 3  # precision_recall's k
MIN_SAMPLES = NEIGHBOURS + 1  # the fewest images `measure` can score: each one and its k nearest neighbours


def _cpu(x: Array, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Features in float64, since means and covariances over 10,000 samples lose digits in float32; labels in int64."""
    x = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return x.to("cpu", dtype)


def frechet_distance(a: Array, b: Array) -> float:
    """FID: the Fréchet distance between Gaussians fitted to the two feature sets.

    Tr((ΣaΣb)^½) is taken as the trace of the symmetric √Σa Σb √Σa (which has the same eigenvalues as ΣaΣb),
    so only symmetric eigendecompositions are needed: stable, and no scipy.
    """
    a, b = _cpu(a), _cpu(b)
    cov_a, cov_b = torch.atleast_2d(torch.cov(a.T)), torch.atleast_2d(torch.cov(b.T))
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    product = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((product + product.T) / 2).clamp(min=0).sqrt().sum()
    return float((a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt)


def kernel_distance(
    a: Array, b: Array, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD² with the kernel (x·y/d + 1)³, mean and std over random subsets (Bińkowski et al. 2018).

    Unlike FID it has no bias that depends on the sample size, so small samples can be compared; being
    unbiased, it can come out slightly negative when the two sets are alike.
    """
    a, b = _cpu(a), _cpu(b)
    d = a.shape[1]
    m = min(len(a), len(b), subset_size)
    generator = torch.Generator().manual_seed(seed)
    estimates = torch.empty(subsets, dtype=torch.float64)
    for i in range(subsets):
        x = a[torch.randperm(len(a), generator=generator)[:m]]
        y = b[torch.randperm(len(b), generator=generator)[:m]]
        within = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        across = (x @ y.T / d + 1) ** 3
        estimates[i] = ((within.sum() - within.diagonal().sum()) / (m - 1) - across.sum() * 2 / m) / m
    return estimates.mean().item(), estimates.std(correction=0).item()


def _distances(x: torch.Tensor, y: torch.Tensor, batch: int) -> Iterator[torch.Tensor]:
    """cdist(x, y) a block of rows at a time, so 10,000 × 10,000 distances never sit in memory at once."""
    for start in range(0, len(x), batch):
        yield torch.cdist(x[start : start + batch], y)


def precision_recall(real: Array, fake: Array, k: int = NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls reaching every point's k-th nearest neighbour in its own set.
    Precision is the share of fake points inside the real manifold (are they realistic?), recall the share of
    real points inside the fake manifold (is the real variety covered?).
    """
    real, fake = _cpu(real), _cpu(fake)
    batch = max(1, BLOCK_ELEMENTS // max(len(real), len(fake)))  # rows per block of distances

    def radii(x: torch.Tensor) -> torch.Tensor:  # k + 1: each point is its own nearest neighbour
        return torch.cat([d.kthvalue(k + 1, dim=1).values for d in _distances(x, x, batch)])

    def inside(points: torch.Tensor, manifold: torch.Tensor) -> float:
        r = radii(manifold)
        return torch.cat([(d <= r).any(1) for d in _distances(points, manifold, batch)]).double().mean().item()

    return inside(fake, real), inside(real, fake)


def class_coverage(predicted: Array, num_classes: int) -> tuple[int, float]:
    """(classes that get at least half their fair share of samples, evenness of the class histogram).

    Evenness is the histogram's entropy over log(num_classes): 1 for a perfectly even spread, 0 when every
    sample lands in one class. A collapsing generator loses classes long before its FID looks alarming.
    """
    predicted = _cpu(predicted, torch.int64).flatten()
    counts = torch.bincount(predicted, minlength=num_classes)
    covered = int((counts >= 0.5 * len(predicted) / num_classes).sum())
    p = counts[counts > 0].double() / len(predicted)
    return covered, float(-(p * p.log()).sum() / math.log(num_classes))


def conditional_accuracy(predicted: Array, requested: Array, num_classes: int) -> tuple[float, list[float]]:
    """How often the classifier sees the class a conditional generator was asked for: overall and per class
    (NaN for a class never requested), since a generator may ignore its label for some classes only."""
    predicted = _cpu(predicted, torch.int64).flatten()
    requested = _cpu(requested, torch.int64).flatten()
    hit = (predicted == requested).double()
    return hit.mean().item(), [hit[requested == c].mean().item() for c in range(num_classes)]


def _embed(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    device = next(classifier.parameters()).device
    features, labels = [], []
    for start in range(0, len(images), batch_size):
        f = classifier.features(images[start : start + batch_size].to(device))
        features.append(f.cpu())
        labels.append(classifier.head(f).argmax(1).cpu())
    return torch.cat(features), torch.cat(labels)


@torch.no_grad()
def measure(
    classifier: torch.nn.Module,
    reference: torch.Tensor,
    generated: torch.Tensor,
    requested: torch.Tensor | None = None,
    batch_size: int = 500,
) -> dict[str, float]:
    """Every metric for `generated` (N, C, H, W) in [-1, 1] against `reference` images, as one flat dict.

    It neither knows nor cares where either set came from: real training images scored against the test set
    through this same path give the floor that a perfect generator would reach. `requested` (the labels a
    conditional generator was given) adds "class_accuracy" and "class_accuracy_<i>". The classifier (a
    training.classifier.Classifier) is put in eval mode; its classes are the ones counted.
    """
    classifier.eval()
    num_classes = classifier.num_classes
    reference_features, _ = _embed(classifier, reference, batch_size)
    features, predicted = _embed(classifier, generated, batch_size)
    kid, kid_std = kernel_distance(reference_features, features)
    precision, recall = precision_recall(reference_features, features)
    covered, evenness = class_coverage(predicted, num_classes)
    result = {
        "fid": frechet_distance(reference_features, features),
        "kid": kid,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "classes_covered": covered,
        "class_evenness": evenness,
    }
    if requested is not None:
        overall, per_class = conditional_accuracy(predicted, requested, num_classes)
        result["class_accuracy"] = overall
        result.update({f"class_accuracy_{c}": accuracy for c, accuracy in enumerate(per_class)})
    return result
