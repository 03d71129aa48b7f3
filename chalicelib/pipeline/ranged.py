"""Files too large to copy to the processor's disk: the SHA-256 streamed straight from S3, and
format metadata from ranged reads of only the bytes a format's structure names.

How the metadata is read: a sparse file of the object's full size is made in the job's folder
(it takes no disk), and only the ranges a format's directory needs are fetched into it at
their own offsets — a TIFF's header, IFD chain and tag values (never pixels); a PMTiles
header, root directory and metadata; a ZIP's central directory; an SQLite header. The usual
inspector then runs on that file for TIFF and PMTiles, reading exactly what was fetched.
Formats whose facts are spread through the whole file (GeoJSON, KML, PDF, images, SQLite
tables) get their format from the leading bytes and say that the rest was not read."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.sniff import SNIFF_BYTES, sniff_bytes
from chalicelib.formats.tiff import tiff_layout

ReadAt = Callable[[int, int], bytes]

HEAD_BYTES = 64 * 1024
MAX_FETCH_BYTES = 512 * 1024 * 1024  # every range of one file together
STREAM_CHUNK_BYTES = 8 * 1024 * 1024
STREAM_WORKERS = 4
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TYPE_SIZES.update({13: 4, 16: 8, 17: 8, 18: 8})
_MAX_IFDS = 1024
_MAX_TAGS = 4096
# What a family's leading bytes alone say (formats decided further below for zip/sqlite).
_BY_KIND = {
    "png": ("png", "image/png"),
    "jpeg": ("jpeg", "image/jpeg"),
    "webp": ("webp", "image/webp"),
    "pdf": ("pdf", "application/pdf"),
    "json": ("geojson", "application/geo+json"),
    "kml": ("kml", "application/vnd.google-earth.kml+xml"),
    "gpx": ("gpx", "application/gpx+xml"),
}


class RangedFile(io.RawIOBase):
    """A read-only, seekable file over ranged reads of an object (GDAL's opener for a map read
    in place): reads go out in aligned blocks of BLOCK_BYTES, the last few kept, so a reader's
    many small reads cost a few requests."""

    BLOCK_BYTES = 256 * 1024
    KEPT_BLOCKS = 8

    def __init__(self, size: int, read_at: ReadAt):
        super().__init__()
        self._size, self._read_at, self._pos = size, read_at, 0
        self._blocks: dict[int, bytes] = {}
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _block(self, index: int) -> bytes:
        block = self._blocks.pop(index, None)
        if block is None:
            start = index * self.BLOCK_BYTES
            block = self._read_at(start, min(self.BLOCK_BYTES, self._size - start))
            self.requests += 1
        self._blocks[index] = block  # most recent last
        while len(self._blocks) > self.KEPT_BLOCKS:
            del self._blocks[next(iter(self._blocks))]
        return block

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        parts = []
        while self._pos < end:
            index, offset = divmod(self._pos, self.BLOCK_BYTES)
            piece = self._block(index)[offset : offset + end - self._pos]
            if not piece:
                break
            parts.append(piece)
            self._pos += len(piece)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class Streamed:
    size: int
    sha256: str


def stream_sha256(
    size: int, read_at: ReadAt, check: Callable[[], None] | None = None, *, workers: int = 4
) -> Streamed:
    """SHA-256 of `size` bytes read as parallel ranged reads, hashed in order; memory stays at
    (workers + 1) chunks. `check` runs between chunks (the job's deadline)."""
    digest = hashlib.sha256()
    starts = iter(range(0, size, STREAM_CHUNK_BYTES))
    total = 0
    with ThreadPoolExecutor(max(1, workers)) as pool:
        window: deque[Future[bytes]] = deque()

        def submit() -> None:
            start = next(starts, None)
            if start is not None:
                window.append(pool.submit(read_at, start, min(STREAM_CHUNK_BYTES, size - start)))

        for _ in range(max(1, workers) + 1):
            submit()
        while window:
            chunk = window.popleft().result()
            if check is not None:
                check()
            digest.update(chunk)
            total += len(chunk)
            submit()
    return Streamed(total, digest.hexdigest())


class _Planner:
    """Fetches ranges into the sparse file, within one byte budget."""

    def __init__(self, path: str, size: int, read_at: ReadAt):
        self.path, self.size, self.read_at = path, size, read_at
        self.fetched = 0
        self.done: set[tuple[int, int]] = set()

    def get(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset+length) of the object (clipped to its end), also written to
        the sparse file; raises Rejected past the budget or outside the object."""
        if offset < 0 or offset >= self.size or length <= 0:
            raise Rejected("malformed", "A directory entry points outside the file")
        length = min(length, self.size - offset)
        self.fetched += length
        if self.fetched > MAX_FETCH_BYTES:
            raise Rejected("too_large", "The file's directory exceeds the inspection budget")
        data = self.read_at(offset, length)
        if (offset, length) not in self.done:
            with open(self.path, "r+b") as out:
                out.seek(offset)
                out.write(data)
            self.done.add((offset, length))
        return data


def _tiff(p: _Planner, head: bytes) -> None:
    """Header, every IFD of the main chain and every tag value stored outside its entry."""
    bo, offset, cnt_fmt, entry_fmt, entry_len, inline, off_fmt = tiff_layout(head)
    cnt_len, off_len = struct.calcsize(cnt_fmt), struct.calcsize(off_fmt)
    seen: set[int] = set()
    while offset and offset not in seen and len(seen) < _MAX_IFDS:
        seen.add(offset)
        count = struct.unpack(bo + cnt_fmt, p.get(offset, cnt_len))[0]
        if not 0 < count <= _MAX_TAGS:
            return  # the inspector rejects it with its own reason
        block = p.get(offset + cnt_len, count * entry_len + off_len)
        if len(block) < count * entry_len + off_len:
            return
        for i in range(count):
            _code, dtype, n, raw = struct.unpack_from(bo + entry_fmt, block, i * entry_len)
            nbytes = n * _TYPE_SIZES.get(dtype, 1)
            if nbytes > inline:
                where = struct.unpack(bo + off_fmt, raw)[0]
                if where + nbytes > p.size:
                    return
                p.get(where, nbytes)
        offset = struct.unpack_from(bo + off_fmt, block, count * entry_len)[0]


def _pmtiles(p: _Planner, head: bytes) -> None:
    """The 127-byte header names the root directory and the metadata: fetch both."""
    if len(head) < 127:
        return
    root_off, root_len, meta_off, meta_len = struct.unpack_from("<QQQQ", head, 8)
    for offset, length in ((root_off, root_len), (meta_off, meta_len)):
        if 0 < length <= 16 * 1024 * 1024 and offset + length <= p.size:
            p.get(offset, length)


def _zip_names(p: _Planner) -> list[str]:
    """The member names from the central directory (the archive's tail)."""
    tail_len = min(p.size, 65557 + 20)
    tail_at = p.size - tail_len
    tail = p.get(tail_at, tail_len)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0:
        raise Rejected("malformed", "ZIP end of central directory not found")
    cd_size, cd_offset = struct.unpack_from("<II", tail, end + 12)
    locator = tail.rfind(b"PK\x06\x07", 0, end)
    if (cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF) and locator >= 0:
        (eocd64_at,) = struct.unpack_from("<Q", tail, locator + 8)
        eocd64 = p.get(eocd64_at, 56)
        if eocd64[:4] == b"PK\x06\x06":
            cd_size, cd_offset = struct.unpack_from("<QQ", eocd64, 40)
    p.get(cd_offset, cd_size)
    with zipfile.ZipFile(p.path) as zf:
        return [info.filename for info in zf.infolist()]


def _zip_format(names: list[str]) -> tuple[str, str, dict[str, Any]]:
    lowered = [n.lower() for n in names if not n.startswith("__MACOSX/")]
    if any(n.endswith(".shp") for n in lowered):
        return "shapefile", "application/zip", {"members": len(names)}
    if any(n.endswith(".kml") for n in lowered):
        return "kmz", "application/vnd.google-earth.kmz", {"members": len(names)}
    raise Rejected("unsupported_format", "ZIP archive holds no shapefile and no KML")


def _sqlite_format(head: bytes) -> tuple[str, str]:
    application_id = head[68:72] if len(head) >= 100 else b""
    if application_id in (b"GPKG", b"GP10", b"GP11"):
        return "gpkg", "application/geopackage+sqlite3"
    if application_id == b"MPBX":
        return "mbtiles", "application/vnd.mapbox-vector-tile"
    raise Rejected("unsupported_format", "SQLite database is neither GeoPackage nor MBTiles")


def inspect_ranged(size: int, read_at: ReadAt, workdir: str) -> Inspection:
    """Identify and describe an object of `size` bytes from ranged reads only; raises
    Rejected like inspect_file."""
    from chalicelib.formats.inspect import inspect_file

    path = os.path.join(workdir, "ranged-mirror")
    with open(path, "wb") as out:
        out.truncate(size)  # sparse: only fetched ranges take disk
    planner = _Planner(path, size, read_at)
    head = planner.get(0, max(HEAD_BYTES, SNIFF_BYTES))
    kind = sniff_bytes(head[:SNIFF_BYTES])
    note = f"The file ({size} bytes) is too large to read whole here: {{}}"
    if kind == "tiff":
        _tiff(planner, head)
        found = inspect_file(path)
        return _noted(found, note.format("header and directories read by ranged reads."))
    if kind == "pmtiles":
        _pmtiles(planner, head)
        found = inspect_file(path)
        return _noted(found, note.format("header and directories read by ranged reads."))
    if kind == "zip":
        file_format, media_type, meta = _zip_format(_zip_names(planner))
        meta.update(bbox=None, crs=None)
        return _noted(
            Inspection(file_format, media_type, meta),
            note.format("members listed from the central directory; features not read."),
        )
    if kind == "sqlite":
        file_format, media_type = _sqlite_format(head)
        return _noted(
            Inspection(file_format, media_type, {"bbox": None, "crs": None}),
            note.format("format from the database header; tables not read."),
        )
    if kind in _BY_KIND:
        file_format, media_type = _BY_KIND[kind]
        return _noted(
            Inspection(file_format, media_type, {"bbox": None}),
            note.format("format from the leading bytes; content not read."),
        )
    raise Rejected("unsupported_format", "File is not a supported map format")


def _noted(found: Inspection, note: str) -> Inspection:
    metadata = {**found.metadata, "inspection": "ranged", "inspection_note": note}
    return Inspection(found.format, found.media_type, metadata)
