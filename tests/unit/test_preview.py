"""Previews of every format: a PNG/WebP of at most 512 px, the map's aspect ratio, not blank.

Two corpora: tests/samples.py (our own writers; mostly single-colour rasters, so their previews
are plain images) and textured files written by GDAL (tests/gdal_writers.py, as in
test_gdal_written.py): GeoTIFFs of each layout (and the COGs optimize() makes of them), PNG, JPEG
and WebP scans, a GeoPDF, vector layers in several CRSs, raster and vector tilesets. The
expected aspect ratio is computed here from the raster size, the PDF page box or the bbox in
Web Mercator (what preview_canvas documents), not taken from the renderer.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy
import pytest
import rasterio
from affine import Affine
from PIL import Image

from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.timer import TimeLimitExceeded, time_limit
from chalicelib.pipeline.optimize import optimize
from chalicelib.previews import raster as preview_raster
from chalicelib.previews import render as preview_module
from chalicelib.previews.canvas import MAX_ASPECT
from chalicelib.previews.render import PREVIEW_MAX_SIDE, Preview, render_preview
from chalicelib.previews.tiles import mvt_parts, zxy_to_tileid
from chalicelib.previews.vector import gpkg_parts
from tests import gdal_writers as gw
from tests import preview_corpus, samples
from tests.gdal_writers import feature
from tests.unit.test_gdal_written import CITIES, LAKES, ROUTES, TIFFS, _write_tiff

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

VARIANCE_FLOOR = 1.0  # grey-level variance: a few dots on a plain canvas are already above it
MERCATOR_MAX_LAT = 85.0511287798066


def _render(path: Path, found: Inspection, source: str | None = None) -> Preview | None:
    workdir = path.parent / "previews"
    workdir.mkdir(exist_ok=True)
    deadline = time.monotonic() + 60
    return render_preview(
        str(path), found, str(workdir), deadline=deadline, source_for_raster=source
    )


def _pixels(result: Preview) -> numpy.ndarray:
    """The preview as grey levels over white (transparent pixels count as white)."""
    with Image.open(result.path) as img:
        assert img.format == {"image/png": "PNG", "image/webp": "WEBP"}[result.media_type]
        assert img.size == (result.width, result.height)
        rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return numpy.asarray(Image.alpha_composite(white, rgba).convert("L"), numpy.float64)


def _assert_preview(
    result: Preview | None, aspect: float, blank: bool = False, floor: float = VARIANCE_FLOOR
) -> numpy.ndarray:
    assert result is not None
    assert os.path.getsize(result.path) == result.size > 0
    assert max(result.width, result.height) <= PREVIEW_MAX_SIDE
    # Rounding to whole pixels: within one pixel of the exact aspect on the shorter side.
    if result.width >= result.height:
        assert abs(result.height - result.width / aspect) <= 1.0, (result, aspect)
    else:
        assert abs(result.width - result.height * aspect) <= 1.0, (result, aspect)
    grey = _pixels(result)
    if blank:
        assert grey.var() < floor
    else:
        assert grey.var() > floor
    return grey


def _merc_y(lat: float) -> float:
    lat = max(-MERCATOR_MAX_LAT, min(MERCATOR_MAX_LAT, lat))
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _bbox_aspect(bbox: list[float]) -> float:
    """Width / height of a WGS84 bbox in Web Mercator, padded like a canvas to MAX_ASPECT."""
    width = math.radians(bbox[2] - bbox[0])
    height = _merc_y(bbox[3]) - _merc_y(bbox[1])
    span = max(width, height)
    return max(width, span / MAX_ASPECT) / max(height, span / MAX_ASPECT)


def _raster_aspect(found: Inspection) -> float:
    return found.metadata["width"] / found.metadata["height"]


# --- the samples corpus ---------------------------------------------------------------------------

# Single-colour rasters and blank PDF pages give plain images; the vector tilesets hold empty
# vector tiles (nothing to draw: None).
PLAIN = {"geotiff.tif", "mercator.tif", "utm.tif", "plain.tif", "image.png", "photo.jpg"}
PLAIN |= {"image.webp", "doc.pdf", "locked.pdf", "raster.mbtiles"}
NONE = {"vector.mbtiles", "vector.pmtiles"}


@pytest.mark.parametrize("name", sorted(samples.VALID))
def test_samples_corpus(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    samples.VALID[name](path)
    found = inspect_file(str(path))

    result = _render(path, found)

    if name in NONE:
        assert result is None
        return
    if found.format in ("geotiff", "tiff", "png", "jpeg", "webp"):
        aspect = _raster_aspect(found)
    elif found.format == "pdf":
        aspect = 595 / 842
    else:
        aspect = _bbox_aspect(found.metadata["bbox"])
    if found.format == "gpkg":  # the features layer is drawn, not the world tiles layer
        aspect = _bbox_aspect(found.metadata["layers"][0]["bbox"])
    _assert_preview(result, aspect, blank=name in PLAIN)


HOSTILE_AS = {".tif": "geotiff.tif", ".png": "image.png", ".jpg": "photo.jpg"}
HOSTILE_AS |= {".webp": "image.webp", ".pdf": "doc.pdf", ".geojson": "features.geojson"}
HOSTILE_AS |= {".kml": "places.kml", ".gpx": "trip.gpx", ".kmz": "places.kmz"}
HOSTILE_AS |= {".zip": "layers.zip", ".gpkg": "data.gpkg", ".sqlite": "data.gpkg"}
HOSTILE_AS |= {".pmtiles": "vector.pmtiles", ".json": "features.geojson", ".bin": "image.png"}


@pytest.mark.parametrize("name", sorted(samples.HOSTILE))
def test_hostile_files_give_no_preview(tmp_path: Path, name: str) -> None:
    """Inspection rejects these; handed to the renderer anyway, as if they were the valid
    sample of their extension, they give None (or at most a preview), never an exception."""
    path = tmp_path / name
    samples.HOSTILE[name][0](path)
    good = tmp_path / HOSTILE_AS[Path(name).suffix]
    samples.VALID[good.name](good)
    found = inspect_file(str(good))

    result = _render(path, found)

    assert result is None or max(result.width, result.height) <= PREVIEW_MAX_SIDE
    if name in ("bomb-header.png", "truncated.png", "truncated.tif", "garbage.pdf"):
        assert result is None


# --- GDAL-written rasters -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TIFFS))
def test_gdal_geotiffs_and_their_cogs(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.tif"
    _write_tiff(path, TIFFS[name])
    found = inspect_file(str(path))
    workdir = tmp_path / "work"
    workdir.mkdir()
    cog = optimize(str(path), found, str(workdir))
    with rasterio.open(path) as ds:
        a, e = abs(ds.transform.a), abs(ds.transform.e)
        aspect = ds.width * a / (ds.height * e)

    direct = _render(path, found)
    from_cog = _render(path, found, cog.path if cog else None)

    grey = _assert_preview(direct, aspect)
    _assert_preview(from_cog, aspect)
    if name.startswith("utm-dem"):  # the nodata corner (65535) is transparent: white here
        assert grey[0, 0] == 255
        assert grey[grey.shape[0] // 2].min() < 255


def test_dem_is_stretched_between_its_min_and_max(tmp_path: Path) -> None:
    path = tmp_path / "dem.tif"
    dem = numpy.tile(numpy.linspace(1000, 1100, 64, dtype="float32"), (32, 1))[None]
    dem[0, :4, :4] = -9999
    gw.write_raster(path, dem, "EPSG:32632", Affine(30, 0, 4e5, 0, -30, 5.2e6), nodata=-9999)

    result = _render(path, inspect_file(str(path)))

    assert result is not None and (result.width, result.height) == (64, 32)
    with Image.open(result.path) as img:
        rgba = numpy.asarray(img.convert("RGBA"))
    assert rgba[0, 0, 3] == 0  # nodata: transparent
    assert rgba[16, 0, 0] < 8 and rgba[16, -1, 0] > 247  # lowest black, highest white


def test_paletted_and_16_bit_rgb_rasters(tmp_path: Path) -> None:
    paletted = tmp_path / "classes.tif"
    classes = (gw.pattern(1, 60, 90) // 64).astype("uint8")
    gw.write_raster(paletted, classes, "EPSG:3857", Affine(10, 0, 0, 0, -10, 0))
    colours = {0: (255, 0, 0, 255), 1: (0, 255, 0, 255), 2: (0, 0, 255, 255), 3: (9, 9, 9, 255)}
    with rasterio.open(paletted, "r+") as dst:
        dst.write_colormap(1, colours)
    wide = tmp_path / "rgb16.tif"
    gw.write_raster(
        wide,
        gw.pattern(3, 60, 90, "uint16") * 200,
        "EPSG:3857",
        Affine(10, 0, 0, 0, -10, 0),
        photometric="rgb",
    )

    shown = _render(paletted, inspect_file(str(paletted)))
    stretched = _render(wide, inspect_file(str(wide)))

    _assert_preview(shown, 90 / 60)
    with Image.open(shown.path) as img:  # type: ignore[union-attr]
        used = {colour[:3] for _n, colour in img.convert("RGBA").getcolors(1000)}
    assert used <= {c[:3] for c in colours.values()} and len(used) == 4  # no blended classes
    _assert_preview(stretched, 90 / 60)


def test_raster_of_one_huge_strip_has_no_preview(tmp_path: Path, monkeypatch: Any) -> None:
    """GDAL decodes whole blocks: one compressed strip holding the whole raster is refused (the
    limit is lowered here instead of writing a raster of 128 MiB)."""
    path = tmp_path / "one-strip.tif"
    data = gw.pattern(3, 200, 300)
    gw.write_raster(path, data, "EPSG:32632", UTM, compress="deflate", blockysize=200)
    found = inspect_file(str(path))
    monkeypatch.setattr(preview_raster, "MAX_BLOCK_BYTES", 3 * 300 * 199)

    assert _render(path, found) is None
    monkeypatch.setattr(preview_raster, "MAX_BLOCK_BYTES", 3 * 300 * 200)
    _assert_preview(_render(path, found), 300 / 200)


def test_blank_raster_gives_a_plain_image(tmp_path: Path) -> None:
    path = tmp_path / "zeros.tif"
    gw.write_raster(path, numpy.zeros((1, 50, 70), "int16"), "EPSG:32632", UTM)

    _assert_preview(_render(path, inspect_file(str(path))), 70 / 50, blank=True)


UTM = Affine(10, 0, 4e5, 0, -10, 5.2e6)


@pytest.mark.parametrize(
    ("driver", "bands", "dtype", "creation"),
    [
        ("PNG", 4, "uint8", {}),
        ("PNG", 1, "uint16", {}),
        ("JPEG", 3, "uint8", {"QUALITY": 90}),
        ("JPEG", 1, "uint8", {}),
        ("WEBP", 3, "uint8", {"LOSSLESS": "YES"}),
        ("WEBP", 4, "uint8", {"QUALITY": 80}),
    ],
)
def test_gdal_scans(
    tmp_path: Path, driver: str, bands: int, dtype: str, creation: dict[str, Any]
) -> None:
    source = tmp_path / "source.tif"
    gw.write_raster(source, gw.pattern(bands, 300, 700, dtype), None, None)
    path = tmp_path / f"scan.{driver.lower()}"
    gw.copy_raster(source, path, driver, **creation)
    found = inspect_file(str(path))

    result = _render(path, found)

    _assert_preview(result, 700 / 300)
    assert result is not None and (result.width, result.height) == (512, 219)


def test_large_png_goes_through_gdal_line_by_line(tmp_path: Path, monkeypatch: Any) -> None:
    """Above Pillow's full-decode size a PNG is read by GDAL (the bounded-memory path; the
    threshold is lowered here so that a small file takes it)."""
    path = tmp_path / "scan.png"
    preview_corpus.write_big_png(path, 1500, 1000)
    monkeypatch.setattr(preview_raster, "PILLOW_FULL_DECODE_PIXELS", 1000)
    monkeypatch.setattr(preview_raster, "LARGE_PIXELS", 1000)  # nearest, in swaths

    _assert_preview(_render(path, inspect_file(str(path))), 1.5)


def test_100_mp_scan_renders_in_bounded_memory(tmp_path: Path) -> None:
    """A 100 MP grey PNG (100 MB of pixels; 300 MB as the RGB Pillow would make of it) in a
    fresh interpreter: peak RSS grows < 100 MB (bench/preview.py: ~22 MiB for 140 MP RGB)."""
    path = tmp_path / "scan.png"
    preview_corpus.write_big_png(path, 12_500, 8_000, grey=True)
    code = (
        "import resource, sys, time\n"
        "import numpy, PIL.Image, rasterio\n"
        "from chalicelib.formats.inspect import inspect_file\n"
        "from chalicelib.previews.render import render_preview\n"
        "found = inspect_file(sys.argv[1])\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "result = render_preview(sys.argv[1], found, sys.argv[2], deadline=time.monotonic() + 60)\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(result.width, result.height, grown // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    assert (int(out[0]), int(out[1])) == (512, 328)
    assert int(out[2]) < 100, f"peak RSS grew by {out[2]} MiB"


# --- PDF ------------------------------------------------------------------------------------------


def test_gdal_geopdf(tmp_path: Path) -> None:
    source = tmp_path / "source.tif"
    gw.write_raster(source, gw.pattern(3, 48, 80), "EPSG:4326", Affine(0.01, 0, 7, 0, -0.01, 47))
    path = tmp_path / "map.pdf"
    gw.copy_raster(source, path, "PDF")
    from pypdf import PdfReader

    box = PdfReader(path).pages[0].mediabox

    _assert_preview(_render(path, inspect_file(str(path))), float(box.width / box.height))


def test_pdf_rendering_past_its_cap_is_killed(tmp_path: Path, monkeypatch: Any) -> None:
    """PDFium cannot be interrupted: the child that renders is killed at the cap."""
    path = tmp_path / "doc.pdf"
    found = samples.make_pdf(path) and inspect_file(str(path))
    monkeypatch.setattr(preview_raster, "_pdf_child", lambda *args: time.sleep(60))
    monkeypatch.setattr(preview_raster, "PDF_CAP_SECONDS", 0.5)
    started = time.monotonic()

    assert _render(path, found) is None
    assert time.monotonic() - started < 5


# --- vectors --------------------------------------------------------------------------------------


def _sources(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, features in (("cities", CITIES), ("routes", ROUTES), ("lakes", LAKES)):
        paths[name] = tmp_path / f"{name}.geojson"
        gw.write_geojson(paths[name], features)
    return paths


def _vector_case(tmp_path: Path, case: str) -> Path:
    """A GDAL-written vector file of each kind, its layers in several CRSs."""
    src = _sources(tmp_path)
    path = tmp_path / f"{case}.out"
    if case == "gpkg":
        path = tmp_path / "layers.gpkg"
        gw.ogr2ogr(path, src["cities"], "-f", "GPKG", "-nln", "cities")
        gw.ogr2ogr(path, src["routes"], "-update", "-nln", "routes", "-t_srs", "EPSG:2056")
        gw.ogr2ogr(path, src["lakes"], "-update", "-nln", "lakes", "-t_srs", "EPSG:32632")
    elif case == "shapefile":
        out = tmp_path / "shp"
        out.mkdir()
        gw.ogr2ogr(out / "cities.shp", src["cities"], "-f", "ESRI Shapefile")
        gw.ogr2ogr(out / "lakes.shp", src["lakes"], "-f", "ESRI Shapefile", "-t_srs", "EPSG:3857")
        gw.ogr2ogr(
            out / "routes.shp",
            src["routes"],
            "-f",
            "ESRI Shapefile",
            "-t_srs",
            "EPSG:32632",
            "-dim",
            "XYZ",
        )
        path = tmp_path / "export.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for file in sorted(out.iterdir()):
                zf.write(file, "export/" + file.name)
    elif case == "geojson-lv95":
        path = tmp_path / "routes-lv95.geojson"
        gw.ogr2ogr(path, src["routes"], "-f", "GeoJSON", "-t_srs", "EPSG:2056")
    return path


@pytest.mark.parametrize("case", ["gpkg", "shapefile", "geojson-lv95"])
def test_gdal_vectors(tmp_path: Path, case: str) -> None:
    path = _vector_case(tmp_path, case)
    found = inspect_file(str(path))

    _assert_preview(_render(path, found), _bbox_aspect(found.metadata["bbox"]))


KML = f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="{samples.KML_NS}" xmlns:gx="http://www.google.com/kml/ext/2.2"><Document>
<Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>
8.25,46.95 8.6,46.95 8.6,47.1 8.25,47.1 8.25,46.95</coordinates></LinearRing></outerBoundaryIs>
<innerBoundaryIs><LinearRing><coordinates>8.4,47.0 8.45,47.0 8.45,47.03 8.4,47.0
</coordinates></LinearRing></innerBoundaryIs></Polygon></Placemark>
<Placemark><MultiGeometry><Point><coordinates>7.4474,46.9481</coordinates></Point>
<LineString><coordinates>7.4474,46.9481,0 8.3093,47.0502,0</coordinates></LineString>
</MultiGeometry></Placemark>
<Placemark><gx:Track><when>2020-01-01T00:00:00Z</when><gx:coord>8.3 47.05 0</gx:coord>
<when>2020-01-01T01:00:00Z</when><gx:coord>8.54 47.38 0</gx:coord></gx:Track></Placemark>
</Document></kml>"""
GPX = f"""<?xml version="1.0"?><gpx xmlns="{samples.GPX_NS}" version="1.1" creator="t">
<wpt lat="46.9481" lon="7.4474"/><wpt lat="47.3769" lon="8.5417"/>
<trk><trkseg><trkpt lat="46.9481" lon="7.4474"/><trkpt lat="47.0502" lon="8.3093"/></trkseg>
<trkseg><trkpt lat="47.0502" lon="8.3093"/><trkpt lat="47.3769" lon="8.5417"/></trkseg></trk>
<rte><rtept lat="46.2044" lon="6.1432"/><rtept lat="46.9481" lon="7.4474"/></rte></gpx>"""


@pytest.mark.parametrize("name", ["lakes.kml", "lakes.kmz", "routes.gpx"])
def test_kml_kmz_gpx(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".kmz"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("doc.kml", KML)
    else:
        path.write_text(KML if name.endswith(".kml") else GPX, encoding="utf-8")
    found = inspect_file(str(path))

    grey = _assert_preview(_render(path, found), _bbox_aspect(found.metadata["bbox"]))
    assert (grey < 120).sum() >= 30  # lines and dots


def test_geojson_points_are_sampled_in_bounded_time(tmp_path: Path, monkeypatch: Any) -> None:
    from chalicelib.previews import canvas as preview_canvas

    path = tmp_path / "points.geojson"
    bbox = preview_corpus.write_points_geojson(path, 20_000)
    monkeypatch.setattr(preview_canvas, "MAX_FEATURES", 1000)  # every 20th point is drawn
    found = inspect_file(str(path))
    drawn: list[int] = []
    points = preview_canvas.Canvas.points
    monkeypatch.setattr(
        preview_canvas.Canvas, "points", lambda self, xy: drawn.append(len(xy)) or points(self, xy)
    )

    _assert_preview(_render(path, found), _bbox_aspect(found.metadata["bbox"]))
    assert sum(drawn) == 1000
    assert found.metadata["bbox"] == pytest.approx(bbox, abs=0.5)


def test_empty_feature_collection_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    gw.write_geojson(path, [])
    nulls = tmp_path / "nulls.geojson"
    gw.write_geojson(nulls, [feature(None, name="nowhere")])

    assert _render(path, inspect_file(str(path))) is None
    assert _render(nulls, inspect_file(str(nulls))) is None


def test_single_point_is_a_dot_in_a_square(tmp_path: Path) -> None:
    path = tmp_path / "one.geojson"
    gw.write_geojson(path, [feature({"type": "Point", "coordinates": [8.5, 47.3]})])

    grey = _assert_preview(_render(path, inspect_file(str(path))), 1.0, floor=0.1)
    assert (grey < 200).sum() == 9  # one 3 x 3 dot


def test_wkb_geometry_types() -> None:
    """GeoPackage blobs: header flags and envelopes, ISO and EWKB Z/M, nested collections."""
    import struct

    def gp(wkb: bytes, envelope: int = 1) -> bytes:
        return (
            b"GP\x00"
            + bytes([1 | envelope << 1])
            + struct.pack("<i", 4326)
            + bytes({0: 0, 1: 32, 2: 48, 4: 64}[envelope])
            + wkb
        )

    point_z = struct.pack("<BIddd", 1, 1001, 1.0, 2.0, 3.0)
    line_ewkb_zm = struct.pack("<BII", 1, 2 | 0xC0000000, 2) + struct.pack("<8d", *range(8))
    polygon_be = struct.pack(">BIII", 0, 3, 1, 4) + struct.pack(">8d", 0, 0, 1, 0, 1, 1, 0, 0)
    collection = struct.pack("<BII", 1, 7, 3) + point_z + line_ewkb_zm + polygon_be

    parts = gpkg_parts(gp(collection, 2))

    assert [kind for kind, _xy in parts] == ["point", "line", "line"]
    assert parts[0][1].tolist() == [[1.0, 2.0]]
    assert parts[1][1].tolist() == [[0.0, 1.0], [4.0, 5.0]]
    assert parts[2][1].tolist() == [[0, 0], [1, 0], [1, 1], [0, 0]]
    truncated = gpkg_parts(gp(collection[:-8]))  # what came before the cut
    assert [xy.tolist() for _kind, xy in truncated] == [xy.tolist() for _kind, xy in parts[:2]]
    assert gpkg_parts(b"GP\x00\x11" + bytes(8)) == []  # the empty flag


# --- tilesets -------------------------------------------------------------------------------------

SWISS_BOUNDS = [5.9, 45.8, 10.5, 47.8]


def _raster_mbtiles(tmp_path: Path, overviews: bool = True) -> Path:
    source = tmp_path / "source.tif"
    # ~4.6 x 2 degrees over Switzerland, in Web Mercator like the tiles.
    gw.write_raster(
        source, gw.pattern(3, 120, 200), "EPSG:4326", Affine(0.023, 0, 5.9, 0, -0.01667, 47.8)
    )
    path = tmp_path / "raster.mbtiles"
    gw.copy_raster(source, path, "MBTiles", TILE_FORMAT="PNG")
    if overviews:
        with rasterio.open(path, "r+") as dst:
            dst.build_overviews([2, 4])
    return path


def _vector_mbtiles(tmp_path: Path) -> Path:
    src = _sources(tmp_path)
    merged = tmp_path / "layers.gpkg"
    gw.ogr2ogr(merged, src["cities"], "-f", "GPKG", "-nln", "cities")
    gw.ogr2ogr(merged, src["routes"], "-update", "-nln", "routes")
    gw.ogr2ogr(merged, src["lakes"], "-update", "-nln", "lakes")
    path = tmp_path / "vector.mbtiles"
    gw.ogr2ogr(path, merged, "-f", "MBTiles", "-dsco", "MINZOOM=2", "-dsco", "MAXZOOM=9")
    return path


@pytest.mark.parametrize("kind", ["raster", "raster-one-level", "vector"])
@pytest.mark.parametrize("container", ["mbtiles", "pmtiles"])
def test_gdal_tilesets(tmp_path: Path, kind: str, container: str) -> None:
    """Raster tiles on three zoom levels, on one level only (a mosaic of up to 64 tiles of the
    shallowest level), and vector tiles (MVT) on zoom 2-9; MBTiles and a PMTiles copy."""
    if kind == "vector":
        path = _vector_mbtiles(tmp_path)
    else:
        path = _raster_mbtiles(tmp_path, overviews=kind == "raster")
    if container == "pmtiles":
        bounds = inspect_file(str(path)).metadata["bbox"]
        copied = tmp_path / f"{kind}.pmtiles"
        preview_corpus.mbtiles_to_pmtiles(path, copied, {"bounds": bounds})
        path = copied
    found = inspect_file(str(path))

    _assert_preview(_render(path, found), _bbox_aspect(found.metadata["bbox"]))


@pytest.mark.parametrize("coverage", [False, True])
def test_gdal_gpkg_tiles(tmp_path: Path, coverage: bool) -> None:
    """A GeoPackage of raster tiles (no features) is drawn through GDAL's GPKG driver; a uint16
    DEM becomes a gridded coverage, stretched like a GeoTIFF DEM."""
    source = tmp_path / "source.tif"
    data = gw.pattern(1, 90, 150, "uint16") * 7 + 300 if coverage else gw.pattern(3, 90, 150)
    gw.write_raster(source, data, "EPSG:32632", UTM)
    path = tmp_path / "tiles.gpkg"
    gw.copy_raster(source, path, "GPKG")
    found = inspect_file(str(path))
    [layer] = found.metadata["layers"]
    assert layer["data_type"] == ("2d-gridded-coverage" if coverage else "tiles")

    _assert_preview(_render(path, found), 150 / 90)


def test_mvt_decoding_of_gdal_tiles(tmp_path: Path) -> None:
    """Every tile GDAL wrote decodes; the points, lines and polygon rings are all there."""
    import gzip

    path = _vector_mbtiles(tmp_path)
    with sqlite3.connect(path) as conn:
        tiles = [bytes(row[0]) for row in conn.execute("SELECT tile_data FROM tiles")]
    conn.close()
    kinds: set[str] = set()
    for tile in tiles:
        for kind, positions, size in mvt_parts(gzip.decompress(tile)):
            kinds.add(kind)
            assert size == 4096 and positions
    assert kinds == {"point", "line", "ring"}
    with pytest.raises((ValueError, IndexError)):
        list(mvt_parts(gzip.decompress(tiles[0])[:-3]))


def test_pmtiles_tile_ids_match_the_reference_implementation() -> None:
    from pmtiles.tile import zxy_to_tileid as reference

    for z in range(0, 12):
        for x, y in ((0, 0), (2**z - 1, 0), (0, 2**z - 1), (2**z // 3, 2**z // 5)):
            assert zxy_to_tileid(z, x, y) == reference(z, x, y)


# --- budgets --------------------------------------------------------------------------------------


def test_no_time_left_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "features.geojson"
    found = samples.make_geojson(path) and inspect_file(str(path))

    assert render_preview(str(path), found, str(tmp_path), deadline=time.monotonic() + 1) is None


def test_preview_cap_cuts_a_long_rendering(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "points.geojson"
    preview_corpus.write_points_geojson(path, 20_000)
    found = inspect_file(str(path))
    monkeypatch.setattr(preview_module, "PREVIEW_CAP_SECONDS", 0.05)
    started = time.monotonic()

    assert _render(path, found) is None
    assert time.monotonic() - started < 2


def test_the_jobs_own_time_limit_passes_through(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    preview_corpus.write_points_geojson(path, 20_000)
    found = inspect_file(str(path))

    with pytest.raises(TimeLimitExceeded), time_limit(0.05):
        _render(path, found)


def test_unknown_format_and_rejected_content(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"x")

    assert _render(path, Inspection("other", "application/octet-stream", {})) is None
    with pytest.raises(Rejected):
        inspect_file(str(path))
