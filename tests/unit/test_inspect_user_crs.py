"""CRSs without an EPSG code, and bboxes across the antimeridian, in files GDAL (rasterio's
bundled libgdal) wrote: the WGS84 bbox must be GDAL's own reprojection of the extent, and
`crs` a name that says what the CRS is."""

# ruff: noqa: E501 - the PROJECTIONS table: one PROJ definition a line reads best

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from chalicelib.formats import geo
from chalicelib.formats.inspect import inspect_file
from tests import gdal_writers as gw
from tests.gdal_writers import feature

DEGREES = 1e-6

# PROJ definitions GDAL writes as user-defined GeoKeys (ProjectedCSTypeGeoKey 32767) with the
# projection's parameters, one per GeoTIFF coordinate transformation, and a native box in each.
PROJECTIONS = {
    "laea": ("+proj=laea +lat_0=52 +lon_0=10 +ellps=GRS80", (4e6, 3e6, 4.1e6, 3.1e6)),
    "aea-clarke": ("+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=24 +lon_0=-96 +ellps=clrk66", (0, 1e6, 5e5, 1.5e6)),
    "lcc-2sp": ("+proj=lcc +lat_1=49 +lat_2=44 +lat_0=46.5 +lon_0=3 +x_0=700000 +y_0=6600000 +ellps=intl", (6e5, 6.5e6, 7e5, 6.6e6)),
    "lcc-1sp": ("+proj=lcc +lat_1=40 +lat_0=40 +lon_0=-100 +k_0=0.999 +x_0=1000 +y_0=2000 +ellps=WGS84", (0, 0, 1e5, 1e5)),
    "tmerc-us-feet": ("+proj=tmerc +lat_0=10 +lon_0=20 +k=0.9995 +x_0=100000 +ellps=bessel +units=us-ft", (0, 1e6, 3e5, 1.3e6)),
    "tmerc-south": ("+proj=tmerc +lat_0=-22 +lon_0=23 +k=1 +axis=wsu +ellps=WGS84", (-1e5, -1e5, 0, 0)),
    "polar-stere-b": ("+proj=stere +lat_0=-90 +lat_ts=-71 +lon_0=30 +ellps=WGS84", (-1e6, -1e6, -5e5, -5e5)),
    "polar-stere-a": ("+proj=stere +lat_0=90 +lon_0=-45 +k=0.994 +x_0=2000000 +y_0=2000000 +ellps=WGS84", (0, 0, 1e6, 1e6)),
    "merc-2sp": ("+proj=merc +lat_ts=30 +lon_0=100 +ellps=WGS84", (0, 0, 1e6, 1e6)),
    "eqc": ("+proj=eqc +lat_ts=20 +lon_0=0 +ellps=WGS84", (0, 0, 1e6, 1e6)),
    "sinu-sphere": ("+proj=sinu +lon_0=50 +R=6371007", (0, 0, 1e6, 1e6)),
    "aeqd": ("+proj=aeqd +lat_0=40 +lon_0=-75 +ellps=WGS84", (0, 0, 1e5, 1e5)),
    "omerc-b": ("+proj=omerc +lat_0=4 +lonc=102.25 +alpha=323.0257905 +k=0.99984 +x_0=40000 +ellps=evrst69 +gamma=323.1301023611111", (0, 0, 1e5, 1e5)),
    "omerc-a": ("+proj=omerc +no_uoff +lat_0=4 +lonc=102.25 +alpha=323.0257905 +k=0.99984 +x_0=40000 +ellps=evrst69 +gamma=323.1301023611111", (0, 0, 1e5, 1e5)),
    "cass": ("+proj=cass +lat_0=10 +lon_0=-61 +ellps=clrk80", (0, 0, 5e4, 5e4)),
    "robin": ("+proj=robin +lon_0=0 +ellps=WGS84", (0, 0, 1e6, 1e6)),
    "ortho": ("+proj=ortho +lat_0=40 +lon_0=10 +ellps=WGS84", (0, 0, 1e6, 1e6)),
    "poly": ("+proj=poly +lat_0=0 +lon_0=-54 +ellps=aust_SA", (0, 0, 1e6, 1e6)),
    "eqdc": ("+proj=eqdc +lat_0=40 +lon_0=-96 +lat_1=20 +lat_2=60 +ellps=GRS80", (0, 0, 1e6, 1e6)),
    "paris-meridian": ("+proj=tmerc +lat_0=0 +lon_0=3 +k=1 +ellps=intl +pm=paris", (0, 0, 1e5, 1e5)),
    "lonlat-clarke-across": ("+proj=longlat +ellps=clrk66 +no_defs", (170, -20, 190, -10)),
    "laea-across": ("+proj=laea +lat_0=-15 +lon_0=180 +ellps=GRS80", (-5e5, -5e5, 5e5, 5e5)),
}  # fmt: skip


def _rfc7946(bounds: list[float] | tuple[float, ...]) -> list[float]:
    west, south, east, north = bounds
    return [west, south, east - 360 if east > 180 else east, north]


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_geotiff_in_a_user_defined_crs_gets_gdals_bbox(tmp_path: Path, name: str) -> None:
    proj, (minx, miny, maxx, maxy) = PROJECTIONS[name]
    path = tmp_path / f"{name}.tif"
    transform = Affine((maxx - minx) / 20, 0.0, minx, 0.0, -(maxy - miny) / 20, maxy)
    gw.write_raster(path, gw.pattern(1, 20, 20), CRS.from_proj4(proj), transform)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() is None  # GDAL wrote no code
        expected = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)

    meta = inspect_file(str(path)).metadata

    assert meta["bbox"] == pytest.approx(_rfc7946(expected), abs=DEGREES)
    # Named: "EPSG:n" where PROJ recognises it, else its PROJ string (GDAL cites "unknown").
    assert meta["crs"].startswith(("EPSG:", "+proj="))
    if meta["crs"].startswith("+proj="):  # the name is the CRS: GDAL places points alike
        middle = ([(minx + maxx) / 2], [(miny + maxy) / 2])
        ours = rasterio.warp.transform(CRS.from_proj4(meta["crs"]), "EPSG:4326", *middle)
        written = rasterio.warp.transform(CRS.from_proj4(proj), "EPSG:4326", *middle)
        assert [v[0] for v in ours] == pytest.approx([v[0] for v in written], abs=1e-9)


def test_the_reviewers_laea_geotiff_is_named_by_its_proj_string(tmp_path: Path) -> None:
    path = tmp_path / "laea.tif"
    transform = rasterio.transform.from_bounds(4e6, 3e6, 4.1e6, 3.1e6, 100, 100)
    laea = CRS.from_proj4("+proj=laea +lat_0=52 +lon_0=10 +ellps=GRS80")
    gw.write_raster(path, gw.pattern(1, 100, 100), laea, transform)
    meta = inspect_file(str(path)).metadata
    assert meta["crs"] == (
        "+proj=laea +lat_0=52 +lon_0=10 +x_0=0 +y_0=0 +a=6378137 +rf=298.257222101 +units=m"
        " +no_defs"
    )
    assert meta["bbox"] is not None


@pytest.mark.parametrize(
    ("crs", "bounds", "bbox"),
    [
        ("EPSG:4326", (170, -20, 190, -10), [170.0, -20.0, -170.0, -10.0]),
        ("EPSG:4326", (-190, -20, -170, -10), [170.0, -20.0, -170.0, -10.0]),
        ("EPSG:4326", (0, -90, 360, 90), [-180.0, -90.0, 180.0, 90.0]),  # a 0..360 global grid
        ("EPSG:4326", (190, 10, 200, 20), [-170.0, 10.0, -160.0, 20.0]),
        ("EPSG:3857", (19e6, -2e6, 21e6, -1e6), None),
        ("EPSG:32660", (6e5, 1e6, 9e5, 1.2e6), None),  # UTM 60N past 180 E
    ],
)
def test_geotiff_across_the_antimeridian(tmp_path: Path, crs, bounds, bbox) -> None:
    path = tmp_path / "across.tif"
    gw.write_raster(
        path, gw.pattern(1, 50, 50), crs, rasterio.transform.from_bounds(*bounds, 50, 50)
    )
    meta = inspect_file(str(path)).metadata
    assert meta["crs"] == crs
    assert meta["native_bbox"] == pytest.approx(list(bounds))
    expected = bbox or _rfc7946(gw.wgs84_bounds(path))
    assert meta["bbox"] == pytest.approx(expected, abs=DEGREES)
    assert meta["bbox"][0] > meta["bbox"][2] or bounds[0] >= 180 or bounds[2] - bounds[0] >= 360


# --- vectors ------------------------------------------------------------------------------------

LAEA = "+proj=laea +lat_0=52 +lon_0=10 +ellps=GRS80"
POINTS = [
    feature({"type": "Point", "coordinates": [7.4474, 46.9481]}, name="Bern"),
    feature({"type": "Point", "coordinates": [13.405, 52.52]}, name="Berlin"),
]


def _source(tmp_path: Path, features=POINTS) -> Path:
    path = tmp_path / "source.geojson"
    gw.write_geojson(path, features)
    return path


def _gdal_bbox(extent, crs: str) -> list[float]:
    return list(transform_bounds(CRS.from_user_input(crs), "EPSG:4326", *extent, densify_pts=21))


def test_geopackage_in_a_crs_without_code(tmp_path: Path) -> None:
    path = tmp_path / "laea.gpkg"
    gw.ogr2ogr(path, _source(tmp_path), "-f", "GPKG", "-nln", "cities", "-t_srs", LAEA)
    [gdal] = gw.gdal_layers(path)
    assert gdal.epsg is None
    with sqlite3_rows(
        path, "SELECT organization FROM gpkg_spatial_ref_sys WHERE srs_id > 0"
    ) as orgs:
        assert "NONE" in {o.upper() for o in orgs} or "EPSG" not in {o.upper() for o in orgs}

    meta = inspect_file(str(path)).metadata

    [layer] = meta["layers"]
    assert layer["bbox"] == pytest.approx(_gdal_bbox(gdal.extent, LAEA), abs=DEGREES)
    assert meta["bbox"] == layer["bbox"]
    assert layer["crs"].startswith("+proj=laea")
    assert CRS.from_proj4(layer["crs"]) == CRS.from_proj4(LAEA)


def test_zipped_shapefile_with_a_prj_without_code(tmp_path: Path) -> None:
    out = tmp_path / "shp"
    out.mkdir()
    gw.ogr2ogr(out / "cities.shp", _source(tmp_path), "-f", "ESRI Shapefile", "-t_srs", LAEA)
    [gdal] = gw.gdal_layers(out / "cities.shp")
    assert gdal.epsg is None
    path = tmp_path / "cities.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(out.iterdir()):
            zf.write(file, file.name)

    meta = inspect_file(str(path)).metadata

    [layer] = meta["layers"]
    assert layer["bbox"] == pytest.approx(_gdal_bbox(gdal.extent, LAEA), abs=DEGREES)
    assert layer["crs"].startswith("+proj=laea")  # GDAL names the .prj's CRS "unknown"


def test_geojson_with_a_crs_member_across_the_antimeridian(tmp_path: Path) -> None:
    """Fiji in UTM 60S, whose eastings run on past 180 E: GDAL writes the crs member."""
    fiji = [
        feature({"type": "Point", "coordinates": [178.0, -17.0]}, name="Suva"),
        feature({"type": "Point", "coordinates": [-178.5, -16.0]}, name="Lau"),
    ]
    path = tmp_path / "fiji-utm.geojson"
    gw.ogr2ogr(path, _write(tmp_path, "fiji", fiji), "-f", "GeoJSON", "-t_srs", "EPSG:32760")
    assert "EPSG::32760" in json.loads(path.read_text())["crs"]["properties"]["name"]
    meta = inspect_file(str(path)).metadata
    assert meta["crs"] == "EPSG:32760"
    [gdal] = gw.gdal_layers(path)
    expected = _rfc7946(_gdal_bbox(gdal.extent, "EPSG:32760"))
    assert expected[0] > expected[2]  # GDAL's box runs past 180 E too
    assert meta["bbox"] == pytest.approx(expected, abs=DEGREES)


def test_geojson_without_a_crs_member_is_not_wrapped(tmp_path: Path) -> None:
    """RFC 7946 longitudes never pass 180: such coordinates are projected data, not a grid."""
    path = tmp_path / "metres.geojson"
    gw.write_geojson(path, [feature({"type": "Point", "coordinates": [250.0, 40.0]})])
    meta = inspect_file(str(path)).metadata
    assert meta["bbox"] is None and meta["coordinates_out_of_range"] is True


# --- the bbox arithmetic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boxes", "union"),
    [
        ([[170, -20, -170, -10], [-175, 0, -160, 5]], [170, -20, -160, 5]),
        ([[170, -20, -170, -10], [160, 0, 165, 5]], [160, -20, -170, 5]),
        ([[170, -20, -170, -10], [0, 0, 10, 5]], [0, -20, -170, 5]),  # the shorter way round
        ([[170, -20, -170, -10], [-180, 0, 180, 5]], [-180, -20, 180, 5]),
        ([[170, -20, -170, -10], [-100, 0, 100, 5]], [170, -20, 100, 5]),  # either way: 290
        ([[1, 2, 3, 4], None, [5, 6, 7, 8]], [1, 2, 7, 8]),
        ([None], None),
    ],
)
def test_union_of_bboxes_across_the_antimeridian(boxes, union) -> None:
    assert geo.union_bbox(boxes) == union


def _write(tmp_path: Path, name: str, features) -> Path:
    path = tmp_path / f"{name}.geojson"
    gw.write_geojson(path, features)
    return path


class sqlite3_rows:
    """The first column of a query's rows, from a GeoPackage GDAL wrote."""

    def __init__(self, path: Path, query: str):
        import sqlite3

        self.conn = sqlite3.connect(path)
        self.rows = [str(r[0]) for r in self.conn.execute(query)]

    def __enter__(self) -> list[str]:
        return self.rows

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
