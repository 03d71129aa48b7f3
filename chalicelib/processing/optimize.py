"""Optimized download variants: a lossless Cloud-Optimized GeoTIFF for TIFFs, gzip for text vectors.

The variant is stored next to the original, which stays the canonical download. Nothing here may
reject a map: every failure (including a missed deadline) is an OptimizeError, which the pipeline
logs and skips. rasterio / rio-cogeo are imported inside functions (processor Lambda layer only).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Any

from chalicelib.processing.quiet import quiet_logger
from chalicelib.processing.result import Inspection

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
TEXT_VECTORS = frozenset({"geojson", "kml", "gpx"})
TIFF_FORMATS = frozenset({"geotiff", "tiff"})
# On a 29 MB parcel GeoJSON: level 6 -> 27.2 % of the input at 39 MB/s; level 9 -> 27.1 % at
# 14 MB/s; level 1 -> 31.0 % at 186 MB/s.
GZIP_LEVEL = 6
MIN_GZIP_GAIN = 0.10
# A COG may be this much larger than a non-COG input: overviews add up to 1/3 of the base
# image's pixels, plus a margin for the codec differing from the input's.
COG_MAX_GROWTH = 1.5
# Conservative COG conversion cost per GiB of decoded pixels (measured: ~35 CPU-s/GiB, 16-43 s/GiB
# wall on 2 cores; see bench/cog.py): refuses to start an uninterruptible conversion too late.
COG_SECONDS_PER_GIB = 120.0
COG_BLOCK = 512
COG_MIN_CACHE = 64 * 2**20  # GDAL block cache, grown for wide rasters (see _cog_costs)
# Refuse conversions estimated above this (wide rasters need whole tile rows in memory);
# on top of ~140 MiB for Python and the readers: the processor Lambda wants >= 1 GiB.
COG_MEMORY_BUDGET = 512 * 2**20
# Codecs that may be lossy: re-encoding their decoded pixels losslessly only makes them bigger.
_LOSSY_CODECS = frozenset({"jpeg", "webp", "lerc", "lerc_deflate", "lerc_zstd", "jpeg2000"})
_CHUNK = 1024 * 1024


class OptimizeError(Exception):
    """Optimization failed or ran out of time; the original upload stays the only download."""


@dataclass(frozen=True)
class Optimized:
    """A variant written into workdir; the caller stores it and deletes the file."""

    path: str  # local output file (in workdir), to be stored next to the original
    kind: str  # "cog" | "gzip"
    media_type: str  # of the decoded content (the original's for gzip)
    content_encoding: str | None  # "gzip" for compressed text variants, None for COG
    size: int  # bytes of the stored file
    sha256: str  # of the stored file


def optimize(
    path: str, inspection: Inspection, workdir: str, *, deadline: float | None = None
) -> Optimized | None:
    """Write an optimized variant of `path` into `workdir`, or None; raises OptimizeError."""
    _check_deadline(deadline)
    try:
        if inspection.format in TEXT_VECTORS:
            return _gzip(path, inspection.media_type, workdir, deadline)
        if inspection.format in TIFF_FORMATS:
            return _cog(path, inspection.format, workdir, deadline)
    except OptimizeError:
        raise
    except Exception as exc:
        # GDAL, disk or memory trouble: the map is fine, only its variant is skipped.
        raise OptimizeError(f"{inspection.format}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return None


def _check_deadline(deadline: float | None, needed: float = 0.0) -> None:
    if deadline is not None and time.monotonic() + needed > deadline:
        raise OptimizeError(f"deadline reached (needed {needed:.0f} s more)")


def _gzip(path: str, media_type: str, workdir: str, deadline: float | None) -> Optimized | None:
    """Gzip in 1 MiB chunks (constant memory); None once the gain can no longer reach 10 %."""
    budget = os.path.getsize(path) * (1 - MIN_GZIP_GAIN)
    # wbits=31 writes a gzip container (header + CRC-32), what Content-Encoding: gzip means;
    # zlib's header has mtime 0, so the same input always gives the same bytes and sha256.
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    digest = hashlib.sha256()
    size = 0
    fd, out = tempfile.mkstemp(prefix="mapstock-opt-", suffix=".gz", dir=workdir)
    keep = False
    try:
        with os.fdopen(fd, "wb") as dst, open(path, "rb") as src:
            while chunk := src.read(_CHUNK):
                _check_deadline(deadline)
                size += _emit(compressor.compress(chunk), dst, digest)
                if size > budget:
                    return None  # stop early on incompressible input instead of finishing
            size += _emit(compressor.flush(), dst, digest)
        if size > budget:
            return None
        keep = True
        return Optimized(out, "gzip", media_type, "gzip", size, digest.hexdigest())
    finally:
        if not keep:
            os.unlink(out)


def _emit(data: bytes, dst: Any, digest: Any) -> int:
    dst.write(data)
    digest.update(data)
    return len(data)


def _gdal_config(workdir: str) -> dict[str, Any]:
    return {
        # Untrusted files in a shared temp dir: never pick up sidecars (.ovr, .msk, .aux.xml)
        # lying next to the upload, and never write .aux.xml files beside it.
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_PAM_ENABLED": "NO",
        # A fixed block cache (GDAL's default is 5 % of RAM). rasterio hands this key to
        # GDALSetCacheMax64, so it is in bytes: a bare 64 would thrash the cache.
        "GDAL_CACHEMAX": COG_MIN_CACHE,
        "CPL_TMPDIR": workdir,  # the COG driver's temporary overview file
    }


def _cog(path: str, fmt: str, workdir: str, deadline: float | None) -> Optimized | None:
    """Convert a TIFF to a lossless COG; None if it already is one or the COG is not worth it.

    Worth it means: no larger than the input, or -- when the input was not a valid COG with
    overviews -- at most COG_MAX_GROWTH times the input (tiles and overviews earn their bytes).
    Skipped up front: multi-image TIFFs (a COG keeps one image), lossy codecs (see
    _LOSSY_CODECS), and compressed valid COGs that have overviews (or need none, <= 512 px).
    Refused (OptimizeError) up front: a conversion estimated over COG_MEMORY_BUDGET or past the
    deadline. The conversion is one GDAL call that cannot be interrupted; the deadline is
    checked before it (against the estimate), after it and after validation.
    """
    import rasterio
    import rasterio.shutil
    from rio_cogeo.cogeo import cog_validate

    with (
        warnings.catch_warnings(action="ignore"),  # e.g. NotGeoreferencedWarning on plain TIFFs
        quiet_logger("rasterio"),  # GDAL warnings may quote bytes of untrusted content
        rasterio.Env(**_gdal_config(workdir)),
        rasterio.open(path, driver="GTiff") as src,
    ):
        codec = src.compression.name if src.compression else "none"
        if src.subdatasets or codec in _LOSSY_CODECS:
            return None
        is_cog = cog_validate(path, quiet=True)[0] and (
            bool(src.overviews(1)) or max(src.width, src.height) <= COG_BLOCK
        )
        if is_cog and codec != "none":
            return None
        cache, memory, seconds = _cog_costs(src)
        if memory > COG_MEMORY_BUDGET:
            raise OptimizeError(f"COG conversion would need ~{memory >> 20} MiB")
        _check_deadline(deadline, seconds)
        fd, out = tempfile.mkstemp(prefix="mapstock-opt-", suffix=".tif", dir=workdir)
        os.close(fd)
        keep = False
        try:
            with rasterio.Env(GDAL_CACHEMAX=cache):
                rasterio.shutil.copy(src, out, driver="COG", **_cog_options(src))
            _check_deadline(deadline)
            if not cog_validate(out, quiet=True)[0]:
                raise OptimizeError("GDAL wrote an invalid COG")
            _check_same_raster(src, out)
            size = os.path.getsize(out)
            if size > os.path.getsize(path) * (1.0 if is_cog else COG_MAX_GROWTH):
                return None
            with open(out, "rb") as fh:
                sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
            keep = True
            media_type = COG_MEDIA_TYPE if fmt == "geotiff" else "image/tiff"
            return Optimized(out, "cog", media_type, None, size, sha256)
        finally:
            if not keep:
                os.unlink(out)


def _cog_costs(src: Any) -> tuple[int, int, float]:
    """Estimate (block cache bytes, peak memory bytes, seconds) of converting `src`."""
    import numpy

    pixel = sum(numpy.dtype(t).itemsize for t in src.dtypes)  # all bands
    # The cache must hold the source blocks of one 512-row tile row, or GDAL re-decodes each
    # strip once per tile column; overview building holds two tile rows (x1.5: write threads).
    tile_row = min(src.height, max(COG_BLOCK, src.block_shapes[0][0])) * src.width * pixel
    cache = max(COG_MIN_CACHE, tile_row * 5 // 4)
    memory = cache + 3 * tile_row + 32 * 2**20  # + GDAL's and the threads' fixed share
    return cache, memory, src.width * src.height * pixel / 2**30 * COG_SECONDS_PER_GIB


def _cog_options(src: Any) -> dict[str, Any]:
    from rasterio.enums import ColorInterp

    single = src.count == 1
    paletted = single and src.colorinterp[0] == ColorInterp.palette
    integer = src.dtypes[0].startswith(("int", "uint"))
    return {
        "COMPRESS": "DEFLATE",  # lossless and readable everywhere (ZSTD needs a recent libtiff)
        # Horizontal differencing (2) for integers, floating-point predictor (3) for floats;
        # palette indices are not smooth and complex types have no predictor.
        "PREDICTOR": "NO" if paletted or src.dtypes[0].startswith("complex") else "YES",
        "BLOCKSIZE": COG_BLOCK,
        "OVERVIEWS": "AUTO",  # reuse the input's internal overviews, else build them
        # One integer band may hold classes (land cover, palette): never blend them.
        # AVERAGE otherwise: CUBIC overviews took 2.4x as long (2 GiB RGB, before compression).
        "RESAMPLING": "NEAREST" if single and integer else "AVERAGE",
        "BIGTIFF": "IF_SAFER",  # compressed output of a near-4 GiB input may still need it
        "NUM_THREADS": "ALL_CPUS",
    }


def _check_same_raster(src: Any, out: str) -> None:
    """Compare what a COG must keep (pixels: trusted to a lossless codec); raises OptimizeError."""
    import rasterio

    def facts(ds: Any) -> dict[str, Any]:
        return {
            "size": (ds.width, ds.height),
            "bands": ds.count,
            "dtypes": ds.dtypes,
            "nodata": repr(ds.nodatavals),  # repr: NaN nodata must compare equal to itself
            "crs": ds.crs,
            "transform": ds.transform,
            "gcps": len(ds.gcps[0]),
        }

    with rasterio.open(out, driver="GTiff") as dst:
        want, got = facts(src), facts(dst)
    differs = [name for name in want if want[name] != got[name]]
    if differs:
        raise OptimizeError(f"COG differs from its input in {', '.join(differs)}")
