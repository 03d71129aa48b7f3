"""Previews: a small PNG or WebP (longest side <= PREVIEW_MAX_SIDE) of every map we can draw.

Rasters (GeoTIFF, scans, PDF pages, raster tiles) are drawn by previews.raster / previews.tiles,
vectors (GeoJSON, KML/KMZ, GPX, zipped Shapefile, GeoPackage features, vector tiles) by
previews.vector. Nothing here may reject a map or fail its job: a map whose preview cannot be
drawn, for its content, the time left or any library's failure, gets None (the reason is
logged, never the content). Only the job's own time limit passes through (TimeLimitExceeded of
an outer time_limit), so that the pipeline handles it as it does for the other steps.

Every renderer works in bounded memory: rasters are read decimated (GDAL's overviews, JPEG's
DCT scaling) and vectors are streamed, one feature at a time, onto a 512-pixel canvas, with a
sample of at most previews.canvas.MAX_FEATURES features when there are more. Libraries
(Pillow, numpy, rasterio, pypdfium2) are imported inside the functions (processor layer only).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.formats.quiet import quiet_logger
from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.timer import TimeLimit, TimeLimitExceeded, time_limit
from chalicelib.previews.base import PREVIEW_MAX_SIDE, Job, NoPreview, pillow

logger = logging.getLogger(__name__)

# A preview is not started with less time left; it runs under at most PREVIEW_CAP_SECONDS
# (bench/preview.py: 1-700 ms per corpus file, under 1 s for a 2 GiB GeoTIFF or a 140 MP scan,
# ~7 s for a GeoJSON of 1M points on a loaded 2-core machine).
MIN_PREVIEW_SECONDS = 2.0
PREVIEW_CAP_SECONDS = 30.0
# Drawings (vector previews, plain rasters, a few classes: at most this many colours) are PNG,
# lossless and a few KB; anything richer (scans, imagery, grey DEMs) is lossy WebP, 5-15x
# smaller than PNG at 512 px. libwebp's method 1 is as small as its default 4 on such images
# at a third of the time (10-30 ms; PNG with optimize=True took 0.6 s).
PNG_MAX_COLOURS = 64
WEBP_QUALITY = 75
WEBP_METHOD = 1


@dataclass(frozen=True)
class Preview:
    """A preview image written into workdir; the caller stores it and deletes the file."""

    path: str
    width: int
    height: int
    media_type: str  # image/png | image/webp
    size: int  # bytes


Renderer = Callable[[str, Inspection, Job], Any]  # returns a PIL image


def _raster(path: str, found: Inspection, job: Job) -> Any:
    from chalicelib.previews.raster import render_tiff

    return render_tiff(job.source_for_raster or path, job)


def _image(path: str, found: Inspection, job: Job) -> Any:
    from chalicelib.previews.raster import render_image

    return render_image(path, found, job)


def _pdf(path: str, found: Inspection, job: Job) -> Any:
    from chalicelib.previews.raster import render_pdf

    return render_pdf(path, job)


def _tiles(path: str, found: Inspection, job: Job) -> Any:
    from chalicelib.previews.tiles import render_tiles

    return render_tiles(path, found, job)


def _vector(path: str, found: Inspection, job: Job) -> Any:
    from chalicelib.previews.vector import render_vector

    return render_vector(path, found, job)


def _gpkg(path: str, found: Inspection, job: Job) -> Any:
    """Features when the GeoPackage has any, else its first tiles layer (through GDAL)."""
    if any(layer.get("data_type") == "features" for layer in found.metadata.get("layers", [])):
        return _vector(path, found, job)
    from chalicelib.previews.raster import render_gpkg_tiles

    return render_gpkg_tiles(path, found, job)


RENDERERS: dict[str, Renderer] = {
    "geotiff": _raster,
    "tiff": _raster,
    "png": _image,
    "jpeg": _image,
    "webp": _image,
    "pdf": _pdf,
    "geojson": _vector,
    "kml": _vector,
    "kmz": _vector,
    "gpx": _vector,
    "shapefile": _vector,
    "gpkg": _gpkg,
    "mbtiles": _tiles,
    "pmtiles": _tiles,
}


def render_preview(
    path: str,
    found: Inspection,
    workdir: str,
    *,
    deadline: float,
    source_for_raster: str | None = None,
    opener: Callable[[str, str], Any] | None = None,
) -> Preview | None:
    """Draw a preview of the inspected map at `path` into `workdir`, or None (logged why);
    raises only an outer time_limit's TimeLimitExceeded (the job's deadline).

    `deadline` is a time.monotonic() value; `source_for_raster` is the COG the job made of a
    TIFF (its overviews make the preview cheap), used instead of `path` for TIFFs; `opener`
    opens a raster `path` that is not a local file (a map read in place, by ranged reads)."""
    renderer = RENDERERS.get(found.format)
    if renderer is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining < MIN_PREVIEW_SECONDS:
        logger.info("preview skipped for %s: %.1f s left", found.format, remaining)
        return None
    started = time.monotonic()
    limit: TimeLimit | None = None
    try:
        with (
            warnings.catch_warnings(action="ignore"),  # library warnings may quote content
            quiet_logger("rasterio"),
            quiet_logger("PIL"),
            time_limit(min(remaining, PREVIEW_CAP_SECONDS)) as limit,
        ):
            image = renderer(path, found, Job(workdir, limit, source_for_raster, opener))
            preview = write_preview(image, workdir)
    except TimeLimitExceeded as exc:
        if exc.limit is not limit:
            raise
        why = "out of time"
    except NoPreview as exc:
        why = str(exc)
    except Rejected as exc:  # a reader met what inspection let through: same outcome
        why = exc.code
    except MemoryError:
        why = "out of memory"
    except Exception as exc:  # any library's failure on untrusted content; never the job's
        why = f"{type(exc).__name__} (unexpected)"
    else:
        logger.info(
            "preview of %s: %dx%d %s, %d bytes in %.2f s",
            found.format,
            preview.width,
            preview.height,
            preview.media_type,
            preview.size,
            time.monotonic() - started,
        )
        return preview
    # Reasons are our own texts and exception class names: no content reaches the log.
    logger.info(
        "no preview for %s: %s (%.2f s)", found.format, why[:200], time.monotonic() - started
    )
    return None


def write_preview(image: Any, workdir: str) -> Preview:
    """Encode `image` (PIL, RGB(A)/L(A)): PNG for a drawing, WebP for anything richer."""
    pillow()
    if max(image.size) > PREVIEW_MAX_SIDE:  # renderers fit their output; this is a backstop
        image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    out_buffer = io.BytesIO()
    if image.getcolors(PNG_MAX_COLOURS) is not None:
        image.save(out_buffer, format="PNG")
        suffix, media = ".png", "image/png"
    else:
        image.save(out_buffer, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
        suffix, media = ".webp", "image/webp"
    data = out_buffer.getvalue()
    fd, out = tempfile.mkstemp(prefix="mapstock-preview-", suffix=suffix, dir=workdir)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Preview(out, image.width, image.height, media, len(data))
