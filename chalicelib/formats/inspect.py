"""Entry point: decide the format from content (sniff) and run that format's inspector."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.sniff import sniff

logger = logging.getLogger(__name__)

# What the readers import from the processor's Lambda layer (requirements-processing.txt).
# Without the layer they are missing: the deployment's fault, not the file's, so the job is
# retried (and ends `failed` on its last attempt) instead of the map being rejected `malformed`.
LAYER_MODULES = frozenset({"numpy", "tifffile", "PIL", "pypdf", "shapefile", "defusedxml"})


# Each inspector module is imported only when its format shows up (cold-start cost).
def _tiff(path: str) -> Inspection:
    from chalicelib.formats.tiff import inspect_tiff

    return inspect_tiff(path)


def _image(kind: str) -> Callable[[str], Inspection]:
    def run(path: str) -> Inspection:
        from chalicelib.formats.raster import inspect_image

        return inspect_image(path, kind)

    return run


def _pdf(path: str) -> Inspection:
    from chalicelib.formats.pdf import inspect_pdf

    return inspect_pdf(path)


def _zip(path: str) -> Inspection:
    from chalicelib.formats.archives import inspect_zip

    return inspect_zip(path)


def _sqlite(path: str) -> Inspection:
    from chalicelib.formats.sqlite_formats import inspect_sqlite

    return inspect_sqlite(path)


def _pmtiles(path: str) -> Inspection:
    from chalicelib.formats.pmtiles import inspect_pmtiles

    return inspect_pmtiles(path)


def _json(path: str) -> Inspection:
    from chalicelib.formats.geojson import inspect_geojson

    return inspect_geojson(path)


def _xml(path: str) -> Inspection:
    from chalicelib.formats.xmlgeo import inspect_xml

    return inspect_xml(path)


_INSPECTORS: dict[str, Callable[[str], Inspection]] = {
    "tiff": _tiff,
    "png": _image("png"),
    "jpeg": _image("jpeg"),
    "webp": _image("webp"),
    "pdf": _pdf,
    "zip": _zip,
    "sqlite": _sqlite,
    "pmtiles": _pmtiles,
    "json": _json,
    "kml": _xml,  # the XML inspector re-checks the root element while parsing
    "gpx": _xml,
    "xml": _xml,
}


def _clean(value: Any) -> Any:
    """Make metadata strictly JSON-safe: tuples to lists, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # plain int, not a library subclass (e.g. pypdf's NumberObject)
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON-safe")


def _layer_missing(exc: Exception) -> bool:
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in LAYER_MODULES


def inspect_file(path: str) -> Inspection:
    """Identify the map file at `path` by content; raises Rejected, OSError if unreadable, or
    ModuleNotFoundError when a reader's library (LAYER_MODULES) is not deployed."""
    kind = sniff(path)
    if kind is None:
        raise Rejected("unsupported_format", "File is not a supported map format")
    try:
        result = _INSPECTORS[kind](path)
        return Inspection(result.format, result.media_type, _clean(result.metadata))
    except Rejected:
        raise
    except MemoryError as exc:
        raise Rejected("too_large", "File exceeds the inspection memory budget") from exc
    except Exception as exc:
        if _layer_missing(exc):
            raise
        # A parser failing in a way we did not map is still the content's fault as far
        # as the uploader is concerned; log it (without content) so the gap gets fixed.
        logger.exception("unexpected inspector failure for format family %s", kind)
        raise Rejected("malformed", "File could not be parsed") from exc
