"""Raster previews: GeoTIFF and large PNG through GDAL's decimated reads, scans through Pillow's
reduced decoding, PDF page 1 through PDFium in a child process with its own time and memory cap.

The preview keeps the raster's pixel grid (as gdal_translate -outsize does): its aspect ratio is
the raster's width x height in pixels, corrected for non-square pixels; nothing is reprojected.
"""

from __future__ import annotations

import os
import resource
import tempfile
from typing import TYPE_CHECKING, Any

from chalicelib.formats.raster import MAX_PIXELS, pillow_pixel_limit
from chalicelib.formats.result import Inspection
from chalicelib.previews.base import PREVIEW_MAX_SIDE, Job, NoPreview, fit, pillow

if TYPE_CHECKING:
    import numpy

# GDAL's block cache while reading: a decimated read touches few blocks at a time.
GDAL_CACHE = 32 * 2**20
# A raster without overviews over this many pixels is read with nearest (only the rows and
# blocks of the sampled pixels are decoded) in SWATHS reads, the deadline checked between them.
LARGE_PIXELS = 16 * 2**20
SWATHS = 8
# GDAL decodes whole blocks: a TIFF of one compressed strip (or a few huge tiles) would put all
# its pixels in memory for any read. Such rasters get no preview (optimize() refuses them too).
MAX_BLOCK_BYTES = 128 * 2**20
# Pillow decodes PNG and WebP at full size: above this, PNG goes to GDAL's line-by-line reader
# and WebP has no preview (libwebp's scaled decoding is not exposed by Pillow).
PILLOW_FULL_DECODE_PIXELS = 40 * 2**20
# A progressive JPEG keeps all its DCT coefficients in memory whatever the draft scale.
PROGRESSIVE_JPEG_PIXELS = 64 * 2**20
PDF_CAP_SECONDS = 15.0
PDF_MEMORY = 768 * 2**20  # address space the PDF child may add to what it inherits
PDF_MAX_SCALE = 4.0  # 288 dpi: a tiny page is not blown up further
PERCENTILES = (2.0, 98.0)  # stretch of multi-band non-8-bit imagery


def _gdal_env(workdir: str) -> dict[str, Any]:
    return {
        # Untrusted files in a shared temp dir: no sidecars (.ovr, .aux.xml) read or written.
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_PAM_ENABLED": "NO",
        "GDAL_CACHEMAX": GDAL_CACHE,  # bytes (rasterio passes it to GDALSetCacheMax64)
        "CPL_TMPDIR": workdir,
    }


def render_tiff(path: str, job: Job) -> Any:
    """A TIFF (or the COG made of it) through GDAL."""
    return _render_gdal(path, job, "GTiff")


def render_gpkg_tiles(path: str, found: Inspection, job: Job) -> Any:
    """The first tiles layer of a GeoPackage, through GDAL's GPKG driver (its zoom levels are
    the overviews a decimated read picks)."""
    tables = [
        layer["name"]
        for layer in found.metadata.get("layers", [])
        if layer.get("data_type") in ("tiles", "2d-gridded-coverage")
    ]
    if not tables:
        raise NoPreview("no features or tiles layer")
    return _render_gdal(path, job, "GPKG", TABLE=tables[0])


def _render_gdal(path: str, job: Job, driver: str, **options: Any) -> Any:
    import rasterio

    if job.opener is not None:
        options["opener"] = job.opener
    with (
        rasterio.Env(**_gdal_env(job.workdir)),
        rasterio.open(path, driver=driver, **options) as src,
    ):
        return render_dataset(src, job)


def render_dataset(src: Any, job: Job) -> Any:
    """Decimated read of an open rasterio dataset into a PIL image of at most 512 px."""
    import numpy
    from rasterio.enums import ColorInterp, MaskFlags, Resampling
    from rasterio.windows import Window

    interp = list(src.colorinterp)
    dtype = numpy.dtype(src.dtypes[0])
    if dtype.kind == "c":
        raise NoPreview("complex pixels")
    rows, cols = src.block_shapes[0]
    if rows * cols * sum(numpy.dtype(t).itemsize for t in src.dtypes) > MAX_BLOCK_BYTES:
        raise NoPreview("raster blocks too large to decode in bounded memory")
    paletted = src.count == 1 and interp[0] == ColorInterp.palette
    bands = _bands(interp)
    alpha = interp.index(ColorInterp.alpha) + 1 if ColorInterp.alpha in interp else None
    indexes = bands + ([alpha] if alpha else [])
    width, height = _display_size(src)
    out_w, out_h = fit(width, height, min(PREVIEW_MAX_SIDE, max(src.width, src.height)))
    large = src.width * src.height > LARGE_PIXELS and not src.overviews(1)
    nearest = paletted or large or dtype.kind not in "uif"
    resampling = Resampling.nearest if nearest else Resampling.average
    flags = src.mask_flag_enums[bands[0] - 1]
    per_dataset = MaskFlags.per_dataset in flags and alpha is None
    swaths = SWATHS if large else 1
    data = numpy.empty((len(indexes), out_h, out_w), dtype)
    mask = numpy.empty((out_h, out_w), numpy.uint8) if per_dataset else None
    for part in range(swaths):
        job.check()
        o0, o1 = out_h * part // swaths, out_h * (part + 1) // swaths
        if o0 == o1:
            continue
        r0, r1 = round(o0 * src.height / out_h), round(o1 * src.height / out_h)
        window = Window(0, r0, src.width, max(1, r1 - r0))
        shape = (len(indexes), o1 - o0, out_w)
        data[:, o0:o1] = src.read(indexes, window=window, out_shape=shape, resampling=resampling)
        if mask is not None:
            mask[o0:o1] = src.read_masks(
                1, window=window, out_shape=shape[1:], resampling=Resampling.nearest
            )
    valid = _valid(data[: len(bands)], src.nodatavals[bands[0] - 1], mask)
    if alpha:
        valid &= data[-1] > 0
    if paletted:
        return _paletted(data[0], src.colormap(1), valid)
    return to_image(data[: len(bands)], valid)


def _bands(interp: list[Any]) -> list[int]:
    """1-based band indexes to show: red, green, blue when labelled so, else the first three
    colour bands, else the first (grey or data) band."""
    from rasterio.enums import ColorInterp

    rgb = [interp.index(c) + 1 for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
           if c in interp]  # fmt: skip
    if len(rgb) == 3:
        return rgb
    colour = [i + 1 for i, c in enumerate(interp) if c != ColorInterp.alpha]
    return colour[:3] if len(colour) >= 3 else colour[:1]


def _display_size(src: Any) -> tuple[float, float]:
    """Width and height in ground units for non-square pixels, else in pixels."""
    a, b, _c, d, e, _f = tuple(src.transform)[:6]
    px, py = (a * a + d * d) ** 0.5, (b * b + e * e) ** 0.5
    if src.transform.is_identity or not (px > 0 and py > 0) or abs(px / py - 1) < 1e-6:
        return float(src.width), float(src.height)
    ratio = min(max(py / px, 0.1), 10.0)  # a wild pixel size does not make a 1-px sliver
    return float(src.width), src.height * ratio


def _valid(data: numpy.ndarray, nodata: Any, mask: numpy.ndarray | None) -> numpy.ndarray:
    import numpy

    valid = numpy.ones(data.shape[1:], bool)
    if data.dtype.kind == "f":
        valid &= numpy.isfinite(data).all(axis=0)
    if nodata is not None and not (isinstance(nodata, float) and nodata != nodata):
        valid &= (data != numpy.asarray(nodata).astype(data.dtype)).any(axis=0)
    if mask is not None:
        valid &= mask > 0
    return valid


def _paletted(index: numpy.ndarray, colormap: dict[int, Any], valid: numpy.ndarray) -> Any:
    import numpy

    Image = pillow()

    size = 256 if index.dtype.itemsize == 1 else 65536
    lut = numpy.zeros((size, 4), numpy.uint8)
    for key, colour in colormap.items():
        if 0 <= key < size:
            lut[key] = [*colour, 255][:4]
    rgba = lut[index.astype(numpy.int64).clip(0, size - 1)]
    rgba[..., 3] = numpy.where(valid, rgba[..., 3], 0)
    return Image.fromarray(rgba, "RGBA")


def to_image(data: numpy.ndarray, valid: numpy.ndarray) -> Any:
    """Bands (1 or 3, any numeric type) and a validity mask as an 8-bit PIL image; non-8-bit
    data is stretched: one band between its min and max (a DEM), several between their 2nd and
    98th percentiles. Invalid pixels are transparent."""
    import numpy

    Image = pillow()

    if data.dtype != numpy.uint8:
        stretched = numpy.zeros(data.shape, numpy.uint8)
        for i, band in enumerate(data):
            values = band[valid].astype(numpy.float64)
            if values.size == 0:
                continue
            if len(data) == 1:
                low, high = float(values.min()), float(values.max())
            else:
                low, high = (float(v) for v in numpy.percentile(values, PERCENTILES))
            scale = 255.0 / (high - low) if high > low else 0.0
            scaled = (numpy.nan_to_num(band.astype(numpy.float64), nan=low) - low) * scale
            stretched[i] = scaled.clip(0, 255).astype(numpy.uint8)
        data = stretched
    pixels = numpy.moveaxis(data, 0, -1)
    if valid.all():
        if len(data) == 1:
            return Image.fromarray(pixels[..., 0].copy(), "L")
        return Image.fromarray(pixels.copy(), "RGB")
    alpha = numpy.where(valid, 255, 0).astype(numpy.uint8)[..., None]
    mode = "LA" if len(data) == 1 else "RGBA"
    return Image.fromarray(numpy.concatenate([pixels, alpha], axis=-1), mode)


# --- PNG / JPEG / WebP ----------------------------------------------------------------------------

_PIL_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def render_image(path: str, found: Inspection, job: Job) -> Any:
    """A scan through Pillow: JPEG decoded at 1/2..1/8 scale (draft), PNG and WebP in full up to
    PILLOW_FULL_DECODE_PIXELS; a larger non-interlaced PNG is read line by line by GDAL."""
    Image = pillow()

    kind = found.format
    # The sizes come from the header read here, not from the metadata: no decoding before this.
    with pillow_pixel_limit(Image, MAX_PIXELS), Image.open(path, formats=[_PIL_NAMES[kind]]) as img:
        pixels = img.width * img.height
        if pixels > PILLOW_FULL_DECODE_PIXELS and kind == "png":
            if _png_interlaced(path):
                raise NoPreview("large interlaced PNG")
            img.close()
            return _render_gdal(path, job, "PNG")
        if pixels > PILLOW_FULL_DECODE_PIXELS and kind == "webp":
            raise NoPreview("WebP too large to decode in full")
        if kind == "jpeg" and img.info.get("progressive") and pixels > PROGRESSIVE_JPEG_PIXELS:
            raise NoPreview("large progressive JPEG")
        target = fit(img.width, img.height, min(PREVIEW_MAX_SIDE, max(img.size)))
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return _wide_grey(img, target)
        img.draft(None, target)  # JPEG: DCT scaling; a no-op for the others
        job.check()
        mode = "RGBA" if _has_alpha(img) else "RGB"
        if img.mode not in (mode, "L"):  # grey stays grey; a copy of an RGB scan is not needed
            return img.convert(mode).resize(target, Image.Resampling.BOX)
        return img.resize(target, Image.Resampling.BOX)


def _has_alpha(img: Any) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info


def _wide_grey(img: Any, target: tuple[int, int]) -> Any:
    """16-bit or float grey (DEM tiles, scientific scans): min/max stretch, then resize."""
    import numpy

    Image = pillow()

    small = img.resize(target, Image.Resampling.NEAREST)
    data = numpy.asarray(small).astype(numpy.float64)[None]
    return to_image(data, numpy.isfinite(data[0]))


def _png_interlaced(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(29)
    return len(head) == 29 and head[28] != 0  # IHDR's interlace method


# --- PDF ------------------------------------------------------------------------------------------


def render_pdf(path: str, job: Job) -> Any:
    """Page 1 rendered by PDFium in a forked child: PDFium's C code cannot be interrupted by a
    signal, so the child is killed past PDF_CAP_SECONDS (or the preview's own limit) and runs
    under an address-space limit. Its output is a PNG we wrote ourselves."""
    import multiprocessing

    Image = pillow()

    seconds = min(PDF_CAP_SECONDS, job.remaining())
    fd, out = tempfile.mkstemp(prefix="mapstock-pdfpage-", suffix=".png", dir=job.workdir)
    os.close(fd)
    child = multiprocessing.get_context("fork").Process(
        target=_pdf_child, args=(path, out, PREVIEW_MAX_SIDE), daemon=True
    )
    try:
        child.start()
        child.join(seconds)
        if child.is_alive():
            raise NoPreview("PDF page 1 took too long to render")
        if child.exitcode != 0 or os.path.getsize(out) == 0:
            raise NoPreview("PDF page 1 could not be rendered")
        with Image.open(out, formats=["PNG"]) as img:
            img.load()
            return img.copy()
    finally:
        if child.is_alive():  # past the cap, or the job's own time limit fired in join()
            child.kill()
            child.join()
        os.unlink(out)


def _pdf_child(path: str, out: str, longest: int) -> None:
    """In the child: cap its memory, render page 1 to `out`; exit code 1 on any failure."""
    try:
        with open("/proc/self/statm") as fh:  # inherited mappings count against RLIMIT_AS
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (used + PDF_MEMORY, used + PDF_MEMORY))
    except (OSError, ValueError):
        pass  # not Linux: only the time cap applies
    try:
        import pypdfium2

        pdf = pypdfium2.PdfDocument(path)
        page = pdf[0]
        width, height = page.get_size()
        scale = min(longest / max(width, height, 1e-6), PDF_MAX_SCALE)
        bitmap = page.render(scale=scale, may_draw_forms=False)
        image = bitmap.to_pil()
        if max(image.size) > longest:
            image.thumbnail((longest, longest))
        image.save(out, format="PNG", compress_level=1)
    except BaseException:
        os._exit(1)  # no traceback: it could quote the PDF's content
    os._exit(0)
