"""GeoTIFFs whose only CRS record is ArcGIS's "ESRI PE String" (a WKT in a citation GeoKey):
real files from rasterio's test data (tests/data/rasterio/README.md) and GDAL-written ones,
placed as GDAL places them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds

from chalicelib.formats import geo
from chalicelib.formats.inspect import inspect_file
from tests import gdal_writers as gw

DATA = Path(__file__).resolve().parent.parent / "data" / "rasterio"
DEGREES = 1e-6


def test_arcgis_esri_pe_string_geotiff_is_placed_as_gdal_places_it() -> None:
    path = DATA / "test_esri_wkt.tif"
    with rasterio.open(path) as ds:
        assert ds.crs.to_authority() == ("ESRI", "102039")
        expected = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)

    meta = inspect_file(str(path)).metadata

    assert meta["crs"] == "ESRI:102039"
    assert meta["bbox"] == pytest.approx(list(expected), abs=DEGREES)
    assert meta["bbox"] == pytest.approx([-96.17679, 44.30653, -96.17654, 44.30671], abs=1e-5)


def test_geostationary_full_disk_gets_the_visible_earth_as_bbox() -> None:
    path = DATA / "goes.tif"
    with rasterio.open(path) as ds:  # GDAL cannot bound it: the corners are off the Earth
        gdal = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    assert not all(math.isfinite(v) for v in gdal)

    meta = inspect_file(str(path)).metadata

    assert meta["crs"].startswith("+proj=geos +lon_0=-75 ")  # unnamed: its PROJ string
    # The disk a satellite 35 786 km above (0, -75) sees: acos(a / (a + h)) of arc each way.
    reach = math.degrees(math.acos(6378137 / (6378137 + 35786023)))
    west, south, east, north = meta["bbox"]
    assert west == pytest.approx(-75 - reach, abs=0.02)
    assert east == pytest.approx(-75 + reach, abs=0.02)
    assert south == pytest.approx(-north, abs=0.01)
    assert 81.2 < north < 81.5  # the limb at the poles (geodetic latitude on GRS80)
    # Matches on the map: a search near the sub-satellite point, not one over Asia.
    assert geo.union_bbox([meta["bbox"], [-60.0, -20.0, -50.0, -10.0]]) == pytest.approx(
        meta["bbox"]
    )


@pytest.mark.parametrize(
    "crs, origin",
    [
        ("ESRI:102039", (1_000_000.0, 1_500_000.0)),  # an ESRI code without an EPSG twin
        ("EPSG:3035", (4_321_000.0, 3_210_000.0)),  # ETRS89-LAEA: named by its EPSG code
        ("+proj=aea +lat_1=10 +lat_2=30 +lon_0=40 +datum=WGS84 +units=m", (2e5, 1e6)),
    ],
)
def test_gdal_written_esri_pe_flavour_geotiff_gets_gdals_bbox(
    tmp_path: Path, crs: str, origin: tuple[float, float]
) -> None:
    path = tmp_path / "pe.tif"
    transform = Affine(500.0, 0.0, origin[0], 0.0, -500.0, origin[1])
    # GDAL's ArcGIS flavour of GeoKeys: the CRS as an "ESRI PE String" citation only.
    gw.write_raster(path, gw.pattern(1, 16, 16), crs, transform, GEOTIFF_KEYS_FLAVOR="ESRI_PE")
    with rasterio.open(path) as ds:
        expected = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)

    meta = inspect_file(str(path)).metadata

    assert meta["bbox"] == pytest.approx(list(expected), abs=DEGREES)
    assert meta["crs"] is not None
    if crs.startswith(("ESRI:", "EPSG:")):
        assert meta["crs"] == crs
