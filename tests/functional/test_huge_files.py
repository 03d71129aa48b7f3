"""Uploads too large for the processor's disk: the checksum is streamed from S3 and the
metadata read by ranged reads; the map ends ready with what could be read, and says so.
SPOOL_LIMIT_BYTES is lowered so that small files take that path."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests

from chalicelib.formats.inspect import inspect_file
from tests import samples
from tests.conftest import BUCKET, GEOJSON, body


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


# Files too large to hash within one job: never failed for size. Hashing is skipped up front
# (estimate) or given up (measured rate), and the external system hashes them when configured.


@pytest.fixture
def unhashable(monkeypatch, no_disk):
    """Every upload is too large to hash within the job at the assumed rate."""
    from chalicelib.pipeline import process

    monkeypatch.setattr(process, "CHECKSUM_BYTES_PER_SECOND", 1e-3)
    return no_disk


@contextlib.contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    """The setting changed for the block; restored before the settings cache is cleared, so
    that no later fixture's teardown caches the changed one."""
    from chalicelib import config

    saved = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    config.get_settings.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved
        config.get_settings.cache_clear()


@pytest.fixture
def no_external():
    with _env("EXTERNAL_QUEUE_URL", None):
        yield


def test_too_large_to_hash_ends_ready_with_the_reason(
    pipeline, users, unhashable, no_external, tmp_path, capsys
):
    data = _big_geotiff(tmp_path / "ortho.tif")
    doc = _upload(pipeline, users, data, "ortho.tif", sha256=hashlib.sha256(data).hexdigest())
    assert (doc["status"], doc["error"]) == ("ready", None), doc
    # No checksum is claimed that was not computed: not even the declared one.
    assert doc["sha256"] is None
    assert doc["variants"]["original"].get("sha256") is None
    skipped = doc["metadata"]["checksum"]["skipped"]
    assert "too large to hash within one processing job" in skipped
    assert "no external processing system" in skipped
    assert "declared with the upload was not verified" in skipped
    # What could be read was read: the metadata by ranged reads, none of the pixels.
    assert doc["format"] == "geotiff"
    assert doc["metadata"]["bbox"] == pytest.approx([6.0, 45.976, 7.024, 47.0])
    assert sum(n for _, n in unhashable) < len(data) / 20
    assert '"event": "checksum_skipped"' in capsys.readouterr().out


def test_hashing_slower_than_the_job_allows_is_given_up(
    pipeline, users, no_disk, no_external, monkeypatch, tmp_path, capsys
):
    import time as _time

    from chalicelib import storage
    from chalicelib.pipeline import process as job_pipeline
    from chalicelib.pipeline import ranged

    monkeypatch.setattr(ranged, "STREAM_CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(job_pipeline, "CHECKSUM_MEASURE_SECONDS", 0.1)
    recording = storage.read_range

    def slow(key: str, start: int, length: int, **kwargs: Any) -> bytes:
        _time.sleep(0.3)
        return recording(key, start, length, **kwargs)

    monkeypatch.setattr(storage, "read_range", slow)
    data = _big_geotiff(tmp_path / "ortho.tif")
    # The job has 21 s: hashing must end 20 s before, and S3 answers each read in 0.3 s.
    with _env("JOB_BUDGET_SECONDS", "21"):
        doc = _upload(pipeline, users, data, "ortho.tif")
    assert (doc["status"], doc["sha256"]) == ("ready", None), doc
    assert "too large to hash" in doc["metadata"]["checksum"]["skipped"]
    assert doc["metadata"]["width"] == 1024
    hashed = sum(n for _, n in no_disk if n == 64 * 1024)
    assert 0 < hashed < len(data) / 2  # given up early, from the measured rate
    skipped = [line for line in capsys.readouterr().out.splitlines() if "checksum_skipped" in line]
    assert len(skipped) == 1 and '"reason": "measured"' in skipped[0]


def _external_round(pipeline, stack, map_id, **worker):
    from tests import external_worker
    from tests.events import s3_object_created

    (job,) = external_worker.take_jobs(pipeline.sqs, stack["external_url"])
    assert job["map_id"] == map_id
    result = external_worker.run_job(pipeline.s3, job, **worker)
    event = s3_object_created(BUCKET, job["output"]["result_key"], len(result))
    pipeline.client.lambda_.invoke("on_upload", event)
    assert pipeline.process_all() == {"batchItemFailures": []}
    return job


@pytest.mark.parametrize(
    ("maker", "filename", "task", "variant"),
    [
        (None, "trails.geojson", "gzip", "gzip"),
        (samples.make_pmtiles, "tiles.pmtiles", "sha256", None),
    ],
)
def test_too_large_to_hash_is_hashed_by_the_external_system(
    pipeline, users, stack, unhashable, tmp_path, maker, filename, task, variant
):
    path = tmp_path / filename
    if maker:
        maker(path)
    else:
        path.write_bytes(GEOJSON)
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    users.create("alice")
    alice = users.headers("alice")
    created = body(pipeline.create_presigned(alice, filename=filename, size=len(data), sha256=sha))
    map_id = created["map"]["id"]
    assert pipeline.post_to_s3(created["upload"], data) in (200, 201, 204)
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    waiting = body(pipeline.get(map_id, alice))
    assert (waiting["status"], waiting["stage"]) == ("processing", "external"), waiting

    job = _external_round(pipeline, stack, map_id)
    assert job["task"] == task
    assert job["report_source_sha256"] is True and job["source"]["sha256"] is None
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["sha256"]) == ("ready", sha), doc
    assert "checksum" not in doc["metadata"]
    assert (doc["variants"].get("optimized") or {}).get("kind") == variant
    left = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"maps/{map_id}/external/")
    assert left.get("KeyCount", 0) == (1 if variant else 0)  # a checksum result is not kept


def test_external_checksum_other_than_the_declared_one_is_rejected(
    pipeline, users, stack, unhashable
):
    doc = _upload(pipeline, users, GEOJSON, "a.geojson", sha256=hashlib.sha256(b"x").hexdigest())
    assert doc["stage"] == "external", doc
    _external_round(pipeline, stack, doc["id"])
    alice = users.headers("alice")
    doc = body(pipeline.get(doc["id"], alice))
    assert (doc["status"], doc["error"]["code"]) == ("rejected", "checksum_mismatch")
    assert doc["sha256"] == hashlib.sha256(GEOJSON).hexdigest()


def test_external_result_without_the_checksum_is_ready_with_the_reason(
    pipeline, users, stack, unhashable
):
    waiting = _upload(pipeline, users, GEOJSON, "a.geojson")
    _external_round(pipeline, stack, waiting["id"], source_sha256="")
    doc = body(pipeline.get(waiting["id"], users.headers("alice")))
    assert (doc["status"], doc["sha256"]) == ("ready", None), doc
    assert "did not report its SHA-256" in doc["metadata"]["checksum"]["skipped"]
    # The inspection's findings stay as they were recorded at the hand-off.
    assert {k: v for k, v in doc["metadata"].items() if k != "checksum"} == waiting["metadata"]
    assert doc["format"] == "geojson"
    assert doc["variants"]["optimized"]["kind"] == "gzip"
