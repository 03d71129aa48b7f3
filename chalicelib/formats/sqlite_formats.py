"""GeoPackage and MBTiles inspection: read-only, immutable SQLite with fixed, budgeted queries."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import urllib.parse
from collections.abc import Callable
from contextlib import closing, suppress
from typing import Any

from chalicelib.formats import geo
from chalicelib.formats.gpkg import inspect_gpkg
from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.sqlite_db import Guard, SqliteDb

MAX_VALUE_BYTES = 8 * 1024 * 1024  # SQLITE_LIMIT_LENGTH: bigger strings/blobs fail to load
MAX_LAYERS = 1000  # vector layers listed from MBTiles "json" metadata
GPKG_APPLICATION_IDS = frozenset({0x47504B47, 0x47503130, 0x47503131})  # GPKG, GP10, GP11
_TILE_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"\x1f\x8b", "pbf"))


def _check_header(path: str) -> None:
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100:
        raise Rejected("malformed", "SQLite header is truncated")
    page = struct.unpack(">H", head[16:18])[0]
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1) or size < page or size % page:
        raise Rejected("malformed", "SQLite file is truncated or corrupt")
    change, pages, valid_for = (struct.unpack(">I", head[o : o + 4])[0] for o in (24, 28, 92))
    if change == valid_for and pages and pages * page > size:  # in-header size is trustworthy
        raise Rejected("malformed", "SQLite file is truncated")


def inspect_sqlite(path: str) -> Inspection:
    """Inspect a SQLite file that must be a GeoPackage or MBTiles; raises Rejected."""
    _check_header(path)
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro&immutable=1"
    guard = Guard()
    try:
        with closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as conn:
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            conn.text_factory = _text  # TEXT columns may hold invalid UTF-8
            # No functions from the (untrusted) schema's views/triggers, no writes.
            for pragma in ("trusted_schema=OFF", "query_only=ON", "cache_size=-8192"):
                conn.execute(f"PRAGMA {pragma}")
            conn.set_progress_handler(guard, 1000)
            db = SqliteDb(conn, guard)
            app_id = db.rows("PRAGMA application_id")[0][0]
            tables = {
                str(name).lower(): kind
                for name, kind in db.rows(
                    "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                    "LIMIT 100000"
                )
            }
            handler: Callable[[SqliteDb, dict[str, str]], Inspection]
            if app_id in GPKG_APPLICATION_IDS or "gpkg_contents" in tables:
                handler = inspect_gpkg
            elif "metadata" in tables and "tiles" in tables:
                handler = _inspect_mbtiles
            else:
                raise Rejected("unsupported_format", "SQLite database is not GeoPackage or MBTiles")
            return handler(db, tables)
    except sqlite3.DataError as exc:
        raise Rejected("too_large", "SQLite value exceeds the size budget") from exc
    except sqlite3.OperationalError as exc:
        if guard.hard_tripped:
            raise Rejected("too_large", "SQLite database exceeds the processing budget") from exc
        raise Rejected("malformed", "SQLite database lacks required tables") from exc
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # the latter: undecodable error text
        raise Rejected("malformed", "SQLite database is corrupt") from exc


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _inspect_mbtiles(db: SqliteDb, tables: dict[str, str]) -> Inspection:
    values: dict[str, str] = {}
    for name, value in db.rows("SELECT name, value FROM metadata LIMIT 1000"):
        if isinstance(name, str) and value is not None:
            values[name.lower()] = value if isinstance(value, str) else str(value)
    bbox = None
    with suppress(ValueError):  # absent or junk "bounds": no bbox, not a rejection
        # west > east: a tileset across the antimeridian, as RFC 7946 section 5.2 has it.
        bbox = geo.declared_lonlat_bbox([float(v) for v in values.get("bounds", "").split(",")])
    minzoom, maxzoom = _int(values.get("minzoom")), _int(values.get("maxzoom"))
    if minzoom is None or maxzoom is None:
        found = db.optional("SELECT min(zoom_level), max(zoom_level) FROM tiles")
        if found:
            minzoom, maxzoom = _int(found[0][0]), _int(found[0][1])
    tile_format = values.get("format", "").lower()[:20] or None
    if tile_format is None:
        head = db.optional("SELECT substr(tile_data, 1, 16) FROM tiles LIMIT 1")
        data = head[0][0] if head and isinstance(head[0][0], bytes) else b""
        tile_format = next((fmt for magic, fmt in _TILE_MAGIC if data.startswith(magic)), None)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            tile_format = "webp"
    count = db.optional("SELECT count(*) FROM tiles")
    meta: dict[str, Any] = {
        "name": values.get("name", "")[:200] or None,
        "tile_format": tile_format,
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "tile_count": int(count[0][0]) if count else None,
        "crs": "EPSG:3857",  # tiles are in Web Mercator, bbox/bounds are WGS84 lon/lat
        "bbox": bbox,
        "layers": _vector_layers(values.get("json")),
    }
    return Inspection("mbtiles", "application/x-sqlite3", meta)


def _vector_layers(text: str | None) -> list[dict[str, str]]:
    """Layer ids from the MBTiles "json" metadata (vector tilesets); [] when absent/invalid."""
    if not text:
        return []
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return []
    layers = doc.get("vector_layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        return []
    ids = (layer.get("id") for layer in layers[:MAX_LAYERS] if isinstance(layer, dict))
    return [{"name": i[:200]} for i in ids if isinstance(i, str)]
