"""GeoTIFFs georeferenced by ground control points only: a bbox from the least-squares affine."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy
import pytest
import rasterio
import tifffile
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.transform import from_gcps
from rasterio.warp import transform_bounds

from chalicelib.formats import tiff
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from tests import samples

WIDTH, HEIGHT = 300, 200
# A scanned sheet: 10 m pixels, turned by ~5.7 degrees, upper-left near Toronto (UTM 17N).
UTM = Affine(10.0, 1.0, 630000.0, 1.0, -10.0, 4833000.0)
# The same shape in degrees around Bern (EPSG:4326).
LONLAT = Affine(0.001, 0.0001, 7.4, 0.0001, -0.001, 46.95)
# The image corners, centre and mid-edges: what a georeferencing tool asks its user for.
PIXELS = [(0, 0), (WIDTH, 0), (0, HEIGHT), (WIDTH, HEIGHT), (150, 100), (40, 170)]


def _gcps(transform: Affine, pixels: list[tuple[float, float]]) -> list[GroundControlPoint]:
    """Exact GCPs of `transform` at (col, row) pixel positions."""
    out = []
    for col, row in pixels:
        x, y = transform @ (col, row)
        out.append(GroundControlPoint(row=row, col=col, x=x, y=y, z=0.0))
    return out


def _write(path: Path, crs: str, **georef: Any) -> None:
    """A one-band GeoTIFF written by GDAL with `gcps=` or `transform=`."""
    profile = {"driver": "GTiff", "width": WIDTH, "height": HEIGHT, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", crs=crs, **profile, **georef) as dst:
        dst.write(numpy.zeros((1, HEIGHT, WIDTH), numpy.uint8))


def _corners(transform: Affine) -> list[float]:
    xs, ys = zip(*(transform @ (c, r) for c in (0, WIDTH) for r in (0, HEIGHT)), strict=True)
    return [min(xs), min(ys), max(xs), max(ys)]


def _assert_bbox(got: list[float], want: list[float] | tuple[float, ...], tol: float) -> None:
    assert len(got) == 4
    for name, g, w in zip(("minx", "miny", "maxx", "maxy"), got, want, strict=True):
        assert g == pytest.approx(w, abs=tol), name


def test_utm_gcps_give_the_bbox_of_their_affine(tmp_path: Path) -> None:
    path = tmp_path / "gcps.tif"
    _write(path, "EPSG:32617", gcps=_gcps(UTM, PIXELS))
    meta = inspect_file(str(path)).metadata

    assert (meta["crs"], meta["georeferencing"], meta["gcp_count"]) == ("EPSG:32617", "gcps", 6)
    _assert_bbox(meta["native_bbox"], _corners(UTM), 1e-6)
    assert meta["native_bbox"] == pytest.approx([630000.0, 4831000.0, 633200.0, 4833300.0])
    assert meta["resolution"] == pytest.approx([math.hypot(10, 1), math.hypot(1, -10)])
    # PROJ (through GDAL) as the independent reference for the WGS84 bbox.
    reference = transform_bounds("EPSG:32617", "EPSG:4326", *_corners(UTM), densify_pts=21)
    _assert_bbox(meta["bbox"], reference, 1e-7)


def test_gcp_fit_matches_the_same_raster_georeferenced_by_affine(tmp_path: Path) -> None:
    by_gcps, by_affine = tmp_path / "gcps.tif", tmp_path / "affine.tif"
    _write(by_gcps, "EPSG:32617", gcps=_gcps(UTM, PIXELS))
    _write(by_affine, "EPSG:32617", transform=UTM)
    gcps, affine = inspect_file(str(by_gcps)).metadata, inspect_file(str(by_affine)).metadata

    assert (affine["georeferencing"], "gcp_count" in affine) == ("affine", False)
    for key in ("native_bbox", "bbox", "resolution"):
        assert gcps[key] == pytest.approx(affine[key], abs=1e-9), key


def test_lonlat_gcps_give_their_corners_as_bbox(tmp_path: Path) -> None:
    path = tmp_path / "lonlat.tif"
    _write(path, "EPSG:4326", gcps=_gcps(LONLAT, PIXELS[:3]))  # three are enough
    meta = inspect_file(str(path)).metadata

    assert (meta["crs"], meta["georeferencing"], meta["gcp_count"]) == ("EPSG:4326", "gcps", 3)
    west, south, east, north = meta["bbox"]
    assert west == pytest.approx(7.4, abs=1e-12)  # upper-left corner
    assert north == pytest.approx(46.95 + 0.0001 * WIDTH, abs=1e-12)  # upper-right corner
    assert east == pytest.approx(7.4 + 0.001 * WIDTH + 0.0001 * HEIGHT, abs=1e-12)  # lower-right
    assert south == pytest.approx(46.95 - 0.001 * HEIGHT, abs=1e-12)  # lower-left corner


def test_noisy_gcps_give_gdals_least_squares_fit(tmp_path: Path) -> None:
    rng = numpy.random.default_rng(5)
    noisy = [
        GroundControlPoint(row=g.row, col=g.col, x=g.x + dx, y=g.y + dy, z=0.0)
        for g, (dx, dy) in zip(
            _gcps(UTM, PIXELS), rng.normal(0, 4.0, (len(PIXELS), 2)), strict=True
        )
    ]
    path = tmp_path / "noisy.tif"
    _write(path, "EPSG:32617", gcps=noisy)
    meta = inspect_file(str(path)).metadata
    fitted = from_gcps(noisy)  # GDALGCPsToGeoTransform
    assert fitted != UTM  # the noise moved the fit
    _assert_bbox(meta["native_bbox"], _corners(fitted), 1e-6)


def test_pixel_is_point_gcps_are_read_like_gdal(tmp_path: Path) -> None:
    path = tmp_path / "point.tif"
    keys = samples._geokeys((1024, 1), (1025, 2), (3072, 32617))
    ties = [v for g in _gcps(UTM, PIXELS) for v in (g.col, g.row, 0.0, g.x, g.y, 0.0)]
    tags = [(33922, 12, len(ties), ties, False), (34735, 3, len(keys), keys, False)]
    tifffile.imwrite(path, numpy.zeros((HEIGHT, WIDTH), numpy.uint8), extratags=tags)
    with rasterio.open(path) as src:
        gdal_gcps = src.gcps[0]  # GDAL moves PixelIsPoint GCPs by half a pixel
    assert (gdal_gcps[0].col, gdal_gcps[0].row) == (0.5, 0.5)
    meta = inspect_file(str(path)).metadata
    _assert_bbox(meta["native_bbox"], _corners(from_gcps(gdal_gcps)), 1e-6)
    assert meta["native_bbox"][0] == pytest.approx(_corners(UTM)[0] - 5.5)  # (10 + 1) / 2 m west


def _tie_gcps(
    points: list[tuple[float, float, float, float]], keys: tuple[tuple[int, int], ...]
) -> list[tuple[Any, ...]]:
    ties = [v for col, row, x, y in points for v in (col, row, 0.0, x, y, 0.0)]
    geokeys = samples._geokeys(*keys)
    return [(33922, 12, len(ties), ties, False), (34735, 3, len(geokeys), geokeys, False)]


@pytest.mark.parametrize(
    "points",
    [
        [(0, 0, 630000, 4833000), (300, 200, 633200, 4831300)],
        [(0, 0, 630000, 4833000), (100, 100, 631100, 4832100), (300, 300, 633300, 4830300)],
        [(0, 0, 630000, 4833000), (300, 0, 630000, 4833000), (0, 200, 630000, 4833000)],
        [(0, 0, 630000, 4833000), (300, 0, 633000, 4833000), (0, 200, 632000, 4833000)],
        [(0, 0, 630000, 4833000), (300, 0, math.nan, 4833000), (0, 200, 630000, 4831000)],
        [(0, 0, 630000, 4833000), (300, 0, math.inf, 4833000), (0, 200, 630000, 4831000)],
        [(0, 0, -1.7e308, 4833000), (300, 0, 1.7e308, 4833000), (0, 200, -1.7e308, 0)],
    ],
    ids=[
        "two",
        "collinear-pixels",
        "one-ground-point",
        "ground-points-on-a-line",
        "nan",
        "inf",
        "overflowing",
    ],
)
def test_degenerate_gcps_give_no_bbox(
    tmp_path: Path, points: list[tuple[float, float, float, float]]
) -> None:
    path = tmp_path / "bad.tif"
    tags = _tie_gcps(points, ((1024, 1), (3072, 32617)))
    tifffile.imwrite(path, numpy.zeros((HEIGHT, WIDTH), numpy.uint8), extratags=tags)
    found = inspect_file(str(path))
    assert found.format == "geotiff"
    meta = found.metadata
    assert (meta["crs"], meta["georeferencing"], meta["gcp_count"]) == (
        "EPSG:32617",
        "gcps",
        len(points),
    )
    assert meta["bbox"] is None
    assert "native_bbox" not in meta and "resolution" not in meta


def test_gcps_in_feet_keep_native_bbox_but_no_wgs84_bbox(tmp_path: Path) -> None:
    path = tmp_path / "feet.tif"
    points = [(c, r, *(UTM @ (c, r))) for c, r in PIXELS]
    tags = _tie_gcps(points, ((1024, 1), (3072, 32617), (3076, 9002)))  # ProjLinearUnits: foot
    tifffile.imwrite(path, numpy.zeros((HEIGHT, WIDTH), numpy.uint8), extratags=tags)
    meta = inspect_file(str(path)).metadata
    _assert_bbox(meta["native_bbox"], _corners(UTM), 1e-6)
    assert meta["bbox"] is None


def test_gcps_over_the_tiepoint_cap_are_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.tif"
    _write(path, "EPSG:32617", gcps=_gcps(UTM, PIXELS))
    monkeypatch.setattr(tiff, "MAX_TIEPOINTS", len(PIXELS))
    assert inspect_file(str(path)).metadata["gcp_count"] == len(PIXELS)
    monkeypatch.setattr(tiff, "MAX_TIEPOINTS", len(PIXELS) - 1)
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    assert caught.value.code == "too_large"
