"""sniff(): the leading bytes decide the format family, never the file name."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.formats.sniff import SNIFF_BYTES, sniff, sniff_bytes

KML = b'<kml xmlns="http://www.opengis.net/kml/2.2"/>'


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"II+\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00", "tiff"),
        (b"MM\x00+\x00\x08\x00\x00", "tiff"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"%PDF-1.7\n", "pdf"),
        (b"PK\x03\x04\x14\x00", "zip"),
        (b"PK\x05\x06" + bytes(18), "zip"),
        (b"SQLite format 3\x00" + bytes(84), "sqlite"),
        (b"PMTiles\x03", "pmtiles"),
        (b'  \n{"type": "FeatureCollection"}', "json"),
        (b'\xef\xbb\xbf{"type": "Point"}', "json"),
        (b"[1, 2]", None),
        (b'<?xml version="1.0"?>\n' + KML, "kml"),
        (b"<!-- made by hand -->" + KML, "kml"),
        (b'<kml:kml xmlns:kml="http://www.opengis.net/kml/2.2"/>', "kml"),
        (b'<gpx version="1.1"/>', "gpx"),
        (b"<!DOCTYPE kml [<!ENTITY a 'b'>]><kml/>", "xml"),
        (b"<!doctype html><html></html>", None),
        (b"<html><body></body></html>", None),
        (b'<?xml version="1.0"?><svg/>', None),
        (b"<?xml version=", "xml"),
        (b"\x7fELF\x02\x01\x01", None),
        (b"MZ\x90\x00", None),
        (b"#!/bin/sh\n", None),
        (b"", None),
        (b"<kml\x00\x00", None),
    ],
)
def test_sniff_bytes(head: bytes, kind: str | None) -> None:
    assert sniff_bytes(head) == kind


def test_utf16_xml_root_is_found() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?><gpx version="1.1"/>'
    assert sniff_bytes(text.encode("utf-16")) == "gpx"


def test_long_prolog_is_left_to_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "long.kml"
    path.write_bytes(b"<!--" + b"x" * SNIFF_BYTES + b"-->" + KML)
    assert sniff(str(path)) == "xml"


def test_sniff_ignores_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "map.tif"
    path.write_bytes(b"<!DOCTYPE html><html></html>")
    assert sniff(str(path)) is None
    other = tmp_path / "page.html"
    other.write_bytes(b"II*\x00\x08\x00\x00\x00")
    assert sniff(str(other)) == "tiff"


def test_polyglot_goes_by_leading_magic() -> None:
    assert sniff_bytes(b"%PDF-1.4\n" + b"PK\x03\x04" + b"\x89PNG") == "pdf"
    assert sniff_bytes(b"GIF89a" + b"%PDF-1.4") is None
