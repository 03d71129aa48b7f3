"""TIFF / BigTIFF / GeoTIFF inspection: tags only, pixel data is never decoded."""

from __future__ import annotations

import math
import os
import struct
from typing import Any, NamedTuple

from chalicelib.formats import expansion, geo, geokeys
from chalicelib.formats.quiet import quiet_logger
from chalicelib.formats.result import Inspection, Rejected

MAX_IFDS = 1024  # main-chain IFDs (image + overviews/masks); longer chains are rejected
MAX_TAGS_PER_IFD = 4096  # real files carry < 100 tags per IFD
MAX_TAG_BYTES = 256 * 1024 * 1024  # one tag's value (e.g. TileOffsets of a huge COG)
MAX_GEOKEYS = 1000
MAX_TIEPOINTS = 100_000

# Byte sizes of the TIFF field types (unknown types count as 1 byte).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TYPE_SIZES.update({13: 4, 16: 8, 17: 8, 18: 8})
_GEO_TAGS = (33550, 33922, 34264, 34735)  # ModelPixelScale/Tiepoint/Transformation/GeoKeys
_USER_DEFINED = 32767
# tifffile names TIFF compression 8 (what libtiff and GDAL write for Deflate) "adobe_deflate" and
# the obsolete 32946 "deflate": both are the same zlib stream, so both are reported as "deflate".
_CODEC_NAMES = {"adobe_deflate": "deflate"}


class TiffLayout(NamedTuple):
    """A (Big)TIFF's byte order, first IFD offset and IFD entry layout, from its header."""

    bo: str  # struct byte order: "<" or ">"
    first_ifd: int
    cnt_fmt: str  # the entry count's struct format
    entry_fmt: str  # tag, type, count, value-or-offset
    entry_len: int
    inline: int  # value bytes held in the entry itself
    off_fmt: str  # an offset's struct format


def tiff_layout(head: bytes) -> TiffLayout:
    """The layout from a file's first 16 bytes; raises Rejected for a truncated header."""
    bo = "<" if head[:2] == b"II" else ">"
    if len(head) >= 4 and struct.unpack(bo + "H", head[2:4])[0] == 43:
        if len(head) < 16:
            raise Rejected("malformed", "BigTIFF header is truncated")
        return TiffLayout(bo, struct.unpack(bo + "Q", head[8:16])[0], "Q", "HHQ8s", 20, 8, "Q")
    if len(head) < 8:
        raise Rejected("malformed", "TIFF header is truncated")
    return TiffLayout(bo, struct.unpack(bo + "I", head[4:8])[0], "H", "HHI4s", 12, 4, "I")


def _prescan(path: str) -> list[int]:
    """Walk the IFD chain with plain reads and bound every tag before tifffile sees the file.

    tifffile eagerly loads some tag arrays (strip/tile offsets) and, for a few special
    flavours, every page; checking counts and sizes here keeps its memory bounded.
    Returns the NewSubfileType of each IFD; raises Rejected.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(16)
        bo, offset, cnt_fmt, entry_fmt, entry_len, inline, off_fmt = tiff_layout(head)
        cnt_len, off_len = struct.calcsize(cnt_fmt), struct.calcsize(off_fmt)
        seen: set[int] = set()
        subfile_types: list[int] = []
        while offset:
            if offset in seen:
                break  # circular chain: stop walking, the IFDs seen so far stand
            if len(seen) >= MAX_IFDS:
                raise Rejected("too_large", "TIFF has too many images")
            seen.add(offset)
            if offset < 8 or offset + cnt_len > size:
                raise Rejected("malformed", "TIFF directory is outside the file")
            fh.seek(offset)
            count = struct.unpack(bo + cnt_fmt, fh.read(cnt_len))[0]
            if count == 0 or count > MAX_TAGS_PER_IFD:
                raise Rejected("malformed", "TIFF directory has an invalid tag count")
            block = fh.read(count * entry_len + off_len)
            if len(block) != count * entry_len + off_len:
                raise Rejected("malformed", "TIFF directory is truncated")
            subfile = 0
            for i in range(count):
                code, dtype, n, raw = struct.unpack_from(bo + entry_fmt, block, i * entry_len)
                nbytes = n * _TYPE_SIZES.get(dtype, 1)
                if nbytes > MAX_TAG_BYTES:
                    raise Rejected("too_large", "TIFF tag value exceeds the size budget")
                if nbytes > inline:
                    where = struct.unpack(bo + off_fmt, raw)[0]
                    if where + nbytes > size:
                        raise Rejected("malformed", "TIFF tag value is outside the file")
                elif code == 254 and dtype in (3, 4):  # NewSubfileType, inline
                    fmt = "H" if dtype == 3 else "I"
                    subfile = struct.unpack_from(bo + fmt, raw)[0]
            subfile_types.append(subfile)
            offset = struct.unpack_from(bo + off_fmt, block, count * entry_len)[0]
    if not subfile_types:
        raise Rejected("malformed", "TIFF has no image directory")
    return subfile_types


def inspect_tiff(path: str) -> Inspection:
    """Inspect a classic or BigTIFF, as geotiff when GeoTIFF tags are present; raises Rejected."""
    subfile_types = _prescan(path)
    import tifffile

    try:
        with quiet_logger("tifffile"), tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            meta = _page_metadata(page)
            _check_pixel_data(tif, os.path.getsize(path), len(subfile_types))
            tags = {code: _tag_value(page, code) for code in _GEO_TAGS}
            geokeys = _geokeys(page) if tags[34735] is not None else {}
    except Rejected:
        raise
    except (tifffile.TiffFileError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise Rejected("malformed", "TIFF structure is invalid") from exc
    except (struct.error, OSError, NotImplementedError, OverflowError) as exc:
        raise Rejected("malformed", "TIFF structure is invalid") from exc
    # Reduced-resolution images (bit 0) that are not masks (bit 2) are overviews.
    meta["overviews"] = sum(1 for t in subfile_types[1:] if t & 1 and not t & 4)
    meta["mask"] = any(t & 4 for t in subfile_types[1:])  # e.g. GDAL's internal nodata mask
    if not any(v is not None for v in tags.values()):
        meta.update(bbox=None, crs=None)
        return Inspection("tiff", "image/tiff", meta)
    meta.update(_georeference(tags, geokeys, meta["width"], meta["height"]))
    return Inspection("geotiff", "image/tiff", meta)


def _check_pixel_data(tif: Any, file_size: int, ifds: int) -> None:
    """Every image's strips/tiles must lie inside the file and hold at least what their pixels
    need (chalicelib.formats.expansion); raises Rejected: malformed when data is missing or cut
    short, too_large when the pixels claimed are far more than the bytes could hold (a bomb).

    The bytes counted are the union of the byte ranges all segments of all images reference,
    each byte once: segments sharing (or overlapping) one compressed tile cannot each claim
    it, and overviews cannot re-use the full image's tiles. Sparse segments (byte count 0, what
    GDAL writes for blank tiles with SPARSE_OK) need no bytes: readers fill them with nodata
    without decoding anything. What their pixels still cost downstream (a COG re-encodes every
    pixel) is bounded where that work is done: the optimizer counts every pixel.

    Only the `ifds` images _prescan found are read: iterating tifffile's pages would follow a
    circular IFD chain without end.
    """
    import numpy

    needed = 0.0  # the fewest bytes the images' non-sparse segments can be stored in
    starts, ends = [], []
    for index in range(ifds):
        page = tif.pages[index]
        offsets = numpy.asarray(page.dataoffsets, dtype=numpy.uint64)
        counts = numpy.asarray(page.databytecounts, dtype=numpy.uint64)
        if offsets.size == 0 or offsets.shape != counts.shape:
            raise Rejected("malformed", "TIFF image data is missing")
        if int((offsets + counts).max()) > file_size:
            raise Rejected("malformed", "TIFF image data is truncated")
        decoded = _segment_sizes(page, offsets.size)
        stored = counts > 0
        codec = _codec_name(page.compression)
        exact = codec == "none" and int(page.photometric) != 6  # YCbCr rows are grouped
        if exact and bool((counts[stored] < decoded[stored]).any()):
            raise Rejected("malformed", "TIFF image data is truncated")
        needed += expansion.min_stored_bytes(int(decoded[stored].sum()), codec)
        starts.append(offsets[stored])
        ends.append(offsets[stored] + counts[stored])
    if needed > _union_bytes(numpy.concatenate(starts), numpy.concatenate(ends)):
        raise Rejected("too_large", expansion.TOO_LARGE_MESSAGE)


def _segment_sizes(page: Any, count: int) -> Any:
    """Decoded bytes of each of a page's `count` strips or tiles (tiles with their padding)."""
    import numpy

    bits = int(max(numpy.atleast_1d(page.bitspersample)))
    samples = int(page.samplesperpixel)
    separate = int(page.planarconfig) == 2  # one plane per sample, each its own segments
    bits_per_pixel = bits * (1 if separate else samples)
    if int(page.photometric) == 6 and samples == 3 and not separate:
        # Subsampled YCbCr stores one Cb and one Cr per h x v luma samples.
        h, v = getattr(page, "subsampling", None) or (1, 1)
        bits_per_pixel = -(-bits_per_pixel * (h * v + 2) // (3 * h * v))
    if page.is_tiled:
        row = -(-int(page.tilewidth) * bits_per_pixel // 8)
        size = row * int(page.tilelength) * max(1, int(page.tiledepth))
        return numpy.full(count, size, dtype=numpy.uint64)
    height = int(page.imagelength) * max(1, int(page.imagedepth))
    row = -(-int(page.imagewidth) * bits_per_pixel // 8)
    per_strip = max(1, min(int(page.rowsperstrip or height), height))
    strips = -(-height // per_strip)
    rows = numpy.full(strips, per_strip, dtype=numpy.uint64)
    rows[-1] = height - per_strip * (strips - 1)  # the last strip holds what is left
    planes = -(-count // strips)
    return (numpy.tile(rows, planes)[:count] * row).astype(numpy.uint64)


def _union_bytes(starts: Any, ends: Any) -> int:
    """How many bytes the ranges [start, end) cover together, each byte counted once."""
    import numpy

    if starts.size == 0:
        return 0
    order = numpy.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = numpy.maximum.accumulate(ends)  # how far the ranges so far extend
    # A range adds only what lies past the reach of those before it.
    before = numpy.concatenate(([starts[0]], reach[:-1]))
    added = ends.astype(numpy.int64) - numpy.maximum(starts, before).astype(numpy.int64)
    return int(numpy.clip(added, 0, None).sum())


def _page_metadata(page: Any) -> dict[str, Any]:
    import numpy

    width, height = int(page.imagewidth), int(page.imagelength)
    if width <= 0 or height <= 0:
        raise Rejected("malformed", "TIFF image has no pixels")
    meta: dict[str, Any] = {
        "width": width,
        "height": height,
        "bands": int(page.samplesperpixel),
        "dtype": str(page.dtype) if page.dtype is not None else None,
        # One value per sample when they differ (rare); report the widest.
        "bits_per_sample": int(max(numpy.atleast_1d(page.bitspersample))),
        "compression": _codec_name(page.compression),
        "photometric": getattr(page.photometric, "name", str(page.photometric)).lower(),
        "tiled": bool(page.is_tiled),
        "bigtiff": bool(page.parent.is_bigtiff),
        # ExtraSamples 1 / 2: an associated (premultiplied) / unassociated alpha band.
        "alpha": any(int(v) in (1, 2) for v in page.extrasamples),
    }
    if page.is_tiled:
        meta["tile_size"] = [int(page.tilewidth), int(page.tilelength)]
    nodata = page.tags.get(42113)  # GDAL_NODATA, an ASCII number
    if nodata is not None and isinstance(nodata.value, str):
        try:
            value = float(nodata.value.strip("\x00 "))
            meta["nodata"] = value if math.isfinite(value) else None
        except ValueError:
            pass
    return meta


def _codec_name(compression: Any) -> str:
    name = getattr(compression, "name", str(compression)).lower()
    return _CODEC_NAMES.get(name, name)


def _tag_value(page: Any, code: int) -> tuple[float, ...] | None:
    tag = page.tags.get(code)
    if tag is None:
        return None
    value = tag.value
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if code == 33922 and len(values) > 6 * MAX_TIEPOINTS:
        raise Rejected("too_large", "GeoTIFF has too many tiepoints")
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise Rejected("malformed", "GeoTIFF tag has an invalid value") from exc


def _geokeys(page: Any) -> dict[int, int | float | str]:
    """Decode the GeoKeys: SHORT values, and the DOUBLE and ASCII ones their tags hold (a
    user-defined CRS's parameters and citations); raises Rejected on a malformed directory."""
    raw = page.tags.get(34735).value
    keys = [int(v) for v in (raw if isinstance(raw, (tuple, list)) else (raw,))]
    if len(keys) < 4 or keys[3] > MAX_GEOKEYS or len(keys) < 4 + 4 * keys[3]:
        raise Rejected("malformed", "GeoTIFF key directory is invalid")
    doubles_tag, ascii_tag = page.tags.get(34736), page.tags.get(34737)
    doubles = doubles_tag.value if doubles_tag is not None else ()
    doubles = doubles if isinstance(doubles, (tuple, list)) else (doubles,)
    text = ascii_tag.value if ascii_tag is not None and isinstance(ascii_tag.value, str) else ""
    out: dict[int, int | float | str] = {}
    for i in range(keys[3]):
        key_id, location, count, value = keys[4 + 4 * i : 8 + 4 * i]
        if location == 0:  # value stored inline
            out[key_id] = value
        elif location == 34736 and count == 1 and value < len(doubles):
            number = doubles[value]
            if isinstance(number, (int, float)) and math.isfinite(number):
                out[key_id] = float(number)
        elif location == 34737 and count > 0 and value < len(text):
            # Up to a WKT's worth: ArcGIS's "ESRI PE String" citations are whole WKT CRSs.
            out[key_id] = text[value : value + count][: geo.WKT_IDENTIFY_MAX_CHARS]
    return out


def _short(keys: dict[int, int | float | str], key: int) -> int | None:
    value = keys.get(key)
    return value if isinstance(value, int) and value != _USER_DEFINED else None


def _georeference(
    tags: dict[int, tuple[float, ...] | None],
    keys: dict[int, int | float | str],
    width: int,
    height: int,
) -> dict[str, Any]:
    geographic = keys.get(1024) == 2  # GTModelTypeGeoKey: 1 projected, 2 geographic
    code = _short(keys, 2048) if geographic else _short(keys, 3072)
    if code is None and not geographic and keys.get(3072) is None:
        code = _short(keys, 2048)  # no projected CRS key at all: the geographic one
    # No EPSG code: a user-defined CRS, which PROJ places from the GeoKeys' parameters.
    definition = geokeys.user_defined_crs(keys, geographic) if code is None else None
    name = geokeys.crs_name(keys, definition, geographic) if definition else None
    pe_wkt = geokeys.esri_pe_wkt(keys) if code is None else None
    if pe_wkt is not None:  # ArcGIS's WKT: the whole definition, where keys may have none
        definition, name = pe_wkt, geokeys.wkt_crs_name(pe_wkt)
    out: dict[str, Any] = {"crs": f"EPSG:{code}" if code else name, "bbox": None}
    scale, tie, matrix = tags[33550], tags[33922], tags[34264]
    affine: tuple[float, ...] | None  # (a, b, d, e, f, h): x = a*i + b*j + d, y = e*i + f*j + h
    if matrix is not None and len(matrix) == 16:
        out["georeferencing"] = "affine"
        affine = (matrix[0], matrix[1], matrix[3], matrix[4], matrix[5], matrix[7])
    elif scale is not None and len(scale) >= 2 and tie is not None and len(tie) >= 6:
        out["georeferencing"] = "affine"
        i0, j0, _k, x0, y0, _z = tie[:6]
        affine = (scale[0], 0.0, x0 - i0 * scale[0], 0.0, -scale[1], y0 + j0 * scale[1])
    elif tie is not None:
        out["georeferencing"] = "gcps"  # tiepoints alone: ground control points
        out["gcp_count"] = len(tie) // 6
        affine = geo.fit_affine(tie)
    else:
        out["georeferencing"] = None
        affine = None
    if affine is None:
        return out
    a, b, d, e, f, h = affine
    # PixelIsPoint (GTRasterTypeGeoKey 1025 = 2) ties pixel centres, so edges are -0.5 off.
    shift = -0.5 if keys.get(1025) == 2 else 0.0
    corners = [(i + shift, j + shift) for i in (0, width) for j in (0, height)]
    xs = [a * i + b * j + d for i, j in corners]
    ys = [e * i + f * j + h for i, j in corners]
    native = [min(xs), min(ys), max(xs), max(ys)]
    resolution = [math.hypot(a, e), math.hypot(b, f)]
    if all(math.isfinite(v) for v in [*native, *resolution]):
        out["resolution"] = resolution
        out["native_bbox"] = native
        # Coordinates are in the CRS's own unit (metre, or e.g. the US survey foot of EPSG:2263,
        # which GDAL writes as ProjLinearUnitsGeoKey 9003); a units key naming any other unit,
        # or an angular unit other than degree (9102), would need conversions we lack.
        linear = keys.get(3076)
        linear_ok = linear is None or linear == (geo.linear_unit(code) or 9001)
        unit_ok = keys.get(2054, 9102) == 9102 and linear_ok
        if definition is not None:  # its units are part of the definition
            out["bbox"] = geo.reproject_bbox(native, definition)
        else:
            out["bbox"] = geo.to_wgs84_bbox(native, code) if unit_ok else None
    return out
