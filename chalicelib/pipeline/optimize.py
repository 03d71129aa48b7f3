"""Optimized download variants: a lossless Cloud-Optimized GeoTIFF for TIFFs, gzip for text vectors.

The variant is stored next to the original, which stays the canonical download. Nothing here may
reject a map: every failure (including a missed deadline) is an OptimizeError, which the pipeline
logs and skips. rasterio / rio-cogeo are imported inside functions (processor Lambda layer only).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import shutil
import tempfile
import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chalicelib.formats.expansion import max_ratio
from chalicelib.formats.quiet import quiet_logger
from chalicelib.formats.result import Inspection

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
# GDAL's block cache during conversions. Small on purpose: every read GDAL makes is aligned to
# the blocks it caches (see _cog_plan), so a bigger cache would only grow with the raster.
COG_CACHE = 16 * 2**20
# Stripped inputs are first re-tiled into 512 x 16 blocks, read in full-width swaths of strips:
# decoded once, in order, whatever the width (bench/peak_rss.py).
RETILE_ROWS = 16
# Measured besides the cache: GDAL's drivers, thread pools and codec state (bench/peak_rss.py).
COG_FIXED_MEMORY = 48 * 2**20
# Refuse conversions estimated above this; on top of ~140 MiB for Python and the readers.
COG_MEMORY_BUDGET = 512 * 2**20
# Codecs that may be lossy: re-encoding their decoded pixels losslessly only makes them bigger.
_LOSSY_CODECS = frozenset({"jpeg", "webp", "lerc", "lerc_deflate", "lerc_zstd", "jpeg2000"})
_CHUNK = 1024 * 1024
_M_ARENA_MAX, _M_MMAP_THRESHOLD = -8, -3  # glibc mallopt() parameters


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
        # GDALSetCacheMax64, so it is in bytes: a bare 16 would thrash the cache.
        "GDAL_CACHEMAX": COG_CACHE,
        "CPL_TMPDIR": workdir,  # the COG driver's temporary overview file
    }


@dataclass(frozen=True)
class _Plan:
    """How to convert one raster, and what it is estimated to cost."""

    retile: bool  # stripped input: re-tile it first (see RETILE_ROWS)
    cache: int  # GDAL block cache, bytes
    memory: int  # peak bytes on top of the interpreter's
    decoded: int  # bytes of the full-resolution pixels, all bands
    disk: int  # temporary bytes in workdir: the re-tiled copy and the COG
    seconds: float


def _cog(path: str, fmt: str, workdir: str, deadline: float | None) -> Optimized | None:
    """Convert a TIFF to a lossless COG; None if it already is one or the COG is not worth it.

    Worth it means: no larger than the input, or -- when the input was not a valid COG with
    overviews -- at most COG_MAX_GROWTH times the input (tiles and overviews earn their bytes).
    Skipped up front: multi-image TIFFs (a COG keeps one image), lossy codecs (see
    _LOSSY_CODECS), compressed valid COGs that have overviews (or need none, <= 512 px), and
    rasters whose pixels even at deflate's best ratio make a COG too large to be worth it (a
    small file of blank or sparse tiles: converting it would cost seconds per GiB for nothing).
    Refused (OptimizeError) up front: a conversion estimated over COG_MEMORY_BUDGET, over the
    free space in workdir, or past the deadline. Each GDAL step cannot be interrupted; the
    deadline is checked before the conversion (against the estimate), between its steps, after
    it and after validation.
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
        codec = _codec(src)
        if src.subdatasets or codec in _LOSSY_CODECS:
            return None
        is_cog = cog_validate(path, quiet=True)[0] and (
            bool(src.overviews(1)) or max(src.width, src.height) <= COG_BLOCK
        )
        if is_cog and codec != "none":
            return None
        plan = _cog_plan(src)
        worth = os.path.getsize(path) * (1.0 if is_cog else COG_MAX_GROWTH)
        if plan.decoded / max_ratio("deflate") > worth:
            return None
        if plan.memory > COG_MEMORY_BUDGET:
            raise OptimizeError(f"COG conversion would need ~{plan.memory >> 20} MiB")
        if plan.disk > shutil.disk_usage(workdir).free:
            raise OptimizeError(f"COG conversion would need ~{plan.disk >> 20} MiB of disk")
        _check_deadline(deadline, plan.seconds)
        _bound_malloc()
        fd, out = tempfile.mkstemp(prefix="mapstock-opt-", suffix=".tif", dir=workdir)
        os.close(fd)
        keep = False
        try:
            with rasterio.Env(GDAL_CACHEMAX=plan.cache):
                if plan.retile:
                    with _retiled(src, workdir) as tiled:
                        _check_deadline(deadline)
                        rasterio.shutil.copy(tiled, out, driver="COG", **_cog_options(src))
                else:
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
                _remove(out)


def _cog_plan(src: Any) -> _Plan:
    """Plan converting `src` so that GDAL never re-decodes a block and memory does not grow
    with the raster: a cache of a few source blocks, and stripped inputs re-tiled first."""
    import numpy

    pixel = sum(numpy.dtype(t).itemsize for t in src.dtypes)  # all bands
    pixels = src.width * src.height * pixel
    block_rows, block_cols = src.block_shapes[0]
    block = block_rows * block_cols * pixel
    # A strip spans the full width: the COG driver reads 512-px windows, which would decode
    # each strip once per tile column (a 16 MiB cache: 6x slower on a 2 GiB LZW scan).
    # Re-tiling reads full-width swaths, so each strip is decoded once, in order.
    retile = block_cols >= src.width and src.width > COG_BLOCK
    # A 512-px window touches at most four blocks of a tiled input; two strips when re-tiling.
    cache = max(COG_CACHE, (2 if retile else 4) * block)
    swath = 2 * max(RETILE_ROWS, block_rows) * src.width * pixel if retile else 0
    overviews = pixels // 3 + 1
    return _Plan(
        retile=retile,
        cache=cache,
        memory=cache + swath + COG_FIXED_MEMORY,
        decoded=pixels,
        # Worst cases: the re-tiled copy and the COG as large as the decoded pixels.
        disk=(pixels if retile else 0) + pixels + overviews,
        seconds=pixels / 2**30 * COG_SECONDS_PER_GIB,
    )


@contextmanager
def _retiled(src: Any, workdir: str) -> Iterator[Any]:
    """`src` copied into a temporary GeoTIFF of 512 x RETILE_ROWS blocks, opened for reading.

    The copy keeps what GDAL's CreateCopy keeps (georeferencing, GCPs, nodata, colour
    interpretation and table, per-dataset mask); zstd level 1 is cheap to write and to read."""
    import rasterio
    import rasterio.shutil

    fd, path = tempfile.mkstemp(prefix="mapstock-tiles-", suffix=".tif", dir=workdir)
    os.close(fd)
    try:
        rasterio.shutil.copy(
            src,
            path,
            driver="GTiff",
            TILED="YES",
            BLOCKXSIZE=COG_BLOCK,
            BLOCKYSIZE=RETILE_ROWS,
            COMPRESS="ZSTD",
            ZSTD_LEVEL=1,
            BIGTIFF="IF_SAFER",
            NUM_THREADS="ALL_CPUS",
            # OVERVIEWS=AUTO keeps the input's own overviews: copy them along.
            COPY_SRC_OVERVIEWS="YES" if src.overviews(1) else "NO",
        )
        with rasterio.open(path, driver="GTiff") as tiled:
            yield tiled
    finally:
        _remove(path)


def _remove(path: str) -> None:
    """Delete a file GDAL wrote, or removed itself when a write failed."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@functools.cache
def _bound_malloc() -> None:
    """Keep glibc from holding freed memory per GDAL worker thread: one malloc arena and a
    fixed mmap threshold (large buffers go back to the system when freed). Process-wide and
    once; measured on a 2 GiB scan: peak -26 MiB, no measurable slowdown (bench/peak_rss.py)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return  # not glibc (e.g. a macOS dev machine): only the peak differs
    mallopt(_M_ARENA_MAX, 1)
    mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


def _codec(src: Any) -> str:
    """The TIFF's codec as rasterio's Compression names it ("jpeg", "deflate"), or "none"."""
    if not src.compression:
        return "none"
    # rasterio 1.4.3 hands back GDAL's own word where it is no Compression member, e.g.
    # "YCbCr JPEG" for the usual JPEG RGB GeoTIFF (1.4.4 maps that one to Compression.jpeg).
    name = getattr(src.compression, "name", None)
    return name or str(src.compression).rsplit(" ", 1)[-1].lower()


def _cog_options(src: Any) -> dict[str, Any]:
    from rasterio.enums import ColorInterp

    single = src.count == 1
    paletted = single and src.colorinterp[0] == ColorInterp.palette
    integer = src.dtypes[0].startswith(("int", "uint"))
    # Horizontal differencing (2) for integers, floating-point predictor (3) for floats;
    # palette indices are not smooth and complex types have no predictor. Nor 64-bit integers:
    # libtiff 4.3.0 (in rasterio 1.4.3's manylinux2014 wheel, which Lambda can load) refuses
    # differencing on 64-bit samples.
    dtype = src.dtypes[0]
    unpredictable = paletted or dtype.startswith("complex") or dtype in ("int64", "uint64")
    return {
        "COMPRESS": "DEFLATE",  # lossless and readable everywhere (ZSTD needs a recent libtiff)
        "PREDICTOR": "NO" if unpredictable else "YES",
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

    def colormap(ds: Any, band: int) -> dict[int, tuple[int, ...]] | None:
        try:
            return ds.colormap(band)
        except ValueError:  # the band has no colour table
            return None

    def facts(ds: Any) -> dict[str, Any]:
        gcps, gcp_crs = ds.gcps
        return {
            "size": (ds.width, ds.height),
            "bands": ds.count,
            "dtypes": ds.dtypes,
            "nodata": repr(ds.nodatavals),  # repr: NaN nodata must compare equal to itself
            "crs": ds.crs,
            "transform": ds.transform,
            "gcps": repr([(g.col, g.row, g.x, g.y, g.z) for g in gcps]),
            "gcp_crs": gcp_crs,
            # An alpha band read as a fourth colour, or a lost mask, shows the map's no-data
            # areas as black; a lost colour table leaves bare class numbers.
            "colorinterp": ds.colorinterp,
            "masks": ds.mask_flag_enums,
            "colormaps": [colormap(ds, band) for band in ds.indexes],
        }

    with rasterio.open(out, driver="GTiff") as dst:
        want, got = facts(src), facts(dst)
    differs = [name for name in want if want[name] != got[name]]
    if differs:
        raise OptimizeError(f"COG differs from its input in {', '.join(differs)}")
