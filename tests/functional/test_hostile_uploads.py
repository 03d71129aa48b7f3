"""The security review's hostile uploads through the real pipeline: a TIFF bomb, a truncated
TIFF, a billion-laughs KML behind a foreign DOCTYPE; and the bound on a legal but huge raster."""

from __future__ import annotations

import pytest
import rasterio.shutil

from chalicelib.pipeline import process as job_pipeline
from tests import samples
from tests.conftest import GEOJSON, body, log_lines
from tests.hostile_tiffs import shared_tile_bomb, short_strip_tiff


@pytest.fixture
def conversions(monkeypatch):
    """Every GDAL copy the optimizer starts (the COG conversion is the expensive work)."""
    calls = []
    real = rasterio.shutil.copy

    def counted(*args, **kwargs):
        calls.append(kwargs.get("driver"))
        return real(*args, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", counted)
    return calls


def _upload(pipeline, headers, data, filename):
    response = pipeline.upload_direct(headers, data, filename)
    assert response.status_code == 201, response.body
    return body(response)["map"]["id"]


def _timing(capsys, map_id):
    (timing,) = [t for t in log_lines(capsys, "job_time") if t["map_id"] == map_id]
    return timing


def test_the_tiff_bomb_is_rejected_before_any_decoding_and_delays_no_one(
    pipeline, alice, conversions, capsys
):
    bomb = _upload(pipeline, alice, shared_tile_bomb(), "bomb_shared.tif")
    small = _upload(pipeline, alice, GEOJSON, "small.geojson")
    for map_id in (bomb, small):
        pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}

    doc = body(pipeline.get(bomb, alice))
    assert (doc["status"], doc["error"]["code"]) == ("rejected", "too_large")
    assert doc["error"]["message"] == "Image decodes to far more pixels than its size can hold"
    assert body(pipeline.get(small, alice))["status"] == "ready"
    # The work done on the bomb: its tags were read, nothing was optimized or drawn.
    assert set(_timing(capsys, bomb)["steps_s"]) <= {"spool", "inspect"}
    assert conversions == []


def test_a_truncated_tiff_claiming_gigapixels_is_rejected_malformed(pipeline, alice):
    map_id = _upload(pipeline, alice, short_strip_tiff(), "short.tif")
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]["code"]) == ("rejected", "malformed")
    assert (doc.get("metadata") or {}).get("width") is None  # no impossible metadata kept


@pytest.mark.parametrize(
    "name", ["billion-laughs-lolz.kml", "billion-laughs-lolz.gpx", "billion-laughs-lolz.kmz"]
)
def test_billion_laughs_behind_any_doctype_is_xml_entities(pipeline, alice, tmp_path, name):
    path = tmp_path / name
    samples.HOSTILE[name][0](path)
    map_id = _upload(pipeline, alice, path.read_bytes(), name)
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["error"]["code"]) == ("rejected", "xml_entities")


def test_an_all_sparse_gigapixel_tiff_is_ready_without_a_conversion(
    pipeline, alice, conversions, capsys
):
    map_id = _upload(pipeline, alice, shared_tile_bomb(sparse=1.0), "blank.tif")
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert (doc["status"], doc["metadata"]["width"]) == ("ready", 45000)
    assert (doc["variants"] or {}).get("optimized") is None
    # 1.9 GiB of blank pixels would take minutes to re-encode for a COG far larger than the
    # 62 KB upload: the optimizer does not start it.
    assert conversions == []


def test_the_optimizer_is_not_started_past_its_cap(
    pipeline, alice, conversions, monkeypatch, tmp_path, capsys
):
    path = tmp_path / "scan.tif"
    samples.make_tiff(path)
    monkeypatch.setattr(job_pipeline, "OPTIMIZE_CAP_SECONDS", 0.0)
    map_id = _upload(pipeline, alice, path.read_bytes(), "scan.tif")
    pipeline.deliver_s3(map_id)
    pipeline.process_all()
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "ready"
    assert (doc["variants"] or {}).get("optimized") is None
    (skipped,) = log_lines(capsys, "optimize_skipped")
    assert skipped["reason"].startswith("deadline reached")
    assert conversions == []
