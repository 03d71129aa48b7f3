"""Projection helpers against published points and an independent forward projection."""

from __future__ import annotations

import math

import pytest

from chalicelib.formats import geo

WGS84_A, WGS84_F = geo.WGS84_A, geo.WGS84_F


def snyder_utm_forward(lat: float, lon: float, zone: int, south: bool) -> tuple[float, float]:
    """USGS PP 1395 (Snyder 1987) eqs. 8-9/8-10: an independent series for the check."""
    a, f, k0 = WGS84_A, WGS84_F, 0.9996
    e2 = f * (2 - f)
    ep2 = e2 / (1 - e2)
    phi, lam = math.radians(lat), math.radians(lon - (zone * 6 - 183))
    n = a / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    t = math.tan(phi) ** 2
    c = ep2 * math.cos(phi) ** 2
    aa = lam * math.cos(phi)
    e4, e6 = e2 * e2, e2**3
    m = a * (
        (1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi
        - (3 * e2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * math.sin(2 * phi)
        + (15 * e4 / 256 + 45 * e6 / 1024) * math.sin(4 * phi)
        - (35 * e6 / 3072) * math.sin(6 * phi)
    )
    x = (
        k0
        * n
        * (aa + (1 - t + c) * aa**3 / 6 + (5 - 18 * t + t * t + 72 * c - 58 * ep2) * aa**5 / 120)
    )
    y = k0 * (
        m
        + n
        * math.tan(phi)
        * (
            aa**2 / 2
            + (5 - t + 9 * c + 4 * c * c) * aa**4 / 24
            + (61 - 58 * t + t * t + 600 * c - 330 * ep2) * aa**6 / 720
        )
    )
    return x + 500_000, y + (10_000_000 if south else 0)


def test_utm_inverse_matches_published_cn_tower() -> None:
    # Wikipedia, "Universal Transverse Mercator coordinate system": the CN Tower at
    # 43d38'33.24"N 79d23'13.7"W is at 17T 630084 m E 4833438 m N (rounded to 1 m).
    lon, lat = geo.utm_to_lonlat(630084, 4833438, 17, False)
    assert lat == pytest.approx(43 + 38 / 60 + 33.24 / 3600, abs=1.5e-5)
    assert lon == pytest.approx(-(79 + 23 / 60 + 13.7 / 3600), abs=1.5e-5)


def test_utm_inverse_matches_snyder_worked_example() -> None:
    # Snyder (1987) p. 269, Clarke 1866: 40d30'N 73d30'W with central meridian 75W gives
    # x = 127,106.5 m, y = 4,484,124.4 m (UTM zone 18 minus its false easting).
    a, b = 6378206.4, 6356583.8
    lon, lat = geo.utm_to_lonlat(627106.5, 4484124.4, 18, False, a=a, f=1 - b / a)
    assert lat == pytest.approx(40.5, abs=2e-6)
    assert lon == pytest.approx(-73.5, abs=2e-6)


@pytest.mark.parametrize(
    ("lat", "lon", "zone", "south"),
    [
        (52.52, 13.40, 33, False),
        (-33.86, 151.21, 56, True),
        (0.5, 2.0, 31, False),
        (-54.8, -68.3, 19, True),
    ],
)
def test_utm_inverse_round_trips_independent_forward(
    lat: float, lon: float, zone: int, south: bool
) -> None:
    easting, northing = snyder_utm_forward(lat, lon, zone, south)
    got_lon, got_lat = geo.utm_to_lonlat(easting, northing, zone, south)
    assert got_lat == pytest.approx(lat, abs=1e-7)
    assert got_lon == pytest.approx(lon, abs=1e-7)


def test_web_mercator_inverse_known_values() -> None:
    assert geo.web_mercator_to_lonlat(0, 0) == (0.0, 0.0)
    lon, lat = geo.web_mercator_to_lonlat(20037508.342789244, 20037508.342789244)
    assert lon == pytest.approx(180.0, abs=1e-9)
    assert lat == pytest.approx(85.0511287798066, abs=1e-9)
    # Forward formula y = R ln(tan(pi/4 + phi/2)) at 40.7N, 74W (New York).
    x = math.radians(-74.0) * geo.WGS84_A
    y = geo.WGS84_A * math.log(math.tan(math.pi / 4 + math.radians(40.7) / 2))
    lon, lat = geo.web_mercator_to_lonlat(x, y)
    assert (lon, lat) == (pytest.approx(-74.0, abs=1e-12), pytest.approx(40.7, abs=1e-12))


def test_to_wgs84_bbox_handles_crs_families() -> None:
    assert geo.to_wgs84_bbox([1, 2, 3, 4], 4326) == [1.0, 2.0, 3.0, 4.0]
    assert geo.to_wgs84_bbox([1, 2, 3, 4], 4269) == [1.0, 2.0, 3.0, 4.0]
    # Any other EPSG CRS goes through PROJ. Ordnance Survey's worked example (Caister water
    # tower): E 651409.903 N 313177.270 is 52 39 27.2531 N, 1 43 04.5177 E on OSGB36, which
    # is within 0.002 degrees of WGS84 there.
    caister = geo.to_wgs84_bbox([651409.903, 313177.270, 651409.903, 313177.270], 27700)
    assert caister == pytest.approx([1.717922, 52.657570, 1.717922, 52.657570], abs=0.003)
    assert geo.to_wgs84_bbox([1, 2, 3, 4], 999999) is None  # no such CRS
    assert geo.to_wgs84_bbox([1, 2, 3, 4], None) is None
    assert geo.to_wgs84_bbox([0, 0, math.nan, 1], 4326) is None
    # Global grids overshoot by half a pixel: clamped; projected metres labelled 4326: refused.
    assert geo.to_wgs84_bbox([-180.04, -90.04, 180.04, 90.04], 4326) == [-180.0, -90.0, 180.0, 90.0]
    assert geo.to_wgs84_bbox([500000, 4e6, 600000, 5e6], 4326) is None
    box = geo.to_wgs84_bbox([400000, 5700000, 600000, 5900000], 32632)
    assert box is not None and 6 < box[0] < 7.6 < box[2] < 10.5 and 51 < box[1] < box[3] < 54


def test_utm_zone_and_epsg_parsing() -> None:
    assert geo.utm_zone(32633) == (33, False)
    assert geo.utm_zone(32756) == (56, True)
    assert geo.utm_zone(26910) == (10, False)
    assert geo.utm_zone(32661) is None
    assert geo.epsg_code("EPSG:3857") == 3857
    assert geo.epsg_code("ESRI:102100") is None
    assert geo.epsg_code(None) is None


def test_extent_refuses_non_finite() -> None:
    ext = geo.Extent()
    assert ext.as_list() is None
    ext.add(1, 2)
    ext.add(-1, 5)
    assert ext.as_list() == [-1, 2, 1, 5]
    with pytest.raises(ValueError):
        ext.add(math.inf, 0)
