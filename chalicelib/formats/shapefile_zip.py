"""Zipped Shapefile inspection: headers of .shp/.shx/.dbf via pyshp, CRS from the .prj."""

from __future__ import annotations

import io
import math
import posixpath
import struct
import warnings
import zipfile
from typing import Any

from chalicelib.formats import geo
from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.zipsafe import read_head

MAX_LAYERS = 100
PRJ_MAX_BYTES = 64 * 1024
DBF_HEADER_MAX = 65536  # 33 + 2046 field descriptors of 32 bytes fit in this
SHP_FILE_CODE = 9994
MAX_FIELDS_LISTED = 100


def shapefile_sets(files: list[zipfile.ZipInfo]) -> tuple[list[dict[str, zipfile.ZipInfo]], bool]:
    """Group by stem: (complete .shp/.shx/.dbf sets, any .shp seen?); never raises."""
    groups: dict[str, dict[str, zipfile.ZipInfo]] = {}
    for info in files:
        stem, ext = posixpath.splitext(info.filename)
        ext = ext.lower()
        if ext in (".shp", ".shx", ".dbf", ".prj"):
            groups.setdefault(stem.lower(), {})[ext] = info
    any_shp = any(".shp" in g for g in groups.values())
    complete = [g for _, g in sorted(groups.items()) if {".shp", ".shx", ".dbf"} <= set(g)]
    return complete, any_shp


def _header_check(head: bytes, member: zipfile.ZipInfo, exact: bool) -> None:
    if len(head) < 100 or struct.unpack(">i", head[:4])[0] != SHP_FILE_CODE:
        raise Rejected("malformed", "Shapefile header is invalid")
    declared = struct.unpack(">i", head[24:28])[0] * 2  # length in 16-bit words
    if declared < 100 or declared > member.file_size or (exact and declared != member.file_size):
        raise Rejected("malformed", "Shapefile is truncated or inconsistent")


def _layer(zf: zipfile.ZipFile, group: dict[str, zipfile.ZipInfo]) -> dict[str, Any]:
    import shapefile

    shp = read_head(zf, group[".shp"], 100)
    shx = read_head(zf, group[".shx"], 100)
    _header_check(shp, group[".shp"], exact=False)
    _header_check(shx, group[".shx"], exact=True)
    dbf = read_head(zf, group[".dbf"], DBF_HEADER_MAX)
    if len(dbf) < 32:
        raise Rejected("malformed", "Shapefile attribute table is invalid")
    try:
        with warnings.catch_warnings():
            # We hand over headers only, so pyshp's "declared size != actual" is expected.
            warnings.simplefilter("ignore")
            reader = shapefile.Reader(shp=io.BytesIO(shp), shx=io.BytesIO(shx), dbf=io.BytesIO(dbf))
            geometry = shapefile.SHAPETYPE_LOOKUP[reader.shapeType]
            count = int(reader.numShapes)
            records = int(reader.numRecords or 0)
            native = [float(v) for v in reader.bbox]
            fields = [str(f.name) for f in reader.fields[1 : MAX_FIELDS_LISTED + 1]]
    except (shapefile.ShapefileException, KeyError, struct.error, ValueError, TypeError) as exc:
        raise Rejected("malformed", "Shapefile header is invalid") from exc
    crs, epsg, geographic, wkt = None, None, False, ""
    if ".prj" in group:
        wkt = read_head(zf, group[".prj"], PRJ_MAX_BYTES).decode("utf-8", errors="replace")
        crs, epsg, geographic = geo.crs_from_wkt(wkt)
    bbox = None
    if count:
        bbox = geo.to_wgs84_bbox(native, epsg)
        if bbox is None and epsg is None and crs is not None:
            bbox = geo.reproject_bbox(native, wkt)  # no EPSG code, but PROJ reads the WKT
        if bbox is None and geographic:
            bbox = geo.lonlat_bbox(native)  # another datum: metres off at most
        if bbox is not None and (geographic or epsg in geo.GEOGRAPHIC_EPSG):
            bbox = _across_antimeridian(zf, group[".shp"], bbox)
    stem = posixpath.splitext(posixpath.basename(group[".shp"].filename))[0]
    layer: dict[str, Any] = {
        "name": stem[:200],
        "geometry_type": geometry,
        "feature_count": count,
        "crs": crs,
        "bbox": bbox,
        "native_bbox": native if count and all(math.isfinite(v) for v in native) else None,
        "fields": fields,
    }
    if records != count:
        layer["record_count_mismatch"] = True
    return layer


# The .shp is read point by point only where its header's bbox is over half the world wide
# (the only case where the data may cross +-180 more shortly) and within this size.
SHP_SCAN_MAX_BYTES = 64 * 1024 * 1024
_POINT_TYPES = {1, 11, 21}  # Point, PointZ, PointM: x, y first
_MULTIPOINT_TYPES = {8, 18, 28}  # bbox, numPoints, points
_PARTS_TYPES = {3, 5, 13, 15, 23, 25, 31}  # bbox, numParts, numPoints, parts, (types), points


def _across_antimeridian(
    zf: zipfile.ZipFile, member: zipfile.ZipInfo, bbox: list[float]
) -> list[float]:
    """`bbox` with the longitudes of the layer's points as their shortest covering arc (a
    layer split at +-180 crosses it), where that can be shorter; `bbox` as it is where the
    file is over budget or its records do not parse. Raises Rejected on a bad member."""
    if bbox[0] > bbox[2] or bbox[2] - bbox[0] <= 180.0 or member.file_size > SHP_SCAN_MAX_BYTES:
        return bbox
    import numpy

    data = read_head(zf, member, member.file_size)
    extent, pending, pos = geo.Extent(), [], 100
    try:
        while pos + 12 <= len(data):
            words = struct.unpack_from(">i", data, pos + 4)[0]
            content, pos = pos + 8, pos + 8 + 2 * words
            kind = struct.unpack_from("<i", data, content)[0]
            if kind in _POINT_TYPES:
                start, count = content + 4, 1
            elif kind in _MULTIPOINT_TYPES:
                start, count = content + 40, struct.unpack_from("<i", data, content + 36)[0]
            elif kind in _PARTS_TYPES:
                parts, count = struct.unpack_from("<ii", data, content + 36)
                start = content + 44 + 4 * parts * (2 if kind == 31 else 1)
            else:
                continue  # a null shape
            if count < 0 or start + 16 * count > min(pos, len(data)):
                return bbox
            pending.append(numpy.frombuffer(data, "<f8", 2 * count, start))
            if len(pending) >= 10_000:
                merged = numpy.concatenate(pending).reshape(-1, 2)
                extent.add_array(merged[:, 0], merged[:, 1])
                pending = []
        if pending:
            merged = numpy.concatenate(pending).reshape(-1, 2)
            extent.add_array(merged[:, 0], merged[:, 1])
    except (struct.error, ValueError):
        return bbox  # records that do not parse: the header's bbox stands
    return extent.lonlat_bbox() or bbox


def inspect_shapefile(zf: zipfile.ZipFile, sets: list[dict[str, zipfile.ZipInfo]]) -> Inspection:
    """Inspect the complete .shp/.shx/.dbf sets of an already vetted ZIP; raises Rejected."""
    if len(sets) > MAX_LAYERS:
        raise Rejected("too_large", "Archive holds too many shapefile layers")
    layers = [_layer(zf, group) for group in sets]
    crs_values = {layer["crs"] for layer in layers}
    meta: dict[str, Any] = {
        "layers": layers,
        "feature_count": sum(layer["feature_count"] for layer in layers),
        "geometry_types": sorted({layer["geometry_type"] for layer in layers}),
        "crs": crs_values.pop() if len(crs_values) == 1 else None,
        "bbox": geo.union_bbox(layer["bbox"] for layer in layers),
    }
    return Inspection("shapefile", "application/zip", meta)
