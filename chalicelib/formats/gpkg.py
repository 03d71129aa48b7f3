"""GeoPackage layers, extents and CRS from its fixed metadata tables (OGC 12-128r19)."""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

from chalicelib.formats import geo
from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.sqlite_db import SqliteDb

MAX_LAYERS = 1000
MAX_COUNTED_LAYERS = 50


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class Srs(NamedTuple):
    """A spatial reference system of gpkg_spatial_ref_sys, as a CRS label and its codes."""

    crs: str | None
    epsg: int | None
    definition: str | None  # the WKT, for PROJ to place a CRS with no EPSG code


def _srs_map(db: SqliteDb, tables: dict[str, str]) -> dict[int, Srs]:
    """srs_id -> Srs; ids -1/0 are the spec's undefined systems."""
    if "gpkg_spatial_ref_sys" not in tables:
        return {}
    out: dict[int, Srs] = {}
    sql = (
        "SELECT srs_id, organization, organization_coordsys_id, srs_name, "
        "CASE WHEN length(definition) <= 16384 THEN definition END FROM gpkg_spatial_ref_sys"
    )
    for srs_id, org, code, name, wkt in db.rows(sql + " LIMIT 10000"):
        if not isinstance(srs_id, int) or srs_id <= 0 or not isinstance(org, str):
            continue
        if not isinstance(code, int):
            continue
        if org.upper() == "EPSG":
            out[srs_id] = Srs(f"EPSG:{code}", code, None)
            continue
        # Another organisation (GDAL writes "NONE" for a CRS without a code): PROJ may still
        # recognise the WKT as an EPSG CRS, or place it from its parameters.
        definition = wkt if isinstance(wkt, str) and wkt.strip() not in ("", "undefined") else None
        epsg = geo.epsg_from_wkt(definition) if definition else None
        if epsg is not None:
            out[srs_id] = Srs(f"EPSG:{epsg}", epsg, None)
        elif definition is not None:
            label = geo.crs_label(name if isinstance(name, str) else None, definition)
            out[srs_id] = Srs(label, None, definition)
        else:
            out[srs_id] = Srs(f"{org.upper()[:50]}:{code}", None, None)
    return out


def _by_table(db: SqliteDb, tables: dict[str, str], table: str, sql: str) -> dict[str, Any]:
    if table not in tables:
        return {}
    rows = db.optional(sql)
    return {str(r[0]).lower(): r[1:] for r in rows or [] if isinstance(r[0], str)}


def _feature_count(db: SqliteDb, tables: dict[str, str], name: str, index: int) -> int | None:
    # Only real tables, and only the first few: count(*) is a full b-tree scan.
    if tables.get(name.lower()) != "table" or index >= MAX_COUNTED_LAYERS:
        return None
    found = db.optional(f"SELECT count(*) FROM {_quote(name)}")  # noqa: S608 - quoted identifier
    return int(found[0][0]) if found else None


def _zoom_range(
    db: SqliteDb, tables: dict[str, str], name: str, index: int, declared: tuple[Any, ...]
) -> tuple[Any, Any]:
    """The zoom levels that hold tiles. A tile matrix set may define levels without tiles
    (GDAL's GoogleMapsCompatible scheme defines every level from 0 down to the data's), so the
    tile table decides, as it does for GDAL; the defined range where that costs too much."""
    if tables.get(name.lower()) == "table" and index < MAX_COUNTED_LAYERS:
        # Two subqueries: SQLite answers a lone min() or max() from the (zoom_level, ...)
        # index the spec's UNIQUE constraint creates, but not both in one aggregate.
        table = _quote(name)
        found = db.optional(
            f"SELECT (SELECT min(zoom_level) FROM {table}), (SELECT max(zoom_level) FROM {table})"  # noqa: S608 - quoted identifier
        )
        if found and all(isinstance(z, int) for z in found[0]):
            return found[0][0], found[0][1]
    return declared[0], declared[1]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


MAX_SCANNED_FEATURES = 200_000  # a layer read feature by feature for its longitudes ...
MAX_SCANNED_BYTES = 64 * 1024 * 1024  # ... holding at most this much geometry


def _across_antimeridian(
    db: SqliteDb, tables: dict[str, str], name: str, bbox: list[float]
) -> list[float]:
    """`bbox` with the longitudes of the layer's features as their shortest covering arc (a
    layer split at +-180 crosses it), where that can be shorter (its extent is over half the
    world wide) and the layer is small enough to read; else `bbox` as it is. Raises
    sqlite3 errors past the database's hard budget."""
    if bbox[0] > bbox[2] or bbox[2] - bbox[0] <= 180.0 or tables.get(name.lower()) != "table":
        return bbox
    from chalicelib.formats import wkb

    found = db.optional(
        "SELECT column_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)",
        (name,),
    )
    if not found or not isinstance(found[0][0], str):
        return bbox
    table, column = _quote(name), _quote(found[0][0])
    rows = db.optional(f"SELECT {column} FROM {table} LIMIT {MAX_SCANNED_FEATURES + 1}")  # noqa: S608 - quoted identifiers
    if rows is None or len(rows) > MAX_SCANNED_FEATURES:
        return bbox
    import numpy

    extent = geo.Extent()
    try:
        blobs = [blob for (blob,) in rows if isinstance(blob, bytes)]
        if sum(len(blob) for blob in blobs) > MAX_SCANNED_BYTES:
            return bbox
        points = [wkb.gpkg_points(blob) for blob in blobs]
        if points:
            xy = numpy.concatenate(points)
            extent.add_array(xy[:, 0], xy[:, 1])
    except (ValueError, IndexError, struct.error):
        return bbox  # geometries this cannot read: the declared extent stands
    return extent.lonlat_bbox() or bbox


def inspect_gpkg(db: SqliteDb, tables: dict[str, str]) -> Inspection:
    """Inspect an opened GeoPackage; raises Rejected (sqlite3 errors are mapped by the caller)."""
    if "gpkg_contents" not in tables:
        raise Rejected("malformed", "GeoPackage has no gpkg_contents table")
    rows = db.rows(
        "SELECT table_name, data_type, srs_id, min_x, min_y, max_x, max_y "
        "FROM gpkg_contents LIMIT ?",
        (MAX_LAYERS + 1,),
    )
    if len(rows) > MAX_LAYERS:
        raise Rejected("too_large", "GeoPackage has too many layers")
    srs = _srs_map(db, tables)
    ogr = _by_table(
        db, tables, "gpkg_ogr_contents", "SELECT table_name, feature_count FROM gpkg_ogr_contents"
    )
    geometry = _by_table(
        db,
        tables,
        "gpkg_geometry_columns",
        "SELECT table_name, geometry_type_name FROM gpkg_geometry_columns",
    )
    zooms = _by_table(
        db,
        tables,
        "gpkg_tile_matrix",
        "SELECT table_name, min(zoom_level), max(zoom_level) FROM gpkg_tile_matrix "
        "GROUP BY table_name",
    )
    layers = []
    for index, (name, data_type, srs_id, *extent) in enumerate(rows):
        if not isinstance(name, str):
            raise Rejected("malformed", "GeoPackage contents table is invalid")
        found = srs.get(srs_id) if isinstance(srs_id, int) else None
        crs, epsg, definition = found if found is not None else (None, None, None)
        box = [_number(v) for v in extent]
        native = [v for v in box if v is not None] if None not in box else None
        bbox = geo.to_wgs84_bbox(native, epsg) if native else None
        if bbox is None and native and definition:
            bbox = geo.reproject_bbox(native, definition)
        layer: dict[str, Any] = {
            "name": name[:200],
            "data_type": str(data_type)[:50],
            "srs_id": srs_id if isinstance(srs_id, int) else None,
            "crs": crs,
            "bbox": bbox,
        }
        key = name.lower()
        if data_type == "features":
            counted = ogr.get(key, (None,))[0]
            if not isinstance(counted, int):
                counted = _feature_count(db, tables, name, index)
            layer["feature_count"] = counted
            layer["geometry_type"] = str(geometry.get(key, (None,))[0] or "")[:50] or None
        elif data_type in ("tiles", "2d-gridded-coverage") and key in zooms:
            layer["minzoom"], layer["maxzoom"] = _zoom_range(db, tables, name, index, zooms[key])
        if data_type == "features" and bbox is not None and (epsg in geo.GEOGRAPHIC_EPSG):
            bbox = layer["bbox"] = _across_antimeridian(db, tables, name, bbox)
        layers.append(layer)
    return Inspection("gpkg", "application/geopackage+sqlite3", _summary(layers))


def _summary(layers: list[dict[str, Any]]) -> dict[str, Any]:
    # Attribute tables (e.g. lookup tables next to a features layer) have no CRS to agree on.
    crs_values = {layer["crs"] for layer in layers if layer["data_type"] != "attributes"}
    counts = [layer.get("feature_count") for layer in layers if "feature_count" in layer]
    minzooms = [z for layer in layers if isinstance(z := layer.get("minzoom"), int)]
    maxzooms = [z for layer in layers if isinstance(z := layer.get("maxzoom"), int)]
    return {
        "layers": layers,
        "crs": crs_values.pop() if len(crs_values) == 1 else None,
        "bbox": geo.union_bbox(layer["bbox"] for layer in layers),
        "feature_count": sum(counts) if counts and None not in counts else None,
        "minzoom": min(minzooms) if minzooms else None,
        "maxzoom": max(maxzooms) if maxzooms else None,
    }
