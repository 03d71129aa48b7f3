"""PMTiles v3 inspection: the fixed 127-byte header, plus the (bounded) JSON metadata."""

from __future__ import annotations

import json
import os
import struct
import zlib
from typing import Any

from chalicelib.formats import geo
from chalicelib.formats.result import Inspection, Rejected

HEADER_LEN = 127
ROOT_DIR_MAX = 16384 - HEADER_LEN  # the spec puts header + root directory in the first 16 KiB
METADATA_MAX_BYTES = 1024 * 1024  # compressed
METADATA_MAX_INFLATED = 8 * 1024 * 1024
MAX_LAYERS = 1000

TILE_TYPES = {0: None, 1: "mvt", 2: "png", 3: "jpeg", 4: "webp", 5: "avif", 6: "mlt"}
COMPRESSIONS = {0: None, 1: "none", 2: "gzip", 3: "brotli", 4: "zstd"}
# magic, version, 4 (offset, length) pairs, 3 counts, clustered, 3 enums, zooms, bounds, center
_HEADER = struct.Struct("<7sB" + "Q" * 11 + "BBBBBB" + "iiii" + "B" + "ii")


def _inflate(data: bytes, compression: int) -> bytes | None:
    """Gzip or identity within METADATA_MAX_INFLATED; None when undecidable or too big."""
    if compression == 1:
        return data
    if compression != 2:
        return None  # brotli/zstd: not worth a dependency for optional metadata
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = inflater.decompress(data, METADATA_MAX_INFLATED)
    return None if inflater.unconsumed_tail else out


def inspect_pmtiles(path: str) -> Inspection:
    """Inspect a PMTiles archive (v3 only); raises Rejected."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(HEADER_LEN)
        if len(head) < HEADER_LEN:
            raise Rejected("malformed", "PMTiles header is truncated")
        (_magic, version, root_off, root_len, meta_off, meta_len, leaf_off, leaf_len, data_off,
         data_len, addressed, entries, contents, clustered, internal, tile_comp, tile_type,
         minzoom, maxzoom, min_lon, min_lat, max_lon, max_lat, center_zoom, center_lon,
         center_lat) = _HEADER.unpack(head)  # fmt: skip
        if version != 3:
            raise Rejected("unsupported_format", "Only PMTiles version 3 is supported")
        sections = ((root_off, root_len), (meta_off, meta_len), (leaf_off, leaf_len))
        if any(off + length > size for off, length in (*sections, (data_off, data_len))):
            raise Rejected("malformed", "PMTiles is truncated")
        if root_off < HEADER_LEN or not 0 < root_len <= ROOT_DIR_MAX:
            raise Rejected("malformed", "PMTiles root directory is invalid")
        if tile_type not in TILE_TYPES or tile_comp not in COMPRESSIONS or internal not in (1, 2):
            raise Rejected("malformed", "PMTiles header has invalid enums")
        if minzoom > maxzoom or maxzoom > 32:
            raise Rejected("malformed", "PMTiles zoom range is invalid")
        fh.seek(root_off)
        try:
            root = _inflate(fh.read(root_len), internal)
        except zlib.error as exc:
            raise Rejected("malformed", "PMTiles root directory is corrupt") from exc
        if root is None:
            raise Rejected("malformed", "PMTiles root directory is corrupt")
        meta_doc = None
        if 0 < meta_len <= METADATA_MAX_BYTES:
            fh.seek(meta_off)
            meta_doc = _metadata_doc(fh.read(meta_len), internal)
    # west > east: a tileset across the antimeridian, as RFC 7946 section 5.2 has it.
    bbox = geo.declared_lonlat_bbox([v / 1e7 for v in (min_lon, min_lat, max_lon, max_lat)])
    if bbox is None:
        raise Rejected("malformed", "PMTiles bounds are invalid")
    meta: dict[str, Any] = {
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bbox": bbox,
        "crs": "EPSG:3857",  # tiles are Web Mercator; bbox is WGS84 lon/lat
        "center": [center_lon / 1e7, center_lat / 1e7, center_zoom],
        "tile_type": TILE_TYPES[tile_type],
        "tile_compression": COMPRESSIONS[tile_comp],
        "addressed_tiles": addressed,
        "tile_entries": entries,
        "tile_contents": contents,
        "clustered": bool(clustered),
        "name": None,
        "layers": [],
    }
    if isinstance(meta_doc, dict):
        name = meta_doc.get("name")
        meta["name"] = name[:200] if isinstance(name, str) else None
        layers = meta_doc.get("vector_layers")
        if isinstance(layers, list):
            ids = (x.get("id") for x in layers[:MAX_LAYERS] if isinstance(x, dict))
            meta["layers"] = [{"name": i[:200]} for i in ids if isinstance(i, str)]
    return Inspection("pmtiles", "application/vnd.pmtiles", meta)


def _metadata_doc(data: bytes, compression: int) -> Any:
    """Decode the optional JSON metadata; None when absent, unsupported or invalid."""
    try:
        raw = _inflate(data, compression)
        return json.loads(raw) if raw else None
    except (zlib.error, ValueError, RecursionError):
        return None
