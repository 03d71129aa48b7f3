"""Defensive ZIP access: budgets and path checks before any member is read."""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from typing import IO

from chalicelib.formats.result import Rejected

MAX_ENTRIES = 10_000
MAX_CENTRAL_DIRECTORY = 8 * 1024 * 1024  # bounds zipfile's in-memory entry list
MAX_TOTAL_UNCOMPRESSED = 2 * 1024 * 1024 * 1024
MAX_RATIO = 100  # uncompressed:compressed, checked for members over RATIO_MIN_SIZE
RATIO_MIN_SIZE = 1024 * 1024
# Members that are archives themselves: we inspect exactly one level and never unpack
# nested archives, so their presence is refused instead of being silently ignored.
_NESTED = ".zip .kmz .jar .gz .tgz .bz2 .xz .zst .7z .rar .tar"
NESTED_ARCHIVE_SUFFIXES = tuple(_NESTED.split())

_EOCD = b"PK\x05\x06"
_DRIVE = re.compile(r"^[A-Za-z]:")


def _precheck_directory(path: str) -> None:
    """Read the end-of-central-directory record(s) and bound entries and directory size."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        tail_start = max(0, size - (65535 + 22))
        fh.seek(tail_start)
        tail = fh.read()
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < 22:
            raise Rejected("malformed", "ZIP archive is truncated")
        _sig, disk, cd_disk, _n_disk, entries, cd_size, cd_offset, _cl = struct.unpack(
            "<4s4H2LH", tail[at : at + 22]
        )
        if disk or cd_disk:
            raise Rejected("unsupported_format", "Multi-part ZIP archives are not supported")
        if entries == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
            # ZIP64: the locator sits right before the classic record.
            locator = tail[at - 20 : at] if at >= 20 else b""
            if len(locator) != 20 or not locator.startswith(b"PK\x06\x07"):
                raise Rejected("malformed", "ZIP64 directory locator is missing")
            z64_offset = struct.unpack("<Q", locator[8:16])[0]
            fh.seek(z64_offset)
            record = fh.read(56)
            if len(record) != 56 or not record.startswith(b"PK\x06\x06"):
                raise Rejected("malformed", "ZIP64 directory record is invalid")
            entries, cd_size = struct.unpack("<QQ", record[32:48])
    if entries > MAX_ENTRIES:
        raise Rejected("zip_bomb", "Archive has too many entries")
    if cd_size > MAX_CENTRAL_DIRECTORY or cd_size > size:
        raise Rejected("zip_bomb", "Archive directory exceeds the size budget")


def _check_name(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = name.split("/")
    if "\\" in name or "\x00" in name or name.startswith("/") or _DRIVE.match(name):
        raise Rejected("unsafe_archive", "Archive contains an unsafe path")
    if any(part == ".." for part in parts):
        raise Rejected("unsafe_archive", "Archive contains an unsafe path")
    # Unix mode bits live in the high 16 bits; checked whatever "made by" OS is claimed.
    if stat.S_ISLNK(info.external_attr >> 16):
        raise Rejected("unsafe_archive", "Archive contains a symbolic link")
    if not info.is_dir() and name.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
        raise Rejected("unsafe_archive", "Archive contains a nested archive")


def open_archive(path: str) -> zipfile.ZipFile:
    """Open and vet a ZIP (counts, declared sizes, ratios, paths); raises Rejected."""
    _precheck_directory(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as exc:
        raise Rejected("malformed", "ZIP archive is invalid") from exc
    try:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise Rejected("zip_bomb", "Archive has too many entries")
        total = compressed = 0
        for info in infos:
            _check_name(info)
            total += info.file_size
            compressed += info.compress_size
            ratio_limit = MAX_RATIO * max(info.compress_size, 1)
            if info.file_size > RATIO_MIN_SIZE and info.file_size > ratio_limit:
                raise Rejected("zip_bomb", "Archive member has a suspicious compression ratio")
        if total > MAX_TOTAL_UNCOMPRESSED:
            raise Rejected("zip_bomb", "Archive expands beyond the size budget")
        if compressed > os.path.getsize(path):
            # Only overlapping members (the "overlapped zip bomb") can claim more
            # compressed bytes than the archive holds.
            raise Rejected("zip_bomb", "Archive members overlap")
    except Exception:
        zf.close()
        raise
    return zf


class LimitedReader:
    """File-like view of a member that counts real bytes against declared size and a budget."""

    def __init__(self, raw: IO[bytes], declared: int, budget: int):
        self.raw = raw
        self.declared = declared
        self.budget = budget
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        """Read up to `size` bytes; raises Rejected(zip_bomb/too_large) past the limits."""
        if size is None or size < 0:
            size = min(self.declared, self.budget) - self.count + 1
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > self.declared:
            raise Rejected("zip_bomb", "Archive member is larger than declared")
        if self.count > self.budget:
            raise Rejected("too_large", "Archive member exceeds the size budget")
        return data


def read_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Return at most the first `limit` bytes of a member; raises Rejected on bad members."""
    if info.flag_bits & 0x1:
        raise Rejected("unsupported_format", "Archive members are encrypted")
    try:
        with zf.open(info) as raw:
            reader = LimitedReader(raw, info.file_size, max(limit, 0))
            chunks = []
            left = limit
            while left > 0:
                data = reader.read(min(left, 1024 * 1024))
                if not data:
                    break
                chunks.append(data)
                left -= len(data)
            return b"".join(chunks)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        raise Rejected("malformed", "Archive member cannot be read") from exc
