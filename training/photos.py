"""High-resolution photos for the enhance models: Debian's photographic wallpapers or the user's folder.

Debian's photos come from three packages: mate-backgrounds and plasma-workspace-wallpapers (mostly
smooth landscapes) and lomiri-wallpapers (Ubuntu's 2018 and 2021 contest photos: brushes, dogs, a
forest stream, mountains, a nuthatch), whose fine detail is what super-resolution has to learn.

Photos are held in memory as 8-bit arrays at several reduced sizes. Reducing by 2× or more with an
antialiased filter removes the JPEG artefacts and sensor noise of the originals, so the targets are
clean; the smaller copies add coarser textures (the same idea as DF2K's "multiscale" set). Training
crops are cut at random from these; validation photos are never trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.data import IMAGE_SUFFIXES, DataError, open_image

log = logging.getLogger("training")

MATE_NATURE = Path("/usr/share/backgrounds/mate/nature")  # Debian's mate-backgrounds
PLASMA_WALLPAPERS = Path("/usr/share/wallpapers")  # Debian's plasma-workspace-wallpapers
LOMIRI_BACKGROUNDS = Path("/usr/share/backgrounds")  # Debian's lomiri-wallpapers-16.04 and -20.04
# The plasma wallpapers that are photographs (the others are drawings and renders).
PLASMA_PHOTOS = (
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
    "OneStandsOut", "Path", "summer_1am",
)  # fmt: skip
# The lomiri wallpapers that are photographs (CC-BY-4.0, CC-BY-SA and CC0; authors in the packages' copyright).
LOMIRI_PHOTOS = (
    "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
    "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich",
    "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
    "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
    "sunset_by_Aitzol_Berasategi", "Kleiber_by_Lukas_Baubkus",
)  # fmt: skip
DEBIAN_PACKAGES = "mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04"
# Kept aside for validation and the benchmarks: a close-up, a landscape, a detailed scene, and cups.
VALIDATION_PHOTOS = ("LadyBird", "Storm", "EveningGlow", "ColorfulCups")
HR_DOWNSCALES = (2, 3, 4)  # each photo is used at 1/2, 1/3 and 1/4 of its size
# Integer reductions of a photo: fixed, or chosen from its (width, height), for sets of mixed sizes.
Downscales = Sequence[int] | Callable[[tuple[int, int]], Sequence[int]]


def debian_photos() -> list[Path]:
    """The photographs of mate-backgrounds (nature/), plasma-workspace-wallpapers (largest version each)
    and lomiri-wallpapers. All three are required, so that a run means the same data everywhere."""
    lomiri = [LOMIRI_BACKGROUNDS / f"{name}.jpg" for name in LOMIRI_PHOTOS]
    if not MATE_NATURE.is_dir() or not PLASMA_WALLPAPERS.is_dir() or not all(p.is_file() for p in lomiri):
        raise DataError(
            f"Debian's photos are not installed: `apt-get install {DEBIAN_PACKAGES}`, "
            "or pass --data with a folder of your own photos"
        )
    photos = sorted(p for p in MATE_NATURE.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for name in PLASMA_PHOTOS:
        versions = list((PLASMA_WALLPAPERS / name / "contents" / "images").glob("*.*"))
        if versions:
            photos.append(max(versions, key=lambda p: _pixels_in_name(p)))
    return photos + lomiri


def _pixels_in_name(path: Path) -> int:
    width, _, height = path.stem.partition("x")
    return int(width) * int(height) if width.isdigit() and height.isdigit() else 0


def photo_name(path: Path) -> str:
    """ "LadyBird" for mate's LadyBird.jpg, "Path" for plasma's Path/contents/images/2560x1600.jpg."""
    return path.parents[2].name if path.parent.name == "images" and path.parent.parent.name == "contents" else path.stem


def split_photos(root: str) -> tuple[list[Path], list[Path]]:
    """(training, validation) photos. Debian's by the fixed list above; a folder's own `val/` sub-folder
    holds its validation photos (without one, the folder has none)."""
    if not root:
        photos = debian_photos()
        validation = [p for p in photos if photo_name(p) in VALIDATION_PHOTOS]
        return [p for p in photos if p not in validation], validation
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    validation = [p for p in files if "val" in p.relative_to(folder).parts[:-1]]
    training = [p for p in files if p not in validation]
    if not training:
        raise DataError(f"{folder}: no photos to train on ({', '.join(sorted(IMAGE_SUFFIXES))} files)")
    return training, validation


def load_rgb(path: Path, downscales: Downscales = (1,)) -> list[np.ndarray]:
    """The photo as (H, W, 3) uint8 arrays, one per integer reduction (Pillow's antialiased bicubic).

    Decoded once for all sizes: decoding a 24-megapixel JPEG costs more than reducing it.
    """
    im = open_image(path, "RGB")
    if callable(downscales):
        downscales = downscales(im.size)
    return [
        np.asarray(im.resize((im.width // d, im.height // d), Image.Resampling.BICUBIC) if d > 1 else im)
        for d in downscales
    ]


def readable_photos(
    photos: list[Path], downscales: Downscales, skipped: list[tuple[Path, str]]
) -> Iterator[tuple[int, Path, list[np.ndarray]]]:
    """(index in `photos`, path, load_rgb's arrays) for each photo that can be read; the others are logged and
    appended to `skipped` as (path, reason), so one damaged photo does not stop a run or an evaluation."""
    for i, path in enumerate(photos):
        try:
            images = load_rgb(path, downscales)
        except DataError as e:
            skipped.append((path, str(e).removeprefix(f"{path}: ")))
            log.warning("skipping %s", e)
            continue
        yield i, path, images


def is_black_and_white(image: np.ndarray) -> bool:
    """True for an (H, W, 3) photo whose channels agree everywhere (within JPEG's rounding): a colorizer
    trained on it would learn that such scenes stay grey."""
    return int(np.ptp(image, axis=2).max()) <= 8


class PhotoCrops:
    """Random square crops of the training photos, each photo at every size of `downscales`.

    Crops are flipped and turned at random; `rotate=False` keeps them upright, for models that learn
    where things are in a scene (the sky is blue at the top). `colour_only` leaves out black-and-white
    photos (listed in `black_and_white`)."""

    def __init__(
        self,
        photos: list[Path],
        size: int,
        flip: bool = True,
        downscales: Downscales = HR_DOWNSCALES,
        rotate: bool = True,
        colour_only: bool = False,
    ):
        self.size, self.flip, self.rotate = size, flip, rotate
        self.images, self.skipped, self.black_and_white = [], [], []
        for _, path, images in readable_photos(photos, downscales, self.skipped):
            if colour_only and is_black_and_white(images[0]):
                self.black_and_white.append(path)
                continue
            self.images += [image for image in images if min(image.shape[:2]) >= size]
        if photos and len(self.skipped) == len(photos):
            path, reason = self.skipped[0]
            raise DataError(f"none of the {len(photos)} training photos can be read; the first, {path}: {reason}")
        if not self.images:
            raise DataError(f"no training photo is large enough for {size}-pixel crops at the sizes used")
        areas = torch.tensor([float(im.shape[0] * im.shape[1]) for im in self.images])
        self.weights = areas / areas.sum()  # every pixel equally likely to be in a crop
        self.pixels = int(areas.sum())

    def __len__(self) -> int:
        return len(self.images)

    def targets(self, count: int, seed: int, device: torch.device) -> torch.Tensor:
        """`count` crops drawn by `seed`, as float (N, 3, size, size) in [0, 1] on `device`: a step's targets."""
        crops = self.sample(count, torch.Generator().manual_seed(seed))
        return crops.to(device, non_blocking=True).float() / 255

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """(count, 3, size, size) uint8 crops; a CPU generator decides photo, place, flip and rotation."""
        chosen = torch.multinomial(self.weights, count, replacement=True, generator=generator).tolist()
        crops = []
        for index in chosen:
            image = self.images[index]
            top = int(torch.randint(image.shape[0] - self.size + 1, (), generator=generator))
            left = int(torch.randint(image.shape[1] - self.size + 1, (), generator=generator))
            crop = image[top : top + self.size, left : left + self.size]
            if self.flip:
                flip, turns = torch.randint(2, (), generator=generator), torch.randint(4, (), generator=generator)
                crop = np.rot90(crop[:, ::-1] if flip else crop, int(turns) if self.rotate else 0)
            crops.append(np.ascontiguousarray(crop))
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)


def validation_crops(
    photos: list[Path], size: int, per_photo: int = 2, downscale: Downscales = HR_DOWNSCALES[:1]
) -> tuple[torch.Tensor, list[tuple[Path, str]]]:
    """Fixed (N, 3, size, size) uint8 crops of the validation photos at one reduction each: the same every
    time; and the photos skipped as unreadable, as (path, reason)."""
    crops, skipped = [], []
    for _, _, (image,) in readable_photos(photos, downscale, skipped):
        height, width = image.shape[:2]
        if min(height, width) < size:
            continue
        for i in range(per_photo):
            left = (width - size) * (i + 1) // (per_photo + 1)
            top = (height - size) // 2
            crops.append(image[top : top + size, left : left + size])
    if not crops:
        raise DataError(f"no validation photo can be read and is at least {size} pixels on its shorter side")
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2), skipped
