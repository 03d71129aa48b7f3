"""GeoJSON inspection by streaming the top-level object member by member.

The file is never loaded whole: top-level members and each element of "features" are
decoded one at a time with the C JSON decoder from a sliding buffer, so memory is
bounded by the largest single feature (MAX_ELEMENT_CHARS), not by the file size.
The bbox is therefore always computed from all coordinates, whatever the file size.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from typing import IO, Any, NoReturn

from chalicelib.formats import geo
from chalicelib.formats.result import Inspection, Rejected

GEOJSON_MAX_BYTES = 1024 * 1024 * 1024  # a time budget: memory does not grow with size
MAX_ELEMENT_CHARS = 32 * 1024 * 1024  # one feature or one top-level member
READ_CHUNK = 1024 * 1024

# Nesting depth of "coordinates" per geometry type (0 = a single position).
_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}
GEOMETRY_TYPES = frozenset({*_DEPTH, "GeometryCollection"})
_TOP_TYPES = frozenset({*GEOMETRY_TYPES, "Feature", "FeatureCollection"})
_KEPT = ("type", "geometry", "geometries", "coordinates", "crs", "features")
_WS = re.compile(r"[ \t\r\n]*")
# Pre-RFC 7946 named CRSs: "EPSG:3857", "urn:ogc:def:crs:EPSG::3857" (GDAL, QGIS),
# "urn:ogc:def:crs:EPSG:6.6:3857" (versioned), "urn:x-ogc:def:crs:EPSG:3857",
# "http://www.opengis.net/def/crs/EPSG/0/3857"; CRS84 names fall through to EPSG:4326.
_LEGACY_CRS = re.compile(r"EPSG(?::[\d.]*:|:|/[\d.]+/)(\d{1,9})$", re.IGNORECASE)


def _bad(message: str = "GeoJSON is not valid JSON") -> NoReturn:
    raise Rejected("malformed", message)


def _text(value: Any) -> str | None:
    # JSON values may be lists/dicts (unhashable): only strings can be GeoJSON type names.
    return value if isinstance(value, str) else None


def _no_constants(name: str) -> NoReturn:
    raise ValueError("NaN/Infinity are not JSON")  # Python's json accepts them by default


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


class _Reader:
    """A UTF-8 text window over a binary file, consumed one JSON value at a time."""

    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        self.text = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.broken = False  # invalid UTF-8 was met: the text ends early
        self.started = False

    def _fill(self, want: int = 0) -> None:
        data = self.fh.read(max(want, READ_CHUNK))
        if not self.started and data.startswith((b"\xff\xfe", b"\xfe\xff")):
            # Windows PowerShell's Out-File writes UTF-16; JSON is UTF-8 only (RFC 8259 8.1),
            # and what we accept is served as is to clients that decode it as UTF-8.
            raise Rejected("unsupported_format", "GeoJSON must be UTF-8 text, not UTF-16")
        self.started = True
        self.eof = not data
        try:
            chunk = self.text.decode(data, final=self.eof)
        except UnicodeDecodeError as exc:
            # Keep the valid prefix and stop there: the parser then fails where the bad
            # byte is, so a file already recognised as GeoJSON is reported as malformed.
            chunk = bytes(exc.object[: exc.start]).decode("utf-8")
            self.eof = self.broken = True
        self.buf = self.buf[self.pos :] + chunk  # drop what is consumed
        self.pos = 0

    def peek(self) -> str:
        """Skip whitespace; return the next character or '' at the end of the file."""
        while True:
            match = _WS.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                if self.broken:
                    _bad("GeoJSON is not UTF-8 text")
                return ""
            self._fill()

    def take(self, allowed: str) -> str:
        char = self.peek()
        if not char or char not in allowed:
            _bad()
        self.pos += 1
        return char

    def value(self) -> Any:
        if not self.peek():
            _bad()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
                # A value ending exactly at the window's end (a number) may go on.
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return obj
            except json.JSONDecodeError:
                if self.eof:
                    _bad()
            except (ValueError, RecursionError):
                _bad()
            pending = len(self.buf) - self.pos
            if pending > MAX_ELEMENT_CHARS:
                raise Rejected("too_large", "GeoJSON feature exceeds the size budget")
            self._fill(pending)  # doubling keeps re-parsing of a long value linear


class _Scan:
    def __init__(self) -> None:
        self.extent = geo.Extent()
        self.features = 0
        self.invalid = False
        self.geometry_types: set[str] = set()

    def feature(self, feature: Any) -> None:
        self.features += 1
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            self.invalid = True
        elif feature.get("geometry") is not None:
            self.geometry(feature["geometry"])

    def geometry(self, geometry: Any) -> None:
        stack = [geometry]
        while stack:
            g = stack.pop()
            kind = _text(g.get("type")) if isinstance(g, dict) else None
            if kind == "GeometryCollection" and isinstance(g.get("geometries"), list):
                stack.extend(g["geometries"])
            elif kind in _DEPTH:
                self.geometry_types.add(kind)
                try:
                    self._coords(g.get("coordinates"), _DEPTH[kind])
                except (ValueError, TypeError):
                    self.invalid = True
            else:
                self.invalid = True
                return

    def _coords(self, coords: Any, depth: int) -> None:
        if depth == 0:
            # RFC 7946 3.1: an empty Point ("coordinates": [], as Shapely writes
            # POINT EMPTY) may be read as a null geometry, like the empty arrays of the others.
            coords = [coords] if coords != [] else []
        elif depth > 1:
            if not isinstance(coords, list):
                raise ValueError("coordinates must be arrays")
            for part in coords:
                self._coords(part, depth - 1)
            return
        if not isinstance(coords, list):
            raise ValueError("coordinates must be arrays")
        add = self.extent.add
        for pos in coords:
            if not isinstance(pos, list) or len(pos) < 2:
                raise ValueError("a position needs two numbers")
            x, y = pos[0], pos[1]
            if type(x) not in (int, float) or type(y) not in (int, float):
                raise ValueError("coordinates must be numbers")  # also refuses booleans
            add(float(x), float(y))


def _parse(fh: IO[bytes], scan: _Scan, members: dict[str, Any]) -> None:
    reader = _Reader(fh)
    reader.take("{")
    if reader.peek() == "}":
        reader.pos += 1
    else:
        while True:
            key = reader.value()
            if not isinstance(key, str):
                _bad()
            reader.take(":")
            if key == "features" and reader.peek() == "[":
                members["features"] = True
                reader.pos += 1
                if reader.peek() == "]":
                    reader.pos += 1
                else:
                    while True:
                        scan.feature(reader.value())
                        if reader.take(",]") == "]":
                            break
            else:
                value = reader.value()
                if key in _KEPT:  # everything else (properties, ...) is dropped at once
                    members[key] = value
            if reader.take(",}") == "}":
                break
    if reader.peek():
        following = reader.value() if reader.peek() == "{" else None
        if isinstance(following, dict) and _text(following.get("type")) in _TOP_TYPES:
            # GeoJSONSeq / newline-delimited GeoJSON (.geojsonl, RFC 8142 without the record
            # separators): a stream of GeoJSON objects, not one GeoJSON document.
            raise Rejected("unsupported_format", "GeoJSON text sequences are not supported")
        _bad("GeoJSON has data after the top-level object")


def inspect_geojson(path: str) -> Inspection:
    """Inspect a JSON text that must be GeoJSON; raises Rejected (unsupported_format if not)."""
    if os.path.getsize(path) > GEOJSON_MAX_BYTES:
        raise Rejected("too_large", "GeoJSON exceeds the size budget")
    scan = _Scan()
    members: dict[str, Any] = {}
    with open(path, "rb") as fh:
        try:
            _parse(fh, scan, members)
        except Rejected as exc:
            # Broken JSON that never looked like GeoJSON is just not a map format.
            looked_geojson = _text(members.get("type")) in _TOP_TYPES or "features" in members
            if exc.code == "malformed" and not looked_geojson:
                raise Rejected("unsupported_format", "JSON is not GeoJSON") from exc
            raise
    kind = _text(members.get("type"))
    if kind == "FeatureCollection":
        if members.get("features") is not True:
            _bad("GeoJSON FeatureCollection has no features array")
    elif kind == "Feature":
        scan.feature({"type": "Feature", "geometry": members.get("geometry")})
    elif kind in GEOMETRY_TYPES:
        scan.features = 1
        scan.geometry(members)
    else:
        raise Rejected("unsupported_format", "JSON is not GeoJSON")
    if scan.invalid:
        _bad("GeoJSON has invalid features or geometries")
    return Inspection("geojson", "application/geo+json", _metadata(members, scan, kind))


def _metadata(members: dict[str, Any], scan: _Scan, kind: str) -> dict[str, Any]:
    native = scan.extent.as_list()
    epsg, named = 4326, False
    crs = members.get("crs")  # pre-RFC 7946 named CRS, e.g. "urn:ogc:def:crs:EPSG::27700"
    if isinstance(crs, dict) and isinstance(crs.get("properties"), dict):
        name = crs["properties"].get("name")
        code = crs["properties"].get("code")  # {"type": "EPSG", ...} of the 2008 drafts
        match = _LEGACY_CRS.search(name.strip()) if isinstance(name, str) else None
        if match:
            epsg, named = int(match.group(1)), True
        elif crs.get("type") == "EPSG" and type(code) is int and 0 < code < 10**9:
            epsg, named = code, True
    meta: dict[str, Any] = {
        "geojson_type": kind,
        "feature_count": scan.features,
        "geometry_types": sorted(scan.geometry_types),
        "crs": f"EPSG:{epsg}",
        # RFC 7946 longitudes never pass +-180: out of range without a crs member, they are
        # projected coordinates, not a grid to wrap.
        "bbox": geo.to_wgs84_bbox(native, epsg, wrap=named),
    }
    if epsg in geo.GEOGRAPHIC_EPSG and scan.extent.lon_ok:
        # Longitudes: the shortest arc covering them, crossing +-180 for features split
        # there (RFC 7946 section 3.1.9) or spanning the Pacific.
        meta["bbox"] = scan.extent.lonlat_bbox()
    if epsg != 4326:
        meta["native_bbox"] = native
    elif native is not None and meta["bbox"] is None:
        meta["coordinates_out_of_range"] = True  # projected data without a crs member
    return meta
