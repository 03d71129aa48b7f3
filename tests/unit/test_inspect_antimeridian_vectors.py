"""Vector maps across the antimeridian: features split at +-180 as RFC 7946 section 3.1.9
recommends, or spanning the Pacific, get a bbox whose west > east (the shortest longitude arc
covering them), in every vector format; written by GDAL (ogr2ogr) where it writes the format."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from chalicelib.formats import geo
from chalicelib.formats.inspect import inspect_file
from tests import gdal_writers as gw
from tests import samples
from tests.gdal_writers import feature


def _box(west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


# Fiji, split at 180 as RFC 7946 recommends: one MultiPolygon, or one Feature per side.
FIJI_MULTI = [
    feature(
        {
            "type": "MultiPolygon",
            "coordinates": [_box(177, -19, 180, -15), _box(-180, -19, -178, -15)],
        },
        name="Fiji",
    )
]
FIJI_TWO = [
    feature({"type": "Polygon", "coordinates": _box(177, -19, 180, -15)}, name="west"),
    feature({"type": "Polygon", "coordinates": _box(-180, -19, -178, -15)}, name="east"),
]
FIJI_BBOX = [177.0, -19.0, -178.0, -15.0]
NORMAL = [feature({"type": "Polygon", "coordinates": _box(5, 45, 10, 48)}, name="Alps")]
NORMAL_BBOX = [5.0, 45.0, 10.0, 48.0]
CASES = [
    ("fiji-multi", FIJI_MULTI, FIJI_BBOX),
    ("fiji-two", FIJI_TWO, FIJI_BBOX),
    ("normal", NORMAL, NORMAL_BBOX),
]


def _source(tmp_path: Path, features) -> Path:
    path = tmp_path / "source.geojson"
    gw.write_geojson(path, features)
    return path


@pytest.mark.parametrize(("name", "features", "bbox"), CASES)
def test_geojson(tmp_path: Path, name: str, features, bbox) -> None:
    if name == "fiji-multi":  # the reviewers' file: a bare Feature
        path = tmp_path / "fiji.geojson"
        path.write_text(json.dumps(features[0]))
    else:
        path = _source(tmp_path, features)
    assert inspect_file(str(path)).metadata["bbox"] == bbox


@pytest.mark.parametrize(("name", "features", "bbox"), CASES)
@pytest.mark.parametrize("driver", ["KML", "GPKG"])
def test_gdal_written_kml_and_geopackage(tmp_path: Path, driver: str, name, features, bbox) -> None:
    path = tmp_path / f"{name}.{driver.lower()}"
    gw.ogr2ogr(path, _source(tmp_path, features), "-f", driver)
    meta = inspect_file(str(path)).metadata
    assert meta["bbox"] == pytest.approx(bbox, abs=1e-9)
    if driver == "GPKG":
        [gdal] = gw.gdal_layers(path)  # GDAL's own extent is the plain min/max
        assert (gdal.extent[0] < gdal.extent[1]) and meta["layers"][0]["bbox"] == meta["bbox"]


def test_kmz_ground_overlay_across_the_antimeridian(tmp_path: Path) -> None:
    """KML's LatLonBox with west > east is drawn across 180, as Google Earth draws it."""
    kml = (
        '<kml xmlns="http://www.opengis.net/kml/2.2"><GroundOverlay><Icon><href>a.png</href>'
        "</Icon><LatLonBox><north>-15</north><south>-19</south><east>-178</east>"
        "<west>177</west></LatLonBox></GroundOverlay></kml>"
    )
    path = tmp_path / "fiji.kmz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("doc.kml", kml)
    assert inspect_file(str(path)).metadata["bbox"] == FIJI_BBOX


@pytest.mark.parametrize(
    ("lons", "bbox"),
    [
        ([178.0, 179.5, -179.5, -178.0], [178.0, -17.0, -178.0, -16.0]),  # a voyage over 180
        ([7.0, 7.5, 8.0, 8.5], [7.0, -17.0, 8.5, -16.0]),
    ],
)
def test_gpx_track(tmp_path: Path, lons: list[float], bbox) -> None:
    """rasterio's GDAL has no GPX driver (it needs expat): the track as GPX 1.1 writes it."""
    points = "".join(
        f'<trkpt lat="{-17.0 + i / 3:.6f}" lon="{lon}"><ele>0</ele></trkpt>'
        for i, lon in enumerate(lons)
    )
    path = tmp_path / "voyage.gpx"
    path.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="test" '
        'xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>voyage</name><trkseg>{points}</trkseg></trk></gpx>"
    )
    meta = inspect_file(str(path)).metadata
    assert meta["tracks"] == 1
    assert meta["bbox"] == pytest.approx(bbox, abs=1e-6)


@pytest.mark.parametrize(("name", "features", "bbox"), CASES)
def test_gdal_written_zipped_shapefile(tmp_path: Path, name: str, features, bbox) -> None:
    out = tmp_path / "shp"
    out.mkdir()
    gw.ogr2ogr(out / "islands.shp", _source(tmp_path, features), "-f", "ESRI Shapefile")
    path = tmp_path / "islands.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(out.iterdir()):
            zf.write(file, file.name)
    meta = inspect_file(str(path)).metadata
    assert meta["bbox"] == pytest.approx(bbox, abs=1e-9)
    assert meta["layers"][0]["native_bbox"][0] == (-180.0 if name.startswith("fiji") else 5.0)


@pytest.mark.parametrize(
    ("bounds", "bbox"),
    [
        ((177.0, -19.0, -178.0, -15.0), FIJI_BBOX),
        ((5.9, 45.8, 10.5, 47.8), [5.9, 45.8, 10.5, 47.8]),
    ],
)
def test_tileset_header_bounds_across_the_antimeridian(tmp_path: Path, bounds, bbox) -> None:
    mbtiles = tmp_path / "fiji.mbtiles"
    metadata = {"name": "Fiji", "format": "png", "bounds": ",".join(map(str, bounds))}
    samples._mbtiles(mbtiles, metadata, [])
    assert inspect_file(str(mbtiles)).metadata["bbox"] == pytest.approx(bbox, abs=1e-9)

    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    pmtiles = tmp_path / "fiji.pmtiles"
    with open(pmtiles, "wb") as fh:
        writer = Writer(fh)
        writer.write_tile(zxy_to_tileid(0, 0, 0), b"\x1a\x00")
        edges = ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")
        header = {key: round(value * 1e7) for key, value in zip(edges, bounds, strict=True)}
        header.update(tile_type=TileType.MVT, tile_compression=Compression.NONE)
        writer.finalize(header, {"name": "Fiji"})
    assert inspect_file(str(pmtiles)).metadata["bbox"] == pytest.approx(bbox, abs=1e-6)


def test_world_spanning_data_keeps_the_whole_world(tmp_path: Path) -> None:
    """Points all round the world (the widest gap 20 degrees, none across 180): -180..180,
    not a 340-degree box crossing somewhere; Russia-like data does cross."""
    world = [feature({"type": "Point", "coordinates": [lon, 0.0]}) for lon in range(-180, 181, 20)]
    path = _source(tmp_path, world)
    assert inspect_file(str(path)).metadata["bbox"] == [-180.0, 0.0, 180.0, 0.0]
    russia = [feature({"type": "Polygon", "coordinates": _box(19.6, 41, 180, 82)}),
              feature({"type": "Polygon", "coordinates": _box(-180, 64, -168.9, 72)})]  # fmt: skip
    path = _source(tmp_path, russia)
    assert inspect_file(str(path)).metadata["bbox"] == [19.6, 41.0, -168.9, 82.0]


@pytest.mark.parametrize(
    ("arcs", "span"),
    [
        ([(177, 177), (180, 180), (-180, -180), (-178, -178)], (177, -178)),
        ([(-180, -180), (180, 180)], (-180, 180)),  # a world rectangle's corners
        ([(177, 180)], (177, 180)),  # touching 180 from the west only
        ([(-180, -175)], (-180, -175)),
        ([(130, 130), (-120, -120)], (130, -120)),  # Japan to California
        ([(-170, -170), (170, 170)], (170, -170)),
        ([(-60, -60), (60, 60)], (-60, 60)),  # the gap across 180 is the wider
        ([(-100, -100), (100, 100)], (100, -100)),  # ... here the narrower
        ([(170, -170), (-160, 160)], (-180, 180)),  # gaps of 10: no shorter way
        ([], None),
        ([(0, 181)], None),
    ],
)
def test_lon_cover(arcs, span) -> None:
    assert geo.lon_cover(arcs) == span
