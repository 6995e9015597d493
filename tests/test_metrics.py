"""GAN metrics: each feature metric against a known answer, the label metrics, measure() end to end, and the
classifier's input handling, determinism and cache (with a stub in place of the minutes-long training)."""

import gzip
import math
import struct
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from training import classifier as classifier_module  # noqa: E402
from training import metrics  # noqa: E402
from training.classifier import RECIPES, Classifier, load_classifier, train_classifier  # noqa: E402
from training.data import FASHION_MNIST_DIR, FashionMNIST  # noqa: E402
from training.evaluation import proportional_labels  # noqa: E402
from training.metrics import (  # noqa: E402
    class_coverage,
    conditional_accuracy,
    frechet_distance,
    kernel_distance,
    measure,
    precision_recall,
)

RECIPE = RECIPES["fashion-mnist"].version


def gaussian(n, mean, std, seed, dims=8):
    shape = np.broadcast_shapes(np.shape(mean), np.shape(std)) or (dims,)
    return np.random.default_rng(seed).normal(mean, std, (n, *shape))


def two_clusters(n, seed, dims=4):
    offset = np.zeros(dims)
    offset[0] = 10
    return np.concatenate([gaussian(n, -offset, 1, seed), gaussian(n, offset, 1, seed + 1)])


def shapes(n, seed, size=32):
    """Grey rectangles of random size, place and brightness on black, with a 2-px black border like the data."""
    rng = np.random.default_rng(seed)
    images = -np.ones((n, 1, size, size), np.float32)
    for image in images:
        top, left = rng.integers(2, size // 2, 2)
        height, width = rng.integers(4, size // 2 - 2, 2)
        image[0, top : top + height, left : left + width] = rng.uniform(-0.5, 1)
    return torch.from_numpy(images)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tests run many small tensor operations: handing each to a second thread costs more than it saves,
    and on a machine that is busy with something else (a training run) it can make them 50× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return Classifier().eval()


# Fréchet distance


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = gaussian(2000, 0, 1, 0) @ np.random.default_rng(1).normal(size=(8, 8))  # correlated features
    assert abs(frechet_distance(a, a)) < 1e-8
    assert frechet_distance(torch.from_numpy(a).float(), a) == pytest.approx(0, abs=1e-3)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mean_a, std_a = np.array([0, 1, -1, 0.5]), np.array([1, 1, 2, 0.5])
    mean_b, std_b = np.array([1, 1, 0, -0.5]), np.array([2, 1, 1, 0.5])
    expected = ((mean_a - mean_b) ** 2).sum() + ((std_a - std_b) ** 2).sum()  # 3 + 2
    measured = frechet_distance(gaussian(50_000, mean_a, std_a, 0), gaussian(50_000, mean_b, std_b, 1))
    assert measured == pytest.approx(expected, rel=0.02)


def test_frechet_distance_grows_as_noise_is_added():
    real, other = two_clusters(1000, 0), two_clusters(1000, 10)
    rng = np.random.default_rng(2)
    noise = rng.normal(size=other.shape)
    distances = [frechet_distance(real, other + sigma * noise) for sigma in (0, 0.5, 1, 2, 4)]
    assert distances == sorted(distances) and distances[-1] > 100 * distances[0]


# Kernel distance


def test_kernel_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    real = gaussian(1000, 0, 1, 0)
    same = kernel_distance(real, gaussian(1000, 0, 1, 1), subsets=20, subset_size=500)
    shifted = [
        kernel_distance(real, gaussian(1000, shift, 1, 1), subsets=20, subset_size=500)[0] for shift in (0.25, 0.5, 1)
    ]
    assert shifted == sorted(shifted)
    assert abs(same[0]) < shifted[0] / 10 and same[1] > 0


def test_kernel_distance_caps_the_subset_at_the_smaller_set_and_is_seeded():
    a, b = gaussian(40, 0, 1, 0), gaussian(300, 0.5, 1, 1)
    assert kernel_distance(a, b, subsets=5, seed=3) == kernel_distance(a, b, subsets=5, seed=3)
    assert kernel_distance(a, b, subsets=5, seed=3) != kernel_distance(a, b, subsets=5, seed=4)
    whole, spread = kernel_distance(a, b[:40], subsets=3)  # every subset is the whole of both sets
    assert spread < 1e-9 * abs(whole)


# Precision and recall


def test_precision_and_recall_of_identical_sets_are_one():
    real = two_clusters(300, 0)
    assert precision_recall(real, real) == (1.0, 1.0)
    assert precision_recall(real, torch.from_numpy(real)) == (1.0, 1.0)


def test_a_fake_set_covering_one_of_two_clusters_is_precise_with_half_the_recall():
    real = two_clusters(500, 0)
    fake = gaussian(500, [10, 0, 0, 0], 1, 5)
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9
    assert 0.4 < recall <= 0.5
    assert precision_recall(fake, real) == (recall, precision)  # the two are mirror images


def test_a_far_away_fake_set_has_no_precision_or_recall():
    real = two_clusters(300, 0)
    assert precision_recall(real, real + 100) == (0.0, 0.0)


def test_precision_and_recall_do_not_depend_on_the_block_size(monkeypatch):
    real, fake = two_clusters(200, 0), gaussian(300, [10, 0, 0, 0], 1.5, 5)
    whole = precision_recall(real, fake, k=5)
    monkeypatch.setattr(metrics, "BLOCK_ELEMENTS", 1000)  # 2 or 3 rows at a time
    assert precision_recall(real, fake, k=5) == whole


# Label metrics


def test_class_coverage_counts_classes_with_half_their_fair_share():
    assert class_coverage(np.full(100, 3), 10) == (1, 0.0)
    assert class_coverage(torch.arange(100) % 10, 10) == (10, pytest.approx(1.0))
    covered, evenness = class_coverage(np.arange(100) % 5, 10)
    assert covered == 5 and evenness == pytest.approx(math.log(5) / math.log(10))
    # fair share of 100 samples in 10 classes is 10; 5 is enough to count, 4 is not
    labels = np.repeat(np.arange(10), [5, 4, 19, 12, 10, 10, 10, 10, 10, 10])
    assert class_coverage(labels, 10)[0] == 9


def test_conditional_accuracy_overall_and_per_class():
    requested = torch.arange(40) % 4
    predicted = requested.clone()
    predicted[requested == 2] = 0  # never makes class 2
    predicted[:4] = 3  # the first sample of classes 0, 1 and 2 wrong; of class 3 still right
    overall, per_class = conditional_accuracy(predicted, requested, 5)
    assert overall == pytest.approx((9 + 9 + 0 + 10) / 40)
    assert per_class[:4] == pytest.approx([0.9, 0.9, 0.0, 1.0]) and math.isnan(per_class[4])


def test_proportional_labels_follow_the_training_shares_and_take_turns():
    assert proportional_labels(torch.arange(100) % 10, 10, 30).tolist() == list(range(10)) * 3
    skewed = proportional_labels(torch.tensor([0] * 59 + [1] * 30 + [2] * 11), 4, 20)
    assert torch.bincount(skewed, minlength=4).tolist() == [12, 6, 2, 0]  # 11.8, 6, 2.2: largest remainders
    assert all(len(set(skewed[i : i + 4].tolist())) >= 2 for i in range(0, 20, 4))  # no long run of one class


# measure()


def test_measure_of_a_set_against_itself_is_the_perfect_score(net):
    images = shapes(150, 0)
    result = measure(net, images, images)
    assert set(result) == {"fid", "kid", "kid_std", "precision", "recall", "classes_covered", "class_evenness"}
    assert result["fid"] == pytest.approx(0, abs=1e-6)
    assert abs(result["kid"]) < 1e-3
    assert (result["precision"], result["recall"]) == (1.0, 1.0)
    assert 1 <= result["classes_covered"] <= 10 and 0 <= result["class_evenness"] <= 1


def test_measure_ignores_where_images_come_from_size_channels_and_batching(net):
    images, generated = shapes(150, 0), shapes(150, 1)
    reference = measure(net, images, generated)
    for same in (generated[:, :, 2:30, 2:30], generated.expand(-1, 3, -1, -1)):  # a 28-px generator, an RGB one
        assert measure(net, images, same) == pytest.approx(reference, rel=1e-4)
    assert measure(net, images, generated, batch_size=7) == pytest.approx(reference, rel=1e-4)


def test_measure_fid_rises_with_noise_and_precision_falls(net):
    reference, generated = shapes(200, 0), shapes(200, 1)
    noise = torch.randn(generated.shape, generator=torch.Generator().manual_seed(0))
    results = [measure(net, reference, (generated + sigma * noise).clamp(-1, 1)) for sigma in (0, 0.25, 1)]
    fids = [r["fid"] for r in results]
    assert fids == sorted(fids) and fids[-1] > 10 * fids[0]
    assert results[-1]["precision"] < results[0]["precision"]


def test_measure_with_requested_labels_reports_class_accuracy(net):
    reference, generated = shapes(100, 0), shapes(100, 1)
    seen = net(generated).argmax(1)
    result = measure(net, reference, generated, requested=seen)
    assert {f"class_accuracy_{c}" for c in range(10)} <= set(result) and result["class_accuracy"] == 1.0
    wrong = measure(net, reference, generated, requested=(seen + 1) % 10)
    assert wrong["class_accuracy"] == 0.0
    assert all(wrong[f"class_accuracy_{c}"] == 0 or math.isnan(wrong[f"class_accuracy_{c}"]) for c in range(10))


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_against_itself_scores_better_than_noisy_copies(net):
    images = FashionMNIST(split="test").images  # 28 px: padded inside the classifier
    reference, real = images[:300], images[300:600]
    floor = measure(net, reference, real)
    noisy = measure(net, reference, (real + 0.5 * torch.randn(real.shape)).clamp(-1, 1))
    assert floor["fid"] < noisy["fid"] / 5
    assert floor["precision"] > noisy["precision"] and floor["recall"] > noisy["recall"]


# The classifier


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 32, 32), (1, 64, 64), (3, 32, 32), (3, 64, 64)])
def test_classifier_takes_the_sizes_and_channels_generators_make(net, shape):
    x = torch.rand(5, *shape) * 2 - 1
    assert net(x).shape == (5, 10) and net.features(x).shape == (5, 128)


def test_classifier_pads_28_px_like_the_data_set_and_averages_rgb(net):
    small = torch.rand(4, 1, 28, 28) * 2 - 1
    padded = torch.nn.functional.pad(small, (2, 2, 2, 2), value=-1.0)
    assert torch.equal(net(small), net(padded))
    assert torch.allclose(net(padded.expand(-1, 3, -1, -1)), net(padded))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        net(torch.zeros(1, 2, 32, 32))


def test_an_rgba_classifier_takes_emoji_sizes_and_refuses_other_channels():
    net = Classifier(9, channels=4, size=64).eval()
    for size in (32, 64):
        x = torch.rand(3, 4, size, size) * 2 - 1
        assert net(x).shape == (3, 9) and net.features(x).shape == (3, 128)
    with pytest.raises(ValueError, match="expected 4 channels"):
        net(torch.zeros(1, 3, 64, 64))


def tiny_data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32))
    return SimpleNamespace(images=images, labels=torch.from_numpy(rng.integers(0, 10, n)))


def test_train_classifier_is_deterministic_and_leaves_the_global_rng_alone():
    train, test = tiny_data(32, 0), tiny_data(16, 1)
    rng_state = torch.get_rng_state()
    recipe = replace(RECIPES["fashion-mnist"], epochs=2)
    first, accuracy = train_classifier(train, test, recipe, 10, seed=1)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert not first.training and 0 <= accuracy <= 1
    assert accuracy == (first(test.images).argmax(1) == test.labels).float().mean().item()
    second, _ = train_classifier(train, test, recipe, 10, seed=1)
    other, _ = train_classifier(train, test, recipe, 10, seed=2)
    weights = [model.state_dict()["head.1.weight"] for model in (first, second, other)]
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])


def write_idx(path, array):
    header = b"\0\0\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def tiny_fashion(tmp_path):
    root = tmp_path / "fm"
    root.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", np.zeros((4, 28, 28)))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(4))
    return root


@pytest.fixture
def trainings(monkeypatch):
    """Stands in for train_classifier: a fresh random Classifier at once, and a record of every call."""
    calls = []

    def fake_train(train, test, recipe, num_classes, seed):
        calls.append((len(train), len(test), train.images.shape[-1]))
        return Classifier(num_classes, recipe.channels, recipe.size).eval(), 0.5

    monkeypatch.setattr(classifier_module, "train_classifier", fake_train)
    return calls


def test_load_classifier_trains_once_then_loads_the_cache(tmp_path, tiny_fashion, trainings):
    path = tmp_path / "cache" / "classifier.pt"
    model, info = load_classifier("fashion-mnist", path, tiny_fashion)
    assert trainings == [(4, 4, 32)] and path.is_file() and not path.with_suffix(".tmp").exists()
    assert info["test_accuracy"] == 0.5 and info["recipe"] == RECIPE and info["torch"] == torch.__version__
    loaded, loaded_info = load_classifier("fashion-mnist", path, tiny_fashion)
    assert len(trainings) == 1 and loaded_info == info and not loaded.training
    x = shapes(8, 0)
    assert torch.equal(loaded(x), model(x))


RAN = []


def run_code_from_the_file():
    RAN.append(True)


class Payload:
    """Unpickles as a call of run_code_from_the_file: what a malicious checkpoint would do."""

    def __reduce__(self):
        return (run_code_from_the_file, ())


def test_load_classifier_retrains_on_another_recipe_or_an_unsafe_or_corrupt_file(tmp_path, tiny_fashion, trainings):
    RAN.clear()
    path = tmp_path / "classifier.pt"
    load_classifier("fashion-mnist", path, tiny_fashion)
    saved = torch.load(path, weights_only=True)
    saved["info"]["recipe"] = RECIPE - 1
    torch.save(saved, path)
    assert load_classifier("fashion-mnist", path, tiny_fashion)[1]["recipe"] == RECIPE and len(trainings) == 2
    unsafe = tmp_path / "unsafe.pt"
    torch.save({**saved, "info": {**saved["info"], "recipe": RECIPE}, "extra": Payload()}, unsafe)
    path.write_bytes(unsafe.read_bytes())
    load_classifier("fashion-mnist", path, tiny_fashion)
    assert RAN == [] and len(trainings) == 3
    torch.load(unsafe, weights_only=False)  # the payload is real: a plain load runs it
    assert RAN == [True]
    path.write_bytes(b"not a checkpoint")
    load_classifier("fashion-mnist", path, tiny_fashion)
    assert len(trainings) == 4 and torch.load(path, weights_only=True)["info"]["recipe"] == RECIPE


def test_an_interrupted_save_leaves_the_old_file_whole(tmp_path, tiny_fashion, trainings, monkeypatch):
    path = tmp_path / "classifier.pt"
    path.write_bytes(b"an old file")

    def full_disk(obj, f):
        Path(f).write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        load_classifier("fashion-mnist", path, tiny_fashion)
    assert path.read_bytes() == b"an old file"
