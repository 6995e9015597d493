"""Real images for the image-to-image translation models (colorize, photo → painting, line art → colour),
all from Debian packages: nothing is downloaded at run time, no image is in this repository.

Sources (SOURCES below has each one's packages and licence for the model cards):
- gcompris-photos (photo): photographs of GCompris's activities, from gcompris-qt-data, where they lie in
  Qt resource archives (read by training/qt_resources.py): animals (the "erase" activity, 1920×1080),
  farm and wild animals, monuments and music of the "explore" activities (about 1024 px), the small photos
  of "categorization" (fishes, monuments, objects, renewable energy, tools; up to 320 px), and the photos
  that the "details" activity cuts into pieces, put back together. Licences are per photo (mostly public
  domain or CC0, many CC-BY-SA 4.0, from Wikimedia Commons); each folder's README is copied next to them.
- tuxpaint-photos (photo): Tux Paint's 19 photo templates (Bill Kendrick, GPL-2+) and two public-domain
  NOAA photos used as starter backgrounds, from tuxpaint-data.
- wesnoth-story (painting): the painted story scenes of Battle for Wesnoth (GPL-2+), from
  wesnoth-1.16-data (landscapes) and the campaign packages that have story art.
- gcompris-paintings (painting): old masters (Hokusai, Hiroshige, Van Gogh, Renoir, Bruegel, Dürer...),
  public-domain works that GCompris's "paintings" and "details" activities cut into jigsaw pieces; the
  pieces are put back where the activity's QML places them.
- openclipart (lineart): Open Clip Art Library drawings (public domain), from openclipart-png: the
  colourful ones with drawn outlines, composited onto white.

Images that have to be extracted, reassembled or converted to RGB are written once to
~/.cache/gimp-gan/debian-images/<source>/ (XDG_CACHE_HOME is honoured), with an index that is rebuilt
only when the package files or the selection rules change; the others are used where Debian put them.
Every image returned is an RGB file (JPEG, PNG or WebP). With Debian 12's packages: 279 photos (258 + 21),
90 paintings (61 + 29) and 608 drawings; the first selection takes about 30 s (the clip art), later calls
under a second.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import struct
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training.data import DataError, open_image
from training.qt_resources import read_rcc

log = logging.getLogger("training")

KINDS = ("photo", "painting", "lineart")
RULES_VERSION = 1  # part of every cache index: raise it when a selection rule below changes


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # one of KINDS
    packages: tuple[str, ...]  # the first is required; the others add images when installed
    licence: str  # for model cards
    root: Path  # present when the required package is installed


GCOMPRIS_RCC = Path("/usr/share/gcompris-qt/rcc")  # gcompris-qt-data
TUXPAINT = Path("/usr/share/tuxpaint")  # tuxpaint-data
WESNOTH_DATA = Path("/usr/share/games/wesnoth/1.16/data")  # wesnoth-1.16-data and its campaigns
OPENCLIPART_PNG = Path("/usr/share/openclipart/png")  # openclipart-png

# The campaigns whose images/story/ folder holds painted scenes: package → folder in data/campaigns/.
# Left out: Secrets of the Ancients (its story images are screenshots of the game's map), Legend of
# Wesmere (portraits on black only); the other campaigns have no story art.
WESNOTH_CAMPAIGNS = {
    "wesnoth-1.16-did": "Descent_Into_Darkness",
    "wesnoth-1.16-dm": "Delfadors_Memoirs",
    "wesnoth-1.16-httt": "Heir_To_The_Throne",
    "wesnoth-1.16-l": "Liberty",
    "wesnoth-1.16-trow": "The_Rise_Of_Wesnoth",
    "wesnoth-1.16-tsg": "The_South_Guard",
    "wesnoth-1.16-ttb": "Two_Brothers",
}

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "gcompris-photos",
            "photo",
            ("gcompris-qt-data",),
            "GCompris photographs, licensed per photo: mostly public domain or CC0-1.0, the others CC-BY-SA-4.0 "
            "or CC-BY-2.0/3.0/4.0 (a few GPL-2+/GPL-3+); authors and sources (mostly Wikimedia Commons) are in "
            "the README files copied to the cache folder's licences/ (Debian package gcompris-qt-data)",
            GCOMPRIS_RCC,
        ),
        Source(
            "tuxpaint-photos",
            "photo",
            ("tuxpaint-data",),
            "Tux Paint templates: photos by Bill Kendrick, GPL-2+; starter backgrounds reef and skyline-sf-dusk: "
            "public domain (NOAA Photo Library) (Debian package tuxpaint-data)",
            TUXPAINT / "templates",
        ),
        Source(
            "wesnoth-story",
            "painting",
            ("wesnoth-1.16-data", *WESNOTH_CAMPAIGNS),
            "Battle for Wesnoth story art: GPL-2+, the Battle for Wesnoth project's artists "
            "(Debian packages wesnoth-1.16-data and its campaigns)",
            WESNOTH_DATA / "core" / "images" / "story",
        ),
        Source(
            "gcompris-paintings",
            "painting",
            ("gcompris-qt-data",),
            "Public-domain paintings (Hokusai, Hiroshige, Van Gogh, Renoir, Bruegel, Dürer and others); the "
            "GCompris copies: GPL-3+ (WebMuseum images, Nicolas Pioch; Bruno Coudoin) for the paintings activity, "
            "public domain for the details activity (Debian package gcompris-qt-data)",
            GCOMPRIS_RCC,
        ),
        Source(
            "openclipart",
            "lineart",
            ("openclipart-png",),
            "Open Clip Art Library 0.18: public domain (Creative Commons Public Domain Dedication, "
            "/usr/share/doc/openclipart-png/copyright) (Debian package openclipart-png)",
            OPENCLIPART_PNG,
        ),
    )
}

# What makes a photo or a painting usable; each rejected image is logged with the rule it failed.
MIN_SIDE = 160  # pixels on the shorter side (GCompris's categorization photos are 320 at most)
GREY_CHROMA = 20  # greyscale if 99% of its pixels have max(R, G, B) - min(R, G, B) below this: nothing to colorize
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # above is treated as a decompression bomb, like training.data

# GCompris folders (under gcompris/src/activities/ in the archive named by the first part) that hold
# photographs; files directly inside them, without an alpha channel (cut-outs and drawings have one).
GCOMPRIS_PHOTO_FOLDERS = (
    "erase/resource",
    "explore_farm_animals/resource/animals",
    *(f"explore_monuments/resource/{c}" for c in ("egypt", "france", "germany", "india", "usa", "wonders")),
    "explore_world_animals/resource/animals",
    "explore_world_music/resource/music",
    *(f"categorization/resource/images/{c}" for c in ("fishes", "monuments", "others", "renewable", "tools")),
)
# Jigsaw boards ("paintings", "details"): a board whose title starts with one of these is a painting, the
# others of "details" are photos. The paintings activity's Pietà (Michelangelo) is a photo of a sculpture.
PAINTERS_IN_DETAILS = ("Vincent van Gogh",)
NOT_PAINTINGS = ("Michelangelo",)
MAX_HOLES = 0.01  # a reassembled board with more uncovered pixels than this is not understood: skipped
EDGE_TRIM = 3  # pixels trimmed at most from each side of a reassembled painting whose edge pieces fall short

TUXPAINT_STARTER_PHOTOS = ("reef-back.png", "skyline-sf-dusk-back.jpeg")  # NOAA photos; other starters are drawings

# Open Clip Art: folders of icons, flags, puzzle pieces, arrows and road signs (flat shapes or gradients
# without drawn outlines) are left out; in the others, a drawing is kept when it has all of these.
CLIPART_EXCLUDED_FOLDERS = (
    "computer/icons", "computer/buttons", "signs_and_symbols/flags", "shapes/jigsaw", "shapes/arrows",
    "transportation/roadsigns", "buttons", "logos",
)  # fmt: skip
CLIPART_MIN_SIDE = 256  # pixels on the shorter side
CLIPART_MIN_OPAQUE = 0.2  # fraction of pixels with alpha above half: not mostly transparent
CLIPART_MIN_COLOURFULNESS = 35  # Hasler and Süsstrunk's measure on the opaque pixels (0: grey; 33: "moderately")
CLIPART_MIN_OUTLINE = 0.01  # fraction of opaque pixels that are dark (luma below 60): the drawn outlines
CLIPART_MAX_SIDE = 2048  # larger drawings are reduced to this on their longer side when written to the cache
# Inkscape's "Linked Image Not Found" box, rendered into a few drawings whose linked bitmap was missing:
# its red and its grey (as composited onto white), each on more than 1% of the drawing.
PLACEHOLDER_COLOURS = ((255, 112, 112), (112, 112, 112))

RASTER_SUFFIXES = (".webp", ".jpg", ".jpeg", ".png")


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gimp-gan" / "debian-images"


def install_command(kind: str) -> str:
    packages = [p for s in SOURCES.values() if s.kind == kind for p in s.packages]
    return "apt-get install --no-install-recommends " + " ".join(dict.fromkeys(packages))


def debian_images(kind: str, cache: Path | None = None) -> list[Path]:
    """Every usable image of this kind ("photo", "painting" or "lineart") from the installed packages,
    sorted: RGB image files, extracted to `cache` (default_cache()) where needed.

    A DataError names the apt-get command when none of the kind's packages is installed; a missing
    source while others of the kind are there is skipped with a warning."""
    return sorted(path for paths in debian_images_by_source(kind, cache).values() for path in paths)


def debian_images_by_source(kind: str, cache: Path | None = None) -> dict[str, list[Path]]:
    """debian_images, by the name of the source (SOURCES) each came from: a model card names the licences
    of the sources a run really used."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of image {kind!r}: one of {', '.join(KINDS)}")
    cache = cache or default_cache()
    sources = [s for s in SOURCES.values() if s.kind == kind]
    installed = [s for s in sources if s.root.is_dir()]
    if not installed:
        raise DataError(f"Debian's {kind} images are not installed: `{install_command(kind)}`")
    for s in sources:
        if s not in installed:
            log.warning("%s images skipped: `apt-get install %s` to add them", s.name, " ".join(s.packages))
    return {s.name: _FINDERS[s.name](cache / s.name) for s in installed}


def split_key(path: Path) -> str:
    """The name that decides an image's side of the split: its file name without the folder label that
    extraction puts before "--", so that two photos of one subject (the Eiffel Tower of two GCompris
    activities) fall on the same side."""
    return path.stem.rpartition("--")[2].lower()


def split_images(paths: Sequence[Path], validation_fraction: float = 0.1) -> tuple[list[Path], list[Path]]:
    """(training, validation), each in the order given. An image is kept for validation when a stable
    hash (SHA-256) of its split_key falls below the fraction, so its side depends on its name only: adding
    or removing packages never moves a validation image into training. When that leaves no validation image
    and there are two names or more, the name with the lowest hash is kept aside."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), not {validation_fraction}")

    def position(key: str) -> float:
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64

    keys = {split_key(p) for p in paths}
    held = {k for k in keys if position(k) < validation_fraction}
    if not held and validation_fraction > 0 and len(keys) > 1:
        held = {min(keys, key=position)}
    return [p for p in paths if split_key(p) not in held], [p for p in paths if split_key(p) in held]


# --- cache ---------------------------------------------------------------------------------------


def _cached(folder: Path, inputs: Iterable[Path], select: Callable[[], list[Path]]) -> list[Path]:
    """The images that `select` chose last time, when the input files and the rules are unchanged and all
    of them are still there. Otherwise `select` runs again: after a change the folder is emptied first;
    when only some files went missing, those still there are kept (the finders write only missing files)."""
    signature = [RULES_VERSION] + [(str(p), *_stat(p)) for p in sorted(inputs)]
    key = hashlib.sha256(json.dumps(signature).encode()).hexdigest()
    index = folder / "index.json"
    try:
        saved = json.loads(index.read_text())
        if saved["key"] == key and all(Path(p).is_file() for p in saved["images"]):
            return [Path(p) for p in saved["images"]]
        if saved["key"] != key:
            shutil.rmtree(folder)  # made by another version of the packages or of the rules
    except (OSError, ValueError, KeyError, TypeError):
        pass
    folder.mkdir(parents=True, exist_ok=True)
    log.info("selecting %s images into %s (once)", folder.name, folder)
    images = sorted(select())
    _write_atomic(index, json.dumps({"key": key, "images": [str(p) for p in images]}, indent=1).encode())
    return images


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _write_atomic(path: Path, data: bytes) -> None:
    """Written under a temporary name then renamed, so that a reader (or a second training process doing
    the same extraction) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _save(image: Image.Image, path: Path) -> Path:
    if not path.is_file():
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        _write_atomic(path, buffer.getvalue())
    return path


# --- rules ---------------------------------------------------------------------------------------


def _decode(data: bytes, name: str) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return im
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"{name}: cannot read this image ({e})") from None


def flat_on_white(image: Image.Image) -> Image.Image:
    """RGB, transparent parts composited onto white (a plain convert("RGB") would show whatever colour
    lies under them, often black)."""
    if image.mode == "RGB":
        return image
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    white.alpha_composite(rgba)
    return white.convert("RGB")


def why_unusable(image: Image.Image) -> str:
    """ "" for a usable photo or painting, otherwise the rule it fails."""
    if min(image.size) < MIN_SIDE:
        return f"smaller than {MIN_SIDE} pixels on its shorter side"
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if (alpha < 128).mean() > 0.5:
            return "mostly transparent"
    rgb = np.asarray(flat_on_white(image).reduce(max(1, min(image.size) // 256)), dtype=np.int16)
    if np.percentile(rgb.max(axis=2) - rgb.min(axis=2), 99) < GREY_CHROMA:
        return "greyscale"
    return ""


# --- GCompris ------------------------------------------------------------------------------------

_ACTIVITIES = "gcompris/src/activities/"


def _label(folder: str) -> str:
    """ "explore_monuments-france" for explore_monuments/resource/france: the names of extracted files."""
    first, *rest = folder.split("/")
    return "-".join([first] + [p for p in rest if p not in ("resource", "images")])


def _gcompris_photos(folder: Path) -> list[Path]:
    archives = [GCOMPRIS_RCC / f"{a}.rcc" for a in dict.fromkeys(f.split("/")[0] for f in GCOMPRIS_PHOTO_FOLDERS)]

    def licence_folder(path: str) -> bool:  # a photo folder or one above it (explore_monuments/resource/README)
        return any(f == path or f.startswith(f"{path}/") for f in GCOMPRIS_PHOTO_FOLDERS)

    def select() -> list[Path]:
        photos = []
        for archive in archives:
            if not archive.is_file():
                log.warning("%s: missing, its photos are skipped", archive)
                continue
            for name, data in sorted(
                read_rcc(
                    archive,
                    lambda p: (
                        p.rpartition("/")[0][len(_ACTIVITIES) :] in GCOMPRIS_PHOTO_FOLDERS or p.endswith("/README")
                    ),
                ).items()
            ):
                photo_folder, _, file_name = name[len(_ACTIVITIES) :].rpartition("/")
                if file_name == "README" and licence_folder(photo_folder):
                    _save_licence(folder, _label(photo_folder), data)
                if photo_folder not in GCOMPRIS_PHOTO_FOLDERS or not file_name.lower().endswith(RASTER_SUFFIXES):
                    continue
                image = _decode(data, f"{archive}:{name}")
                reason = "not RGB (cut-outs have an alpha channel)" if image.mode != "RGB" else why_unusable(image)
                if reason:
                    log.info("%s:%s skipped: %s", archive.name, name, reason)
                    continue
                photos.append(folder / f"{_label(photo_folder)}--{file_name}")
                if not photos[-1].is_file():
                    _write_atomic(photos[-1], data)
        return photos + _gcompris_boards(folder, "details", paintings=False)

    return _cached(folder, [a for a in [*archives, _details_rcc()] if a.is_file()], select)


def _gcompris_paintings(folder: Path) -> list[Path]:
    archives = [GCOMPRIS_RCC / "paintings.rcc", _details_rcc()]

    def select() -> list[Path]:
        return [p for activity in ("paintings", "details") for p in _gcompris_boards(folder, activity, paintings=True)]

    return _cached(folder, [a for a in archives if a.is_file()], select)


def _details_rcc() -> Path:
    return GCOMPRIS_RCC / "details.rcc"


def _save_licence(folder: Path, label: str, readme: bytes | None) -> None:
    if readme:
        (folder / "licences").mkdir(exist_ok=True)
        _write_atomic(folder / "licences" / f"{label}.txt", readme)


def _gcompris_boards(folder: Path, activity: str, paintings: bool) -> list[Path]:
    """The paintings (or the photos) of a jigsaw activity ("paintings" or "details"), each board's pieces
    put back together and written to `folder` as PNG."""
    archive = GCOMPRIS_RCC / f"{activity}.rcc"
    if not archive.is_file():
        log.warning("%s: missing, its pictures are skipped", archive)
        return []
    resource = f"{_ACTIVITIES}{activity}/resource/"
    files = {name.removeprefix(resource): data for name, data in read_rcc(archive).items() if name.startswith(resource)}
    _save_licence(folder, activity, files.get("image/README"))
    boards = sorted((n for n in files if re.fullmatch(r"board/board\d+_0\.qml", n)), key=lambda n: int(n[11:-6]))
    found = []
    for board in boards:
        title, levels = board_levels(files[board].decode("utf-8"), f"{archive}:{board}")
        painting = activity == "paintings" or title.startswith(PAINTERS_IN_DETAILS)
        if painting != paintings or title.startswith(NOT_PAINTINGS):
            continue
        path = folder / f"{activity}--{_slug(title)}.png"
        if not path.is_file():
            pieces = {n: _decode(files[n], f"{archive}:{n}") for n in _raster_names(levels) if n in files}
            image, holes = assemble_board(levels, pieces)
            if holes > MAX_HOLES:
                log.warning("%s:%s skipped: %.1f%% of it is not covered by pieces", archive, board, 100 * holes)
                continue
            _save(image, path)
        found.append(path)
    return found


def _slug(title: str) -> str:
    """ "albrecht-durer-lion-1494" for "Albrecht Dürer, Lion - 1494"."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


def _raster_names(levels: list[dict]) -> list[str]:
    return [level["pixmapfile"] for level in levels if level["pixmapfile"].lower().endswith(RASTER_SUFFIXES)]


def board_levels(qml: str, name: str) -> tuple[str, list[dict]]:
    """(title, levels) of a GCompris babymatch board: `property string instruction: qsTr("...")` and the
    `property var levels: [...]` list, which is JSON: {"pixmapfile", "type": "SHAPE_BACKGROUND_IMAGE",
    "width", "height"} for the background, then {"pixmapfile", "x", "y"} per piece."""
    title = re.search(r'instruction\s*:\s*qsTr\("(.*?)"\)', qml)
    levels = re.search(r"property\s+var\s+levels\s*:\s*(\[.*\])", qml, re.S)
    try:
        parsed = json.loads(levels.group(1)) if levels else None
    except ValueError:
        parsed = None
    if not parsed or parsed[0].get("type") != "SHAPE_BACKGROUND_IMAGE":
        raise DataError(f"{name}: not a board this reader understands (no levels list with a background first)")
    return (title.group(1) if title else ""), parsed


def assemble_board(levels: list[dict], images: Mapping[str, Image.Image]) -> tuple[Image.Image, float]:
    """(the RGB picture, the fraction of its pixels that no piece covered) for a board's levels.

    Placed as GCompris's babymatch activity does (Babymatch.qml, DropAnswerItem.qml): the canvas is the
    background image's size (or the board's width and height when the background is the SVG frame of the
    paintings activity), and each piece keeps its own pixel size, centred at (x·width, y·height). The
    positions have three decimals, so edge pieces can fall a pixel short: up to EDGE_TRIM pixels of
    uncovered edge are cut, and the odd uncovered pixel inside is filled from its neighbours."""
    background, pieces = levels[0], levels[1:]
    if background["pixmapfile"] in images:  # "details": the picture with its details painted out
        canvas = images[background["pixmapfile"]].convert("RGBA")
    else:
        canvas = Image.new("RGBA", (int(background["width"]), int(background["height"])))
    width, height = canvas.size
    for piece in pieces:
        image = images[piece["pixmapfile"]].convert("RGBA")
        left = round(float(piece["x"]) * width - image.width / 2)
        top = round(float(piece["y"]) * height - image.height / 2)
        box = (max(0, -left), max(0, -top), min(image.width, width - left), min(image.height, height - top))
        if box[0] < box[2] and box[1] < box[3]:
            canvas.alpha_composite(image.crop(box), (max(0, left), max(0, top)))
    rgba = np.asarray(canvas)
    covered = rgba[..., 3] == 255
    rows, cols = np.flatnonzero(rgba[..., 3].any(axis=1)), np.flatnonzero(rgba[..., 3].any(axis=0))
    if not len(rows):
        return canvas.convert("RGB"), 1.0
    top, bottom, left, right = _trim(covered, rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
    rgba, covered = rgba[top:bottom, left:right], covered[top:bottom, left:right]
    holes = float(1 - covered.mean())
    return Image.fromarray(_fill(rgba[..., :3], covered)), holes


def _trim(covered: np.ndarray, top: int, bottom: int, left: int, right: int) -> tuple[int, int, int, int]:
    for _ in range(EDGE_TRIM):
        if bottom - top > 2 and not covered[top, left:right].all():
            top += 1
        if bottom - top > 2 and not covered[bottom - 1, left:right].all():
            bottom -= 1
        if right - left > 2 and not covered[top:bottom, left].all():
            left += 1
        if right - left > 2 and not covered[top:bottom, right - 1].all():
            right -= 1
    return top, bottom, left, right


def _fill(rgb: np.ndarray, known: np.ndarray, steps: int = 16) -> np.ndarray:
    """Unknown pixels take the mean of their known 8-neighbours, growing inwards for up to `steps` pixels."""
    rgb, known = rgb.astype(np.float32), known.copy()
    height, width = known.shape
    for _ in range(steps):
        if known.all():
            break
        padded_rgb = np.pad(rgb * known[..., None], ((1, 1), (1, 1), (0, 0)))
        padded_known = np.pad(known, 1).astype(np.float32)
        total, count = np.zeros_like(rgb), np.zeros(known.shape, np.float32)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                total += padded_rgb[dy : dy + height, dx : dx + width]
                count += padded_known[dy : dy + height, dx : dx + width]
        grow = ~known & (count > 0)
        rgb[grow] = total[grow] / count[grow, None]
        known |= grow
    return np.rint(rgb).astype(np.uint8)


# --- Tux Paint and Wesnoth -----------------------------------------------------------------------


def _files_photos(folder: Path, candidates: list[tuple[Path, str]]) -> list[Path]:
    """The usable ones of (file, name for a converted copy), each as an RGB file."""
    kept = []
    for path, name in candidates:
        try:
            with Image.open(path) as original:
                mode = original.mode
            image = open_image(path, "RGBA") if path.suffix.lower() == ".png" else open_image(path, "RGB")
        except (DataError, OSError) as e:
            log.warning("skipping %s: %s", path, e)
            continue
        reason = why_unusable(image)
        if reason:
            log.info("%s skipped: %s", path, reason)
            continue
        kept.append(path if mode == "RGB" else _save(flat_on_white(image), folder / f"{name}.png"))
    return kept


def _tuxpaint_photos(folder: Path) -> list[Path]:
    candidates = sorted((TUXPAINT / "templates").glob("*.jpg"))
    candidates += [p for p in (TUXPAINT / "starters" / n for n in TUXPAINT_STARTER_PHOTOS) if p.is_file()]
    named = [(p, f"{p.parent.name}--{p.stem}") for p in candidates]
    return _cached(folder, candidates, lambda: _files_photos(folder, named))


def _wesnoth_story(folder: Path) -> list[Path]:
    """Files directly in images/story/ (its sub-folders hold portraits and localised title logos, not
    scenes), identical files once (Delfador's Memoirs reuses one of Heir to the Throne's)."""
    missing = [p for p, c in WESNOTH_CAMPAIGNS.items() if not (WESNOTH_DATA / "campaigns" / c).is_dir()]
    if missing:
        log.warning("Wesnoth campaigns without their story art: `apt-get install %s` to add it", " ".join(missing))
    folders = [("core", WESNOTH_DATA / "core" / "images" / "story")]
    folders += [(c, WESNOTH_DATA / "campaigns" / c / "images" / "story") for c in WESNOTH_CAMPAIGNS.values()]
    candidates = [
        (p, f"{label}--{p.stem}")
        for label, story in folders
        if story.is_dir()
        for p in sorted(story.iterdir())
        if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
    ]

    def select() -> list[Path]:
        unique, seen = [], set()
        for path, name in candidates:
            digest = hashlib.sha256(path.read_bytes()).digest()
            if digest not in seen:
                seen.add(digest)
                unique.append((path, name))
        return _files_photos(folder, unique)

    return _cached(folder, [p for p, _ in candidates], select)


# --- Open Clip Art -------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header, without Pillow's decompression-bomb check (some clip art is
    16,000 pixels tall), or (0, 0) when it is not a PNG."""
    with path.open("rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return 0, 0
    return struct.unpack(">II", head[16:24])


def clipart_candidates() -> list[Path]:
    """The clip art that passes the rules that need no decoding: outside the excluded folders, once per
    file (the package links some drawings into two folders), a size within the limits."""
    kept, seen = [], set()
    for path in sorted(OPENCLIPART_PNG.rglob("*.png")):
        relative = path.relative_to(OPENCLIPART_PNG).as_posix()
        if relative.startswith(tuple(f"{f}/" for f in CLIPART_EXCLUDED_FOLDERS)):
            continue
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        width, height = png_size(path)
        if min(width, height) >= CLIPART_MIN_SIDE and width * height <= MAX_PIXELS:
            kept.append(path)
    return kept


def clipart_statistics(image: Image.Image) -> tuple[float, float, float]:
    """(opaque fraction, colourfulness, outline fraction) of an RGBA drawing, measured on a copy at most
    256 pixels wide. Colourfulness is Hasler and Süsstrunk's (2003) on the opaque pixels; outlines are
    the opaque pixels darker than luma 60."""
    small = _small(image)
    rgba = np.asarray(small, dtype=np.float32)
    opaque = rgba[..., 3] > 127
    if opaque.sum() < 16:
        return float(opaque.mean()), 0.0, 0.0
    rgb = np.asarray(flat_on_white(small), dtype=np.float32)[opaque]
    red, green, blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    rg, yb = red - green, (red + green) / 2 - blue
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    dark = (0.299 * red + 0.587 * green + 0.114 * blue) < 60
    return float(opaque.mean()), float(colourfulness), float(dark.mean())


def _small(image: Image.Image) -> Image.Image:
    small = image.convert("RGBA")  # a copy, even when it is RGBA already
    small.thumbnail((256, 256))
    return small


def usable_clipart(image: Image.Image) -> str:
    """ "" when a drawing (already within the size rules) suits line art → colour, otherwise why not."""
    small = _small(image)
    rgb = np.asarray(flat_on_white(small), dtype=np.int16)
    if all((np.abs(rgb - colour).max(axis=2) <= 2).mean() > 0.01 for colour in PLACEHOLDER_COLOURS):
        return "a 'Linked Image Not Found' placeholder"
    opaque, colourfulness, outline = clipart_statistics(small)
    if opaque < CLIPART_MIN_OPAQUE:
        return f"mostly transparent ({opaque:.0%} opaque)"
    if colourfulness < CLIPART_MIN_COLOURFULNESS:
        return f"not colourful ({colourfulness:.0f})"
    if outline < CLIPART_MIN_OUTLINE:
        return f"no drawn outlines ({outline:.1%} dark)"
    return ""


def _openclipart(folder: Path) -> list[Path]:
    candidates = clipart_candidates()

    def select() -> list[Path]:
        kept = []
        for path in candidates:
            label = path.parent.relative_to(OPENCLIPART_PNG).as_posix().replace("/", "-")
            out = folder / f"{label}--{path.stem}.png"
            if out.is_file():
                kept.append(out)
                continue
            try:
                image = open_image(path, "RGBA")
            except DataError as e:
                log.warning("skipping %s", e)
                continue
            reason = usable_clipart(image)
            if reason:
                log.debug("%s skipped: %s", path, reason)
                continue
            image = flat_on_white(image)
            image.thumbnail((CLIPART_MAX_SIDE, CLIPART_MAX_SIDE), Image.Resampling.LANCZOS)
            kept.append(_save(image, out))
        return kept

    return _cached(folder, candidates, select)


_FINDERS: dict[str, Callable[[Path], list[Path]]] = {
    "gcompris-photos": _gcompris_photos,
    "tuxpaint-photos": _tuxpaint_photos,
    "wesnoth-story": _wesnoth_story,
    "gcompris-paintings": _gcompris_paintings,
    "openclipart": _openclipart,
}
