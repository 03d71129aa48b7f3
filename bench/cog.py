"""COG conversion: output size against input and seconds per GiB, on generated realistic rasters.

Rasters (written with rasterio into a temp dir, LZW-compressed strips like a desktop-GIS export):
  scan  3-band uint8, smooth gradients + noise (a scanned paper map)
  dem   1-band float32, smooth relief at 1 cm precision + nodata border (a DEM)
Each goes through optimize() (the real path: validation, GDAL COG driver, checks, SHA-256).
--compare also times bare GDAL copies with other codecs and overview resamplings.
Other modules of bench/ import the write_* generators from here.

    .venv/bin/python bench/cog.py [--mib 256 512] [--compare] [--keep DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ROWS = 512  # rows generated per write: memory stays ~ROWS x width x bands


def _profile(width: int, height: int, count: int, dtype: str, **extra: Any) -> dict[str, Any]:
    from affine import Affine

    return {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "crs": "EPSG:32632",
        "transform": Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 5_300_000.0),
        **extra,
    }


def write_scan(path: str | Path, pixel_bytes: int, compress: str | None = "lzw") -> None:
    """A square 3-band uint8 raster of about `pixel_bytes`; gradients plus +-4 noise."""
    import numpy
    import rasterio
    from rasterio.windows import Window

    side = int(math.sqrt(pixel_bytes / 3))
    rng = numpy.random.default_rng(42)
    options = {"compress": compress} if compress else {}
    with rasterio.open(path, "w", **_profile(side, side, 3, "uint8", **options)) as dst:
        x = numpy.arange(side, dtype=numpy.int32)[None, :]
        for top in range(0, side, ROWS):
            rows = min(ROWS, side - top)
            y = numpy.arange(top, top + rows, dtype=numpy.int32)[:, None]
            gx, gy = numpy.broadcast_arrays(x, y)
            base = numpy.stack([gx * 255 // side, gy * 255 // side, (gx + gy) % 256])
            noise = numpy.frombuffer(rng.bytes(base.size), numpy.uint8).reshape(base.shape) % 9
            data = numpy.clip(base + noise.astype(numpy.int32) - 4, 0, 255).astype(numpy.uint8)
            dst.write(data, window=Window(0, top, side, rows))


def write_dem(path: str | Path, pixel_bytes: int) -> None:
    """A square float32 DEM of about `pixel_bytes`: sine relief, 1 cm steps, nodata margin."""
    import numpy
    import rasterio
    from rasterio.windows import Window

    side = int(math.sqrt(pixel_bytes / 4))
    rng = numpy.random.default_rng(7)
    profile = _profile(side, side, 1, "float32", compress="lzw", nodata=-9999.0)
    with rasterio.open(path, "w", **profile) as dst:
        x = numpy.arange(side, dtype=numpy.float64)[None, :]
        for top in range(0, side, ROWS):
            rows = min(ROWS, side - top)
            y = numpy.arange(top, top + rows, dtype=numpy.float64)[:, None]
            z = 800 + 300 * numpy.sin(x / 700) * numpy.cos(y / 900) + 40 * numpy.sin((x + y) / 90)
            z = numpy.round(z + rng.normal(0.0, 0.05, z.shape), 2).astype(numpy.float32)
            z[:, : side // 50] = -9999.0  # an unsurveyed strip along the west edge
            dst.write(z[None], window=Window(0, top, side, rows))


def _convert(path: Path, workdir: Path) -> tuple[float, int]:
    from chalicelib.formats.inspect import inspect_file
    from chalicelib.pipeline.optimize import optimize

    start = time.perf_counter()
    result = optimize(str(path), inspect_file(str(path)), str(workdir))
    elapsed = time.perf_counter() - start
    if result is None:
        return elapsed, 0
    os.unlink(result.path)
    return elapsed, result.size


def _bare_copy(path: Path, workdir: Path, **options: Any) -> tuple[float, int]:
    import rasterio
    import rasterio.shutil

    from chalicelib.pipeline.optimize import _cog_options, _gdal_config

    out = workdir / "variant.tif"
    start = time.perf_counter()
    with rasterio.Env(**_gdal_config(str(workdir))), rasterio.open(path) as src:
        rasterio.shutil.copy(src, out, driver="COG", **{**_cog_options(src), **options})
    elapsed = time.perf_counter() - start
    size = out.stat().st_size
    out.unlink()
    return elapsed, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, nargs="+", default=[256, 512], help="pixel MiB")
    parser.add_argument("--compare", action="store_true", help="also time other codecs")
    parser.add_argument("--keep", type=Path, help="generate into / reuse files in DIR")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mapstock-bench-cog-"))
    source_dir = args.keep or workdir
    source_dir.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs; sizes are decoded pixel bytes; s/GiB is per GiB of pixels")
    try:
        for mib in args.mib:
            for kind, writer in (("scan", write_scan), ("dem", write_dem)):
                path = source_dir / f"{kind}-{mib}mib.tif"
                if not path.exists():
                    start = time.perf_counter()
                    writer(path, mib * 2**20)
                    print(f"  (generated {path.name} in {time.perf_counter() - start:.1f} s)")
                _report(kind, mib, path, workdir, args.compare)
    finally:
        shutil.rmtree(workdir)


def _report(kind: str, mib: int, path: Path, workdir: Path, compare: bool) -> None:
    size_in = path.stat().st_size
    elapsed, size_out = _convert(path, workdir)
    gib = mib / 1024
    verdict = f"{size_out / size_in:5.2f}x input" if size_out else "None (not worth it)"
    print(
        f"{kind:4} {mib:5d} MiB px  input {size_in / 2**20:7.1f} MiB  "
        f"COG {size_out / 2**20:7.1f} MiB = {verdict}  "
        f"{elapsed:6.1f} s = {elapsed / gib:5.1f} s/GiB  (optimize)"
    )
    if not compare:
        return
    variants: dict[str, dict[str, Any]] = {
        "DEFLATE 6 (default)": {},
        "DEFLATE 9": {"LEVEL": 9},
        "ZSTD 9": {"COMPRESS": "ZSTD"},
        "ZSTD 1": {"COMPRESS": "ZSTD", "LEVEL": 1},
        "LZW": {"COMPRESS": "LZW"},
        "overviews CUBIC": {"RESAMPLING": "CUBIC"},
        "overviews NEAREST": {"RESAMPLING": "NEAREST"},
    }
    for label, options in variants.items():
        seconds, size = _bare_copy(path, workdir, **options)
        print(
            f"     {label:20} {size / 2**20:7.1f} MiB = {size / size_in:5.2f}x input  "
            f"{seconds:6.1f} s = {seconds / gib:5.1f} s/GiB  (bare GDAL copy)"
        )


if __name__ == "__main__":
    main()
