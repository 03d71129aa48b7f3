"""Shared bbox/CRS helpers: extents, EPSG classification, inverse projections to WGS84, CRS
identification from WKT and affine fits through control points."""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
UTM_K0 = 0.9996

# Geographic CRSs whose datums are within a few metres of WGS84, so their lon/lat can
# be reported as WGS84 for a bbox (NAD83, ETRS89, GDA94, GDA2020, NZGD2000, JGD2000).
GEOGRAPHIC_EPSG = frozenset({4326, 4269, 4258, 4283, 7844, 4167, 4612, 6668, 4617})
# Spherical ("pseudo") Mercator, including the deprecated and Esri aliases.
WEB_MERCATOR_EPSG = frozenset({3857, 900913, 3785, 102100, 102113})

# A lon/lat bbox may overshoot the valid range a little (pixel-edge rounding of global
# grids); within this many degrees it is clamped, beyond it the bbox is not trusted.
LONLAT_TOLERANCE = 0.5
_EDGE_SAMPLES = 16  # points per edge when a projection bends straight edges
_EPSG_RE = re.compile(r"^EPSG:(\d{1,9})$")


def epsg_code(crs: str | None) -> int | None:
    """Return n for a "EPSG:n" string, else None; never raises."""
    match = _EPSG_RE.match(crs or "")
    return int(match.group(1)) if match else None


def utm_zone(epsg: int) -> tuple[int, bool] | None:
    """Return (zone, south) for WGS84/NAD83/ETRS89 UTM EPSG codes, else None; never raises."""
    if 32601 <= epsg <= 32660:
        return epsg - 32600, False
    if 32701 <= epsg <= 32760:
        return epsg - 32700, True
    if 26901 <= epsg <= 26923:  # NAD83 / UTM zones 1N-23N (datum within ~1 m of WGS84)
        return epsg - 26900, False
    if 25828 <= epsg <= 25838:  # ETRS89 / UTM zones 28N-38N
        return epsg - 25800, False
    return None


def _ask_proj(query: Callable[[Any], Any]) -> Any:
    """query(pyproj.CRS), or None where pyproj is absent or PROJ refuses; never raises."""
    try:
        from pyproj import CRS
    except ImportError:
        return None
    try:
        return query(CRS)
    except (RuntimeError, ValueError, TypeError, OverflowError):  # CRSError is a RuntimeError
        return None


def linear_unit(epsg: int | None) -> int | None:
    """EPSG code of a projected CRS's coordinate unit (9001 metre, 9003 US survey foot, ...);
    None for geographic or unknown CRSs, or where pyproj is absent; never raises."""
    if epsg is None or epsg in GEOGRAPHIC_EPSG:
        return None
    if epsg in WEB_MERCATOR_EPSG or utm_zone(epsg) is not None:
        return 9001

    def unit(crs_class: Any) -> int | None:
        crs = crs_class.from_epsg(epsg)
        axes = crs.axis_info if crs.is_projected else []
        if not axes or axes[0].unit_auth_code != "EPSG":
            return None
        return int(axes[0].unit_code)

    result: int | None = _ask_proj(unit)
    return result


WKT_IDENTIFY_MAX_CHARS = 16 * 1024  # a real .prj is under 2 KB
WKT_MIN_CONFIDENCE = 70  # PROJ's match confidence (percent); 70 admits ESRI's renamed datums


@functools.lru_cache(maxsize=64)
def epsg_from_wkt(wkt: str) -> int | None:
    """The EPSG code PROJ identifies for a WKT CRS (OGC or ESRI dialect, e.g. a Shapefile .prj,
    which carries no code), or None: unsure, too long, or pyproj absent; never raises.
    Cached: the layers of one upload usually share their .prj (a match costs ~30 ms)."""
    if len(wkt) > WKT_IDENTIFY_MAX_CHARS:
        return None
    code = _ask_proj(lambda crs: crs.from_wkt(wkt).to_epsg(min_confidence=WKT_MIN_CONFIDENCE))
    return int(code) if code is not None else None


_LON_BINS = 3600  # 0.1 degree: longitudes are kept per bin, so gaps are measured exactly


class Extent:
    """Running min/max of x/y pairs, and for lon/lat data which longitudes are covered (per
    0.1-degree bin, so memory stays fixed) to find the shortest covering arc (lonlat_bbox);
    add() raises ValueError on non-finite numbers."""

    def __init__(self) -> None:
        self.minx = self.miny = math.inf
        self.maxx = self.maxy = -math.inf
        self.count = 0
        self.lon_ok = True  # every x is a longitude (within LONLAT_TOLERANCE of -180..180)
        self._west = [math.inf] * _LON_BINS  # per bin: the least and greatest longitude
        self._east = [-math.inf] * _LON_BINS

    def add(self, x: float, y: float) -> None:
        """Extend by one point; raises ValueError when x or y is not finite."""
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError("non-finite coordinate")
        self.minx = min(self.minx, x)
        self.maxx = max(self.maxx, x)
        self.miny = min(self.miny, y)
        self.maxy = max(self.maxy, y)
        self.count += 1
        if self.lon_ok:
            if not -180.0 - LONLAT_TOLERANCE <= x <= 180.0 + LONLAT_TOLERANCE:
                self.lon_ok = False
                return
            lon = min(max(x, -180.0), 180.0)
            i = min(int((lon + 180.0) * (_LON_BINS / 360.0)), _LON_BINS - 1)
            if lon < self._west[i]:
                self._west[i] = lon
            if lon > self._east[i]:
                self._east[i] = lon

    def add_array(self, xs: Any, ys: Any) -> None:
        """Extend by numpy arrays of x and y (a shapefile's or a WKB geometry's points);
        raises ValueError when one is not finite."""
        import numpy

        if xs.size == 0:
            return
        if not (numpy.isfinite(xs).all() and numpy.isfinite(ys).all()):
            raise ValueError("non-finite coordinate")
        self.minx = min(self.minx, float(xs.min()))
        self.maxx = max(self.maxx, float(xs.max()))
        self.miny = min(self.miny, float(ys.min()))
        self.maxy = max(self.maxy, float(ys.max()))
        self.count += int(xs.size)
        if not self.lon_ok:
            return
        if self.minx < -180.0 - LONLAT_TOLERANCE or self.maxx > 180.0 + LONLAT_TOLERANCE:
            self.lon_ok = False
            return
        lons = numpy.clip(xs, -180.0, 180.0)
        bins = numpy.minimum(((lons + 180.0) * (_LON_BINS / 360.0)).astype(int), _LON_BINS - 1)
        west = numpy.full(_LON_BINS, math.inf)
        east = numpy.full(_LON_BINS, -math.inf)
        numpy.minimum.at(west, bins, lons)
        numpy.maximum.at(east, bins, lons)
        for i in numpy.flatnonzero(numpy.isfinite(west)).tolist():
            self._west[i] = min(self._west[i], float(west[i]))
            self._east[i] = max(self._east[i], float(east[i]))

    def as_list(self) -> list[float] | None:
        """Return [minx, miny, maxx, maxy] or None when empty; never raises."""
        if self.count == 0:
            return None
        return [self.minx, self.miny, self.maxx, self.maxy]

    def lonlat_bbox(self) -> list[float] | None:
        """The points as a lon/lat bbox whose longitudes are the shortest arc covering them
        (lon_cover: west > east across the antimeridian, e.g. for features split at +-180);
        None when empty or not lon/lat (x or y out of range). Never raises."""
        if self.count == 0 or not self.lon_ok:
            return None
        arcs = [(w, e) for w, e in zip(self._west, self._east, strict=True) if w <= e]
        span = lon_cover(arcs)
        if span is None or lonlat_bbox([0.0, self.miny, 0.0, self.maxy]) is None:
            return None
        return [span[0], max(self.miny, -90.0), span[1], min(self.maxy, 90.0)]


def lonlat_bbox(bbox: Sequence[float] | None) -> list[float] | None:
    """Return `bbox` as a valid lon/lat bbox (clamped within tolerance) or None; never raises."""
    if bbox is None or len(bbox) != 4:
        return None
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        return None
    if minx > maxx or miny > maxy:
        return None
    lim_x, lim_y = 180 + LONLAT_TOLERANCE, 90 + LONLAT_TOLERANCE
    if min(minx, maxx) < -lim_x or max(minx, maxx) > lim_x:
        return None
    if min(miny, maxy) < -lim_y or max(miny, maxy) > lim_y:
        return None
    return [max(minx, -180.0), max(miny, -90.0), min(maxx, 180.0), min(maxy, 90.0)]


def declared_lonlat_bbox(bbox: Sequence[float] | None) -> list[float] | None:
    """A declared lon/lat bbox (a tileset header's bounds) as lonlat_bbox takes it, or with
    west > east, within -180..180, as one across the antimeridian (RFC 7946 section 5.2);
    None if invalid. Never raises."""
    if bbox is not None and len(bbox) == 4 and -180.0 <= bbox[2] < bbox[0] <= 180.0:
        return wrapped_lonlat_bbox(bbox)
    return lonlat_bbox(bbox)


def _wrap_lon(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def wrapped_lonlat_bbox(bbox: Sequence[float] | None) -> list[float] | None:
    """`bbox` as an RFC 7946 lon/lat bbox (section 5.2: longitudes in -180..180, west > east
    across the antimeridian), from a box whose longitudes may run past +-180 (a grid spanning
    170..190, or 0..360) or that already crosses (west > east); None if invalid. Never raises."""
    if bbox is None or len(bbox) != 4:
        return None
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        return None
    if minx > maxx and -180 <= maxx <= 180 and -180 <= minx <= 180:
        maxx += 360.0  # already crossing: unwrap it
    lim_x = 180 + LONLAT_TOLERANCE
    if -lim_x <= minx <= maxx <= lim_x:
        return lonlat_bbox([minx, miny, maxx, maxy])
    if minx > maxx or miny > maxy or minx < -540 or maxx > 540:
        return None  # not a longitude range at all
    south_north = lonlat_bbox([0.0, miny, 0.0, maxy])
    if south_north is None:
        return None
    if maxx - minx >= 360 - 2 * LONLAT_TOLERANCE:
        return [-180.0, south_north[1], 180.0, south_north[3]]  # all the way round
    west, east = _wrap_lon(minx), _wrap_lon(maxx)
    return [west, south_north[1], 180.0 if east == -180.0 else east, south_north[3]]


def union_bbox(boxes: Iterable[Sequence[float] | None]) -> list[float] | None:
    """Return the union of the non-None lon/lat bboxes, or None; never raises. Longitudes take
    the shortest arc covering them all (lon_cover): west > east across the antimeridian."""
    present = [b for b in boxes if b is not None]
    if not present:
        return None
    span = lon_cover((b[0], b[2]) for b in present)
    if span is None:
        return None
    return [span[0], min(b[1] for b in present), span[1], max(b[3] for b in present)]


# lon_cover crosses the antimeridian only where that leaves out at least this many more
# degrees than the plain west..east does: a world-spanning dataset (gaps of a few degrees
# between landmasses) keeps -180..180 rather than a 355-degree box crossing somewhere.
CROSSING_MIN_SAVING = 10.0


def lon_cover(arcs: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """(west, east) of the shortest longitude arc covering all `arcs` ((west, east) pairs in
    -180..180, west > east for one that crosses the antimeridian; a point is (lon, lon)), as in
    RFC 7946 section 5.2: west > east where the arc crosses +-180. Coordinates split at the
    antimeridian (RFC 7946 section 3.1.9) or spanning the Pacific give a crossing arc. None when
    there are no arcs or one is out of range; never raises."""
    pieces: list[tuple[float, float]] = []
    for west, east in arcs:
        if not (-180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
            return None  # also NaN
        if west > east:  # already crossing: its two sides
            pieces += [(west, 180.0), (-180.0, east)]
        else:
            pieces.append((west, east))
    if not pieces:
        return None
    plain = (min(p[0] for p in pieces), max(p[1] for p in pieces))
    # On the circle +180 and -180 are one meridian: an arc or point at +180 starts at -180.
    circle = sorted((-180.0, -180.0) if w == 180.0 else (w, e) for w, e in pieces)
    merged: list[list[float]] = []
    for west, east in circle:
        if merged and west <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], east)
        else:
            merged.append([west, east])
    across = merged[0][0] + 360.0 - merged[-1][1]  # the gap across +-180, if any
    gaps = [(merged[i + 1][0] - merged[i][1], i) for i in range(len(merged) - 1)]
    if not gaps:
        return plain
    widest, i = max(gaps)
    if widest <= across + CROSSING_MIN_SAVING:
        return plain
    west, east = merged[i + 1][0], merged[i][1]
    if east == -180.0:  # the data touches +-180 from the east only: no need to cross
        return west, 180.0
    return west, east


def web_mercator_to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Inverse spherical (EPSG:3857) Mercator; raises OverflowError only on absurd input."""
    lon = math.degrees(x / WGS84_A)
    lat = math.degrees(2 * math.atan(math.exp(y / WGS84_A)) - math.pi / 2)
    return lon, lat


def utm_to_lonlat(
    easting: float,
    northing: float,
    zone: int,
    south: bool,
    a: float = WGS84_A,
    f: float = WGS84_F,
) -> tuple[float, float]:
    """Inverse UTM (Krueger n^3 series, ~mm within the zone); raises ValueError on bad input."""
    if not 1 <= zone <= 60:
        raise ValueError("UTM zone out of range")
    n = f / (2 - f)
    big_a = a / (1 + n) * (1 + n**2 / 4 + n**4 / 64)
    beta = (
        n / 2 - 2 * n**2 / 3 + 37 * n**3 / 96,
        n**2 / 48 + n**3 / 15,
        17 * n**3 / 480,
    )
    delta = (
        2 * n - 2 * n**2 / 3 - 2 * n**3,
        7 * n**2 / 3 - 8 * n**3 / 5,
        56 * n**3 / 15,
    )
    xi = (northing - (10_000_000.0 if south else 0.0)) / (UTM_K0 * big_a)
    eta = (easting - 500_000.0) / (UTM_K0 * big_a)
    xi_p, eta_p = xi, eta
    for j, b in enumerate(beta, start=1):
        xi_p -= b * math.sin(2 * j * xi) * math.cosh(2 * j * eta)
        eta_p -= b * math.cos(2 * j * xi) * math.sinh(2 * j * eta)
    chi = math.asin(math.sin(xi_p) / math.cosh(eta_p))
    lat = chi + sum(d * math.sin(2 * j * chi) for j, d in enumerate(delta, start=1))
    lon0 = math.radians(zone * 6 - 183)
    lon = lon0 + math.atan2(math.sinh(eta_p), math.cos(xi_p))
    return math.degrees(lon), math.degrees(lat)


def _edge_points(bbox: Sequence[float]) -> list[tuple[float, float]]:
    minx, miny, maxx, maxy = bbox
    pts = []
    for i in range(_EDGE_SAMPLES + 1):
        t = i / _EDGE_SAMPLES
        x = minx + (maxx - minx) * t
        y = miny + (maxy - miny) * t
        pts += [(x, miny), (x, maxy), (minx, y), (maxx, y)]
    return pts


def to_wgs84_bbox(
    bbox: Sequence[float] | None, epsg: int | None, wrap: bool = True
) -> list[float] | None:
    """Return `bbox` (in CRS `epsg`) as a WGS84 lon/lat bbox, or None if unknown; never raises.
    Longitudes past +-180 wrap (west > east across the antimeridian) unless `wrap` is false:
    then a geographic bbox out of range is None (projected data that claims to be lon/lat)."""
    if bbox is None or epsg is None or len(bbox) != 4:
        return None
    if not all(math.isfinite(float(v)) for v in bbox):
        return None
    try:
        if epsg in GEOGRAPHIC_EPSG:
            return wrapped_lonlat_bbox(bbox) if wrap else lonlat_bbox(bbox)
        if epsg in WEB_MERCATOR_EPSG:
            # The inverse is monotonic in x and y, so the corners are enough.
            lon0, lat0 = web_mercator_to_lonlat(bbox[0], bbox[1])
            lon1, lat1 = web_mercator_to_lonlat(bbox[2], bbox[3])
            return wrapped_lonlat_bbox([lon0, lat0, lon1, lat1])
        zone = utm_zone(epsg)
        if zone is not None:
            # Grid edges are curves in lon/lat: sample along them, not just the corners.
            ext = Extent()
            for x, y in _edge_points(bbox):
                ext.add(*utm_to_lonlat(x, y, zone[0], zone[1]))
            return wrapped_lonlat_bbox(ext.as_list())
    except (ValueError, OverflowError):
        return None
    return reproject_bbox(bbox, f"EPSG:{epsg}")


def reproject_bbox(bbox: Sequence[float], definition: str) -> list[float] | None:
    """`bbox` in the CRS `definition` ("EPSG:n", WKT or a PROJ string) through PROJ (pyproj
    ships in the processor's layer with its own database, so no network) as a WGS84 bbox;
    None where pyproj is absent or PROJ cannot place the CRS; never raises."""
    if len(definition) > WKT_IDENTIFY_MAX_CHARS:
        return None
    top = _WKT_TOP.match(definition)
    if top and top.group(1).startswith("PROJ") and "PARAMETER" not in definition.upper():
        return None  # a projection named without its parameters: PROJ would assume zeros
    try:
        from pyproj import Transformer
        from pyproj.exceptions import CRSError, ProjError
    except ImportError:
        return None
    try:
        transformer = Transformer.from_crs(definition, "EPSG:4326", always_xy=True)
    except (CRSError, ProjError, ValueError, OverflowError, TypeError):
        return None  # PROJ does not know the CRS
    try:
        # Densified edges: a projected rectangle's sides are curves in lon/lat. PROJ gives
        # west > east for a box across the antimeridian, as RFC 7946 does.
        west, south, east, north = transformer.transform_bounds(
            bbox[0], bbox[1], bbox[2], bbox[3], densify_pts=21
        )
    except (CRSError, ProjError, ValueError, OverflowError, TypeError):
        west = south = east = north = math.inf
    if all(math.isfinite(v) for v in (west, south, east, north)):
        return wrapped_lonlat_bbox([west, south, east, north])
    # Part of the box is off the Earth (a geostationary full disk, an orthographic view):
    # what PROJ can place of it, with the edge of the Earth found between grid samples.
    try:
        return _visible_bounds(transformer, bbox)
    except (ProjError, ValueError, OverflowError, TypeError):
        return None


_GRID = 33  # samples per side of the box where its edges leave the Earth
_LIMB_STEPS = 24  # bisections towards the Earth's edge: 2**-24 of a grid step


def _visible_bounds(transformer: Any, bbox: Sequence[float]) -> list[float] | None:
    """The lon/lat bbox of the part of `bbox` PROJ can place: a grid of samples, plus, between
    each placeable sample and an unplaceable neighbour, the edge of the Earth by bisection."""
    import numpy

    xs = numpy.linspace(bbox[0], bbox[2], _GRID)
    ys = numpy.linspace(bbox[1], bbox[3], _GRID)
    gx, gy = numpy.meshgrid(xs, ys)

    def place(x: Any, y: Any) -> tuple[Any, Any, Any]:
        lon, lat = transformer.transform(x, y, errcheck=False)
        lon, lat = numpy.asarray(lon, dtype=float), numpy.asarray(lat, dtype=float)
        return lon, lat, numpy.isfinite(lon) & numpy.isfinite(lat)

    lon, lat, ok = place(gx, gy)
    if not ok.any():
        return None
    lons, lats = [lon[ok]], [lat[ok]]
    # Neighbours (along rows and along columns) of which exactly one is placeable.
    pairs = []
    for axis in (0, 1):
        a = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        b = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        differ = ok[a] != ok[b]
        good_first = ok[a][differ]
        for first, second in ((gx[a][differ], gx[b][differ]), (gy[a][differ], gy[b][differ])):
            pairs.append(
                (
                    numpy.where(good_first, first, second),
                    numpy.where(good_first, second, first),
                )
            )
    if pairs[0][0].size or pairs[2][0].size:
        good_x = numpy.concatenate([pairs[0][0], pairs[2][0]])
        bad_x = numpy.concatenate([pairs[0][1], pairs[2][1]])
        good_y = numpy.concatenate([pairs[1][0], pairs[3][0]])
        bad_y = numpy.concatenate([pairs[1][1], pairs[3][1]])
        for _ in range(_LIMB_STEPS):
            mid_x, mid_y = (good_x + bad_x) / 2, (good_y + bad_y) / 2
            _lon, _lat, mid_ok = place(mid_x, mid_y)
            good_x, good_y = numpy.where(mid_ok, mid_x, good_x), numpy.where(mid_ok, mid_y, good_y)
            bad_x, bad_y = numpy.where(mid_ok, bad_x, mid_x), numpy.where(mid_ok, bad_y, mid_y)
        edge_lon, edge_lat, edge_ok = place(good_x, good_y)
        lons.append(edge_lon[edge_ok])
        lats.append(edge_lat[edge_ok])
    all_lons, all_lats = numpy.concatenate(lons), numpy.concatenate(lats)
    span = lon_cover((float(v), float(v)) for v in numpy.unique(numpy.round(all_lons, 9)))
    if span is None:
        return None
    return wrapped_lonlat_bbox([span[0], float(all_lats.min()), span[1], float(all_lats.max())])


# --- WKT (ESRI .prj, GeoPDF) and control points -------------------------------------------------

_WKT_TOP = re.compile(
    r'\s*(PROJCS|GEOGCS|PROJCRS|GEOGCRS|GEODCRS|PROJECTEDCRS|GEOGRAPHICCRS)\s*\[\s*"([^"]{0,200})"'
)
_WKT_EPSG = re.compile(r'(?:AUTHORITY|ID)\s*\[\s*"EPSG"\s*,\s*"?(\d{1,9})"?\s*\]\s*\]\s*$')
# ESRI names of UTM zones (GDAL writes .prj files in ESRI WKT, without authority codes):
# "WGS_1984_UTM_Zone_33N", "ETRS_1989_UTM_Zone_32N", "NAD_1983_UTM_Zone_17N".
_UTM_NAME = re.compile(r"^(wgs(?:19)?84|etrs(?:19)?89|nad(?:19)?83)utmzone(\d{1,2})([ns])$")
_UTM_BASE = {("wgs", "n"): 32600, ("wgs", "s"): 32700, ("etr", "n"): 25800, ("nad", "n"): 26900}
_WGS84_NAMES = {"gcswgs1984", "wgs84", "wgs1984"}
_MERCATOR_NAMES = {
    "wgs1984webmercatorauxiliarysphere",
    "wgs84pseudomercator",
    "wgs84webmercator",
    "popularvisualisationcrsmercator",
    "webmercator",
}


def crs_from_wkt(wkt: str) -> tuple[str | None, int | None, bool]:
    """Return (crs label, EPSG code if recognised, is geographic) for ESRI/OGC WKT; never raises."""
    top = _WKT_TOP.match(wkt)
    if top is None:
        return None, None, False
    kind, name = top.groups()
    geographic = kind.startswith("GEOG") or kind == "GEODCRS"
    epsg = None
    found = _WKT_EPSG.search(wkt.strip())
    if found:
        epsg = int(found.group(1))
    else:
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        utm = _UTM_NAME.match(key)
        if geographic and key in _WGS84_NAMES:
            epsg = 4326
        elif not geographic and key in _MERCATOR_NAMES:
            epsg = 3857
        elif not geographic and utm:
            base = _UTM_BASE.get((utm.group(1)[:3], utm.group(3)))
            code = base + int(utm.group(2)) if base else None
            # Only zones that exist for that datum (see utm_zone: ETRS89 28N-38N, ...).
            epsg = code if code is not None and utm_zone(code) is not None else None
        if epsg is None:  # any other CRS (national grids, State Plane, ...): PROJ's match
            epsg = epsg_from_wkt(wkt)
    if epsg:
        return f"EPSG:{epsg}", epsg, geographic
    return crs_label(name, wkt), None, geographic


_MEANINGLESS_NAMES = {"", "unknown", "unnamed", "undefined", "user-defined", "custom"}


def crs_label(name: str | None, definition: str) -> str:
    """A CRS's name for `crs` when it has no EPSG code: its own name, or where that says
    nothing ("unknown", as GDAL names a CRS built from PROJ parameters) its PROJ string, or
    failing that the name as given; never raises."""
    if name is not None and name.strip().lower() not in _MEANINGLESS_NAMES:
        return name.strip()[:200]

    def proj_string(crs_class: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "you will likely lose important information"
            return crs_class.from_user_input(definition).to_proj4()

    text = _ask_proj(proj_string) if len(definition) <= WKT_IDENTIFY_MAX_CHARS else None
    return text[:500] if isinstance(text, str) and text else (name or "unknown")[:200]


@functools.lru_cache(maxsize=64)
def authority_name(definition: str) -> str | None:
    """ "AUTHORITY:code" of the CRS PROJ matches to `definition` (WKT or PROJ string) with the
    highest confidence (at least WKT_MIN_CONFIDENCE; EPSG first among equals), as GDAL names
    e.g. an ESRI WKT "ESRI:102039"; None: no match, too long, or pyproj absent. Never raises."""
    if len(definition) > WKT_IDENTIFY_MAX_CHARS:
        return None

    def best(crs_class: Any) -> Any:
        found = crs_class.from_user_input(definition).list_authority(
            min_confidence=WKT_MIN_CONFIDENCE
        )
        found.sort(key=lambda m: (-m.confidence, m.auth_name != "EPSG"))
        return f"{found[0].auth_name}:{found[0].code}" if found else None

    name = _ask_proj(best)
    return name if isinstance(name, str) else None


@functools.lru_cache(maxsize=64)
def geographic_base(epsg: int) -> int | None:
    """EPSG code of the geographic CRS a CRS is based on, or None: unknown, or pyproj absent."""
    if epsg in GEOGRAPHIC_EPSG or epsg in WEB_MERCATOR_EPSG:
        return 4326
    if utm_zone(epsg) is not None:
        return 4326  # WGS84, NAD83 or ETRS89: all within a few metres of it

    def base_code(crs_class: Any) -> Any:
        base = crs_class.from_epsg(epsg).geodetic_crs
        return base.to_epsg() if base is not None else None

    code = _ask_proj(base_code)
    return int(code) if code is not None else None


def fit_affine(tie: tuple[float, ...]) -> tuple[float, ...] | None:
    """The least-squares affine (a, b, c, e, f, g): x = a*i + b*j + c, y = e*i + f*j + g,
    through control points given as GeoTIFF tie points (i, j, 0, x, y, z each), as GDAL's
    GDALGCPsToGeoTransform fits it; None for < 3, collinear or non-finite points, or a
    transform that flattens the image onto a line or a point. Never raises."""
    import numpy

    count = len(tie) // 6
    if count < 3:
        return None
    points = numpy.asarray(tie[: 6 * count], dtype=numpy.float64).reshape(count, 6)
    pixels, model = points[:, 0:2], points[:, 3:5]
    if not (numpy.isfinite(pixels).all() and numpy.isfinite(model).all()):
        return None
    with numpy.errstate(all="ignore"):  # absurd magnitudes overflow to inf/NaN, caught below
        # Centred on their means: projected coordinates (~1e6 m) would otherwise swamp the fit.
        p0, m0 = pixels.mean(axis=0), model.mean(axis=0)
        try:
            spread = numpy.linalg.svd(pixels - p0, compute_uv=False)
            if not spread[1] > spread[0] * 1e-6:
                return None  # all GCPs on (or within rounding of) one line of the image
            coef = numpy.linalg.lstsq(pixels - p0, model - m0, rcond=None)[0]
        except numpy.linalg.LinAlgError:
            return None
    (a, e), (b, f) = coef.tolist()
    if not abs(a * f - b * e) > 1e-12 * (a * a + b * b + e * e + f * f):
        return None  # the image would be flattened onto a line or a point (or NaN)
    (i0, j0), (x0, y0) = p0.tolist(), m0.tolist()
    return a, b, x0 - a * i0 - b * j0, e, f, y0 - e * i0 - f * j0
