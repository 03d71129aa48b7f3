"""Vector previews: the features of a GeoJSON, KML/KMZ, GPX, zipped Shapefile or GeoPackage
streamed onto a canvas (preview_canvas) over the extent inspection found.

Every reader streams: GeoJSON through the inspector's JSON window (one feature decoded at a
time), KML/GPX through the inspector's defused XML target (coordinates as expat delivers them),
Shapefile records straight from the ZIP member, GeoPackage rows through a budgeted SQLite
cursor. Past preview_canvas.MAX_FEATURES features, every n-th is drawn.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import struct
import urllib.parse
import zipfile
from collections.abc import Iterator
from typing import Any

from chalicelib.formats.result import Inspection
from chalicelib.formats.xmlgeo import READ_CHUNK, XML_MAX_BYTES, Readable, _local, _Target
from chalicelib.previews.base import Job, NoPreview
from chalicelib.previews.canvas import (
    Canvas,
    Layer,
    Project,
    Sampler,
    lonlat_to_mercator,
    mercator_extent,
    projector,
    union,
)

CHECK_EVERY = 1024  # features between two cooperative deadline checks
MAX_GEOMETRY_DEPTH = 16  # nested GeometryCollections / WKB collections
MAX_SHP_RECORD = 32 * 2**20  # bytes; a bigger record (a 2M-vertex polygon) is skipped


def render_vector(path: str, found: Inspection, job: Job) -> Any:
    """The drawn features of a vector map, as a PIL image; raises NoPreview."""
    meta = found.metadata
    if found.format == "geojson":
        return _geojson(path, meta, job)
    if found.format in ("kml", "gpx"):
        canvas = _lonlat_canvas(meta)
        with open(path, "rb") as fh:
            _XmlDrawing(Layer(canvas, lonlat_to_mercator), Sampler(meta.get("feature_count")))(
                fh, job, None
            )
        return canvas.finish()
    if found.format == "kmz":
        return _kmz(path, meta, job)
    if found.format == "shapefile":
        return _shapefile(path, meta, job)
    if found.format == "gpkg":
        return _gpkg(path, meta, job)
    raise NoPreview(f"no vector renderer for {found.format}")


def _lonlat_canvas(meta: dict[str, Any]) -> Canvas:
    extent = mercator_extent(meta.get("bbox"))
    if extent is None:
        raise NoPreview("no bbox")
    return Canvas(extent)


# --- GeoJSON --------------------------------------------------------------------------------------


def _geojson(path: str, meta: dict[str, Any], job: Job) -> Any:
    project = projector(meta.get("crs"))
    extent = mercator_extent(meta.get("bbox")) if project is not None else None
    if extent is None:  # no CRS we can place: draw the coordinates as they are
        project = None
        native = meta.get("native_bbox")
        extent = tuple(native) if isinstance(native, list) and len(native) == 4 else None
    if extent is None:  # out-of-range coordinates declared lon/lat: one pass for the extent
        extent = _native_extent(path, Sampler(meta.get("feature_count")), job)
    if extent is None:
        raise NoPreview("no extent")
    canvas = Canvas(extent)
    layer = Layer(canvas, project or (lambda xy: xy))
    sampler = Sampler(meta.get("feature_count"))
    for index, geometry in enumerate(_geojson_geometries(path)):
        if index % CHECK_EVERY == 0:
            job.check()
        if sampler.take(index) and not canvas.full:
            for kind, coords in geojson_parts(geometry):
                layer.add(kind, coords)
    layer.flush()
    return canvas.finish()


def _native_extent(path: str, sampler: Sampler, job: Job) -> Any:
    import numpy

    from chalicelib.previews.canvas import as_xy

    boxes: list[Any] = []
    for index, geometry in enumerate(_geojson_geometries(path)):
        if index % CHECK_EVERY == 0:
            job.check()
        if sampler.take(index):
            for _kind, coords in geojson_parts(geometry):
                xy = as_xy(coords)
                if xy is not None and numpy.isfinite(xy).all():
                    boxes.append((*xy.min(axis=0), *xy.max(axis=0)))
    return union(boxes)


def _geojson_geometries(path: str) -> Iterator[Any]:
    """Each feature's geometry (None for junk), streamed; a lone Feature or geometry once."""
    from chalicelib.formats.geojson import GEOMETRY_TYPES, _Reader

    members: dict[str, Any] = {}
    with open(path, "rb") as fh:
        reader = _Reader(fh)
        reader.take("{")
        while reader.peek() != "}":
            key = reader.value()
            reader.take(":")
            if key == "features" and reader.peek() == "[":
                reader.pos += 1
                following = reader.peek()
                while following != "]":
                    feature = reader.value()
                    yield feature.get("geometry") if isinstance(feature, dict) else None
                    following = reader.peek()
                    if following == ",":
                        reader.pos += 1
                        following = ""  # the next feature (value() skips the blanks)
                reader.pos += 1
            else:
                value = reader.value()
                if key in ("type", "geometry", "geometries", "coordinates"):
                    members[key] = value
            if reader.peek() == ",":
                reader.pos += 1
    kind = members.get("type")
    if kind == "Feature":
        yield members.get("geometry")
    elif isinstance(kind, str) and kind in GEOMETRY_TYPES:
        yield members


def geojson_parts(geometry: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(kind, positions) of each part of a GeoJSON geometry; junk yields nothing."""
    if not isinstance(geometry, dict) or depth > MAX_GEOMETRY_DEPTH:
        return
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "GeometryCollection" and isinstance(geometry.get("geometries"), list):
        for child in geometry["geometries"]:
            yield from geojson_parts(child, depth + 1)
    elif not isinstance(coords, list) or not coords:
        return
    elif kind == "Point":
        yield "point", [coords]
    elif kind == "MultiPoint":
        yield "point", coords
    elif kind == "LineString":
        yield "line", coords
    elif kind in ("MultiLineString", "Polygon"):
        for part in coords:
            yield "line", part
    elif kind == "MultiPolygon":
        for polygon in coords:
            for ring in polygon if isinstance(polygon, list) else ():
                yield "line", ring


# --- KML / KMZ / GPX ------------------------------------------------------------------------------


class _Recorder:
    """Stands in for the inspector's extent: collects the positions of the current part."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []
        self.on = True

    def add(self, x: float, y: float) -> None:
        if self.on:
            self.points.append((x, y))


_KML_PARTS = {"Point": "point", "LineString": "line", "LinearRing": "line"}
_KML_FEATURES = frozenset({"Placemark", "GroundOverlay"})
_GPX_FEATURES = frozenset({"wpt", "trk", "rte"})
_STARTS = frozenset({"coordinates", "Track", "LatLonBox", "Location", "wpt", "trkseg", "rte"})


class _XmlDrawing(_Target):
    """The inspector's KML/GPX parser target, drawing each part as it ends: KML Points,
    LineStrings, LinearRings, gx:Tracks, GroundOverlay boxes and Model locations; GPX waypoints,
    track segments and routes. It reuses the inspector's coordinate parsing as it stands."""

    def __init__(self, layer: Layer, sampler: Sampler, expect: str | None = None):
        super().__init__(expect)
        self.layer = layer
        self.sampler = sampler
        self.recorder = _Recorder()
        self.extent = self.recorder  # type: ignore[assignment]
        self.features = -1

    def __call__(self, source: Readable, job: Job, expect: str | None) -> None:
        """Parse one document from `source`, drawing as it goes."""
        from defusedxml.ElementTree import DefusedXMLParser

        self.expect = expect
        self.begin()
        parser = DefusedXMLParser(
            target=self, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        while chunk := source.read(READ_CHUNK):
            job.check()
            parser.feed(chunk)
        parser.close()
        self.layer.flush()

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = _local(tag)
        if name in _KML_FEATURES or name in _GPX_FEATURES:
            self.features += 1
            self.recorder.on = self.sampler.take(self.features) and not self.layer.canvas.full
        if name in _STARTS:
            self.recorder.points = []
        super().start(tag, attrib)

    def data(self, text: str) -> None:
        super().data(text)
        points = self.recorder.points
        if len(points) > 2 * 65536 and self.stack and self.stack[-1] == "coordinates":
            self.layer.add("line", points)  # a huge LineString, drawn in pieces
            self.recorder.points = points[-1:]

    def end(self, tag: str) -> None:
        name = self.stack[-1] if self.stack else ""
        parent = self.stack[-2] if len(self.stack) > 1 else ""
        super().end(tag)
        points = self.recorder.points
        if not points or name not in _STARTS:
            return
        if name == "LatLonBox" and len(points) == 2:
            (w, s), (e, n) = points
            self.layer.add("line", [(w, s), (e, s), (e, n), (w, n), (w, s)])
        elif name in ("Location", "wpt") or (name == "coordinates" and parent == "Point"):
            self.layer.add("point", points)
        elif name != "coordinates" or parent in _KML_PARTS:
            self.layer.add("line", points)
        self.recorder.points = []


def _kmz(path: str, meta: dict[str, Any], job: Job) -> Any:
    """The main KML and, breadth first, the KML members it links, as the inspector reads them."""
    from chalicelib.formats.archives import (
        MAX_KML_DOCUMENTS,
        _is_os_junk,
        _kml_member,
        _linked_member,
    )
    from chalicelib.formats.zipsafe import LimitedReader, open_archive

    canvas = _lonlat_canvas(meta)
    drawing = _XmlDrawing(Layer(canvas, lonlat_to_mercator), Sampler(meta.get("feature_count")))
    with open_archive(path) as zf:
        files = [i for i in zf.infolist() if not i.is_dir() and not _is_os_junk(i.filename)]
        members = {i.filename: i for i in files if i.filename.lower().endswith(".kml")}
        main = _kml_member(files)
        if main is None:
            raise NoPreview("no KML in the archive")
        queue, seen, budget = [main], {main.filename}, XML_MAX_BYTES
        while queue:
            member = queue.pop(0)
            with zf.open(member) as raw:
                reader = LimitedReader(raw, member.file_size, budget)
                drawing(reader, job, "kml")
                budget -= reader.count
            for href in drawing.links:
                linked_path = _linked_member(member.filename, href)
                linked = members.get(linked_path) if linked_path else None
                if linked and linked.filename not in seen and len(seen) < MAX_KML_DOCUMENTS:
                    seen.add(linked.filename)
                    queue.append(linked)
            drawing.links = []
    return canvas.finish()


# --- zipped Shapefile -----------------------------------------------------------------------------


def _layer_projector(layer: dict[str, Any]) -> Project | None:
    project = projector(layer.get("crs"))
    native, bbox = layer.get("native_bbox"), layer.get("bbox")
    if (
        project is None
        and native
        and bbox
        and all(abs(a - b) < 1e-6 for a, b in zip(native, bbox, strict=False))
    ):
        project = lonlat_to_mercator  # a geographic .prj on another datum: drawn as lon/lat
    return project


def _plan(layers: list[dict[str, Any]]) -> tuple[Any, list[Project | None]]:
    """The canvas extent and each layer's projector: Web Mercator when any layer can be placed
    (the others are left out), else every layer in its own coordinates (assumed shared)."""
    projects = [_layer_projector(layer) for layer in layers]
    if any(projects):
        extent = union([mercator_extent(layer.get("bbox")) for layer in layers])
        return extent, projects
    native = [layer.get("native_bbox") for layer in layers]
    extent = union([tuple(b) if isinstance(b, list) and len(b) == 4 else None for b in native])
    return extent, [lambda xy: xy] * len(layers)


def _shapefile(path: str, meta: dict[str, Any], job: Job) -> Any:
    from chalicelib.formats.archives import _is_os_junk
    from chalicelib.formats.shapefile_zip import shapefile_sets
    from chalicelib.formats.zipsafe import open_archive

    layers = meta.get("layers") or []
    extent, projects = _plan(layers)
    if extent is None:
        raise NoPreview("no extent")
    canvas = Canvas(extent)
    with open_archive(path) as zf:
        files = [i for i in zf.infolist() if not i.is_dir() and not _is_os_junk(i.filename)]
        sets, _any = shapefile_sets(files)
        for group, layer, project in zip(sets, layers, projects, strict=False):
            if project is not None:
                drawer = Layer(canvas, project)
                _draw_shp(zf, group[".shp"], drawer, Sampler(layer.get("feature_count")), job)
                drawer.flush()
    return canvas.finish()


def _draw_shp(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, layer: Layer, sampler: Sampler, job: Job
) -> None:
    """Stream the .shp member's records (ESRI Shapefile Technical Description, 1998)."""
    from chalicelib.formats.zipsafe import LimitedReader

    with zf.open(info) as raw:
        reader = LimitedReader(raw, info.file_size, info.file_size)
        if len(reader.read(100)) < 100:
            return
        index = 0
        while not layer.canvas.full:
            head = reader.read(8)
            if len(head) < 8:
                return
            length = struct.unpack(">i", head[4:])[0] * 2
            if length < 4:
                return
            if index % CHECK_EVERY == 0:
                job.check()
            if length > MAX_SHP_RECORD or not sampler.take(index):
                _skip(reader, length)
            else:
                content = reader.read(length)
                if len(content) < length:
                    return
                for kind, xy in _shp_parts(content):
                    layer.add(kind, xy)
            index += 1


def _skip(reader: Any, length: int) -> None:
    while length > 0:
        data = reader.read(min(length, 2**20))
        if not data:
            return
        length -= len(data)


def _shp_parts(content: bytes) -> list[tuple[str, Any]]:
    """Parts of one record's shape: points, multipoints, polylines and polygons (with Z/M)."""
    import numpy

    shape = struct.unpack_from("<i", content)[0]
    base = shape % 10 if 0 < shape < 30 else 0  # 31 MultiPatch: not drawn
    if base == 1 and len(content) >= 20:
        return [("point", numpy.frombuffer(content, "<f8", 2, 4).reshape(1, 2))]
    if base == 8 and len(content) >= 40:
        count = struct.unpack_from("<i", content, 36)[0]
        if count > 0 and 40 + 16 * count <= len(content):
            return [("point", numpy.frombuffer(content, "<f8", 2 * count, 40).reshape(-1, 2))]
    if base in (3, 5) and len(content) >= 44:
        parts, count = struct.unpack_from("<ii", content, 36)
        start = 44 + 4 * parts
        if 0 < parts <= count and start + 16 * count <= len(content):
            xy = numpy.frombuffer(content, "<f8", 2 * count, start).reshape(-1, 2)
            cuts = [*numpy.frombuffer(content, "<i4", parts, 44).tolist(), count]
            return [("line", xy[a:b]) for a, b in itertools.pairwise(cuts) if 0 <= a < b]
    return []


# --- GeoPackage features --------------------------------------------------------------------------

_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _gpkg(path: str, meta: dict[str, Any], job: Job) -> Any:
    layers = [layer for layer in meta.get("layers", []) if layer.get("data_type") == "features"]
    projects = [projector(layer.get("crs")) for layer in layers]
    extent = union([mercator_extent(layer.get("bbox")) for layer in layers])
    if extent is None:
        raise NoPreview("no features layer in a known CRS")
    canvas = Canvas(extent)
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro&immutable=1"
    with contextlib.closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as conn:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 8 * 2**20)
        for pragma in ("trusted_schema=OFF", "query_only=ON", "cache_size=-8192"):
            conn.execute(f"PRAGMA {pragma}")
        # SIGALRM cannot stop a running statement: the deadline reaches SQLite through this.
        conn.set_progress_handler(lambda: int(job.limit.expired()), 10000)
        columns = dict(
            conn.execute(
                "SELECT lower(table_name), column_name FROM gpkg_geometry_columns LIMIT 10000"
            ).fetchall()
        )
        for layer, project in zip(layers, projects, strict=True):
            column = columns.get(str(layer["name"]).lower())
            if project is None or not isinstance(column, str):
                continue
            drawer = Layer(canvas, project)
            stride = Sampler(layer.get("feature_count")).stride
            sql = (
                f"SELECT {_quote(column)} FROM {_quote(layer['name'])} "  # noqa: S608 - quoted
                f"WHERE rowid % {stride} = 0"
            )
            try:
                for (blob,) in conn.execute(sql):
                    if canvas.full:
                        break
                    for kind, xy in gpkg_parts(blob):
                        drawer.add(kind, xy)
            except sqlite3.OperationalError as exc:
                job.check()  # interrupted by the deadline: NoPreview
                raise NoPreview("GeoPackage layer could not be read") from exc
            drawer.flush()
    return canvas.finish()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def gpkg_parts(blob: Any) -> list[tuple[str, Any]]:
    """Parts of a GeoPackage geometry blob (GP header + WKB); [] for empty or junk."""
    if not isinstance(blob, bytes) or len(blob) < 8 or blob[:2] != b"GP":
        return []
    flags = blob[3]
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 7)
    if envelope is None or flags & 0x30:  # empty geometry, or an extension's own encoding
        return []
    out: list[tuple[str, Any]] = []
    try:
        wkb_parts(blob, 8 + envelope, 0, out)
    except (ValueError, struct.error, IndexError):
        return out  # what was read before the junk
    return out


def wkb_parts(buf: bytes, offset: int, depth: int, out: list[tuple[str, Any]]) -> int:
    """Append the parts of the WKB geometry at `offset` (ISO or EWKB Z/M); returns its end;
    raises ValueError (or struct.error) for junk."""
    import numpy

    if depth > MAX_GEOMETRY_DEPTH or buf[offset] > 1:
        raise ValueError("bad WKB")
    order = "<" if buf[offset] == 1 else ">"
    code = struct.unpack_from(order + "I", buf, offset + 1)[0]
    offset += 5
    dims = 2 + bool(code & 0x80000000) + bool(code & 0x40000000)
    if code & 0x20000000:
        offset += 4  # EWKB SRID
    code &= 0x0FFFFFFF
    kind, iso = code % 1000, code // 1000
    dims += {1: 1, 2: 1, 3: 2}.get(iso, 0)

    def positions(count: int) -> Any:
        nonlocal offset
        end = offset + 8 * dims * count
        if count < 0 or end > len(buf):
            raise ValueError("WKB is truncated")
        xy = numpy.frombuffer(buf, order + "f8", dims * count, offset).reshape(-1, dims)
        offset = end
        return xy[:, :2]

    def count() -> int:
        nonlocal offset
        value: int = struct.unpack_from(order + "I", buf, offset)[0]
        offset += 4
        return value

    if kind == 1:
        out.append(("point", positions(1)))
    elif kind == 2:
        out.append(("line", positions(count())))
    elif kind == 3:
        for _ in range(count()):
            out.append(("line", positions(count())))
    elif kind in (4, 5, 6, 7):
        for _ in range(count()):
            offset = wkb_parts(buf, offset, depth + 1, out)
    else:
        raise ValueError("unknown WKB type")
    return offset
