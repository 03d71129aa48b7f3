"""A GeoTIFF's user-defined CRS (GeoKeys 32767, e.g. GDAL's from a PROJ string or a WKT without
an EPSG code) as a PROJ string, from its projection parameters (GeoTIFF 1.0, section 6.3.3)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.formats import geo

USER_DEFINED = 32767
_ANY = int | float | str

# ProjCoordTransGeoKey (3075) values -> PROJ names, and which parameters each takes.
# lat_0/lon_0/x_0/y_0/k take the first parameter key present of their group (GDAL writes
# natural-origin, false-origin or centre keys depending on the method).
_METHODS: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("tmerc", ("lat_0", "lon_0", "k", "xy")),
    # Hotine oblique Mercator: 3 (CT_ObliqueMercator) is variant A, and GDAL writes variant B
    # as its EPSG method code 9815 (and may write A as 9812).
    3: ("omerc", ("lat_0", "lonc", "alpha", "gamma", "k", "xy", "no_uoff")),
    9812: ("omerc", ("lat_0", "lonc", "alpha", "gamma", "k", "xy", "no_uoff")),
    9815: ("omerc", ("lat_0", "lonc", "alpha", "gamma", "k", "xy")),
    7: ("merc", ("lat_ts?", "lon_0", "k?", "xy")),
    8: ("lcc", ("lat_1", "lat_2", "lat_0", "lon_0", "xy")),
    9: ("lcc", ("lat_1=lat_0", "lat_0", "lon_0", "k", "xy")),
    10: ("laea", ("lat_0", "lon_0", "xy")),
    11: ("aea", ("lat_1", "lat_2", "lat_0", "lon_0", "xy")),
    12: ("aeqd", ("lat_0", "lon_0", "xy")),
    13: ("eqdc", ("lat_1", "lat_2", "lat_0", "lon_0", "xy")),
    14: ("stere", ("lat_0", "lon_0", "k", "xy")),
    15: ("stere", ("polar", "xy")),
    16: ("sterea", ("lat_0", "lon_0", "k", "xy")),
    17: ("eqc", ("lat_ts", "lat_0", "lon_0", "xy")),
    18: ("cass", ("lat_0", "lon_0", "xy")),
    19: ("gnom", ("lat_0", "lon_0", "xy")),
    20: ("mill", ("lat_0", "lon_0", "xy")),
    21: ("ortho", ("lat_0", "lon_0", "xy")),
    22: ("poly", ("lat_0", "lon_0", "xy")),
    23: ("robin", ("lon_0", "xy")),
    24: ("sinu", ("lon_0", "xy")),
    25: ("vandg", ("lon_0", "xy")),
    26: ("nzmg", ("lat_0", "lon_0", "xy")),
    27: ("tmerc", ("lat_0", "lon_0", "k", "xy", "south")),
}
_LAT0 = (3081, 3085, 3089)  # NatOriginLat, FalseOriginLat, CenterLat
_LON0 = (3080, 3084, 3088)  # NatOriginLong, FalseOriginLong, CenterLong
_EASTING = (3082, 3086, 3090)  # FalseEasting, FalseOriginEasting, CenterEasting
_NORTHING = (3083, 3087, 3091)
_SCALE = (3092, 3093)  # ScaleAtNatOrigin, ScaleAtCenter
_SIMPLE = {"lat_0": _LAT0, "lon_0": _LON0, "lonc": _LON0, "lat_1": (3078,), "lat_2": (3079,)}
_SIMPLE.update({"alpha": (3094,), "gamma": (3096,), "lat_ts": (3078,)})
# ProjLinearUnitsGeoKey (3076) -> metres per unit: metre, foot, US survey foot.
_LINEAR = {9001: 1.0, 9002: 0.3048, 9003: 1200 / 3937}
_MEANINGLESS_NAMES = {"", "unknown", "unnamed", "user-defined", "user defined", "undefined"}


def _first(keys: Mapping[int, _ANY], codes: tuple[int, ...], default: float | None) -> float | None:
    for code in codes:
        value = keys.get(code)
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
    return default


def _num(value: float) -> str:
    return format(value, ".12g")  # 12 digits: what survives GDAL rewriting the keys


def _ellipsoid(keys: Mapping[int, _ANY]) -> str | None:
    """+a/+rf (or +b) of the geographic CRS: its semi-axis keys, else its EPSG codes via PROJ."""
    a = _first(keys, (2057,), None)
    rf = _first(keys, (2059,), None)
    b = _first(keys, (2058,), None)
    if a is None or not a > 0:
        return _ellipsoid_of_code(keys)
    if rf is not None and rf > 0:
        return f"+a={_num(a)} +rf={_num(rf)}"
    if b is not None and b > 0:
        return f"+a={_num(a)} +b={_num(b)}"
    return f"+a={_num(a)} +b={_num(a)}"  # a sphere (rf 0 or no second axis)


def _ellipsoid_of_code(keys: Mapping[int, _ANY]) -> str | None:
    try:
        from pyproj import CRS
        from pyproj.crs import Ellipsoid
    except ImportError:
        return None
    geog, ellps = keys.get(2048), keys.get(2056)
    try:
        if isinstance(geog, int) and geog != USER_DEFINED:
            found = CRS.from_epsg(geog).ellipsoid
        elif isinstance(ellps, int) and ellps != USER_DEFINED:
            found = Ellipsoid.from_epsg(ellps)
        else:
            return "+ellps=WGS84"  # nothing says: a bbox is metres off on another ellipsoid
    except (RuntimeError, ValueError, TypeError):  # CRSError is a RuntimeError
        return None
    if found is None:
        return None
    return f"+a={_num(found.semi_major_metre)} +rf={_num(found.inverse_flattening or 0.0)}"


def _prime_meridian(keys: Mapping[int, _ANY]) -> str:
    lon = _first(keys, (2061,), 0.0) or 0.0
    return f" +pm={_num(lon)}" if lon else ""


def _method(keys: Mapping[int, _ANY], metres: float) -> str | None:
    """The projection's PROJ parameters: from ProjectionGeoKey's EPSG code, or its method."""
    projection = keys.get(3074)
    if isinstance(projection, int) and projection != USER_DEFINED:
        try:
            from pyproj.crs import CoordinateOperation

            text = CoordinateOperation.from_epsg(projection).to_proj4()
        except (ImportError, RuntimeError, ValueError, TypeError):
            return None
        return text if isinstance(text, str) and text.startswith("+proj=") else None
    code = keys.get(3075)
    method = _METHODS.get(code) if isinstance(code, int) else None
    if method is None:
        return None
    name, params = method
    out = [f"+proj={name}"]
    for param in params:
        if param == "xy":  # in the CRS's unit; PROJ's x_0 and y_0 are in metres
            out.append(f"+x_0={_num((_first(keys, _EASTING, 0.0) or 0.0) * metres)}")
            out.append(f"+y_0={_num((_first(keys, _NORTHING, 0.0) or 0.0) * metres)}")
        elif param in ("south", "no_uoff"):
            out.append("+axis=wsu" if param == "south" else "+no_uoff")
        elif param == "polar":  # variant A (origin at the pole, k) or B (lat_ts): both fit
            lat_ts = _first(keys, _LAT0, None)
            lon = _first(keys, (3095, *_LON0), 0.0)
            if lat_ts is None or lon is None:
                return None
            k = _first(keys, _SCALE, 1.0)
            pole = 90.0 if lat_ts >= 0 else -90.0
            out.append(f"+lat_0={_num(pole)} +lat_ts={_num(lat_ts)} +lon_0={_num(lon)}")
            out.append(f"+k_0={_num(k or 1.0)}")
        elif param == "k" or param == "k?":
            k = _first(keys, _SCALE, None if param == "k?" else 1.0)
            if k is not None:
                out.append(f"+k_0={_num(k)}")
        elif param == "lat_1=lat_0":
            lat = _first(keys, _LAT0, None)
            if lat is None:
                return None
            out.append(f"+lat_1={_num(lat)}")
        else:
            optional = param.endswith("?")
            key = param.rstrip("?")
            value = _first(keys, _SIMPLE[key], None)
            if value is None and not optional and key not in ("lat_0", "lon_0", "gamma"):
                return None  # a defining parameter is missing: no guess
            if value is not None:
                out.append(f"+{key}={_num(value)}")
    return " ".join(out)


def user_defined_crs(keys: Mapping[int, _ANY], geographic: bool) -> str | None:
    """A PROJ string for the user-defined CRS the GeoKeys describe, or None when they do not
    define one completely (or name a unit or method this does not know); never raises."""
    if not geographic and keys.get(3072) not in (None, USER_DEFINED):
        return None  # an EPSG code: not user-defined
    if keys.get(2054, 9102) != 9102 or (keys.get(2051) not in (None, 8901) and 2061 not in keys):
        return None  # angles in another unit, or a prime meridian known by code only
    ellipsoid = _ellipsoid(keys)
    if ellipsoid is None:
        return None
    if geographic:
        return f"+proj=longlat {ellipsoid}{_prime_meridian(keys)} +no_defs"
    unit = keys.get(3076, 9001)
    if unit == USER_DEFINED:
        metres = _first(keys, (3077,), None)  # ProjLinearUnitSizeGeoKey
    else:
        metres = _LINEAR.get(unit) if isinstance(unit, int) else None
    if metres is None or not metres > 0:
        return None
    method = _method(keys, metres)
    if method is None:
        return None
    units = "+units=m" if metres == 1.0 else f"+to_meter={_num(metres)}"
    return f"{method} {ellipsoid}{_prime_meridian(keys)} {units} +no_defs"


def crs_name(keys: Mapping[int, _ANY], definition: str, geographic: bool) -> str:
    """The CRS's name: "EPSG:n" when PROJ recognises the definition as one, else the file's
    citation if it names the CRS, else the PROJ string itself (GDAL cites "unknown")."""
    epsg = _identify(definition)
    if epsg is not None:
        return f"EPSG:{epsg}"
    for code in (2049, 1026) if geographic else (3073, 1026):  # Geog/PCS citation, GTCitation
        text = keys.get(code)
        if isinstance(text, str):
            name = text.strip().rstrip("|").strip()
            if name.lower() not in _MEANINGLESS_NAMES and "=" not in name and len(name) <= 200:
                return name
    return definition


def _identify(definition: str) -> int | None:
    try:
        from pyproj import CRS
    except ImportError:
        return None
    try:
        code: Any = CRS.from_proj4(definition).to_epsg(min_confidence=70)
    except (RuntimeError, ValueError, TypeError):
        return None
    return int(code) if code is not None else None


_PE_STRING = "esri pe string"


def esri_pe_wkt(keys: Mapping[int, _ANY]) -> str | None:
    """The WKT ArcGIS writes as "ESRI PE String = <WKT>" in a citation key (PCS, GT or Geog
    citation), its only record of a CRS without an EPSG code; None when absent. Never raises."""
    for code in (3073, 1026, 2049):
        text = keys.get(code)
        if not isinstance(text, str) or not text.lstrip().lower().startswith(_PE_STRING):
            continue
        _label, _eq, wkt = text.partition("=")
        wkt = wkt.strip().rstrip("|").strip()  # GeoTIFF ends each ASCII key with "|"
        if wkt.upper().startswith(("PROJCS[", "GEOGCS[", "COMPD_CS[")):
            return wkt
    return None


def wkt_crs_name(wkt: str) -> str:
    """The CRS's "AUTHORITY:code" where PROJ matches the WKT confidently, else its own name
    (or its PROJ string where the name says nothing); never raises."""
    found = geo.authority_name(wkt)
    if found is not None:
        return found
    top = re.match(r'\s*[A-Z_]+\s*\[\s*"([^"]{0,200})"', wkt)
    return geo.crs_label(top.group(1) if top else None, wkt)
