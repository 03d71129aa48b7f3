"""TIFF/GeoTIFF tag inspection and PNG/JPEG/WebP header inspection."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy
import pytest
import tifffile
from PIL import Image, ImageFile

from chalicelib.formats import raster, tiff
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from tests import samples


def _geotiff(
    path: Path, keys: tuple[int, ...], tags: list[tuple[Any, ...]], shape=(100, 200)
) -> None:
    extratags = [*tags, (34735, 3, len(keys), keys, False)]
    tifffile.imwrite(path, numpy.zeros(shape, numpy.uint8), extratags=extratags)


def _rejected(path: Path) -> Rejected:
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    return caught.value


def test_model_transformation_gives_bbox_and_resolution(tmp_path: Path) -> None:
    path = tmp_path / "m.tif"
    matrix = (0.5, 0, 0, -20.0, 0, -0.25, 0, 60.0, 0, 0, 0, 0, 0, 0, 0, 1)
    keys = samples._geokeys((1024, 2), (2048, 4326))
    _geotiff(path, keys, [(34264, 12, 16, matrix, False)], shape=(40, 10))
    meta = inspect_file(str(path)).metadata
    assert meta["crs"] == "EPSG:4326"
    assert meta["bbox"] == [-20.0, 50.0, -15.0, 60.0]
    assert meta["resolution"] == [0.5, 0.25]


def test_pixel_is_point_shifts_by_half_a_pixel(tmp_path: Path) -> None:
    path = tmp_path / "p.tif"
    keys = samples._geokeys((1024, 2), (1025, 2), (2048, 4326))
    tags = [(33550, 12, 3, (1.0, 1.0, 0.0), False), (33922, 12, 6, (0, 0, 0, 10.0, 20.0, 0), False)]
    _geotiff(path, keys, tags, shape=(4, 4))
    assert inspect_file(str(path)).metadata["bbox"] == [9.5, 16.5, 13.5, 20.5]


def test_tiepoint_not_at_origin(tmp_path: Path) -> None:
    path = tmp_path / "t.tif"
    keys = samples._geokeys((1024, 2), (2048, 4326))
    tags = [
        (33550, 12, 3, (0.1, 0.1, 0.0), False),
        (33922, 12, 6, (10, 20, 0, 5.0, 45.0, 0), False),
    ]
    _geotiff(path, keys, tags)
    meta = inspect_file(str(path)).metadata
    assert meta["bbox"] == pytest.approx([4.0, 37.0, 24.0, 47.0], abs=1e-9)


def test_gcps_only_and_user_defined_crs_give_no_bbox(tmp_path: Path) -> None:
    path = tmp_path / "g.tif"
    keys = samples._geokeys((1024, 1), (3072, 32767))
    gcps = (0, 0, 0, 1.0, 2.0, 0, 10, 10, 0, 3.0, 4.0, 0)
    _geotiff(path, keys, [(33922, 12, 12, gcps, False)])
    found = inspect_file(str(path))
    assert found.format == "geotiff"
    assert found.metadata["crs"] is None and found.metadata["bbox"] is None
    assert found.metadata["gcp_count"] == 2


def test_other_projections_are_reprojected(tmp_path: Path) -> None:
    path = tmp_path / "bng.tif"
    keys = samples._geokeys((1024, 1), (3072, 27700))
    tags = [
        (33550, 12, 3, (5.0, 5.0, 0.0), False),
        (33922, 12, 6, (0, 0, 0, 651409.903, 313177.270, 0), False),
    ]
    _geotiff(path, keys, tags)
    meta = inspect_file(str(path)).metadata
    assert meta["crs"] == "EPSG:27700"
    assert meta["native_bbox"] == pytest.approx([651409.903, 312677.270, 652409.903, 313177.270])
    # Top-left corner = Ordnance Survey's worked example point (see test_inspect_geo).
    west, south, east, north = meta["bbox"]
    assert (west, north) == pytest.approx((1.717922, 52.657570), abs=0.003)
    # The 1000 m x 500 m grid box is turned by the grid convergence there,
    # g = (1.718 + 2) * sin(52.66 deg) = 2.96 deg, so its lon/lat bounds are wider than the box:
    # (1000 cos g + 500 sin g) m = 1024 m of longitude, (500 cos g + 1000 sin g) m = 551 m of
    # latitude.
    assert east - west == pytest.approx(1024.5 / (111320 * 0.6066), rel=0.02)  # 0.01517 deg
    assert north - south == pytest.approx(550.9 / 111250, rel=0.02)  # 0.00495 deg


def test_unknown_projection_keeps_crs_and_native_bbox(tmp_path: Path) -> None:
    path = tmp_path / "unknown.tif"
    keys = samples._geokeys((1024, 1), (3072, 60000))  # no such EPSG code
    tags = [
        (33550, 12, 3, (5.0, 5.0, 0.0), False),
        (33922, 12, 6, (0, 0, 0, 500000, 200000, 0), False),
    ]
    _geotiff(path, keys, tags)
    meta = inspect_file(str(path)).metadata
    assert meta["crs"] == "EPSG:60000" and meta["bbox"] is None
    assert meta["native_bbox"] == [500000.0, 199500.0, 501000.0, 200000.0]


def test_utm_bbox_equals_transformed_corners(tmp_path: Path) -> None:
    path = tmp_path / "utm.tif"
    samples.make_geotiff_utm(path)
    bbox = inspect_file(str(path)).metadata["bbox"]
    from chalicelib.formats.geo import utm_to_lonlat

    corners = [utm_to_lonlat(x, y, 17, False) for x in (630084, 631084) for y in (4832438, 4833438)]
    lons, lats = zip(*corners, strict=True)
    assert bbox == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=1e-9)


def test_tiff_with_cut_image_data_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, numpy.ones((512, 512), numpy.uint8))  # tags precede the data
    os.truncate(path, os.path.getsize(path) - 1000)
    assert _rejected(path).code == "malformed"


def test_tiff_tag_over_budget_is_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, numpy.ones((64, 64), numpy.uint8), tile=(16, 16))
    monkeypatch.setattr(tiff, "MAX_TAG_BYTES", 8)  # the 16-entry TileOffsets is 64 bytes
    assert _rejected(path).code == "too_large"


def test_circular_ifd_chain_terminates(tmp_path: Path) -> None:
    path = tmp_path / "loop.tif"
    tifffile.imwrite(path, numpy.ones((8, 8), numpy.uint8))
    data = bytearray(path.read_bytes())
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    next_at = first + 2 + 12 * count
    data[next_at : next_at + 4] = struct.pack("<I", first)  # next IFD = itself
    path.write_bytes(bytes(data))
    assert inspect_file(str(path)).metadata["width"] == 8


def test_png_checksum_mismatch_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    samples.make_png(path)
    data = bytearray(path.read_bytes())
    idat = data.find(b"IDAT")
    data[idat + 6] ^= 0xFF
    path.write_bytes(bytes(data))
    assert _rejected(path).code == "malformed"


def test_palette_png_and_jpeg_with_trailer(tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    Image.new("P", (7, 5)).save(png)
    meta = inspect_file(str(png)).metadata
    assert (meta["width"], meta["height"], meta["bands"], meta["mode"]) == (7, 5, 1, "P")
    jpg = tmp_path / "t.jpg"
    samples.make_jpeg(jpg)
    with open(jpg, "ab") as fh:
        fh.write(b"\x00" * 100)  # data after EOI, as some cameras write
    assert inspect_file(str(jpg)).metadata["width"] == 40


def test_webp_over_budget_is_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.webp"
    samples.make_webp(path)
    monkeypatch.setattr(raster, "WEBP_MAX_BYTES", 10)
    assert _rejected(path).code == "too_large"


def test_pixels_are_never_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("pixel data was decoded")

    names = ("image.png", "photo.jpg", "image.webp", "geotiff.tif")
    for name in names:
        samples.VALID[name](tmp_path / name)
    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", boom)
    for name in names:
        assert inspect_file(str(tmp_path / name)).metadata["width"] > 0


def _png_stream(path: Path, width: int, height: int, row: Any, level: int = 9) -> None:
    """A valid 8-bit grayscale PNG written row by row (IDAT streamed through zlib), so a huge
    image costs no memory: row(y) gives each row's bytes."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    packer = zlib.compressobj(level)
    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        for y in range(height):
            data = packer.compress(b"\x00" + row(y))
            if data:
                out.write(chunk(b"IDAT", data))
        out.write(chunk(b"IDAT", packer.flush()))
        out.write(chunk(b"IEND", b""))


def test_large_map_scans_past_pillows_bomb_warning_are_accepted(tmp_path: Path) -> None:
    """A scanned sheet of ~100 MP (Pillow warns past ~89 MP) is a map, not a bomb."""
    width, height = 10_000, 10_000
    rng = numpy.random.default_rng(7)
    # Paper grain: a few grey levels of noise, compressing ~3:1 as scans do.
    rows = [rng.integers(200, 216, width, dtype=numpy.uint8).tobytes() for _ in range(64)]
    path = tmp_path / "sheet.png"
    _png_stream(path, width, height, lambda y: rows[y % 64], level=1)
    found = inspect_file(str(path))
    assert (found.format, found.metadata["width"], found.metadata["height"]) == (
        "png",
        width,
        height,
    )
    assert width * height > Image.MAX_IMAGE_PIXELS  # past Pillow's own warning...
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # ...which is left as Pillow has it


def test_blank_image_of_a_hundred_megapixels_is_a_bomb(tmp_path: Path) -> None:
    """Blank pixels compress ~1000:1: 100 MP in ~100 KB decodes to 1000x its size."""
    path = tmp_path / "bomb.png"
    blank = bytes(10_000)
    _png_stream(path, 10_000, 10_000, lambda _y: blank)
    assert os.path.getsize(path) < 200_000
    assert _rejected(path).code == "too_large"


def test_more_pixels_than_the_cap_are_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "map.png"
    Image.new("L", (300, 200), 128).save(path)
    assert inspect_file(str(path)).metadata["width"] == 300
    monkeypatch.setattr(raster, "MAX_PIXELS", 300 * 200 - 1)
    assert _rejected(path).code == "too_large"
