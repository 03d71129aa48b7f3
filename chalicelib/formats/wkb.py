"""The x/y positions of a GeoPackage geometry blob (OGC 12-128r19 section 2.1.3: a "GP" header,
an optional envelope, then ISO or extended WKB), for extents the header cannot give."""

from __future__ import annotations

import struct
from typing import Any

_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
MAX_DEPTH = 8  # collections of collections: real data nests two levels


def gpkg_points(blob: bytes) -> Any:
    """An (n, 2) numpy array of the geometry's x/y; raises ValueError for a blob that is not a
    GeoPackage geometry of points, lines and polygons (curves included: only their vertices)."""
    import numpy

    if len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry")
    flags = blob[3]
    envelope = _ENVELOPE_BYTES.get((flags >> 1) & 7)
    if envelope is None:
        raise ValueError("invalid envelope")
    if flags & 0x10:  # the empty flag
        return numpy.empty((0, 2))
    out: list[Any] = []
    _geometry(blob, 8 + envelope, out, 0)
    return numpy.concatenate(out) if out else numpy.empty((0, 2))


def _geometry(blob: bytes, pos: int, out: list[Any], depth: int) -> int:
    """Append the positions of the WKB geometry at `pos` to `out`; return where it ends."""
    import numpy

    if depth > MAX_DEPTH:
        raise ValueError("geometry nests too deep")
    order = "<" if blob[pos] == 1 else ">"
    (code,) = struct.unpack_from(order + "I", blob, pos + 1)
    pos += 5
    dims = 2
    if code & 0x80000000 or code & 0x40000000:  # extended WKB (PostGIS/GDAL): Z and M flags
        dims += bool(code & 0x80000000) + bool(code & 0x40000000)
        code &= 0x0FFFFFFF
    if code >= 1000:  # ISO WKB: 1000s Z, 2000s M, 3000s ZM
        dims += {1: 1, 2: 1, 3: 2}.get(code // 1000, 0)
        code %= 1000
    (count,) = struct.unpack_from(order + "I", blob, pos) if code != 1 else (1,)
    pos += 4 if code != 1 else 0
    if code in (1, 2, 8):  # Point, LineString, CircularString
        end = pos + 8 * dims * count
        if end > len(blob):
            raise ValueError("geometry is truncated")
        xy = numpy.frombuffer(blob, order + "f8", dims * count, pos).reshape(count, dims)
        out.append(xy[:, :2].astype(float))
        return end
    if code == 3 or code == 17:  # Polygon, Triangle: rings of positions
        for _ in range(count):
            (points,) = struct.unpack_from(order + "I", blob, pos)
            end = pos + 4 + 8 * dims * points
            if end > len(blob):
                raise ValueError("geometry is truncated")
            ring = numpy.frombuffer(blob, order + "f8", dims * points, pos + 4)
            out.append(ring.reshape(points, dims)[:, :2].astype(float))
            pos = end
        return pos
    if code in (4, 5, 6, 7, 9, 10, 11, 12, 15, 16):  # multi-geometries and collections
        for _ in range(count):
            pos = _geometry(blob, pos, out, depth + 1)
        return pos
    raise ValueError("unsupported geometry type")
