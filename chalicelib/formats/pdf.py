"""PDF inspection with pypdf, bounded in size and wall-clock time."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
from typing import Any

from chalicelib.formats import geo
from chalicelib.formats.quiet import quiet_logger
from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.timer import TimeLimit, TimeLimitExceeded, time_limit

PDF_MAX_BYTES = 1024 * 1024 * 1024
PDF_TIME_LIMIT_S = 20.0  # pypdf is pure Python: hostile object graphs can be slow
PDF_MAX_PAGES = 1_000_000
EOF_WINDOW = 2048  # "%%EOF" must appear this close to the end (Acrobat allows 1 KiB)
# GeoPDF georeferencing (page 1 only): real files carry a handful of viewports and 4-5 points.
# Longer arrays are ignored (not truncated), so that a partial read never yields a wrong bbox.
MAX_GEO_ENTRIES = 64  # viewports in /VP, dictionaries in /LGIDict, points in /Registration
MAX_GEO_NUMBERS = 256  # numbers in one /GPTS or /Neatline
MAX_REFERENCE_CHAIN = 8  # an indirect object naming another (or itself): followed this far
# A number written as a string, as GDAL writes /CTM entries of an /LGIDict.
_PDF_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


def inspect_pdf(path: str) -> Inspection:
    """Inspect a PDF: pages, version, encryption, georeferencing hint; raises Rejected."""
    size = os.path.getsize(path)
    if size > PDF_MAX_BYTES:
        raise Rejected("too_large", "PDF exceeds the size budget")
    with open(path, "rb") as fh:
        fh.seek(max(0, size - EOF_WINDOW))
        if b"%%EOF" not in fh.read():
            raise Rejected("malformed", "PDF is truncated")

    from pypdf import PdfReader

    limit: TimeLimit | None = None
    try:
        # A file handle, not the path: given a path pypdf reads the whole file into memory.
        # Its own cap, inside the job's (see timer.time_limit): when the job's time runs out
        # first, that limit's exception passes through (the job is retried, not rejected).
        with (
            open(path, "rb") as fh,
            quiet_logger("pypdf"),
            time_limit(PDF_TIME_LIMIT_S) as limit,
        ):
            reader = PdfReader(fh, strict=False)
            meta = _read(reader)
    except TimeLimitExceeded as exc:
        if exc.limit is not limit:
            raise
        raise Rejected("too_large", "PDF exceeds the processing budget") from exc
    except Rejected:
        raise
    except Exception as exc:  # pypdf raises many unrelated types on hostile input
        raise Rejected("malformed", "PDF structure is invalid") from exc
    return Inspection("pdf", "application/pdf", meta)


def _count_without_key(reader: Any) -> int | None:
    """/Count of a PDF we cannot decrypt: numbers and dictionaries are never encrypted.

    pypdf refuses every object until decryption; its private `_override_encryption`
    switch (used for the /Encrypt dictionary) lifts that. If pypdf ever drops it, this
    degrades to None ("pages unknown"), which the contract allows for encrypted files.
    """
    reader._override_encryption = True
    try:
        count = reader.trailer["/Root"]["/Pages"]["/Count"]
    except Exception:
        return None
    finally:
        reader._override_encryption = False
    return int(count) if isinstance(count, int) else None


def _read(reader: Any) -> dict[str, Any]:
    encrypted = bool(reader.is_encrypted)
    if encrypted:
        # Many "encrypted" PDFs only restrict printing/editing (empty user password);
        # failures (a real password, no AES support) leave the page count to /Count.
        with contextlib.suppress(Exception):
            reader.decrypt("")
    try:
        pages: int | None = reader.get_num_pages()
    except Exception:
        if not encrypted:
            raise
        pages = _count_without_key(reader)
    if pages is not None and (not isinstance(pages, int) or not 0 < pages <= PDF_MAX_PAGES):
        if not encrypted:
            raise Rejected("malformed", "PDF page tree is invalid")
        pages = None
    pages = int(pages) if pages is not None else None
    header = str(reader.pdf_header)
    meta: dict[str, Any] = {
        "pages": pages,
        "encrypted": encrypted,
        "pdf_version": header[5:] if header.startswith("%PDF-") else None,
        "bbox": None,
        "crs": None,
    }
    if pages:
        try:
            # GeoPDF (ISO 32000 /VP measure dictionaries) or TerraGo's /LGIDict.
            first = reader.pages[0]
            meta["georeferenced"] = "/VP" in first or "/LGIDict" in first
        except Exception:  # noqa: S110 - the hint is optional
            pass
        else:
            if meta["georeferenced"]:
                meta.update(_georeference(first))
    return meta


# --- GeoPDF ---------------------------------------------------------------------------------------
#
# Two encodings, both read from page 1 only (a map book repeats its georeferencing per page):
# - ISO 32000-2 12.10 (Adobe's ISO 32000 extension; GDAL's default, Esri, TerraGo, Avenza):
#   /VP, an array of viewports whose /Measure of /Subtype /GEO maps page points (/LPTS) to
#   /GPTS: latitude-longitude pairs (latitude first) in the geographic CRS of /GCS, whose /EPSG
#   or /WKT names the map's CRS. The bbox is the extent of all GPTS, moved to WGS84.
# - OGC's GeoPDF best practice (TerraGo; GDAL's GEO_ENCODING=OGC_BP): /LGIDict, one dictionary or
#   an array of them, each a /CTM (or /Registration points) from page space to the coordinates of
#   its /Projection, and the /Neatline of the mapped area in page space. The projection is known
#   from a /WKT (a GDAL extension) or for geographic and UTM coordinates on WGS84 or NAD83; the
#   bbox is the neatline's extent in those coordinates, moved to WGS84.
# Several viewports or dictionaries give the union of their bboxes and their common CRS (None
# when they differ). Hostile structures (wrong types, reference chains, junk numbers) only leave
# bbox and crs None: the georeferencing is optional.


def _georeference(page: Any) -> dict[str, Any]:
    """crs and WGS84 bbox of a GeoPDF page (None when unknown); never raises an Exception."""
    found = _safely(_viewports, page)
    if not any(bbox for _crs, bbox in found):
        found = _safely(_lgidicts, page) or found
    crs_values = {crs for crs, _bbox in found}
    return {
        "crs": crs_values.pop() if len(crs_values) == 1 else None,
        "bbox": geo.union_bbox(bbox for _crs, bbox in found),
    }


_Found = list[tuple[str | None, list[float] | None]]  # (crs, bbox) of each georeferencing


def _safely(read: Any, obj: Any) -> _Found:
    try:
        found: _Found = read(obj)
    except Exception:  # pypdf's lookups raise many types on broken objects
        return []
    return found


def _resolve(obj: Any) -> Any:
    """The object an indirect reference stands for, following at most a few references; None
    for a longer chain or one pypdf cannot follow (a missing or self-referencing object)."""
    from pypdf.generic import IndirectObject, NullObject

    for _ in range(MAX_REFERENCE_CHAIN):
        if not isinstance(obj, IndirectObject):
            return None if isinstance(obj, NullObject) else obj  # null: as if absent
        try:
            obj = obj.get_object()
        except Exception:
            return None
    return None


def _get(obj: Any, key: str) -> Any:
    return _resolve(dict.get(obj, key)) if isinstance(obj, dict) else None


def _array(obj: Any, limit: int) -> list[Any] | None:
    obj = _resolve(obj)
    return obj if isinstance(obj, list) and len(obj) <= limit else None


def _number(obj: Any, strings: bool = False) -> float | None:
    """A finite number; with `strings`, also one written as a PDF string ("0.01")."""
    obj = _resolve(obj)
    if isinstance(obj, str) and strings and len(obj) <= 64 and _PDF_NUMBER.fullmatch(obj.strip()):
        obj = obj.strip()
    elif not isinstance(obj, (int, float)) or isinstance(obj, bool):
        return None
    try:
        value = float(obj)
    except (OverflowError, ValueError):  # an integer of hundreds of digits
        return None
    return value if math.isfinite(value) else None


def _numbers(obj: Any, limit: int, strings: bool = False) -> list[float] | None:
    """All numbers of an array of at most `limit` entries, or None."""
    array = _array(obj, limit)
    if array is None:
        return None
    values = [_number(item, strings) for item in array]
    return values if all(v is not None for v in values) else None  # type: ignore[return-value]


def _text(obj: Any) -> str | None:
    obj = _resolve(obj)
    return obj if isinstance(obj, str) and len(obj) <= geo.WKT_IDENTIFY_MAX_CHARS else None


def _crs_from(epsg: Any, wkt: Any) -> tuple[str | None, int | None]:
    """(label, EPSG code): the code as given, else identified from the WKT, else its name."""
    code = _resolve(epsg)
    if isinstance(code, int) and not isinstance(code, bool) and 0 < code < 10**9:
        return f"EPSG:{code}", int(code)
    text = _text(wkt)
    if text is None:
        return None, None
    label, code, _geographic = geo.crs_from_wkt(text)
    return label, code


# ISO 32000 /VP -----------------------------------------------------------------------------------


def _viewports(page: Any) -> _Found:
    found: _Found = []
    for viewport in _array(_get(page, "/VP"), MAX_GEO_ENTRIES) or []:
        found += _safely(_geo_viewport, viewport)
    return found


def _geo_viewport(viewport: Any) -> _Found:
    measure = _get(_resolve(viewport), "/Measure")
    if _get(measure, "/Subtype") != "/GEO":  # e.g. /RL: the scale of a drawing
        return []
    gcs = _get(measure, "/GCS")
    crs, epsg = _crs_from(_get(gcs, "/EPSG"), _get(gcs, "/WKT"))
    values = _numbers(_get(measure, "/GPTS"), MAX_GEO_NUMBERS)
    if values is None or len(values) % 2 or len(values) < 6:  # 3 points fix a georeferencing
        return [(crs, None)]
    extent = geo.Extent()
    for lat, lon in zip(values[::2], values[1::2], strict=True):
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return [(crs, None)]
        extent.add(lon, lat)
    return [(crs, _gpts_bbox(extent.as_list(), epsg))]


def _gpts_bbox(lonlat: list[float] | None, epsg: int | None) -> list[float] | None:
    """GPTS are on the datum of the CRS's geographic base (e.g. CH1903+ for EPSG:2056, ~100 m
    from WGS84): moved to WGS84 where PROJ knows that base, else taken as they are (as the
    lon/lat of a Shapefile on an unknown datum)."""
    base = geo.geographic_base(epsg) if epsg is not None else None
    if base is not None and base not in geo.GEOGRAPHIC_EPSG:
        moved = geo.to_wgs84_bbox(lonlat, base)
        if moved is not None:
            return moved
    return geo.lonlat_bbox(lonlat)


# OGC best practice /LGIDict ----------------------------------------------------------------------


def _lgidicts(page: Any) -> _Found:
    raw = _get(page, "/LGIDict")
    entries = [raw] if isinstance(raw, dict) else _array(raw, MAX_GEO_ENTRIES) or []
    found: _Found = []
    for entry in entries:
        found += _safely(functools.partial(_lgidict, page), entry)
    return found


def _lgidict(page: Any, entry: Any) -> _Found:
    lgi = _resolve(entry)
    if not isinstance(lgi, dict):
        return []
    crs, epsg = _projection_crs(_get(lgi, "/Projection"))
    affine = _ctm(_get(lgi, "/CTM")) or _registration(_get(lgi, "/Registration"))
    if _get(lgi, "/Neatline") is not None:
        points = _neatline(_get(lgi, "/Neatline"))
    else:  # no neatline: the whole page is mapped
        box = _numbers(page.mediabox, 4)
        points = _box_corners(box) if box is not None and len(box) == 4 else None
    if affine is None or points is None or epsg is None:
        return [(crs, None)]
    a, b, c, d, e, f = affine
    extent = geo.Extent()
    try:
        for x, y in points:
            extent.add(a * x + b * y + c, d * x + e * y + f)
    except ValueError:  # absurd numbers overflow to infinity
        return [(crs, None)]
    return [(crs, geo.to_wgs84_bbox(extent.as_list(), epsg))]


def _ctm(obj: Any) -> tuple[float, ...] | None:
    """The PDF matrix [a b c d e f] (X = a x + c y + e, Y = b x + d y + f) in _lgidict's order."""
    m = _numbers(obj, 6, strings=True)
    if m is None or len(m) != 6:
        return None
    return m[0], m[2], m[4], m[1], m[3], m[5]


def _registration(obj: Any) -> tuple[float, ...] | None:
    """The affine fitted through [page x, page y, X, Y] control points (at least 3)."""
    ties: list[float] = []
    for point in _array(obj, MAX_GEO_ENTRIES) or []:
        values = _numbers(point, 4, strings=True)
        if values is None or len(values) != 4:
            return None
        ties += [values[0], values[1], 0.0, values[2], values[3], 0.0]
    return geo.fit_affine(tuple(ties))


def _neatline(obj: Any) -> list[tuple[float, float]] | None:
    values = _numbers(obj, MAX_GEO_NUMBERS, strings=True)
    if values is None or len(values) % 2 or len(values) < 4:
        return None
    if len(values) == 4:  # two points: opposite corners of a rectangle
        return _box_corners(values)
    return list(zip(values[::2], values[1::2], strict=True))


def _box_corners(box: list[float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# Datum codes (Annex A of the best practice): (geographic, UTM north base, UTM south base).
_WGS84_CODES: tuple[int, int, int | None] = (4326, 32600, 32700)  # "WE", "WGE"
_NAD83_CODES: tuple[int, int, int | None] = (4269, 26900, None)  # "NAR", "NAR-C", ...
_DEGREE_UNITS = {"DEG", "DEGREE", "DEGREES", "DD"}


def _projection_crs(proj: Any) -> tuple[str | None, int | None]:
    """CRS of an /LGIDict /Projection: its /WKT (GDAL writes one), else geographic or UTM
    coordinates on WGS84 or NAD83 (datum codes of the best practice's Annex A). The many other
    projection types would each need their parameters assembled into a CRS: not supported."""
    if not isinstance(proj, dict):
        return None, None
    if _text(_get(proj, "/WKT")):
        return _crs_from(None, _get(proj, "/WKT"))
    datum, kind = _get(proj, "/Datum"), _get(proj, "/ProjectionType")
    if not isinstance(datum, str) or not isinstance(kind, str):
        return None, None
    datum = datum.strip().upper()
    if datum in ("WE", "WGE"):
        geographic, north, south = _WGS84_CODES
    elif datum == "NAR" or datum.startswith("NAR-"):
        geographic, north, south = _NAD83_CODES
    else:
        return None, None
    code: int | None = None
    kind = kind.strip().upper()
    units = _get(proj, "/Units")
    degrees = units is None or (isinstance(units, str) and units.strip().upper() in _DEGREE_UNITS)
    if kind == "GEOGRAPHIC" and degrees:
        code = geographic  # GDAL falls back to "GEOGRAPHIC" with /Units (M) for others
    elif kind == "UT":
        zone, hemisphere = _number(_get(proj, "/Zone"), strings=True), _get(proj, "/Hemisphere")
        hemisphere = hemisphere.strip().upper() if isinstance(hemisphere, str) else None
        base = {"N": north, "S": south}.get(hemisphere or "")
        if base is not None and zone is not None and zone.is_integer() and 1 <= zone <= 60:
            code = base + int(zone)
            code = code if geo.utm_zone(code) is not None else None
    return (f"EPSG:{code}", code) if code is not None else (None, None)
