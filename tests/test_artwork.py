"""Debian's images for the translation models: the Qt resource reader on archives built here, the jigsaw
reassembly and the split on made-up data, then each source on the installed packages (skipped without)."""

import dataclasses
import io
import json
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import artwork
from training.artwork import SOURCES, assemble_board, board_levels, debian_images, split_images, split_key
from training.data import DataError
from training.qt_resources import FLAG_DIRECTORY, FLAG_ZLIB, FLAG_ZSTD, read_rcc


def qt_hash(name: str) -> int:
    """Qt's qt_hash over UTF-16 code units, as rcc stores it next to each name."""
    h = 0
    for unit in struct.unpack(f">{len(name)}H", name.encode("utf-16-be")):
        h = (h << 4) + unit
        h ^= (h & 0xF0000000) >> 23
        h &= 0x0FFFFFFF
    return h


def write_rcc(files: dict[str, tuple[bytes, int]], version: int = 3) -> bytes:
    """A Qt binary resource archive laid out as `rcc -binary` writes it: header, data, names, tree; the
    tree breadth first, each folder's children together and sorted by name hash. files: {path: (bytes,
    FLAG_ZLIB, FLAG_ZSTD or 0)}, the bytes as they are to be stored."""
    root: dict = {}
    for path, entry in files.items():
        *folders, name = path.split("/")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = entry
    order = [("", root)]
    index = 0
    while index < len(order):
        _, content = order[index]
        if isinstance(content, dict):
            order += sorted(content.items(), key=lambda item: qt_hash(item[0]))
        index += 1
    data, names, name_offsets = bytearray(), bytearray(), {}
    data_offsets = {}
    for i, (name, content) in enumerate(order):
        if i and name not in name_offsets:
            name_offsets[name] = len(names)
            names += struct.pack(">HI", len(name), qt_hash(name)) + name.encode("utf-16-be")
        if not isinstance(content, dict):
            data_offsets[i] = len(data)
            data += struct.pack(">I", len(content[0])) + content[0]
    tree, first_child = bytearray(), 1
    for i, (name, content) in enumerate(order):
        name_offset = name_offsets.get(name, 0) if i else 0
        if isinstance(content, dict):
            tree += struct.pack(">IHII", name_offset, FLAG_DIRECTORY, len(content), first_child)
            first_child += len(content)
        else:
            tree += struct.pack(">IHHHI", name_offset, content[1], 0, 0, data_offsets[i])
        if version >= 2:
            tree += struct.pack(">Q", 1700000000000)
    header = 24 if version >= 3 else 20
    data_at, names_at = header, header + len(data)
    tree_at = names_at + len(names)
    head = b"qres" + struct.pack(">4I", version, tree_at, data_at, names_at)
    head += struct.pack(">I", 0) if version >= 3 else b""
    return head + bytes(data) + bytes(names) + bytes(tree)


def q_compress(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + zlib.compress(raw)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_reads_plain_and_zlib_entries_in_nested_folders(tmp_path, version):
    png = tmp_path / "tiny.png"
    Image.new("RGB", (5, 3), (10, 200, 30)).save(png)
    files = {
        "readme.txt": (b"stored as is", 0),
        "gcompris/src/activities/erase/resource/tiny.png": (q_compress(png.read_bytes()), FLAG_ZLIB),
        "gcompris/src/activities/erase/resource/notes.txt": (b"plain, next to a compressed one", 0),
        "gcompris/src/activities/erase/resource/board/board1_0.qml": (q_compress(b"QtObject {}\n" * 50), FLAG_ZLIB),
        "gcompris/src/core/Ünïcode name.txt": ("é".encode(), 0),
    }
    archive = tmp_path / "test.rcc"
    archive.write_bytes(write_rcc(files, version))
    read = read_rcc(archive)
    assert read == {
        "readme.txt": b"stored as is",
        "gcompris/src/activities/erase/resource/tiny.png": png.read_bytes(),
        "gcompris/src/activities/erase/resource/notes.txt": b"plain, next to a compressed one",
        "gcompris/src/activities/erase/resource/board/board1_0.qml": b"QtObject {}\n" * 50,
        "gcompris/src/core/Ünïcode name.txt": "é".encode(),
    }
    assert Image.open(io.BytesIO(read["gcompris/src/activities/erase/resource/tiny.png"])).size == (5, 3)
    only_txt = read_rcc(archive, lambda name: name.endswith(".txt"))
    assert sorted(only_txt) == [
        "gcompris/src/activities/erase/resource/notes.txt",
        "gcompris/src/core/Ünïcode name.txt",
        "readme.txt",
    ]


def test_rcc_reader_errors_name_the_file(tmp_path):
    archive = tmp_path / "bad.rcc"
    archive.write_bytes(b"not an archive at all")
    with pytest.raises(DataError, match=r"bad.rcc: not a Qt resource archive"):
        read_rcc(archive)
    archive.write_bytes(write_rcc({"a/b.txt": (q_compress(b"x" * 100), FLAG_ZLIB)})[:-10])
    with pytest.raises(DataError, match=r"bad.rcc: not a valid Qt resource archive"):
        read_rcc(archive)
    with pytest.raises(DataError, match=r"missing.rcc: cannot read"):
        read_rcc(tmp_path / "missing.rcc")


def test_rcc_zstd_entries_need_the_optional_zstandard_package(tmp_path):
    archive = tmp_path / "zstd.rcc"
    try:
        import zstandard
    except ImportError:
        archive.write_bytes(write_rcc({"a.txt": (b"\x28\xb5\x2f\xfd not really zstd", FLAG_ZSTD)}))
        with pytest.raises(DataError, match=r"a.txt is zstd-compressed.*pip install zstandard"):
            read_rcc(archive)
    else:
        archive.write_bytes(write_rcc({"a.txt": (zstandard.ZstdCompressor().compress(b"hello " * 9), FLAG_ZSTD)}))
        assert read_rcc(archive) == {"a.txt": b"hello " * 9}


def board_qml(levels: list[dict]) -> str:
    """A board file as GCompris writes them (a QML object whose levels list is JSON)."""
    instruction = 'property string instruction: qsTr("A Painter, A Work - 1900")'
    return f"QtObject {{\n   {instruction}\n   property var levels : {json.dumps(levels, indent=3)}\n}}\n"


def test_jigsaw_pieces_go_back_where_the_board_places_them():
    """A 3×2 cut of a made-up painting, placed by three-decimal centres on a larger canvas, as GCompris's
    boards do: the reassembled picture is the painting, an uncovered pixel at a seam filled in."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:120, 0:210]
    painting = np.stack([x, y * 2, (x + y) % 256], axis=2).astype(np.uint8) | rng.integers(
        0, 8, (120, 210, 3), np.uint8
    )
    canvas_w, canvas_h = 302, 215
    offset_x, offset_y = 40, 50
    background = {"pixmapfile": "image/bg.svg", "type": "SHAPE_BACKGROUND_IMAGE", "width": canvas_w, "height": canvas_h}
    levels, pieces = [background], {}
    opaque = np.full((60, 70, 1), 255, np.uint8)
    for row in range(2):
        for col in range(3):
            piece = np.concatenate([painting[row * 60 : row * 60 + 60, col * 70 : col * 70 + 70], opaque], axis=2)
            if (row, col) == (1, 1):
                piece[0, 10, 3] = 0  # a pixel that no piece covers
            name = f"image/piece_{row}{col}.webp"
            pieces[name] = Image.fromarray(piece, "RGBA")
            centre = (offset_x + col * 70 + 35) / canvas_w, (offset_y + row * 60 + 30) / canvas_h
            levels.append({"pixmapfile": name, "x": f"{centre[0]:.3f}", "y": f"{centre[1]:.3f}"})
    title, parsed = board_levels(board_qml(levels), "test board")
    assert title == "A Painter, A Work - 1900"
    assert parsed == levels
    image, holes = assemble_board(parsed, pieces)
    assert image.mode == "RGB"
    assert image.size == (210, 120)
    assert 0 < holes < 1e-3
    difference = np.abs(np.asarray(image, np.int16) - painting)
    assert difference.max() <= 16  # the filled pixel is close to its neighbours
    assert (difference > 0).sum() <= 3


def test_board_without_levels_is_an_error():
    with pytest.raises(DataError, match=r"x.qml: not a board"):
        board_levels('QtObject { property var levels: [ {"pixmapfile": "a.webp"} ] }', "x.qml")


def test_split_is_deterministic_by_name_and_keeps_one_subject_together():
    paths = [Path(f"/cache/source-{i % 3}--image_{i}.png") for i in range(300)]
    train, validation = split_images(paths)
    assert (train, validation) == split_images(paths)
    assert sorted(split_images(paths[::-1])[1]) == sorted(validation)
    assert not set(train) & set(validation) and len(train) + len(validation) == 300
    assert 0.05 < len(validation) / 300 < 0.15
    # an image's side depends on its own name only: removing others never moves it
    assert set(split_images(paths[:150])[1]) == {p for p in validation if p in paths[:150]}
    same_subject = [
        Path("/a/categorization-monuments--eiffelTower.webp"),
        Path("/a/monuments-france--eiffelTower.webp"),
    ]
    assert split_key(same_subject[0]) == split_key(same_subject[1]) == "eiffeltower"
    for fraction in (0.3, 0.5, 0.7):
        train, validation = split_images([*same_subject, *paths[:20]], fraction)
        assert set(same_subject) <= set(train) or set(same_subject) <= set(validation)
    assert split_images(paths[:3], 0.0) == (paths[:3], [])
    # a small set still gets a validation image, and one image stays for training
    train, validation = split_images(paths[:2], 0.01)
    assert len(train) == len(validation) == 1
    assert split_images(paths[:1]) == (paths[:1], [])
    with pytest.raises(ValueError):
        split_images(paths, 1.0)


def test_no_package_of_a_kind_names_the_apt_get_command(monkeypatch, tmp_path):
    for name, source in SOURCES.items():
        monkeypatch.setitem(SOURCES, name, dataclasses.replace(source, root=tmp_path / "not-installed"))
    with pytest.raises(DataError, match=r"apt-get install --no-install-recommends gcompris-qt-data tuxpaint-data`"):
        debian_images("photo", tmp_path)
    with pytest.raises(DataError, match=r"apt-get install .*wesnoth-1.16-data wesnoth-1.16-did .*gcompris-qt-data"):
        debian_images("painting", tmp_path)
    with pytest.raises(DataError, match=r"apt-get install --no-install-recommends openclipart-png`"):
        debian_images("lineart", tmp_path)
    with pytest.raises(ValueError, match=r"unknown kind"):
        debian_images("sketch", tmp_path)
    assert all(s.licence and s.kind in artwork.KINDS and s.packages for s in SOURCES.values())


# --- the installed packages ----------------------------------------------------------------------

EXPECTED = {  # plausible counts (Debian 12's packages give 258, 21, 61, 29; openclipart: see its test)
    "gcompris-photos": (200, 320),
    "tuxpaint-photos": (15, 30),
    "wesnoth-story": (45, 80),
    "gcompris-paintings": (25, 35),
}


def installed(name: str):
    return pytest.mark.skipif(not SOURCES[name].root.is_dir(), reason=f"apt-get install {SOURCES[name].packages[0]}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One extraction for the whole module (a few seconds per source)."""
    return tmp_path_factory.mktemp("debian-images")


def sample(paths: list[Path], count: int = 8) -> list[Path]:
    return paths[:: max(1, len(paths) // count)]


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=installed(n)) for n in EXPECTED]
)  # fmt: skip
def test_each_source_gives_plausibly_many_rgb_images(name, cache):
    images = artwork._FINDERS[name](cache / name)
    low, high = EXPECTED[name]
    assert low <= len(images) <= high
    assert len(set(images)) == len(images) and all(p.is_file() for p in images)
    for path in sample(images):
        with Image.open(path) as im:
            assert im.mode == "RGB", path
            assert min(im.size) >= artwork.MIN_SIDE and max(im.size) <= 1920, path
    assert artwork._FINDERS[name](cache / name) == images  # the second time from the index


@installed("gcompris-photos")
def test_gcompris_photos_come_from_the_photo_folders_with_their_licences(cache):
    images = artwork._FINDERS["gcompris-photos"](cache / "gcompris-photos")
    labels = {p.name.partition("--")[0] for p in images}
    assert {"erase", "explore_monuments-france", "categorization-fishes", "details"} <= labels
    erase = [p for p in images if p.name.startswith("erase--")]
    assert 25 <= len(erase) <= 33 and Image.open(erase[0]).size == (1920, 1080)
    assert not any("castleClinton" in p.name for p in images)  # black and white: nothing to colorize
    licences = sorted(p.name for p in (cache / "gcompris-photos" / "licences").iterdir())
    assert "erase.txt" in licences and "explore_monuments.txt" in licences
    assert "CC-BY-SA" in (cache / "gcompris-photos" / "licences" / "erase.txt").read_text()


@installed("gcompris-paintings")
def test_gcompris_paintings_are_whole_without_holes(cache):
    images = artwork._FINDERS["gcompris-paintings"](cache / "gcompris-paintings")
    names = {p.stem for p in images}
    assert "paintings--katsushika-hokusai-the-great-wave-off-kanagawa-1823-1829" in names
    assert "details--vincent-van-gogh-cafe-terrace-at-night-1888" in names
    assert not any("michelangelo" in n for n in names)  # a sculpture
    for path in images:
        rgb = np.asarray(Image.open(path), np.int16)
        height, width = rgb.shape[:2]
        assert 300 <= width <= 702 and 270 <= height <= 505, (path, width, height)
        # no uniform (missing, transparent-turned-black or white) 16×16 block anywhere
        blocks = rgb[: height // 16 * 16, : width // 16 * 16].reshape(height // 16, 16, width // 16, 16, 3)
        spread = (blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))).max(axis=-1)
        assert (spread > 0).all(), path
    great_wave = Image.open(next(p for p in images if "great-wave" in p.name))
    assert abs(great_wave.width - 665) <= 6 and abs(great_wave.height - 450) <= 6


@installed("gcompris-paintings")
def test_a_real_board_has_almost_no_uncovered_pixels():
    from training.qt_resources import read_rcc

    resource = "gcompris/src/activities/paintings/resource/"
    files = read_rcc(artwork.GCOMPRIS_RCC / "paintings.rcc", lambda n: "renoir-filles_piano" in n or "board18_0" in n)
    title, levels = board_levels(files[resource + "board/board18_0.qml"].decode(), "board18")
    assert title.startswith("Pierre-Auguste Renoir")
    pieces = {n.removeprefix(resource): Image.open(io.BytesIO(d)) for n, d in files.items() if n.endswith(".webp")}
    image, holes = assemble_board(levels, pieces)
    assert len(pieces) == 8 and holes < 0.002
    assert 340 <= image.width <= 360 and 470 <= image.height <= 490


@installed("wesnoth-story")
def test_wesnoth_story_art_is_painted_scenes_only(cache):
    images = artwork._FINDERS["wesnoth-story"](cache / "wesnoth-story")
    names = [split_key(p) for p in images]
    assert "landscape-castle" in names and "trow_intro_01" in names
    assert names.count("httt_story3") == 1  # the same file in two campaigns
    assert not any(n in ("trow-logo", "black-background", "room1", "aldar") for n in names)


@installed("openclipart")
def test_openclipart_selection_on_a_sample(cache, monkeypatch):
    candidates = artwork.clipart_candidates()
    assert 1500 <= len(candidates) <= 2300  # of 8121 files; decoding all of them takes half a minute
    assert not any("/signs_and_symbols/flags/" in str(p) for p in candidates)
    monkeypatch.setattr(artwork, "clipart_candidates", lambda: candidates[::15])
    images = debian_images("lineart", cache)
    assert 0.2 <= len(images) / len(candidates[::15]) <= 0.5  # 608 of 1858 in Debian 12
    for path in sample(images):
        with Image.open(path) as im:
            assert im.mode == "RGB" and min(im.size) >= artwork.CLIPART_MIN_SIDE, path
            assert max(im.size) <= artwork.CLIPART_MAX_SIDE, path
    # transparent parts are white, not the black that convert("RGB") would often give
    by_stem = {p.stem: p for p in candidates}
    for path in images:
        original = np.asarray(Image.open(by_stem[split_key(path)]).convert("RGBA"))
        if (original[..., 3] == 0).any() and original.shape[:2] == np.asarray(Image.open(path)).shape[:2]:
            assert (np.asarray(Image.open(path))[original[..., 3] == 0] == 255).all()
            break
    else:
        pytest.fail("no drawing with transparency in the sample")


def test_selection_rules_on_made_up_drawings():
    transparent = Image.new("RGBA", (300, 300), (255, 0, 0, 0))
    transparent.paste((255, 0, 0, 255), (0, 0, 50, 50))
    assert artwork.usable_clipart(transparent).startswith("mostly transparent")
    grey = Image.new("RGBA", (300, 300), (128, 128, 128, 255))
    assert artwork.usable_clipart(grey).startswith("not colourful")
    coloured = Image.new("RGBA", (300, 300), (230, 40, 40, 255))
    assert artwork.usable_clipart(coloured).startswith("no drawn outlines")
    coloured.paste((0, 0, 0, 255), (0, 0, 300, 10))
    coloured.paste((40, 40, 230, 255), (0, 150, 300, 300))
    assert artwork.usable_clipart(coloured) == ""
    placeholder = coloured.copy()
    placeholder.paste((255, 112, 112, 255), (100, 20, 160, 80))
    placeholder.paste((112, 112, 112, 255), (40, 90, 260, 140))
    assert artwork.usable_clipart(placeholder) == "a 'Linked Image Not Found' placeholder"
    assert artwork.flat_on_white(transparent).getpixel((200, 200)) == (255, 255, 255)
    assert artwork.why_unusable(Image.new("RGB", (100, 400), "red")).startswith("smaller")
    assert artwork.why_unusable(Image.new("RGB", (400, 400), "grey")) == "greyscale"
    assert artwork.why_unusable(coloured.convert("RGB")) == ""


@installed("gcompris-photos")
def test_kind_gathers_its_sources_and_skips_a_missing_one_with_a_warning(cache, monkeypatch, caplog):
    tuxpaint = SOURCES["tuxpaint-photos"]
    monkeypatch.setitem(SOURCES, "tuxpaint-photos", dataclasses.replace(tuxpaint, root=cache / "not-installed"))
    with caplog.at_level(logging.WARNING, logger="training"):
        photos = debian_images("photo", cache)
    assert "tuxpaint-photos images skipped: `apt-get install tuxpaint-data`" in caplog.text
    assert photos == sorted(artwork._FINDERS["gcompris-photos"](cache / "gcompris-photos"))
    train, validation = split_images(photos)
    reversed_train, reversed_validation = split_images(photos[::-1])
    assert reversed_train[::-1] == train and reversed_validation[::-1] == validation
    assert 0.04 < len(validation) / len(photos) < 0.2
