"""A reader of Qt's binary resource archives (`.rcc` files, made by `rcc -binary`), standard library only.

GCompris ships its pictures inside such archives (Debian's gcompris-qt-data: /usr/share/gcompris-qt/rcc/),
so reading them is how training/artwork.py gets at its photographs and paintings without Qt.

The format (Qt's qresource.cpp and rcc.cpp), all integers big-endian:
- header: b"qres", format version (1, 2 or 3), then the offsets of the tree, the data and the names
  sections; version 3 adds a 4-byte flags word.
- tree: fixed-size nodes (14 bytes, 22 from version 2 on, which adds an 8-byte modification time), node 0
  the root folder. A node is: name offset (4), flags (2), then for a folder its child count (4) and the
  index of its first child (4), for a file its country and language (2 + 2) and its data offset (4).
- names: length in UTF-16 code units (2), a hash (4, for Qt's look-ups; not needed to list), UTF-16BE text.
- data: length (4) then the bytes. Flag 0x01 means zlib as written by qCompress (a 4-byte uncompressed
  size, then a zlib stream), 0x04 zstd (Qt 6's `rcc --compress-algo zstd`), neither means stored as is.

Debian 12's GCompris archives (format version 3) use only zlib and stored entries. Zstd entries are read
only when the `zstandard` package is installed; without it they are an error that says so, not a new
dependency.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from training.data import DataError

RCC_MAGIC = b"qres"
FLAG_ZLIB, FLAG_DIRECTORY, FLAG_ZSTD = 0x01, 0x02, 0x04


def read_rcc(path: Path, wanted: Callable[[str], bool] | None = None) -> dict[str, bytes]:
    """{path inside the archive ("a/b/c.png", no leading slash): its uncompressed bytes} for every file,
    or only those whose path `wanted` accepts (the others are not decompressed)."""
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read this Qt resource archive ({e.strerror})") from None
    try:
        return _read(blob, wanted or (lambda _: True), path)
    except (struct.error, IndexError, UnicodeDecodeError, zlib.error) as e:
        raise DataError(f"{path}: not a valid Qt resource archive ({e})") from None


def _read(blob: bytes, wanted: Callable[[str], bool], path: Path) -> dict[str, bytes]:
    if blob[:4] != RCC_MAGIC:
        raise DataError(f"{path}: not a Qt resource archive (no 'qres' header)")
    version, tree, data, names = struct.unpack_from(">4I", blob, 4)
    if version not in (1, 2, 3):
        raise DataError(f"{path}: Qt resource format version {version} is not supported (1 to 3 are)")
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack_from(">H", blob, names + offset)
        start = names + offset + 6  # after the length and the hash
        if start + 2 * length > len(blob):
            raise IndexError("name past the end of the file")
        return blob[start : start + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    pending = [(0, "")]  # (node index, its folder's path with a trailing "/")
    while pending:
        index, folder = pending.pop()
        node = tree + index * node_size
        name_offset, flags = struct.unpack_from(">IH", blob, node)
        name = name_at(name_offset) if index else ""
        if flags & FLAG_DIRECTORY:
            count, first = struct.unpack_from(">II", blob, node + 6)
            if count and first <= index:  # rcc writes children after their parent: anything else is a loop
                raise IndexError(f"folder node {index} points back to node {first}")
            pending += [(child, f"{folder}{name}/" if index else "") for child in range(first, first + count)]
            continue
        file_path = folder + name
        if not wanted(file_path):
            continue
        (data_offset,) = struct.unpack_from(">I", blob, node + 10)
        (size,) = struct.unpack_from(">I", blob, data + data_offset)
        start = data + data_offset + 4
        if start + size > len(blob):
            raise IndexError(f"{file_path}: data past the end of the file")
        files[file_path] = _uncompress(blob[start : start + size], flags, file_path, path)
    return files


def _uncompress(raw: bytes, flags: int, name: str, path: Path) -> bytes:
    if flags & FLAG_ZLIB:
        return zlib.decompress(raw[4:])  # qCompress: the uncompressed size, then a zlib stream
    if flags & FLAG_ZSTD:
        try:
            import zstandard
        except ImportError:
            raise DataError(
                f"{path}: {name} is zstd-compressed; reading it needs the zstandard package (pip install zstandard)"
            ) from None
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    return raw
