"""Every real sample is recognised with its metadata; every hostile file gets its rejection code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import REJECTION_CODES, Rejected
from tests import samples


@pytest.mark.parametrize("name", sorted(samples.VALID))
def test_valid_sample_is_recognised_with_metadata(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    expected = samples.VALID[name](path)
    found = inspect_file(str(path))
    samples.assert_matches(found.format, found.media_type, found.metadata, expected)
    # The pipeline stores metadata as JSON: it must serialise strictly (no NaN/Infinity).
    assert json.loads(json.dumps(found.metadata, allow_nan=False)) == found.metadata


@pytest.mark.parametrize("name", sorted(samples.VALID))
def test_format_is_decided_by_content_not_by_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / "upload.bin"
    expected = samples.VALID[name](path)
    assert inspect_file(str(path)).format == expected["format"]


@pytest.mark.parametrize("name", sorted(samples.HOSTILE))
def test_hostile_file_is_rejected_with_its_code(tmp_path: Path, name: str) -> None:
    write, code = samples.HOSTILE[name]
    path = tmp_path / name
    write(path)
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    assert caught.value.code == code
    assert caught.value.code in REJECTION_CODES
    # Messages are fixed texts: never file names, paths or content.
    message = caught.value.message
    assert 0 < len(message) < 100 and message.isascii()
    for leak in ("<", ">", "..", "/", "\\", "lol", "passwd", name):
        assert leak not in message


def test_zip_slip_name_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "x.kmz"
    samples._zip(path, {"../<script>alert(1)</script>.kml": b"<kml/>"})
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    assert caught.value.code == "unsafe_archive"
    assert "script" not in str(caught.value)


def test_package_import_stays_light() -> None:
    code = (
        "import sys, chalicelib.formats, chalicelib.formats.inspect;"
        "heavy = {'numpy', 'tifffile', 'PIL', 'pypdf', 'defusedxml', 'shapefile', 'pmtiles'};"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
