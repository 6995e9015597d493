"""Training data: Fashion-MNIST from its IDX files, and any folder of the user's own images.

Both yield (image, label) with images as float tensors (C, H, W) in [-1, 1], the range our generators
end in (tanh). Problems with the data are DataErrors that say which folder or file and what to do;
a single unreadable image in a folder is skipped and reported, not fatal.
"""

from __future__ import annotations

import gzip
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from training.config import DataConfig

log = logging.getLogger("training")

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(Exception):
    """A data set that cannot be used; the message names the path and the problem."""


def open_image(path: Path, mode: str, draft_size: int = 0) -> Image.Image:
    """The image decoded in full and converted to `mode`, or a DataError that names the file and the problem.

    Every pixel is decoded because `verify()` passes truncated JPEGs; a JPEG can be decoded at a reduced
    size (`draft_size`, its shorter side at least this), which is several times cheaper and still reads all
    its data. Images larger than Image.MAX_IMAGE_PIXELS are refused like decompression bombs (Pillow only
    warns below twice that), and Pillow's other warnings about odd metadata are not the user's business.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                if draft_size:
                    im.draft(mode, (draft_size, draft_size))
                return im.convert(mode)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise DataError(f"{path}: cannot read this image ({e})") from None


def readable_images(paths: list[Path], mode: str, draft_size: int = 0) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(the paths that decode, [(path, reason)] for those that do not), each skipped file logged.

    Checked at start-up, so that one damaged file in a folder is skipped and listed instead of stopping
    the run when a batch first draws it."""
    readable, skipped = [], []
    for path in paths:
        try:
            open_image(path, mode, draft_size)
            readable.append(path)
        except DataError as e:
            skipped.append((path, str(e).removeprefix(f"{path}: ")))
            log.warning("skipping %s", e)
    return readable, skipped


def describe_skipped(skipped: list[tuple[Path, str]], shown: int = 5) -> str:
    """ " (2 unreadable skipped: a.jpg, b.png)" for a run's start message; "" when nothing was skipped."""
    if not skipped:
        return ""
    names = ", ".join(path.name for path, _ in skipped[:shown]) + (", …" if len(skipped) > shown else "")
    return f" ({len(skipped)} unreadable skipped: {names})"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST family's format), gzipped or not."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(int) if len(raw) >= 4 + 4 * ndim else None
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    if dims is None or len(raw) - 4 - 4 * ndim != int(np.prod(dims)) * dtype.itemsize:
        raise DataError(f"{path}: truncated or corrupt IDX file")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)


class FashionMNIST(Dataset):
    """70,000 grey 28×28 clothing images in 10 classes (60,000 train, 10,000 test), held in memory.

    size 32 or 64 pads/resizes for architectures that halve a power of two; padding is black (-1),
    which is also the background of every Fashion-MNIST image.
    """

    classes = FASHION_MNIST_CLASSES
    skipped: tuple[tuple[Path, str], ...] = ()  # as ImageFolder's: the IDX files are read whole or not at all

    def __init__(self, root: Path | None = None, split: str = "train", size: int = 28):
        root = Path(root or FASHION_MNIST_DIR)
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not root.is_dir():
            raise DataError(
                f"{root}: Fashion-MNIST not found. Install it with `apt-get install dataset-fashion-mnist` "
                f"(Debian/Ubuntu) or pass --data with a folder holding the four *-ubyte.gz files"
            )
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise DataError(f"{root}: images {images.shape} and labels {labels.shape} do not match")
        self.images = torch.from_numpy(images.copy()).float().div_(127.5).sub_(1.0).unsqueeze(1)
        if size != images.shape[1]:
            self.images = fit_size(self.images, size)
        self.labels = torch.from_numpy(labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


def _find(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root}: {stem}.gz is missing")


def fit_size(images: torch.Tensor, size: int) -> torch.Tensor:
    """28 → 32 by black padding (no resampling blur); other sizes by bilinear resizing."""
    current = images.shape[-1]
    if size > current and (size - current) % 2 == 0 and size - current <= 8:
        pad = (size - current) // 2
        return torch.nn.functional.pad(images, (pad, pad, pad, pad), value=-1.0)
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


class ImageFolder(Dataset):
    """Every image below `root`; first-level sub-folders name the classes when all images are in one.

    Images are scaled so their shorter side is `size` (× 1.125 with random crops, for variety), cropped
    to size × size and flipped at random. Random choices use torch's generator, so a seeded run
    sees the same crops.
    """

    def __init__(self, root: Path, size: int, channels: int = 3, random_crop: bool = True, flip: bool = True):
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: no such folder")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        candidates = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        self.mode = "L" if channels == 1 else "RGB"
        self.files, self.skipped = readable_images(candidates, self.mode, size)
        if not self.files:
            found = f"{len(self.skipped)} unreadable" if self.skipped else "none"
            raise DataError(f"{root}: no usable images ({found}); looked for {', '.join(sorted(IMAGE_SUFFIXES))} files")
        folders = {p.relative_to(root).parts[0] for p in self.files if len(p.relative_to(root).parts) > 1}
        in_subfolders = all(len(p.relative_to(root).parts) > 1 for p in self.files)
        self.classes = tuple(sorted(folders)) if in_subfolders and len(folders) > 1 else ()
        self.labels = [self.classes.index(p.relative_to(root).parts[0]) if self.classes else 0 for p in self.files]
        self.size, self.channels, self.random_crop, self.flip = size, channels, random_crop, flip

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        im = open_image(self.files[index], self.mode)  # decoded at start-up; fails only if the file changed since
        shorter = round(self.size * (1.125 if self.random_crop else 1.0))
        scale = shorter / min(im.size)
        im = im.resize((max(shorter, round(im.width * scale)), max(shorter, round(im.height * scale))),
                       Image.Resampling.BICUBIC)  # fmt: skip
        if self.random_crop:
            left = int(torch.randint(0, im.width - self.size + 1, ()))
            top = int(torch.randint(0, im.height - self.size + 1, ()))
        else:
            left, top = (im.width - self.size) // 2, (im.height - self.size) // 2
        im = im.crop((left, top, left + self.size, top + self.size))
        pixels = np.asarray(im)
        image = torch.from_numpy(pixels.copy()).float().div_(127.5).sub_(1.0)
        image = image.unsqueeze(0) if image.dim() == 2 else image.permute(2, 0, 1)
        if self.flip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, self.labels[index]


def load_dataset(config: DataConfig, split: str = "train") -> Dataset:
    """The data set a run's config names; every kind exposes `.classes` (empty when unlabelled) and `.skipped`."""
    if config.dataset == "fashion-mnist":
        return FashionMNIST(Path(config.path) if config.path else None, split, config.size)
    if config.dataset == "emoji":
        from training.emoji import Emoji  # emoji.py builds on this module

        return Emoji(config.size, split)
    return ImageFolder(Path(config.path), config.size, config.channels, random_crop=True, flip=config.flip)


def fetch(dataset: Dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of (images, labels): straight from memory when the data set holds tensors."""
    if isinstance(getattr(dataset, "images", None), torch.Tensor):
        return dataset.images[indices], dataset.labels[indices]
    items = [dataset[int(i)] for i in indices]
    return torch.stack([image for image, _ in items]), torch.tensor([label for _, label in items])
