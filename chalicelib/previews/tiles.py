"""Tileset previews (MBTiles, PMTiles): a mosaic of at most MAX_TILES tiles of one zoom level,
read from the file itself, cropped to the tileset's bounds.

The zoom is the deepest one at which the bounds span at most MAX_TILES tiles (the most detail
for a mosaic of a few tiles); when it holds no tiles there, shallower levels are tried, and the
shallowest level may give up to MAX_MOSAIC_TILES (a tileset of a single deep level). Raster
tiles (PNG, JPEG, WebP) are decoded with Pillow; vector tiles (MVT, gzipped or not) with a small
protobuf reader of our own and drawn on the vector canvas. PMTiles tiles compressed with brotli
or zstd, and AVIF or MLT tiles, have no preview.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import os
import sqlite3
import urllib.parse
import zlib
from collections.abc import Iterator
from typing import Any

from chalicelib.previews.base import PREVIEW_MAX_SIDE, Job, NoPreview, fit, pillow
from chalicelib.previews.canvas import EARTH_RADIUS, Canvas, mercator_extent

MAX_TILES = 16
# At the shallowest zoom, more tiles are taken (each shrunk), rather than no preview at all.
MAX_MOSAIC_TILES = 64
MOSAIC_SIDE = 1024  # pixels of the mosaic's longer side before the crop, at most
MAX_TILE_BYTES = 8 * 2**20  # one stored tile
MAX_TILE_INFLATED = 16 * 2**20  # one vector tile after gzip
MAX_TILE_PIXELS = 4096 * 4096
MAX_DIRECTORY_BYTES = 16 * 2**20  # one PMTiles directory, stored or inflated
MAX_LEAF_DEPTH = 4
MIN_SIDE = 128  # a tileset smaller than a tile pixel at its zoom is still shown this large
MAX_ZOOM = 30
_WORLD = [-180.0, -85.0511287798066, 180.0, 85.0511287798066]
_RASTER = frozenset({"png", "jpg", "jpeg", "webp"})
_VECTOR = frozenset({"pbf", "mvt"})


def render_tiles(path: str, found: Any, job: Job) -> Any:
    """A tileset's mosaic as a PIL image; raises NoPreview."""
    meta = found.metadata
    bbox = meta.get("bbox") or _WORLD
    minzoom = meta.get("minzoom") if isinstance(meta.get("minzoom"), int) else 0
    maxzoom = meta.get("maxzoom") if isinstance(meta.get("maxzoom"), int) else minzoom
    with contextlib.ExitStack() as stack:
        if found.format == "mbtiles":
            source: Any = stack.enter_context(contextlib.closing(_MBTiles(path, job)))
            kind = str(meta.get("tile_format") or "")
        else:
            source = stack.enter_context(contextlib.closing(_PMTiles(path)))
            kind = str(meta.get("tile_type") or "")
        if kind not in _RASTER | _VECTOR:
            raise NoPreview("tiles of an unsupported type")
        zoom, tiles = _pick(source, bbox, max(0, minzoom), min(maxzoom, MAX_ZOOM), job)
    if kind in _VECTOR:
        return _vector(tiles, zoom, bbox, job)
    return _mosaic(tiles, zoom, bbox, job)


def _tile_range(bbox: list[float], zoom: int) -> tuple[int, int, int, int]:
    n = 2**zoom
    x0, x1 = (min(n - 1, max(0, math.floor((v + 180) / 360 * n))) for v in (bbox[0], bbox[2]))
    y0, y1 = (min(n - 1, max(0, math.floor(_merc_y(v) * n))) for v in (bbox[3], bbox[1]))
    return x0, x1, y0, y1


def _merc_y(lat: float) -> float:
    """Latitude as a fraction of the Web Mercator square, from the top (0) to the bottom (1)."""
    lat = max(min(lat, _WORLD[3]), _WORLD[1])
    rad = math.radians(lat)
    return (1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2


def _pick(
    source: Any, bbox: list[float], minzoom: int, maxzoom: int, job: Job
) -> tuple[int, list[tuple[int, int, bytes]]]:
    for zoom in range(maxzoom, minzoom - 1, -1):
        x0, x1, y0, y1 = _tile_range(bbox, zoom)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > (MAX_TILES if zoom > minzoom else MAX_MOSAIC_TILES):
            continue
        job.check()
        tiles = source.tiles(zoom, x0, x1, y0, y1)
        if tiles:
            return zoom, tiles
    raise NoPreview("no tiles at a zoom level that fits a small mosaic")


def _mosaic(tiles: list[tuple[int, int, bytes]], zoom: int, bbox: list[float], job: Job) -> Any:
    Image = pillow()

    images = []
    for x, y, data in tiles:
        image = _decode(data)
        if image is not None:
            images.append((x, y, image))
    if not images:
        raise NoPreview("no tile could be decoded")
    x0, x1, y0, y1 = _tile_range(bbox, zoom)  # what _pick asked for: missing tiles are gaps
    cols, rows = x1 - x0 + 1, y1 - y0 + 1
    side = max(32, min(512, images[0][2].width, MOSAIC_SIDE // max(cols, rows)))
    mosaic = Image.new("RGBA", (cols * side, rows * side), (0, 0, 0, 0))
    for x, y, image in images:
        job.check()
        if image.size != (side, side):
            image = image.resize((side, side), Image.Resampling.BILINEAR)
        mosaic.paste(image, ((x - x0) * side, (y - y0) * side))
    n = 2**zoom
    box = (
        ((bbox[0] + 180) / 360 * n - x0) * side,
        (_merc_y(bbox[3]) * n - y0) * side,
        ((bbox[2] + 180) / 360 * n - x0) * side,
        (_merc_y(bbox[1]) * n - y0) * side,
    )
    box = (max(box[0], 0), max(box[1], 0), min(box[2], mosaic.width), min(box[3], mosaic.height))
    width, height = box[2] - box[0], box[3] - box[1]
    longest = round(min(PREVIEW_MAX_SIDE, max(MIN_SIDE, width, height)))
    return mosaic.resize(fit(width, height, longest), Image.Resampling.BILINEAR, box=box)


def _decode(data: bytes) -> Any:
    """A raster tile as an RGBA image, or None (unreadable, or over MAX_TILE_PIXELS)."""
    import io

    Image = pillow()

    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"]) as image:
            if image.width * image.height > MAX_TILE_PIXELS:
                return None
            return image.convert("RGBA")
    except Exception:  # a broken tile leaves a gap, not a failed preview
        return None


def _vector(tiles: list[tuple[int, int, bytes]], zoom: int, bbox: list[float], job: Job) -> Any:
    import numpy

    extent = mercator_extent(bbox)
    if extent is None:
        raise NoPreview("no bounds")
    canvas = Canvas(extent)
    world = 2 * math.pi * EARTH_RADIUS
    for x, y, data in tiles:
        job.check()
        buf = _inflate(data)
        if buf is None:
            continue
        try:
            for kind, positions, size in mvt_parts(buf):
                tile_xy = numpy.asarray(positions, numpy.float64) / size
                for piece in _inside_pieces(tile_xy) if kind == "ring" else [tile_xy]:
                    xy = piece.copy()
                    xy[:, 0] = (x + xy[:, 0]) / 2**zoom * world - world / 2
                    xy[:, 1] = world / 2 - (y + xy[:, 1]) / 2**zoom * world
                    canvas.points(xy) if kind == "point" else canvas.line(xy)
        except (ValueError, IndexError):  # a broken tile: what was drawn of it stays
            continue
    return canvas.finish()


def _inside_pieces(ring: Any) -> list[Any]:
    """A polygon ring of a tile (in tile fractions) without its segments along or beyond the
    tile's edges: tiles cut polygons there, and those cuts are not the map's outlines."""
    import numpy

    a, b = ring[:-1], ring[1:]
    cut = numpy.zeros(len(a), bool)
    for axis in (0, 1):
        cut |= (a[:, axis] <= 0) & (b[:, axis] <= 0)
        cut |= (a[:, axis] >= 1) & (b[:, axis] >= 1)
    if not cut.any():
        return [ring]
    pieces, start = [], 0
    for index in numpy.flatnonzero(cut).tolist():
        if index > start:
            pieces.append(ring[start : index + 1])
        start = index + 1
    if start < len(a):
        pieces.append(ring[start:])
    return pieces


def _inflate(data: bytes) -> bytes | None:
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_TILE_INFLATED)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else out


# --- Mapbox Vector Tile 2.1 (protobuf) ------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]  # IndexError past the end: a truncated tile
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field, wire type, value) of a protobuf message: ints, or (start, end) of bytes."""
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield key >> 3, 0, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise ValueError("field runs past its message")
            yield key >> 3, 2, (pos, pos + length)
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError("unknown wire type")


def mvt_parts(buf: bytes) -> Iterator[tuple[str, list[tuple[int, int]], int]]:
    """(kind: point, line or ring; positions in tile units; layer extent) of each part of each
    feature of a tile; raises ValueError or IndexError for a malformed tile."""
    for field, wire, value in _fields(buf, 0, len(buf)):
        if (field, wire) != (3, 2):
            continue
        size, features = 4096, []
        for layer_field, layer_wire, layer_value in _fields(buf, *value):
            if (layer_field, layer_wire) == (5, 0) and layer_value > 0:
                size = layer_value
            elif (layer_field, layer_wire) == (2, 2):
                features.append(layer_value)
        for start, end in features:
            kind, geometry = 0, None
            for feature_field, feature_wire, feature_value in _fields(buf, start, end):
                if (feature_field, feature_wire) == (3, 0):
                    kind = feature_value
                elif (feature_field, feature_wire) == (4, 2):
                    geometry = feature_value
            if geometry is not None and kind in (1, 2, 3):
                for part in _commands(buf, geometry[0], geometry[1], kind == 3):
                    yield ("point", "line", "ring")[kind - 1], part, size


def _commands(buf: bytes, pos: int, end: int, closed: bool) -> Iterator[list[tuple[int, int]]]:
    """Parts of a geometry's command stream (MoveTo 1, LineTo 2, ClosePath 7)."""
    x = y = 0
    part: list[tuple[int, int]] = []
    while pos < end:
        header, pos = _varint(buf, pos)
        command, count = header & 7, header >> 3
        if command == 7:
            if part and closed:
                part.append(part[0])
            continue
        if command not in (1, 2):
            raise ValueError("unknown geometry command")
        if command == 1 and part:
            yield part
            part = []
        for _ in range(count):
            dx, pos = _varint(buf, pos)
            dy, pos = _varint(buf, pos)
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            part.append((x, y))
    if part:
        yield part


# --- sources --------------------------------------------------------------------------------------


class _MBTiles:
    """Tiles from an MBTiles file (TMS rows), read-only, each statement bound by the deadline."""

    def __init__(self, path: str, job: Job):
        uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro&immutable=1"
        self.conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_TILE_BYTES)
        for pragma in ("trusted_schema=OFF", "query_only=ON", "cache_size=-8192"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.set_progress_handler(lambda: int(job.limit.expired()), 10000)

    def tiles(self, zoom: int, x0: int, x1: int, y0: int, y1: int) -> list[tuple[int, int, bytes]]:
        top = 2**zoom - 1
        try:
            rows = self.conn.execute(
                "SELECT tile_column, tile_row, tile_data FROM tiles WHERE zoom_level = ? "
                "AND tile_column BETWEEN ? AND ? AND tile_row BETWEEN ? AND ? LIMIT ?",
                (zoom, x0, x1, top - y1, top - y0, MAX_MOSAIC_TILES),
            ).fetchall()
        except (sqlite3.OperationalError, sqlite3.DataError) as exc:
            raise NoPreview("MBTiles tiles could not be read") from exc
        return [
            (x, top - row, data)
            for x, row, data in rows
            if isinstance(x, int) and isinstance(row, int) and isinstance(data, bytes)
        ]

    def close(self) -> None:
        self.conn.close()


class _PMTiles:
    """Tiles from a PMTiles v3 archive: the root directory, then leaf directories, by tile id."""

    def __init__(self, path: str):
        from chalicelib.formats.pmtiles import _HEADER, HEADER_LEN

        self.fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        head = _HEADER.unpack(self.fh.read(HEADER_LEN))
        self.root = (head[2], head[3])
        self.leaves, self.data = head[6], head[8]
        self.internal, self.compression = head[14], head[15]
        if self.compression not in (1, 2):
            self.close()
            raise NoPreview("tiles compressed with brotli or zstd")
        self.directories: dict[tuple[int, int], Any] = {}

    def close(self) -> None:
        self.fh.close()

    def _read(self, offset: int, length: int, limit: int) -> bytes:
        if length > limit:
            raise NoPreview("PMTiles section over its size budget")
        self.fh.seek(offset)
        return self.fh.read(length)

    def _directory(self, offset: int, length: int) -> Any:
        key = (offset, length)
        if key not in self.directories:
            raw = self._read(offset, length, MAX_DIRECTORY_BYTES)
            if self.internal == 2:
                raw = _inflate(raw) or b""
            self.directories[key] = _entries(raw)
        return self.directories[key]

    def tile(self, zoom: int, x: int, y: int) -> bytes | None:
        tile_id = zxy_to_tileid(zoom, x, y)
        offset, length = self.root
        for _depth in range(MAX_LEAF_DEPTH):
            ids, runs, lengths, offsets = self._directory(offset, length)
            i = bisect.bisect_right(ids, tile_id) - 1
            if i < 0:
                return None
            if runs[i] == 0:  # a leaf directory
                offset, length = self.leaves + offsets[i], lengths[i]
            elif tile_id - ids[i] < runs[i]:
                # Gzipped vector tiles are inflated (within a budget) by _vector.
                return self._read(self.data + offsets[i], lengths[i], MAX_TILE_BYTES)
            else:
                return None
        return None

    def tiles(self, zoom: int, x0: int, x1: int, y0: int, y1: int) -> list[tuple[int, int, bytes]]:
        found = []
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                data = self.tile(zoom, x, y)
                if data:
                    found.append((x, y, data))
        return found


def _entries(buf: bytes) -> tuple[list[int], list[int], list[int], list[int]]:
    """A PMTiles v3 directory: tile ids, run lengths, lengths and offsets (spec section 4)."""
    try:
        count, pos = _varint(buf, 0)
        columns: list[list[int]] = [[], [], [], []]
        for column in columns:
            for _ in range(count):
                value, pos = _varint(buf, pos)
                column.append(value)
    except (IndexError, ValueError) as exc:
        raise NoPreview("PMTiles directory is corrupt") from exc
    ids, runs, lengths, raw = columns
    offsets: list[int] = []
    last = 0
    for i in range(count):
        last += ids[i]
        ids[i] = last
        offsets.append(offsets[-1] + lengths[i - 1] if i and raw[i] == 0 else raw[i] - 1)
    return ids, runs, lengths, offsets


def zxy_to_tileid(zoom: int, x: int, y: int) -> int:
    """The PMTiles tile id: tiles of all shallower zooms, then the Hilbert index at `zoom`."""
    acc = ((1 << (2 * zoom)) - 1) // 3
    for bit in range(zoom - 1, -1, -1):
        s = 1 << bit
        rx, ry = int(bool(x & s)), int(bool(y & s))
        acc += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
    return acc
