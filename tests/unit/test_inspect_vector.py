"""GeoJSON (streamed) and KML/GPX (defusedxml) inspection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.formats import geojson
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from tests import samples


def _write_json(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def _code(path: str) -> str:
    with pytest.raises(Rejected) as caught:
        inspect_file(path)
    return caught.value.code


def _fc(n: int) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            "properties": {"i": i, "s": "é" * 5},
            "geometry": {"type": "Point", "coordinates": [i * 0.5 - 90, i * 0.25 - 40]},
        }
        for i in range(n)
    ]
    return {"features": features, "name": "late type", "type": "FeatureCollection"}


def test_streaming_across_tiny_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 7-byte window splits numbers, strings and multi-byte characters everywhere.
    monkeypatch.setattr(geojson, "READ_CHUNK", 7)
    meta = inspect_file(_write_json(tmp_path / "a.json", _fc(40))).metadata
    assert meta["feature_count"] == 40
    assert meta["bbox"] == [-90.0, -40.0, -70.5, -30.25]


def test_feature_over_element_budget_is_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(geojson, "READ_CHUNK", 16)
    monkeypatch.setattr(geojson, "MAX_ELEMENT_CHARS", 64)
    doc = _fc(1)
    doc["features"][0]["properties"]["blob"] = "x" * 1000
    assert _code(_write_json(tmp_path / "b.json", doc)) == "too_large"


def test_file_over_budget_is_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geojson, "GEOJSON_MAX_BYTES", 10)
    assert _code(_write_json(tmp_path / "c.json", _fc(2))) == "too_large"


def test_single_feature_and_bare_geometry(tmp_path: Path) -> None:
    feature = {
        "type": "Feature",
        "properties": None,
        "geometry": {
            "type": "MultiPolygon",
            "coordinates": [
                [[[1, 2], [3, 2], [3, 4], [1, 2]]],
                [[[-5, -6], [0, 0], [-5, 0], [-5, -6]]],
            ],
        },
    }
    meta = inspect_file(_write_json(tmp_path / "f.json", feature)).metadata
    assert (meta["feature_count"], meta["bbox"]) == (1, [-5.0, -6.0, 3.0, 4.0])
    collection = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [1, 1]},
            {"type": "MultiPoint", "coordinates": [[2, 3]]},
        ],
    }
    meta = inspect_file(_write_json(tmp_path / "g.json", collection)).metadata
    assert meta["bbox"] == [1.0, 1.0, 2.0, 3.0]
    assert meta["geometry_types"] == ["MultiPoint", "Point"]


def test_empty_collection_has_no_bbox(tmp_path: Path) -> None:
    meta = inspect_file(
        _write_json(tmp_path / "e.json", {"type": "FeatureCollection", "features": []})
    ).metadata
    assert meta["feature_count"] == 0 and meta["bbox"] is None


def test_legacy_crs_member_is_converted(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [0, 0]},
            }
        ],
    }
    meta = inspect_file(_write_json(tmp_path / "l.json", doc)).metadata
    assert meta["crs"] == "EPSG:3857" and meta["bbox"] == [0.0, 0.0, 0.0, 0.0]


def test_projected_coordinates_without_crs_give_no_bbox(tmp_path: Path) -> None:
    doc = {"type": "Point", "coordinates": [500000, 5200000]}
    meta = inspect_file(_write_json(tmp_path / "p.json", doc)).metadata
    assert meta["bbox"] is None and meta["coordinates_out_of_range"] is True


@pytest.mark.parametrize(
    "text",
    [
        b'{"type": "Point", "coordinates": [true, 1]}',
        b'{"type": "Point", "coordinates": [1]}',
        b'{"type": "Point", "coordinates": [1, 2]} {"more": 1}',
        b'{"type": "Point", "coordinates": [1, 2], "x": ' + b"9" * 5000 + b"}",
        b'{"type": "Point", "coordinates": [1, 2], "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
        b'{"type": "FeatureCollection", "features": [1, 2]}',
        b'{"type": "Point", "coordinates": [1, 2], "x": "\xff\xfe"}',
        b'{"type": "Point", "coordinates": [1, 2]}\xff',
        b'{"type": "FeatureCollection", "features": null}',
        b'{"type": "Feature", "geometry": {"type": "Circle", "coordinates": [1, 2]}}',
        b'{"type": "Point", "coordinates": [-Infinity, 1]}',
    ],
)
def test_invalid_geojson_is_malformed(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text)
    assert _code(str(path)) == "malformed"


def test_invalid_utf8_after_geojson_start_is_malformed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(geojson, "READ_CHUNK", 8)
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"type": "Point", "coordinates": [1, 2], "name": "Z\xfcrich"}')
    assert _code(str(path)) == "malformed"


def test_unhashable_type_member_is_not_geojson(tmp_path: Path) -> None:
    assert (
        _code(_write_json(tmp_path / "u.json", {"type": ["Point"], "coordinates": [1, 2]}))
        == "unsupported_format"
    )


def _kml(body: str, ns: str = samples.KML_NS) -> bytes:
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    return f'{head}<kml xmlns="{ns}"><Document>{body}</Document></kml>'.encode()


def test_kml_gx_track_and_old_namespace(tmp_path: Path) -> None:
    path = tmp_path / "t.kml"
    track = (
        '<Placemark><gx:Track xmlns:gx="http://www.google.com/kml/ext/2.2">'
        "<gx:coord>8.5 47.3 400</gx:coord><gx:coord>8.6 47.4 410</gx:coord></gx:Track></Placemark>"
    )
    path.write_bytes(_kml(track, "http://earth.google.com/kml/2.1"))
    meta = inspect_file(str(path)).metadata
    assert meta["feature_count"] == 1 and meta["bbox"] == [8.5, 47.3, 8.6, 47.4]


def test_kml_with_junk_coordinates_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "j.kml"
    path.write_bytes(
        _kml("<Placemark><Point><coordinates>abc,def</coordinates></Point></Placemark>")
    )
    assert _code(str(path)) == "malformed"


def test_kml_behind_long_prolog_is_still_parsed(tmp_path: Path) -> None:
    path = tmp_path / "c.kml"
    path.write_bytes(b"<!--" + b"x" * 10000 + b"-->" + _kml("<Placemark/>").split(b"?>", 1)[1])
    found = inspect_file(str(path))
    assert found.format == "kml" and found.metadata["feature_count"] == 1


def test_xml_behind_long_prolog_that_is_not_kml(tmp_path: Path) -> None:
    path = tmp_path / "c.xml"
    path.write_bytes(b"<!--" + b"x" * 10000 + b"--><rss/>")
    assert _code(str(path)) == "unsupported_format"


def test_gpx_bounds_used_when_there_are_no_points(tmp_path: Path) -> None:
    path = tmp_path / "b.gpx"
    path.write_bytes(
        b'<gpx xmlns="http://www.topografix.com/GPX/1/1" version="1.1"><metadata>'
        b'<bounds minlat="1" minlon="2" maxlat="3" maxlon="4"/></metadata></gpx>'
    )
    meta = inspect_file(str(path)).metadata
    assert meta["bbox"] == [2.0, 1.0, 4.0, 3.0] and meta["feature_count"] == 0


def test_gpx_point_without_lat_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "n.gpx"
    path.write_bytes(b'<gpx version="1.1"><wpt lon="2"/></gpx>')
    assert _code(str(path)) == "malformed"


def test_external_dtd_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.kml"
    path.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE kml SYSTEM "http://example.invalid/x.dtd"><kml/>'
    )
    assert _code(str(path)) == "xml_entities"


def test_kml_coordinates_stream_across_tiny_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.formats import xmlgeo

    monkeypatch.setattr(xmlgeo, "READ_CHUNK", 5)
    tuples = " ".join(f"{i * 0.5 - 50}, {i * 0.25 - 20} ,{i}" for i in range(200))
    path = tmp_path / "s.kml"
    path.write_bytes(
        _kml(
            f"<Placemark><LineString><coordinates>\n{tuples}\n</coordinates></LineString></Placemark>"
        )
    )
    meta = inspect_file(str(path)).metadata
    assert meta["bbox"] == [-50.0, -20.0, 49.5, 29.75]


def test_deeply_nested_xml_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "deep.kml"
    path.write_bytes(b"<kml>" + b"<Folder>" * 5000 + b"</Folder>" * 5000 + b"</kml>")
    assert _code(str(path)) == "malformed"


def test_xml_size_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.formats import xmlgeo

    path = tmp_path / "t.gpx"
    samples.make_gpx(path)
    monkeypatch.setattr(xmlgeo, "XML_MAX_BYTES", 100)
    assert _code(str(path)) == "too_large"
