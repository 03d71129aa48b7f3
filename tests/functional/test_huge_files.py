"""Uploads too large for the processor's disk: the checksum is streamed from S3 and the
metadata read by ranged reads; the map ends ready with what could be read, and says so.
SPOOL_LIMIT_BYTES is lowered so that small files take that path."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pytest
import requests

from chalicelib.formats.inspect import inspect_file
from tests import samples
from tests.conftest import GEOJSON, body


@pytest.fixture
def no_disk(monkeypatch):
    """Every upload counts as too large to copy; copying it anyway fails the test; every
    ranged read is recorded."""
    from chalicelib import config, storage
    from chalicelib.pipeline import process as pipeline

    monkeypatch.setenv("SPOOL_LIMIT_BYTES", "1")
    config.get_settings.cache_clear()

    def no_spool(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a file over the spool limit was copied to disk")

    monkeypatch.setattr(pipeline, "spool", no_spool)
    reads: list[tuple[int, int]] = []
    real = storage.read_range

    def recording(key: str, start: int, length: int, **kwargs: Any) -> bytes:
        reads.append((start, length))
        return real(key, start, length, **kwargs)

    monkeypatch.setattr(storage, "read_range", recording)
    yield reads
    monkeypatch.delenv("SPOOL_LIMIT_BYTES")
    config.get_settings.cache_clear()


def _upload(pipeline, users, data: bytes, filename: str, **extra) -> dict[str, Any]:
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.create_presigned(alice, filename=filename, size=len(data), **extra)
    assert created.status_code == 201, created.body
    map_id, upload = body(created)["map"]["id"], body(created)["upload"]
    assert pipeline.post_to_s3(upload, data) in (200, 201, 204)
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    return dict(body(pipeline.get(map_id, alice)))


def _big_geotiff(path) -> bytes:
    """A georeferenced GeoTIFF of ~3 MiB of noise (pixels the ranged reads must not touch)."""
    import tifffile

    pixels = np.random.default_rng(3).integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
    tifffile.imwrite(
        path,
        pixels,
        photometric="rgb",
        tile=(256, 256),
        extratags=[
            (33550, 12, 3, (0.001, 0.001, 0.0), True),
            (33922, 12, 6, (0, 0, 0, 6.0, 47.0, 0.0), True),
            (34735, 3, 16, (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326), True),
        ],
    )
    return path.read_bytes()


def test_geotiff_over_the_limit_gets_checksum_and_metadata_by_ranged_reads(
    pipeline, users, no_disk, tmp_path
):
    data = _big_geotiff(tmp_path / "ortho.tif")
    sha = hashlib.sha256(data).hexdigest()
    doc = _upload(pipeline, users, data, "ortho.tif", sha256=sha)
    assert doc["status"] == "ready", doc
    assert doc["sha256"] == sha
    assert doc["format"] == "geotiff"
    whole = inspect_file(str(tmp_path / "ortho.tif")).metadata
    meta = doc["metadata"]
    for key in ("width", "height", "bands", "crs", "bbox", "resolution"):
        assert meta[key] == whole[key], key
    assert meta["bbox"] == pytest.approx([6.0, 45.976, 7.024, 47.0])
    assert meta["inspection"] == "ranged"
    assert "too large to read whole" in meta["inspection_note"]
    assert "too large to copy" in meta["optimization"]["skipped"]
    assert doc["variants"].get("optimized") is None
    # The checksum read the file once; the metadata only a sliver of it.
    hashing = sum(n for s, n in no_disk if (s, n) != (0, 64 * 1024) and n >= 1024 * 1024)
    inspecting = sum(n for s, n in no_disk) - hashing
    assert hashing == len(data)
    assert inspecting < len(data) / 20, inspecting


@pytest.mark.parametrize(
    ("maker", "filename", "fmt"),
    [
        (samples.make_pmtiles, "tiles.pmtiles", "pmtiles"),
        (samples.make_shapefile_zip, "roads.zip", "shapefile"),
        (samples.make_kmz, "trip.kmz", "kmz"),
        (samples.make_gpkg, "parcels.gpkg", "gpkg"),
        (samples.make_mbtiles, "tiles.mbtiles", "mbtiles"),
        (samples.make_png, "scan.png", "png"),
        (samples.make_pdf, "sheet.pdf", "pdf"),
    ],
)
def test_other_formats_over_the_limit_are_ready_and_say_what_was_read(
    pipeline, users, no_disk, tmp_path, maker, filename, fmt
):
    path = tmp_path / filename
    expected = maker(path)
    data = path.read_bytes()
    doc = _upload(pipeline, users, data, filename)
    assert (doc["status"], doc["format"]) == ("ready", fmt), doc
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["metadata"]["inspection"] == "ranged"
    if fmt == "pmtiles":  # its directory is read: the same facts as the whole file gives
        samples.assert_matches(doc["format"], doc["media_type"], doc["metadata"], expected)


def test_over_the_limit_checksum_mismatch_and_junk_are_still_rejected(pipeline, users, no_disk):
    doc = _upload(pipeline, users, GEOJSON, "a.geojson", sha256="0" * 64)
    assert doc["status"] == "rejected"
    assert doc["error"]["code"] == "checksum_mismatch"
    assert doc["sha256"] == hashlib.sha256(GEOJSON).hexdigest()


def test_over_the_limit_html_is_rejected(pipeline, users, no_disk):
    doc = _upload(pipeline, users, b"<html><body>hello</body></html>", "a.tif")
    assert doc["status"] == "rejected"
    assert doc["error"]["code"] == "unsupported_format"


def test_stream_sha256_matches_hashlib_across_chunks():
    from chalicelib.pipeline import ranged

    data = np.random.default_rng(5).integers(0, 255, 3 * ranged.STREAM_CHUNK_BYTES + 17, np.uint8)
    raw = data.tobytes()
    calls = []

    def read_at(start: int, length: int) -> bytes:
        calls.append(start)
        return raw[start : start + length]

    streamed = ranged.stream_sha256(len(raw), read_at, workers=3)
    assert streamed.sha256 == hashlib.sha256(raw).hexdigest()
    assert streamed.size == len(raw)
    assert sorted(calls) == [i * ranged.STREAM_CHUNK_BYTES for i in range(4)]


def _big_geotiff_with_overviews(path) -> bytes:
    """A tiled GeoTIFF of ~3 MiB of noise with internal overviews (as a COG has)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    pixels = np.random.default_rng(5).integers(0, 255, (3, 1024, 2048), dtype=np.uint8)
    profile = {
        "driver": "GTiff",
        "width": 2048,
        "height": 1024,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": from_origin(6.0, 47.0, 0.001, 0.001),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "photometric": "RGB",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
        dst.build_overviews([2, 4, 8], Resampling.average)
    return path.read_bytes()


def test_geotiff_over_the_limit_with_overviews_gets_a_preview_from_them(
    pipeline, users, no_disk, tmp_path
):
    from PIL import Image

    data = _big_geotiff_with_overviews(tmp_path / "cog.tif")
    doc = _upload(pipeline, users, data, "cog.tif")
    assert (doc["status"], doc["metadata"]["inspection"]) == ("ready", "ranged"), doc
    assert doc["metadata"]["overviews"] == 3
    # Drawn by GDAL from the object itself (the file was never copied): 2:1 like the raster.
    assert doc["preview"] == {"width": 512, "height": 256, "media_type": "image/webp"}
    # Hashing read the file once; inspection and preview together only a sliver more (the
    # header, IFDs and the smallest overview's tiles, in 256 KiB blocks), not its pixels.
    extra = sum(n for _, n in no_disk) - len(data)
    assert 0 < extra < len(data) / 4, (len(no_disk), extra, len(data))
    alice = users.headers("alice")
    shown = pipeline.client.http.get(f"/v1/maps/{doc['id']}/preview", headers=alice)
    assert shown.status_code == 302
    image = requests.get(shown.headers["Location"], timeout=30)
    with Image.open(io.BytesIO(image.content)) as drawn:
        assert drawn.size == (512, 256)
        assert np.asarray(drawn.convert("L")).std() > 5  # noise, not a blank image


def test_geotiff_over_the_limit_without_overviews_has_no_preview(
    pipeline, users, no_disk, tmp_path
):
    # Drawing it would mean decoding the whole raster: what reading in place avoids.
    data = _big_geotiff(tmp_path / "ortho.tif")
    doc = _upload(pipeline, users, data, "ortho.tif")
    assert doc["status"] == "ready"
    assert doc["preview"] is None
