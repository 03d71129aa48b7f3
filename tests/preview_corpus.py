"""Large inputs for preview tests and bench/preview.py, written cheaply in bounded memory.

write_big_png streams an RGB PNG row by row (deflate level 1), so a 100+ MP scan costs
seconds and a few MiB to write; write_points_geojson writes a FeatureCollection of n points
as text, feature by feature. Tilesets copy the tiles of a GDAL-written MBTiles into PMTiles.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import zlib
from typing import Any

PathLike = str | os.PathLike[str]


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + body))
    return struct.pack(">I", len(body)) + kind + body + crc


def write_big_png(path: PathLike, width: int, height: int, grey: bool = False) -> None:
    """A width x height RGB (or grey) PNG: a checkerboard over gradients (a scan-like image)."""
    import numpy

    bands = 1 if grey else 3
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if grey else 2, 0, 0, 0)
    compressor = zlib.compressobj(1)
    x = numpy.arange(width)[None, :]
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header))
        for top in range(0, height, 256):  # 256 rows at a time: filter byte 0, then RGB
            y = numpy.arange(top, min(top + 256, height))[:, None]
            rows = numpy.zeros((len(y), 1 + bands * width), numpy.uint8)
            pixels = rows[:, 1:].reshape(len(y), width, bands)
            pixels[..., 0] = (x // 97 + y // 89) % 2 * 200
            if not grey:
                pixels[..., 1] = (x * 3 + y) % 256
                pixels[..., 2] = y * 255 // height
            fh.write(_chunk(b"IDAT", compressor.compress(rows.tobytes())))
        fh.write(_chunk(b"IDAT", compressor.flush()) + _chunk(b"IEND", b""))


def write_points_geojson(path: PathLike, count: int) -> list[float]:
    """`count` point features on a spiral over Switzerland, each with a few properties;
    returns their WGS84 bbox."""
    import math

    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        for i in range(count):
            angle = i * 0.01
            radius = 0.5 + 1.5 * i / max(count, 1)
            lon, lat = 8.2 + radius * math.cos(angle), 46.8 + radius * 0.6 * math.sin(angle)
            feature = {
                "type": "Feature",
                "properties": {"id": i, "name": f"point {i}"},
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
            fh.write(("," if i else "") + json.dumps(feature) + "\n")
        fh.write("]}\n")
    return [6.2, 45.6, 10.2, 48.0]


def mbtiles_to_pmtiles(source: PathLike, path: PathLike, metadata: dict[str, Any]) -> None:
    """Copy every tile of an MBTiles file (TMS rows) into a PMTiles v3 archive."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    with sqlite3.connect(source) as conn:
        rows = conn.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        tiles = sorted(
            (zxy_to_tileid(z, x, 2**z - 1 - row), bytes(data)) for z, x, row, data in rows
        )
        zooms = conn.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
    conn.close()
    vector = tiles[0][1][:2] == b"\x1f\x8b"
    w, s, e, n = metadata["bounds"]
    with open(path, "wb") as fh:
        writer = Writer(fh)
        for tile_id, data in tiles:
            writer.write_tile(tile_id, data)
        header = {
            "tile_type": TileType.MVT if vector else TileType.PNG,
            "tile_compression": Compression.GZIP if vector else Compression.NONE,
            "min_zoom": zooms[0],
            "max_zoom": zooms[1],
            "min_lon_e7": int(w * 1e7),
            "min_lat_e7": int(s * 1e7),
            "max_lon_e7": int(e * 1e7),
            "max_lat_e7": int(n * 1e7),
            "center_zoom": zooms[0],
            "center_lon_e7": int((w + e) / 2 * 1e7),
            "center_lat_e7": int((s + n) / 2 * 1e7),
        }
        writer.finalize(header, {"name": "copied"})
