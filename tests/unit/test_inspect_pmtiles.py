"""PMTiles v3 header parsing against files from the pmtiles package's writer."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from tests import samples


def _patched(tmp_path: Path, offset: int, fmt: str, value: int) -> Path:
    path = tmp_path / "p.pmtiles"
    samples.make_pmtiles(path)
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("offset", "fmt", "value"),
    [
        (8, "<Q", 5),  # root directory inside the header
        (16, "<Q", 1 << 40),  # root directory beyond the file
        (99, "<B", 9),  # unknown tile type
        (97, "<B", 0),  # unknown internal compression
        (100, "<B", 9),  # minzoom > maxzoom
        (102, "<i", -1900000000),  # min_lon < -180
        (114, "<i", 1000000000),  # max_lat > 90
    ],
)
def test_invalid_header_fields_are_malformed(
    tmp_path: Path, offset: int, fmt: str, value: int
) -> None:
    path = _patched(tmp_path, offset, fmt, value)
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    assert caught.value.code == "malformed"


def test_corrupt_root_directory_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "r.pmtiles"
    samples.make_pmtiles(path)
    data = bytearray(path.read_bytes())
    data[127:140] = b"\x00" * 13
    path.write_bytes(bytes(data))
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    assert caught.value.code == "malformed"


def test_unreadable_metadata_only_drops_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / "m.pmtiles"
    samples.make_pmtiles(path)
    data = bytearray(path.read_bytes())
    meta_off, meta_len = struct.unpack_from("<QQ", data, 24)
    data[meta_off : meta_off + meta_len] = b"\x00" * meta_len
    path.write_bytes(bytes(data))
    meta = inspect_file(str(path)).metadata
    assert meta["name"] is None and meta["layers"] == [] and meta["maxzoom"] == 2
