"""Training data: the IDX reader, Fashion-MNIST, and a user's image folder with its failure modes."""

import gzip
import io
import struct
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from training.data import (  # noqa: E402
    FASHION_MNIST_DIR,
    DataError,
    FashionMNIST,
    ImageFolder,
    describe_skipped,
    read_idx,
)


def write_idx(path, array: np.ndarray, compress: bool = True):
    header = b"\0\0\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def tiny_fashion(root, n=12):
    rng = np.random.default_rng(0)
    root.mkdir()
    for prefix, count in (("train", n), ("t10k", n // 2)):
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    return root


def test_idx_round_trip_plain_and_gzipped(tmp_path):
    array = np.random.default_rng(1).integers(0, 256, (3, 5, 7)).astype(np.uint8)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", array)), array)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a", array, compress=False)), array)


def test_corrupt_idx_files_are_data_errors(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((4, 4, 4)), compress=False).read_bytes()
    (tmp_path / "short").write_bytes(good[:-5])
    (tmp_path / "magic").write_bytes(b"PK\3\4" + good[4:])
    (tmp_path / "gz.gz").write_bytes(gzip.compress(good)[:20])
    for name, message in [
        ("short", "truncated"),
        ("magic", "not an IDX file"),
        ("gz.gz", "cannot read"),
        ("missing", "no such file"),
    ]:
        with pytest.raises(DataError, match=message):
            read_idx(tmp_path / name)


def test_fashion_mnist_tensors_labels_and_sizes(tmp_path):
    root = tiny_fashion(tmp_path / "fm")
    train, test = FashionMNIST(root), FashionMNIST(root, split="test")
    assert (len(train), len(test)) == (12, 6)
    image, label = train[3]
    assert image.shape == (1, 28, 28) and label == 3
    assert image.min() >= -1.0 and image.max() <= 1.0
    padded = FashionMNIST(root, size=32)
    assert padded[3][0].shape == (1, 32, 32)
    assert torch.equal(padded[3][0][:, 2:30, 2:30], image) and padded[3][0][0, 0, 0] == -1.0
    assert FashionMNIST(root, size=64)[0][0].shape == (1, 64, 64)


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        FashionMNIST(tmp_path / "nowhere")


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_has_70000_images_in_10_balanced_classes():
    train, test = FashionMNIST(), FashionMNIST(split="test")
    assert (len(train), len(test)) == (60000, 10000)
    assert torch.bincount(train.labels).tolist() == [6000] * 10


def make_folder(root, layout):
    for relative, color in layout.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (48, 40), color).save(path)
    return root


def test_class_subfolders_give_labels(tmp_path):
    root = make_folder(tmp_path / "d", {"cats/a.png": "red", "cats/b.jpg": "red", "dogs/c.png": "blue"})
    data = ImageFolder(root, size=32)
    assert data.classes == ("cats", "dogs") and data.labels == [0, 0, 1]
    image, label = data[2]
    assert image.shape == (3, 32, 32) and label == 1
    assert image[2].mean() > 0.9 and image[0].mean() < -0.9  # blue stayed blue, in [-1, 1]


def test_flat_folder_is_one_class_and_grey_works(tmp_path):
    root = make_folder(tmp_path / "d", {"a.png": "white", "b.png": "black"})
    data = ImageFolder(root, size=16, channels=1, random_crop=False, flip=False)
    assert data.classes == () and data.labels == [0, 0]
    assert data[0][0].shape == (1, 16, 16) and float(data[0][0].min()) == 1.0


def test_a_corrupt_file_is_skipped_and_reported(tmp_path, caplog):
    root = make_folder(tmp_path / "d", {"good.png": "green"})
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    data = ImageFolder(root, size=8)
    assert [p.name for p in data.files] == ["good.png"]
    assert [p.name for p, _ in data.skipped] == ["broken.jpg"] and "broken.jpg" in caplog.text


def test_empty_missing_or_all_broken_folders_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="no usable images \\(none\\); looked for"):
        ImageFolder(tmp_path / "empty", size=8)
    with pytest.raises(DataError, match="no such folder"):
        ImageFolder(tmp_path / "missing", size=8)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="1 unreadable"):
        ImageFolder(tmp_path / "bad", size=8)


def test_random_crops_follow_the_torch_seed(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(root / "x.png")
    data = ImageFolder(root, size=32)
    torch.manual_seed(5)
    first = data[0][0]
    torch.manual_seed(5)
    assert torch.equal(first, data[0][0])
    assert not all(torch.equal(first, data[0][0]) for _ in range(5))


# -- damaged files ------------------------------------------------------------------------------------


def _noise(size=(40, 48)):
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8))


def _encoded(image, format):
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


def _png_with_damaged_pixels():
    """A PNG whose compressed pixels are damaged but whose chunk checksums are right: it passes verify()."""
    data, out, pos = _encoded(_noise(), "PNG"), [], 8
    out.append(data[:8])
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            body = body[:2] + bytes(255 - b for b in body[2:])
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
        pos += 12 + length
    return b"".join(out)


# name -> the bytes of a damaged file; each kind fails at a different stage of reading an image
DAMAGED = {
    "truncated.jpg": lambda: _encoded(_noise(), "JPEG")[:-300],  # passes verify(), fails to decode
    "cut-early.jpg": lambda: _encoded(_noise(), "JPEG")[:400],
    "damaged-pixels.png": _png_with_damaged_pixels,  # passes verify() too
    "truncated.png": lambda: _encoded(_noise(), "PNG")[:-100],
    "truncated.webp": lambda: _encoded(_noise(), "WEBP")[:-100],
    "text.png": lambda: b"not an image at all\n",
    "empty.jpg": lambda: b"",
}


def write_damaged(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, make in DAMAGED.items():
        (folder / name).write_bytes(make())
    return sorted(DAMAGED)


def test_damaged_files_are_skipped_at_start_up_and_listed(tmp_path, caplog):
    root = make_folder(tmp_path / "d", {"good.png": "green", "sub/good.jpg": "red"})
    names = write_damaged(root)
    data = ImageFolder(root, size=16)
    assert sorted(p.name for p in data.files) == ["good.jpg", "good.png"]
    assert sorted(p.name for p, _ in data.skipped) == names
    assert all(reason for _, reason in data.skipped)
    for name in names:
        assert name in caplog.text
    assert all(data[i][0].shape == (3, 16, 16) for i in range(len(data)))  # every listed file decodes
    assert describe_skipped(data.skipped).startswith(f" ({len(names)} unreadable skipped: ")


@pytest.mark.parametrize("side", [50, 70])  # over the limit (Pillow warns) and over twice it (Pillow refuses)
def test_decompression_bombs_are_skipped_and_listed(tmp_path, monkeypatch, side):
    root = make_folder(tmp_path / "d", {"small.png": "green"})
    Image.new("RGB", (side, side)).save(root / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 48 * 40)  # small.png's size: a stand-in for 89 megapixels
    data = ImageFolder(root, size=16)
    assert [p.name for p in data.files] == ["small.png"]
    assert [p.name for p, _ in data.skipped] == ["bomb.png"] and "decompression bomb" in data.skipped[0][1]


def test_a_folder_of_only_damaged_files_is_one_data_error(tmp_path):
    write_damaged(tmp_path / "bad")
    with pytest.raises(DataError, match=f"no usable images \\({len(DAMAGED)} unreadable\\)"):
        ImageFolder(tmp_path / "bad", size=8)


def test_damaged_photos_are_skipped_in_training_validation_and_evaluation(tmp_path, caplog):
    from training.evaluation import validation_pairs
    from training.photos import PhotoCrops, split_photos, validation_crops

    root = tmp_path / "photos"
    write_damaged(root)
    write_damaged(root / "val")
    _noise((80, 96)).save(root / "good.png")
    _noise((200, 200)).save(root / "val" / "good.png")
    training, validation = split_photos(str(root))
    crops = PhotoCrops(training, 32)
    assert len(crops) == 1 and sorted(p.name for p, _ in crops.skipped) == sorted(DAMAGED)
    targets, skipped = validation_crops(validation, 96)
    assert targets.shape == (2, 3, 96, 96) and len(skipped) == len(DAMAGED)
    assert [name for name, _, _ in validation_pairs(str(root), 2, "bicubic")] == ["good"]
    (root / "good.png").unlink()
    with pytest.raises(DataError, match=f"none of the {len(DAMAGED)} training photos can be read"):
        PhotoCrops(split_photos(str(root))[0], 32)
