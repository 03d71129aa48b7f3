"""Hostile TIFFs built byte by byte: what no honest writer makes (shared or short tiles)."""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any

PathLike = str | os.PathLike[str]

# TIFF field types used here: SHORT, LONG.
_SHORT, _LONG = 3, 4


def _tiff(entries: list[tuple[int, int, list[int]]], blobs: list[bytes]) -> bytes:
    """A little-endian classic TIFF with one IFD: `entries` are (tag, type, values); values
    too long for the entry go after the IFD. `blobs` are placed right after the 8-byte header;
    the literal -1 in a value list stands for "offset of blob 0" (+ index via -1 - i)."""
    data = b"".join(blobs)
    blob_at = [8 + sum(len(b) for b in blobs[:i]) for i in range(len(blobs))]
    ifd_at = 8 + len(data)
    ifd_at += ifd_at & 1
    entries = sorted(entries)
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    extra = b""
    packed = b""
    for tag, dtype, values in entries:
        values = [blob_at[-1 - v] if v < 0 else v for v in values]
        fmt = "H" if dtype == _SHORT else "I"
        raw = struct.pack(f"<{len(values)}{fmt}", *values)
        if len(raw) <= 4:
            packed += struct.pack("<HHI", tag, dtype, len(values)) + raw.ljust(4, b"\x00")
        else:
            packed += struct.pack("<HHII", tag, dtype, len(values), extra_at + len(extra))
            extra += raw + (b"\x00" if len(raw) & 1 else b"")
    head = b"II*\x00" + struct.pack("<I", ifd_at)
    body = data + (b"\x00" if (8 + len(data)) & 1 else b"")
    return head + body + struct.pack("<H", len(entries)) + packed + b"\x00" * 4 + extra


def shared_tile_bomb(side: int = 45000, tile: int = 512, sparse: float = 0.0) -> bytes:
    """A deflate-tiled greyscale TIFF of side x side pixels whose TileOffsets all point to ONE
    compressed blank tile (the review's bomb: 45000 px, 62 KB, ~32 000:1). With `sparse`, that
    share of the tiles is written sparse instead (offset and byte count 0, as GDAL does)."""
    blob = zlib.compress(bytes(tile * tile), 9)
    across = -(-side // tile)
    count = across * across
    empty = int(count * sparse)
    offsets = [0] * empty + [-1] * (count - empty)
    counts = [0] * empty + [len(blob)] * (count - empty)
    entries: list[tuple[int, int, list[int]]] = [
        (256, _LONG, [side]),
        (257, _LONG, [side]),
        (258, _SHORT, [8]),
        (259, _SHORT, [8]),  # Adobe deflate
        (262, _SHORT, [1]),  # BlackIsZero
        (277, _SHORT, [1]),
        (284, _SHORT, [1]),
        (322, _SHORT, [tile]),
        (323, _SHORT, [tile]),
        (324, _LONG, offsets),
        (325, _LONG, counts),
    ]
    return _tiff(entries, [blob])


def short_strip_tiff(side: int = 100_000, stored: int = 10, compression: int = 1) -> bytes:
    """A one-strip greyscale TIFF claiming side x side pixels with only `stored` bytes of data
    (the review's truncated TIFF: 100 000 px, StripByteCounts 10, 210 bytes)."""
    entries: list[tuple[int, int, list[int]]] = [
        (256, _LONG, [side]),
        (257, _LONG, [side]),
        (258, _SHORT, [8]),
        (259, _SHORT, [compression]),
        (262, _SHORT, [1]),
        (273, _LONG, [-1]),
        (277, _SHORT, [1]),
        (278, _LONG, [side]),
        (279, _LONG, [stored]),
    ]
    return _tiff(entries, [bytes(stored)])


def write(path: PathLike, data: bytes) -> Any:
    with open(path, "wb") as fh:
        fh.write(data)
    return path
