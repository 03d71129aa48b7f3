"""Previews: seconds, size and dimensions per format, and the large cases against gdal_translate.

1. Per format, on the samples corpus (tests/samples.py: mostly single-colour) and on textured
   files written by GDAL (tests/gdal_writers.py): render_preview's warm time (best of 3), the
   preview's bytes, media type and size.
2. Large inputs, each case in a fresh interpreter (imports done, the inspection handed in, so
   only the preview counts; best of 5 runs, ours and GDAL's interleaved): wall seconds and
   peak RSS growth (VmHWM, the largest of the runs) of render_preview, and of
   `gdal_translate -outsize 512 0 -of PNG` (GDALTranslate of rasterio's bundled GDAL, through
   ctypes) on the same file:
     - a GeoTIFF scan of --mib MiB of pixels (LZW strips, no overviews, bench/cog.py's
       write_scan) and the COG optimize() makes of it (ours: source_for_raster=the COG);
     - a --scan-mp megapixel scan as PNG and as JPEG;
     - a GeoJSON of --features point features (ours only).

    .venv/bin/python bench/preview.py [--mib 2048] [--scan-mp 140] [--features 1000000]
                                      [--keep DIR] [--small-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _peak_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


# --- children ---------------------------------------------------------------------------------


def child_ours(path: str, inspection: str, workdir: str, source: str | None) -> None:
    import numpy  # noqa: F401 - imports are in the baseline (and out of the timing)
    import rasterio.enums
    import rasterio.windows  # noqa: F401

    from chalicelib.formats.result import Inspection
    from chalicelib.previews import raster, tiles, vector  # noqa: F401
    from chalicelib.previews.render import pillow, render_preview

    found = Inspection(**json.loads(inspection))
    pillow()
    base = _peak_mib()
    start = time.perf_counter()
    result = render_preview(
        path, found, workdir, deadline=time.monotonic() + 600, source_for_raster=source
    )
    seconds = time.perf_counter() - start
    out = dataclasses.asdict(result) if result else None
    print(json.dumps({"seconds": seconds, "growth_mib": _peak_mib() - base, "preview": out}))


def child_gdal(path: str, workdir: str) -> None:
    import ctypes

    import numpy  # noqa: F401
    import rasterio  # noqa: F401

    from tests.gdal_writers import libgdal

    lib = libgdal()
    vp = ctypes.c_void_p
    for name, restype, argtypes in (
        ("GDALOpen", vp, [ctypes.c_char_p, ctypes.c_int]),
        ("GDALTranslateOptionsNew", vp, [ctypes.POINTER(ctypes.c_char_p), vp]),
        ("GDALTranslateOptionsFree", None, [vp]),
        ("GDALTranslate", vp, [ctypes.c_char_p, vp, vp, ctypes.POINTER(ctypes.c_int)]),
    ):
        func = getattr(lib, name)
        func.restype, func.argtypes = restype, argtypes
    argv = [b"-outsize", b"512", b"0", b"-of", b"PNG"]
    out = os.path.join(workdir, "gdal_translate.png")
    base = _peak_mib()
    start = time.perf_counter()
    source = lib.GDALOpen(path.encode(), 0)
    options = lib.GDALTranslateOptionsNew((ctypes.c_char_p * 6)(*argv, None), None)
    usage = ctypes.c_int(0)
    dst = lib.GDALTranslate(out.encode(), source, options, ctypes.byref(usage))
    if not dst:
        raise RuntimeError("GDALTranslate failed")
    lib.GDALClose(dst)
    lib.GDALTranslateOptionsFree(options)
    lib.GDALClose(source)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {"seconds": seconds, "growth_mib": _peak_mib() - base, "bytes": os.path.getsize(out)}
        )
    )


def _child(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _runs(*commands: list[str], repeat: int) -> list[dict[str, Any]]:
    """Each command's fastest of `repeat` runs, the commands interleaved (the machine is shared:
    load changes from second to second), with the largest RSS growth of its runs."""
    runs: list[list[dict[str, Any]]] = [[] for _ in commands]
    for _ in range(repeat):
        for results, argv in zip(runs, commands, strict=True):
            results.append(_child(argv))
    best = []
    for results in runs:
        fastest = min(results, key=lambda run: run["seconds"])
        fastest["growth_mib"] = max(run["growth_mib"] for run in results)
        best.append(fastest)
    return best


# --- corpus -----------------------------------------------------------------------------------


def _textured(folder: Path) -> dict[str, Path]:
    """GDAL-written files with content (see tests/unit/test_preview.py)."""
    from affine import Affine

    from tests import gdal_writers as gw
    from tests import preview_corpus
    from tests.unit.test_gdal_written import CITIES, LAKES, ROUTES

    files: dict[str, Path] = {}
    utm = Affine(2.0, 0, 4e5, 0, -2.0, 5.2e6)
    tif = folder / "gdal-rgb-3000x2000.tif"
    gw.write_raster(
        tif, gw.pattern(3, 2000, 3000), "EPSG:32632", utm, compress="deflate", tiled=True
    )
    files["geotiff rgb 6 MP (deflate tiles)"] = tif
    dem = folder / "gdal-dem.tif"
    gw.write_raster(
        dem,
        gw.pattern(1, 1500, 2000, "uint16") * 9 + 400,
        "EPSG:32632",
        utm,
        compress="deflate",
        nodata=0,
    )
    files["geotiff dem uint16 3 MP"] = dem
    for driver, ext in (("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")):
        files[f"{ext} scan 6 MP"] = folder / f"scan.{ext}"
        gw.copy_raster(tif, files[f"{ext} scan 6 MP"], driver)
    pdf = folder / "map.pdf"
    gw.copy_raster(folder / "scan.png", pdf, "PDF")
    files["geopdf (6 MP image)"] = pdf
    sources = {}
    for name, features in (("cities", CITIES), ("routes", ROUTES), ("lakes", LAKES)):
        sources[name] = folder / f"{name}.geojson"
        gw.write_geojson(sources[name], features)
    gpkg = folder / "layers.gpkg"
    gw.ogr2ogr(gpkg, sources["cities"], "-f", "GPKG", "-nln", "cities")
    gw.ogr2ogr(gpkg, sources["routes"], "-update", "-nln", "routes", "-t_srs", "EPSG:2056")
    gw.ogr2ogr(gpkg, sources["lakes"], "-update", "-nln", "lakes", "-t_srs", "EPSG:32632")
    files["gpkg 3 layers, 3 CRSs"] = gpkg
    points = folder / "points-100k.geojson"
    preview_corpus.write_points_geojson(points, 100_000)
    files["geojson 100k points"] = points
    mbtiles = folder / "gdal-raster.mbtiles"
    source = folder / "swiss.tif"
    gw.write_raster(
        source, gw.pattern(3, 1200, 2000), "EPSG:4326", Affine(0.0023, 0, 5.9, 0, -0.001667, 47.8)
    )
    gw.copy_raster(source, mbtiles, "MBTiles", TILE_FORMAT="PNG")
    files["mbtiles raster (png tiles)"] = mbtiles
    vector = folder / "gdal-vector.mbtiles"
    gw.ogr2ogr(vector, gpkg, "-f", "MBTiles", "-dsco", "MINZOOM=2", "-dsco", "MAXZOOM=9")
    files["mbtiles vector (mvt)"] = vector
    for name, tiles in (("pmtiles raster", mbtiles), ("pmtiles vector", vector)):
        files[name] = folder / f"{name.replace(' ', '-')}.pmtiles"
        preview_corpus.mbtiles_to_pmtiles(tiles, files[name], {"bounds": [5.9, 45.8, 10.5, 47.8]})
    return files


def corpus(folder: Path) -> None:
    from chalicelib.formats.inspect import inspect_file
    from chalicelib.previews.render import render_preview
    from tests import samples

    files = {f"samples {name}": folder / name for name in samples.VALID}
    for name, maker in samples.VALID.items():
        maker(folder / name)
    files.update(_textured(folder))
    out = folder / "previews"
    out.mkdir()
    print(f"{'file':38} {'format':10} {'ms':>7} {'bytes':>7}  size      type")
    for label, path in files.items():
        found = inspect_file(str(path))
        best, result = float("inf"), None
        for _ in range(3):
            start = time.perf_counter()
            result = render_preview(str(path), found, str(out), deadline=time.monotonic() + 60)
            best = min(best, time.perf_counter() - start)
        shown = (
            f"{result.size:7d}  {result.width}x{result.height:<5} {result.media_type}"
            if result
            else "      -  (None)"
        )
        print(f"{label:38} {found.format:10} {best * 1000:7.1f} {shown}")


# --- large cases ------------------------------------------------------------------------------


def large(folder: Path, mib: int, scan_mp: float, features: int) -> None:
    from cog import write_scan  # bench/, on sys.path

    from chalicelib.formats.inspect import inspect_file
    from chalicelib.pipeline.optimize import optimize
    from tests import preview_corpus
    from tests.gdal_writers import copy_raster

    cases: list[tuple[str, Path, Path | None, bool]] = []
    tif = folder / f"scan-{mib}mib.tif"
    if not tif.exists():
        start = time.perf_counter()
        write_scan(tif, mib * 2**20)
        seconds = time.perf_counter() - start
        print(f"  (wrote {tif.name}: {tif.stat().st_size >> 20} MiB in {seconds:.0f} s)")
    cog_path = folder / f"scan-{mib}mib.cog.tif"
    if not cog_path.exists():
        start = time.perf_counter()
        made = optimize(str(tif), inspect_file(str(tif)), str(folder))
        assert made is not None
        os.replace(made.path, cog_path)
        print(f"  (COG {cog_path.stat().st_size >> 20} MiB in {time.perf_counter() - start:.0f} s)")
    cases += [(f"geotiff {mib} MiB, no overviews", tif, None, True)]
    cases += [(f"geotiff {mib} MiB via its COG", tif, cog_path, True)]
    width = int((scan_mp * 1e6 * 1.4) ** 0.5)
    height = int(scan_mp * 1e6 / width)
    png = folder / f"scan-{scan_mp:g}mp.png"
    if not png.exists():
        preview_corpus.write_big_png(png, width, height)
    jpg = folder / f"scan-{scan_mp:g}mp.jpg"
    if not jpg.exists():
        copy_raster(png, jpg, "JPEG", QUALITY=85)
    cases += [
        (f"png scan {scan_mp:g} MP", png, None, True),
        (f"jpeg scan {scan_mp:g} MP", jpg, None, True),
    ]
    geojson = folder / f"points-{features}.geojson"
    if not geojson.exists():
        preview_corpus.write_points_geojson(geojson, features)
    cases += [(f"geojson {features} points", geojson, None, False)]
    head = f"{'ours s':>7} {'MiB+':>6} {'gdal s':>7} {'MiB+':>6} {'ratio':>6}"
    print(f"\n{'case':32} {'file MiB':>8} {head}  preview")
    for label, path, source, compare in cases:
        found = inspect_file(str(path))
        spec = json.dumps(dataclasses.asdict(found))
        commands = [["--child-ours", str(path), spec, str(folder), str(source or "")]]
        if compare:
            commands.append(["--child-gdal", str(source or path), str(folder)])
        ours, *gdal = _runs(*commands, repeat=5 if compare else 1)
        preview = ours["preview"]
        shown = (
            f"{preview['width']}x{preview['height']} {preview['size']} B {preview['media_type']}"
            if preview
            else "None"
        )
        line = f"{label:32} {path.stat().st_size / 2**20:8.0f} "
        line += f"{ours['seconds']:7.2f} {ours['growth_mib']:6.0f}"
        if gdal:
            ratio = ours["seconds"] / gdal[0]["seconds"]
            line += f" {gdal[0]['seconds']:7.2f} {gdal[0]['growth_mib']:6.0f} {ratio:6.2f}"
        else:
            line += f" {'-':>7} {'-':>6} {'-':>6}"
        print(f"{line}  {shown}")
        if preview:
            os.unlink(preview["path"])


def main() -> None:
    if sys.argv[1:2] == ["--child-ours"]:
        child_ours(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] or None)
        return
    if sys.argv[1:2] == ["--child-gdal"]:
        child_gdal(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=2048, help="GeoTIFF pixel MiB")
    parser.add_argument("--scan-mp", type=float, default=140.0, help="scan megapixels")
    parser.add_argument("--features", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="generate into / reuse the large files in DIR")
    parser.add_argument("--small-only", action="store_true", help="only the per-format table")
    parser.add_argument("--large-only", action="store_true", help="only the large cases")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mapstock-bench-preview-"))
    print(f"{os.cpu_count()} CPUs")
    try:
        if not args.large_only:
            corpus(workdir)
        if not args.small_only:
            folder = args.keep or workdir
            folder.mkdir(parents=True, exist_ok=True)
            large(folder, args.mib, args.scan_mp, args.features)
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
