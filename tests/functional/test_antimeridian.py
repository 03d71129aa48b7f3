"""Maps across the antimeridian: a GDAL-written GeoTIFF spanning 170..190 E goes ready with an
RFC 7946 bbox (west > east), and browse, STAC search and STAC items find and draw it from
either side of the 180th meridian."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rasterio  # noqa: F401 - loads GDAL before tests.gdal_writers binds to it
from affine import Affine

from tests import gdal_writers as gw
from tests.conftest import body

HOST = "stac.test:8080"


def _crossing_geotiff(tmp_path: Path) -> bytes:
    path = tmp_path / "dateline.tif"
    data = gw.pattern(1, 50, 100)
    gw.write_raster(path, data, "EPSG:4326", Affine(0.2, 0.0, 170.0, 0.0, -0.2, -10.0))
    return path.read_bytes()


@pytest.fixture
def crossing_map(pipeline: Any, users: Any, tmp_path: Path) -> tuple[str, dict[str, str]]:
    users.create("alice")
    alice = users.headers("alice")
    created = pipeline.upload_direct(alice, _crossing_geotiff(tmp_path), "dateline.tif")
    assert created.status_code == 201, created.body
    map_id = body(created)["map"]["id"]
    pipeline.deliver_s3(map_id)
    assert pipeline.process_all() == {"batchItemFailures": []}
    return map_id, alice


def _browse(client: Any, headers: dict[str, str], bbox: str) -> list[str]:
    response = client.http.get(f"/v1/maps?bbox={bbox}", headers=headers)
    assert response.status_code == 200, response.body
    return [m["id"] for m in body(response)["items"]]


def _stac(client: Any, headers: dict[str, str], bbox: str) -> list[str]:
    response = client.http.get(f"/stac/search?bbox={bbox}", headers={"Host": HOST, **headers})
    assert response.status_code == 200, response.body
    return [f["id"] for f in json.loads(response.body)["features"]]


def test_geotiff_across_the_antimeridian_gets_an_rfc7946_bbox(pipeline, crossing_map):
    map_id, alice = crossing_map
    doc = body(pipeline.get(map_id, alice))
    assert doc["status"] == "ready"
    assert doc["metadata"]["crs"] == "EPSG:4326"
    assert doc["metadata"]["native_bbox"] == pytest.approx([170.0, -20.0, 190.0, -10.0])
    assert doc["metadata"]["bbox"] == pytest.approx([170.0, -20.0, -170.0, -10.0])


@pytest.mark.parametrize(
    ("bbox", "found"),
    [
        ("175,-15,178,-12", True),  # west of the meridian
        ("-178,-15,-175,-12", True),  # east of it
        ("179,-15,180,-12", True),
        ("-180,-15,-179,-12", True),
        ("-169,-15,-160,-12", False),  # just past its east edge
        ("160,-15,169,-12", False),  # just before its west edge
        ("0,-15,10,-12", False),  # the far side of the world, which a box -170..170 would hold
        ("175,0,178,5", False),  # north of it
        ("-180,-90,180,90", True),
        # Search boxes across the antimeridian (west > east), as STAC and the map's own bbox
        # write them: a client can send a map's bbox back.
        ("170,-20,-170,-10", True),
        ("178,-15,-178,-12", True),
        ("100,-15,-100,-12", True),
        ("-100,-15,100,-12", False),  # everything but the Pacific
        ("172,0,-172,5", False),  # across the meridian too, but north of it
    ],
)
def test_browse_finds_it_from_either_side_only(client, crossing_map, bbox, found):
    map_id, alice = crossing_map
    assert _browse(client, alice, bbox) == ([map_id] if found else [])


@pytest.mark.parametrize(
    ("bbox", "found"),
    [
        ("175,-15,178,-12", True),
        ("-178,-15,-175,-12", True),
        ("178,-15,-178,-12", True),  # a search box across the antimeridian too
        ("160,-15,-175,-12", True),
        ("165,-15,-172,-30", None),  # south above north: 400
        ("-169,-15,-160,-12", False),
        ("0,-15,10,-12", False),
        ("100,-15,-100,-12", True),
        ("-100,-15,100,-12", False),  # everything but the Pacific
    ],
)
def test_stac_search_finds_it_from_either_side_only(client, crossing_map, bbox, found):
    map_id, alice = crossing_map
    if found is None:
        response = client.http.get(f"/stac/search?bbox={bbox}", headers={"Host": HOST, **alice})
        assert response.status_code == 400
        return
    assert _stac(client, alice, bbox) == ([map_id] if found else [])


def test_stac_item_splits_its_footprint_at_the_antimeridian(client, crossing_map):
    map_id, alice = crossing_map
    response = client.http.get(
        f"/stac/collections/geotiff/items/{map_id}", headers={"Host": HOST, **alice}
    )
    assert response.status_code == 200, response.body
    item = json.loads(response.body)
    assert item["bbox"] == pytest.approx([170.0, -20.0, -170.0, -10.0])
    assert item["geometry"]["type"] == "MultiPolygon"
    west, east = item["geometry"]["coordinates"]
    assert {tuple(p) for p in west[0]} == {(170, -20), (180, -20), (180, -10), (170, -10)}
    assert {tuple(p) for p in east[0]} == {(-180, -20), (-170, -20), (-170, -10), (-180, -10)}
    assert item["properties"]["proj:bbox"] == pytest.approx([170.0, -20.0, 190.0, -10.0])


def test_the_grid_index_holds_it_for_queries_on_either_side(sql, crossing_map):
    """The cell walk (maps_cell_walk; small query boxes only) reads only the keys app.map_cells
    gives: the stored box's key must be among those of a query's two boxes."""
    map_id, _ = crossing_map
    for query in (
        [178.5, -14, 178.6, -13.9],
        [-178.6, -14, -178.5, -13.9],
        [179.9, -14, -179.9, -13.9],
    ):
        hit = sql.run(
            "SELECT app.map_cell(m.bbox) = ANY (app.map_cells((q.b)[1], 200)"
            " || app.map_cells((q.b)[2], 200)) AND (m.bbox && (q.b)[1] OR m.bbox && (q.b)[2])"
            " FROM app.maps m, (SELECT app.query_boxes(:q::float8[]) AS b) q WHERE m.id = :id",
            q=query,
            id=map_id,
        )
        assert hit == [[True]], query
