"""The two downloads of a map save under names that tell them apart: a COG (other bytes than
the upload, possibly larger) as name.cog.tif, the upload under its own name; a gzip variant
keeps the upload's name (HTTP clients decode it to the upload's very bytes)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import GEOJSON, body


def _stripped_geotiff(tmp_path):
    # Uncompressed and stripped, without overviews: what processing turns into a COG.
    from affine import Affine

    from tests.gdal_writers import pattern, write_raster

    path = tmp_path / "in.tif"
    write_raster(path, pattern(3, 300, 400), "EPSG:4326", Affine(0.01, 0, 10.0, 0, -0.01, 50.0))
    return path.read_bytes()


def _ready(pipeline, alice, data, filename):
    created = pipeline.upload_direct(alice, data, filename)
    assert created.status_code == 201, created.body
    map_id = body(created)["map"]["id"]
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "ready", doc
    return doc


def _saved_as(pipeline, map_id, alice, variant=None):
    """The file name the download's presigned URL makes a browser save, and the response's
    own Content-Disposition when the URL is followed."""
    query = f"?redirect=false&variant={variant}" if variant else "?redirect=false"
    response = pipeline.client.http.get(f"/v1/maps/{map_id}/download{query}", headers=alice)
    assert response.status_code == 200, response.body
    url = body(response)["url"]
    disposition = parse_qs(urlsplit(url).query)["response-content-disposition"][0]
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Disposition"] == disposition
    return disposition


def _disposition(ascii_name, utf8_quoted):
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{utf8_quoted}"


@pytest.mark.parametrize(
    ("uploaded", "cog", "cog_quoted"),
    [
        ("alps.tif", "alps.cog.tif", "alps.cog.tif"),
        ("Zürich Karte.TIFF", "Zürich Karte.cog.tif", "Z%C3%BCrich%20Karte.cog.tif"),
    ],
)
def test_a_cog_downloads_under_its_own_name_the_original_under_the_upload_name(
    pipeline, alice, tmp_path, uploaded, cog, cog_quoted
):
    doc = _ready(pipeline, alice, _stripped_geotiff(tmp_path), uploaded)
    optimized = doc["variants"]["optimized"]
    assert optimized["kind"] == "cog"
    # The map document says which file is which.
    assert optimized["filename"] == cog
    assert doc["variants"]["original"]["filename"] == uploaded == doc["filename"]

    ascii_cog = cog.replace("ü", "_")
    assert _saved_as(pipeline, doc["id"], alice) == _disposition(ascii_cog, cog_quoted)
    assert _saved_as(pipeline, doc["id"], alice, "optimized") == _disposition(ascii_cog, cog_quoted)
    original = _saved_as(pipeline, doc["id"], alice, "original")
    assert original.startswith(f'attachment; filename="{uploaded.replace("ü", "_")}";')
    assert original != _saved_as(pipeline, doc["id"], alice)


def test_a_gzip_variant_keeps_the_upload_name(pipeline, alice):
    doc = _ready(pipeline, alice, GEOJSON, "trails.geojson")
    assert doc["variants"]["optimized"]["kind"] == "gzip"
    assert doc["variants"]["optimized"]["filename"] == "trails.geojson"
    expected = _disposition("trails.geojson", "trails.geojson")
    assert _saved_as(pipeline, doc["id"], alice) == expected
    assert _saved_as(pipeline, doc["id"], alice, "original") == expected


@pytest.mark.parametrize(
    ("filename", "kind", "saved"),
    [
        ("alps.tif", "cog", "alps.cog.tif"),
        ("alps.TIF", "cog", "alps.cog.tif"),
        ("alps.tiff", "cog", "alps.cog.tif"),
        ("scan", "cog", "scan.cog.tif"),
        ("alps.tif.bak", "cog", "alps.tif.bak.cog.tif"),
        ("alps.cog.tif", "cog", "alps.cog.cog.tif"),  # never the upload's own name
        ("trails.geojson", "gzip", "trails.geojson"),
    ],
)
def test_variant_filename_rule(sql, filename, kind, saved):
    got = sql.run("SELECT app.variant_filename(:f, :k)", f=filename, k=kind)[0][0]
    assert got == saved
