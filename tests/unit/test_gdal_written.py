"""Files written by GDAL are recognised with the metadata GDAL itself reports.

tests/samples.py writes its corpus with our own test code; acceptance testers upload what
desktop GIS and command-line tools write, and most of those write through GDAL. Here the
GDAL 3.9 bundled in rasterio's wheel writes every file (rasters through rasterio, vectors
through its C API: see tests/gdal_writers.py), and the expected sizes, CRSs, extents, feature
counts and zoom levels are read back from GDAL, so each test proves agreement with GDAL rather
than with numbers the test invented. Each uploaded file is inspected alone, without the
sidecars (.aux.xml, world files) GDAL writes next to it: an upload is a single file.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy
import pytest
import rasterio
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Inspection, Rejected
from chalicelib.pipeline.optimize import COG_MEDIA_TYPE, optimize
from tests import gdal_writers as gw
from tests.gdal_writers import GdalLayer, feature

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

DEGREES = 1e-6  # lon/lat agreement with GDAL's reprojection (~0.1 m)
METRES = 1e-6  # native (projected) coordinates, as GDAL reports them

# Swiss places in lon/lat; every projected CRS used here is valid over them.
CITIES = [
    feature({"type": "Point", "coordinates": [7.4474, 46.9481]}, name="Bern", rank=1),
    feature({"type": "Point", "coordinates": [8.5417, 47.3769]}, name="Zurich", rank=2),
    feature({"type": "Point", "coordinates": [6.1432, 46.2044]}, name="Geneva", rank=3),
    feature(None, name="Nowhere", rank=4),  # a null geometry still counts as a feature
]
ROUTES = [
    feature(
        {"type": "LineString", "coordinates": [[7.4474, 46.9481], [8.3093, 47.0502]]},
        name="Bern-Luzern",
        rank=1,
    ),
    feature(
        {"type": "LineString", "coordinates": [[8.3093, 47.0502], [8.5417, 47.3769]]},
        name="Luzern-Zurich",
        rank=2,
    ),
]
LAKE = [[8.25, 46.95], [8.6, 46.95], [8.6, 47.1], [8.25, 47.1], [8.25, 46.95]]
ISLAND = [[8.4, 47.0], [8.45, 47.0], [8.45, 47.03], [8.4, 47.0]]
LAKES = [feature({"type": "Polygon", "coordinates": [LAKE, ISLAND]}, name="Lucerne", rank=1)]


def _alone(path: Path, upload_dir: Path) -> Path:
    """The file as it is uploaded: copied on its own, without GDAL's sidecars."""
    upload_dir.mkdir(exist_ok=True)
    return Path(shutil.copy(path, upload_dir / path.name))


def _sources(tmp_path: Path) -> dict[str, Path]:
    """The three lon/lat GeoJSON layers ogr2ogr reads."""
    paths = {}
    for name, features in (("cities", CITIES), ("routes", ROUTES), ("lakes", LAKES)):
        paths[name] = tmp_path / f"{name}.geojson"
        gw.write_geojson(paths[name], features)
    return paths


def _one_layer(path: Path) -> GdalLayer:
    layers = gw.gdal_layers(path)
    assert len(layers) == 1
    return layers[0]


def _union(boxes: list[Any]) -> list[float]:
    assert boxes and all(box is not None for box in boxes)
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _member(files: list[Path], suffix: str) -> Path:
    [found] = [f for f in files if f.suffix == suffix]
    return found


# --- GeoTIFF --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tiff:
    """A GTiff written by GDAL and what the inspector must add to what GDAL reports."""

    data: Any
    crs: str | None
    transform: Affine
    creation: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] | None = None
    overview_factors: tuple[int, ...] = ()
    layout: dict[str, Any] = field(default_factory=dict)  # compression, tiling, photometric
    skip_cog: str | None = None  # why optimize() gives None; None: a COG variant is expected


# Small compressed GeoTIFFs are valid COGs already (one block, no overviews needed); the
# rasters that must be converted are wider than one 512 px COG block, yet only a few KB.
WIDE = 530
ALREADY_COG = "a compressed GeoTIFF of <= 512 px is a valid COG already"


def _dem(width: int = WIDE) -> Any:
    dem = gw.pattern(1, 40, width, "uint16") * 9 + 400
    dem[0, :6, :7] = 65535  # a nodata corner
    return dem


def _float_grid() -> Any:
    grid = gw.pattern(1, 30, WIDE, "float32") / 7
    grid[0, -5:, -5:] = numpy.nan
    return grid


UTM32 = Affine(2.0, 0.0, 400_000.0, 0.0, -2.0, 5_200_000.0)
TIFFS: dict[str, Tiff] = {
    "wgs84-tiled-deflate": Tiff(
        gw.pattern(3, 64, WIDE),
        "EPSG:4326",
        Affine(0.001, 0.0, 8.0, 0.0, -0.001, 47.5),
        {"tiled": True, "blockxsize": 32, "blockysize": 32, "compress": "deflate"},
        layout={"compression": "deflate", "tiled": True, "tile_size": [32, 32]},
    ),
    # Wider than a COG block and stripped: the optimizer re-tiles it first.
    "utm-stripped-lzw-band-interleaved": Tiff(
        gw.pattern(3, 20, WIDE),
        "EPSG:32632",
        UTM32,
        {"compress": "lzw", "interleave": "band"},
        layout={"compression": "lzw", "tiled": False, "photometric": "rgb"},
    ),
    "web-mercator-jpeg-ycbcr": Tiff(
        gw.pattern(3, 64, 64),
        "EPSG:3857",
        Affine(100.0, 0.0, 1_000_000.0, 0.0, -100.0, 6_000_000.0),
        {"tiled": True, "blockxsize": 16, "blockysize": 16, "compress": "jpeg"}
        | {"photometric": "ycbcr", "jpeg_quality": 90},
        layout={"compression": "jpeg", "photometric": "ycbcr", "tile_size": [16, 16]},
        skip_cog="lossy JPEG tiles: a lossless copy of decoded pixels would only be larger",
    ),
    # A DEM as SRTM-style products are: pixel centres tied (PixelIsPoint), nodata, predictor.
    "utm-dem-uint16-nodata-pixel-is-point": Tiff(
        _dem(),
        "EPSG:32633",
        Affine(30.0, 0.0, 400_000.0, 0.0, -30.0, 5_300_000.0),
        {"compress": "deflate", "predictor": 2, "nodata": 65535},
        tags={"AREA_OR_POINT": "Point"},
        layout={"compression": "deflate", "bits_per_sample": 16, "nodata": 65535.0},
    ),
    # NaN nodata cannot be stored in JSON: the key is there, its value is null.
    "wgs84-float32-nan-bigtiff": Tiff(
        _float_grid(),
        "EPSG:4326",
        Affine(0.0005, 0.0, 7.0, 0.0, -0.0005, 46.5),
        {"compress": "deflate", "predictor": 3, "nodata": float("nan"), "BIGTIFF": "YES"},
        layout={"bigtiff": True, "bits_per_sample": 32, "nodata": None},
    ),
    "wgs84-internal-overviews": Tiff(
        gw.pattern(3, 128, 128),
        "EPSG:4326",
        Affine(0.001, 0.0, 8.0, 0.0, -0.001, 47.0),
        {"tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate"},
        overview_factors=(2, 4),
        layout={"overviews": 2},
    ),
    "swiss-lv95": Tiff(
        gw.pattern(1, 40, 50),
        "EPSG:2056",
        Affine(10.0, 0.0, 2_600_000.0, 0.0, -10.0, 1_200_000.0),
        {"compress": "deflate"},
        skip_cog=ALREADY_COG,
    ),
    # GDAL writes ProjLinearUnitsGeoKey = 9003 (US survey foot), the CRS's own unit.
    "new-york-state-plane-feet": Tiff(
        gw.pattern(1, 40, 50),
        "EPSG:2263",
        Affine(100.0, 0.0, 980_000.0, 0.0, -100.0, 200_000.0),
        {"compress": "lzw"},
        skip_cog=ALREADY_COG,
    ),
    # A CRS without an EPSG code: GDAL writes user-defined GeoKeys the inspector cannot place
    # (and the COG must carry them over unchanged).
    "custom-laea-no-epsg": Tiff(
        gw.pattern(1, 40, WIDE),
        "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m",
        Affine(100.0, 0.0, 4_321_000.0, 0.0, -100.0, 3_210_000.0),
        {"compress": "deflate"},
        # GDAL writes no code; PROJ recognises ETRS89-LAEA's parameters (GRS80 is its ellipsoid).
        layout={"crs": "EPSG:3035"},
    ),
    "custom-laea-unnamed": Tiff(
        gw.pattern(1, 40, WIDE),
        "+proj=laea +lat_0=52 +lon_0=10 +ellps=GRS80",
        Affine(1000.0, 0.0, 4_000_000.0, 0.0, -1000.0, 3_100_000.0),
        {"compress": "deflate"},
        # GDAL cites it as "unknown": named by its PROJ string, which PROJ reads back.
        layout={
            "crs": "+proj=laea +lat_0=52 +lon_0=10 +x_0=0 +y_0=0 +a=6378137 +rf=298.257222101 "
            "+units=m +no_defs"
        },
    ),
    "geographic-across-the-antimeridian": Tiff(
        gw.pattern(1, 40, WIDE),
        "EPSG:4326",
        Affine(20 / WIDE, 0.0, 170.0, 0.0, -0.25, -10.0),
        {"compress": "deflate"},
        layout={"crs": "EPSG:4326", "bbox": [170.0, -20.0, -170.0, -10.0]},
    ),
    "web-mercator-across-the-antimeridian": Tiff(
        gw.pattern(1, 40, WIDE),
        "EPSG:3857",
        Affine(2_000_000 / WIDE, 0.0, 19_000_000.0, 0.0, -25_000.0, -1_000_000.0),
        {"compress": "deflate"},
    ),
}


def _write_tiff(path: Path, case: Tiff) -> None:
    gw.write_raster(path, case.data, case.crs, case.transform, tags=case.tags, **case.creation)
    if case.overview_factors:
        with rasterio.open(path, "r+") as dst:
            dst.build_overviews(list(case.overview_factors))


def _assert_matches_gdal_raster(path: Path, found: Inspection) -> None:
    """Size, type, nodata, overviews, CRS and extents as GDAL reports them."""
    meta = found.metadata
    with rasterio.open(path) as ds:
        assert (meta["width"], meta["height"], meta["bands"]) == (ds.width, ds.height, ds.count)
        assert meta["dtype"] == ds.dtypes[0]
        assert meta["bits_per_sample"] == numpy.dtype(ds.dtypes[0]).itemsize * 8
        assert meta["overviews"] == len(ds.overviews(1))
        # GDAL's word for the codec: "YCbCr JPEG" is JPEG of YCbCr pixels, reported as "jpeg".
        gdal_codec = ds.tags(ns="IMAGE_STRUCTURE").get("COMPRESSION", "none")
        assert meta["compression"] == gdal_codec.rsplit(" ", 1)[-1].lower()
        if ds.nodata is not None:  # NaN cannot be stored in JSON metadata: null
            assert meta["nodata"] == (None if numpy.isnan(ds.nodata) else ds.nodata)
        epsg = ds.crs.to_epsg() if ds.crs else None
        if ds.crs is None:
            assert found.format == "tiff"
            assert (meta["crs"], meta["bbox"]) == (None, None)
            return
        assert found.format == "geotiff"
        if epsg is not None:
            assert meta["crs"] == f"EPSG:{epsg}"
        else:  # user-defined: PROJ's identification of it, or its PROJ string
            assert meta["crs"].startswith(("EPSG:", "+proj="))
        assert meta["georeferencing"] == "affine"
        assert meta["native_bbox"] == pytest.approx(list(ds.bounds), abs=METRES)
        assert meta["resolution"] == pytest.approx(list(ds.res), rel=1e-12)
    assert meta["bbox"] == pytest.approx(_rfc7946(gw.wgs84_bounds(path)), abs=DEGREES)


def _rfc7946(bounds: list[float]) -> list[float]:
    """GDAL's lon/lat bounds as RFC 7946 gives them: longitudes past 180 wrap round, so a box
    across the antimeridian has west > east."""
    west, south, east, north = bounds
    if east > 180:
        east -= 360
    return [west, south, east, north]


def _assert_lossless_cog(source: Path, found: Inspection, workdir: Path) -> None:
    """optimize() writes a valid COG with the source's pixels, mask, CRS and transform."""
    result = optimize(str(source), found, str(workdir))
    assert result is not None
    media = COG_MEDIA_TYPE if found.format == "geotiff" else "image/tiff"
    assert (result.kind, result.media_type, result.content_encoding) == ("cog", media, None)
    assert cog_validate(result.path, quiet=True)[0]
    with rasterio.open(source) as src, rasterio.open(result.path) as cog:
        assert (cog.width, cog.height, cog.count, cog.dtypes) == (
            src.width,
            src.height,
            src.count,
            src.dtypes,
        )
        assert (cog.crs, cog.transform) == (src.crs, src.transform)
        assert repr(cog.nodatavals) == repr(src.nodatavals)
        assert len(cog.overviews(1)) >= len(src.overviews(1))
        numpy.testing.assert_array_equal(cog.read(), src.read())  # NaN == NaN here
        numpy.testing.assert_array_equal(cog.read_masks(), src.read_masks())
    again = inspect_file(result.path)
    assert (again.format, again.metadata["crs"]) == (found.format, found.metadata["crs"])
    assert again.metadata["bbox"] == found.metadata["bbox"]


@pytest.mark.parametrize("name", sorted(TIFFS))
def test_gdal_geotiff_matches_gdal_and_optimizes(tmp_path: Path, name: str) -> None:
    case = TIFFS[name]
    written = tmp_path / f"{name}.tif"
    _write_tiff(written, case)
    path = _alone(written, tmp_path / "upload")

    found = inspect_file(str(path))

    assert found.media_type == "image/tiff"
    _assert_matches_gdal_raster(path, found)
    for key, want in case.layout.items():
        assert found.metadata[key] == want, key
    workdir = tmp_path / "work"
    workdir.mkdir()
    if case.skip_cog:
        assert optimize(str(path), found, str(workdir)) is None
    else:
        _assert_lossless_cog(path, found, workdir)


def test_gdal_tiff_without_georeferencing_is_a_plain_tiff(tmp_path: Path) -> None:
    path = tmp_path / "scan.tif"
    gw.write_raster(path, gw.pattern(3, 50, WIDE), None, None, compress="deflate")
    found = inspect_file(str(path))
    _assert_matches_gdal_raster(path, found)
    workdir = tmp_path / "work"
    workdir.mkdir()
    _assert_lossless_cog(path, found, workdir)


@pytest.mark.parametrize(
    ("compress", "skip_cog"),
    [
        ("LZW", "already a compressed COG (<= 512 px needs no overviews)"),
        ("NONE", None),  # an uncompressed COG is worth compressing
    ],
)
def test_gdal_cog_driver_output(tmp_path: Path, compress: str, skip_cog: str | None) -> None:
    source = tmp_path / "source.tif"
    gw.write_raster(source, gw.pattern(3, 64, 96), "EPSG:3857", Affine(100, 0, 1e6, 0, -100, 6e6))
    path = tmp_path / "cog.tif"
    gw.copy_raster(source, path, "COG", COMPRESS=compress)

    found = inspect_file(str(path))

    _assert_matches_gdal_raster(path, found)
    assert (found.metadata["tiled"], found.metadata["tile_size"]) == (True, [512, 512])
    assert found.metadata["compression"] == compress.lower()
    workdir = tmp_path / "work"
    workdir.mkdir()
    if skip_cog:
        assert optimize(str(path), found, str(workdir)) is None
    else:
        _assert_lossless_cog(path, found, workdir)


# --- PNG / JPEG / WebP ----------------------------------------------------------------------------


def _georeferenced_source(
    path: Path, bands: int, dtype: str = "uint8", height: int = 48, width: int = 80
) -> None:
    data = gw.pattern(bands, height, width, dtype)
    gw.write_raster(path, data, "EPSG:3857", Affine(50, 0, 9e5, 0, -50, 5.9e6))


@pytest.mark.parametrize(
    ("driver", "bands", "dtype", "creation", "fmt", "mode"),
    [
        ("PNG", 4, "uint8", {"WORLDFILE": "YES"}, "png", "RGBA"),
        ("PNG", 1, "uint16", {}, "png", "I;16"),  # 16-bit greyscale, e.g. DEM tiles
        ("JPEG", 3, "uint8", {"QUALITY": 90, "WORLDFILE": "YES"}, "jpeg", "RGB"),
        ("JPEG", 1, "uint8", {}, "jpeg", "L"),
        ("WEBP", 3, "uint8", {"LOSSLESS": "YES"}, "webp", "RGB"),
        ("WEBP", 4, "uint8", {"QUALITY": 80}, "webp", "RGBA"),
    ],
)
def test_gdal_image_without_its_sidecars(
    tmp_path: Path,
    driver: str,
    bands: int,
    dtype: str,
    creation: dict[str, Any],
    fmt: str,
    mode: str,
) -> None:
    source = tmp_path / "source.tif"
    _georeferenced_source(source, bands, dtype)
    out_dir = tmp_path / "gdal"
    out_dir.mkdir()
    written = out_dir / f"map.{fmt}"
    gw.copy_raster(source, written, driver, **creation)
    # GDAL keeps the georeferencing beside the image, never in it.
    assert (out_dir / f"map.{fmt}.aux.xml").exists()
    path = _alone(written, tmp_path / "upload")

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == (fmt, f"image/{fmt}")
    with rasterio.open(path) as ds:
        size = (ds.width, ds.height, ds.count)
    meta = found.metadata
    assert (meta["width"], meta["height"], meta["bands"], meta["mode"]) == (*size, mode)
    assert (meta["crs"], meta["bbox"]) == (None, None)
    workdir = tmp_path / "work"
    workdir.mkdir()
    assert optimize(str(path), found, str(workdir)) is None  # only TIFFs get a COG


def test_gdal_jpeg_with_appended_mask_is_accepted(tmp_path: Path) -> None:
    """GDAL appends a JPEG's nodata mask after the image (zlib bitmask + the image length):
    the EOI marker is then far from the end of the file, which is no truncation."""
    source = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        _georeferenced_source(source, 3, height=200, width=240)
        with rasterio.open(source, "r+") as dst:
            # Noise does not compress: the appended mask outgrows any trailer window.
            noise = numpy.random.default_rng(5).random((dst.height, dst.width))
            dst.write_mask((noise > 0.5).astype("uint8") * 255)
    path = tmp_path / "masked.jpg"
    gw.copy_raster(source, path, "JPEG")
    data = path.read_bytes()
    end = int.from_bytes(data[-4:], "little")  # the image's length, after the mask
    assert data[end - 2 : end] == b"\xff\xd9" and len(data) - end > 4096

    found = inspect_file(str(path))

    assert (found.format, found.metadata["width"], found.metadata["bands"]) == ("jpeg", 240, 3)
    with rasterio.open(path) as ds:
        assert ds.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]


def test_gdal_truncated_jpeg_with_mask_is_still_malformed(tmp_path: Path) -> None:
    source = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        _georeferenced_source(source, 3)
        with rasterio.open(source, "r+") as dst:
            dst.write_mask(numpy.triu(numpy.full((dst.height, dst.width), 255, "uint8")))
    path = tmp_path / "masked.jpg"
    gw.copy_raster(source, path, "JPEG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    assert caught.value.code == "malformed"


# --- GeoPackage / MBTiles rasters -----------------------------------------------------------------


def test_gdal_gpkg_raster_tiles(tmp_path: Path) -> None:
    """GDAL's default GPKG tiling: one tile matrix in the raster's own CRS."""
    source = tmp_path / "source.tif"
    _georeferenced_source(source, 3)
    path = tmp_path / "tiles.gpkg"
    gw.copy_raster(source, path, "GPKG")

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("gpkg", "application/geopackage+sqlite3")
    meta = found.metadata
    [layer] = meta["layers"]
    assert layer | {"bbox": None} == {
        "name": "tiles",
        "data_type": "tiles",
        "srs_id": 3857,
        "crs": "EPSG:3857",
        "bbox": None,
        "minzoom": 0,
        "maxzoom": 0,
    }
    assert layer["bbox"] == pytest.approx(gw.wgs84_bounds(path), abs=DEGREES)
    assert (meta["crs"], meta["bbox"], meta["feature_count"]) == ("EPSG:3857", layer["bbox"], None)


def test_gdal_gpkg_google_maps_tiles_report_the_levels_holding_tiles(tmp_path: Path) -> None:
    """GoogleMapsCompatible defines every level from 0 to the data's zoom in gpkg_tile_matrix;
    GDAL (ZOOM_LEVEL and its overviews) and the inspector report only levels with tiles."""
    source = tmp_path / "source.tif"
    _georeferenced_source(source, 3)
    path = tmp_path / "web.gpkg"
    gw.copy_raster(source, path, "GPKG", TILING_SCHEME="GoogleMapsCompatible")
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2])  # zoom level - 1
    with rasterio.open(path) as ds:
        maxzoom = int(ds.tags()["ZOOM_LEVEL"])
        minzoom = maxzoom - len(ds.overviews(1))
    with sqlite3.connect(path) as conn:
        defined = conn.execute("SELECT min(zoom_level) FROM gpkg_tile_matrix").fetchone()[0]
    conn.close()
    assert defined == 0 < minzoom

    meta = inspect_file(str(path)).metadata

    [layer] = meta["layers"]
    assert (layer["minzoom"], layer["maxzoom"]) == (minzoom, maxzoom)
    assert (meta["minzoom"], meta["maxzoom"]) == (minzoom, maxzoom)
    assert (layer["crs"], layer["data_type"]) == ("EPSG:3857", "tiles")
    assert layer["bbox"] == pytest.approx(gw.wgs84_bounds(path), abs=DEGREES)


def test_gdal_gpkg_gridded_coverage_dem(tmp_path: Path) -> None:
    """A uint16 DEM becomes the GPKG "2d-gridded-coverage" extension (PNG tiles)."""
    path = tmp_path / "dem.gpkg"
    source = tmp_path / "dem.tif"
    dem = _dem(width=50)
    gw.write_raster(source, dem, "EPSG:32633", Affine(30, 0, 4e5, 0, -30, 5.3e6), nodata=65535)
    gw.copy_raster(source, path, "GPKG")

    meta = inspect_file(str(path)).metadata

    [layer] = meta["layers"]
    assert (layer["data_type"], layer["crs"], layer["srs_id"]) == (
        "2d-gridded-coverage",
        "EPSG:32633",
        32633,
    )
    assert (layer["minzoom"], layer["maxzoom"]) == (0, 0)
    assert layer["bbox"] == pytest.approx(gw.wgs84_bounds(path), abs=DEGREES)


@pytest.mark.parametrize(("tile_format", "expected"), [("PNG", "png"), ("JPEG", "jpg")])
def test_gdal_mbtiles_raster(tmp_path: Path, tile_format: str, expected: str) -> None:
    source = tmp_path / "source.tif"
    _georeferenced_source(source, 3)
    path = tmp_path / "raster.mbtiles"
    gw.copy_raster(source, path, "MBTiles", TILE_FORMAT=tile_format)
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2])
    with rasterio.open(path) as ds:
        maxzoom = int(ds.tags()["ZOOM_LEVEL"])
        minzoom = maxzoom - len(ds.overviews(1))
    with sqlite3.connect(path) as conn:
        tiles = conn.execute("SELECT count(*) FROM tiles").fetchone()[0]
    conn.close()

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("mbtiles", "application/x-sqlite3")
    meta = found.metadata
    assert {k: meta[k] for k in ("name", "tile_format", "minzoom", "maxzoom", "tile_count")} == {
        "name": "raster",  # GDAL's default: the file's stem
        "tile_format": expected,
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "tile_count": tiles,
    }
    assert (meta["crs"], meta["layers"]) == ("EPSG:3857", [])
    # The "bounds" GDAL writes are its dataset extent, rounded to 1e-7 degrees.
    assert meta["bbox"] == pytest.approx(gw.wgs84_bounds(path), abs=DEGREES)


# --- PDF ------------------------------------------------------------------------------------------


# Small rasters (80 x 48 px, at most 2.4 km across) over Switzerland in each kind of CRS.
PDF_SOURCES = {
    "EPSG:4326": Affine(0.01, 0, 7, 0, -0.01, 47),
    "EPSG:3857": Affine(50, 0, 9e5, 0, -50, 5.9e6),
    "EPSG:32632": Affine(30, 0, 4e5, 0, -30, 5.2e6),
    "EPSG:2056": Affine(10, 0, 2.6e6, 0, -10, 1.2e6),  # on CH1903+, ~100 m off WGS84
}


def _pdf_source(path: Path, crs: str) -> list[float]:
    """A GeoTIFF in `crs` to convert to PDF; returns GDAL's WGS84 bbox of it."""
    gw.write_raster(path, gw.pattern(3, 48, 80), crs, PDF_SOURCES[crs])
    return gw.wgs84_bounds(path)


def _pdf_version(path: Path) -> str:
    return path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("%PDF-")


@pytest.mark.parametrize("crs", sorted(PDF_SOURCES))
@pytest.mark.parametrize("encoding", ["ISO32000", "OGC_BP"])
def test_gdal_geopdf(tmp_path: Path, encoding: str, crs: str) -> None:
    """GDAL's PDF writer (write-only here: the wheel has no PDF reading library) embeds the
    georeferencing as ISO 32000 /VP measures or OGC best-practice /LGIDict; the inspector reads
    the CRS and bbox back. The expected bbox is GDAL's of the source raster (edges densified);
    ISO 32000 gives the lat/lon of the four corners instead, on the datum of the CRS (CH1903+
    for EPSG:2056, moved to WGS84 by the inspector), which over maps this small agrees to
    < 1e-7 degrees; /LGIDict gives the projected neatline, reprojected as GDAL does."""
    source = tmp_path / "source.tif"
    expected = _pdf_source(source, crs)
    path = tmp_path / "map.pdf"
    gw.copy_raster(source, path, "PDF", GEO_ENCODING=encoding)

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("pdf", "application/pdf")
    meta = found.metadata
    assert {k: v for k, v in meta.items() if k != "bbox"} == {
        "pages": 1,
        "encrypted": False,
        "pdf_version": _pdf_version(path),
        "crs": crs,
        "georeferenced": True,
    }
    assert meta["bbox"] == pytest.approx(expected, abs=DEGREES)


@pytest.mark.parametrize(
    ("crs", "known"),
    [("EPSG:4326", True), ("EPSG:32632", True), ("EPSG:3857", False), ("EPSG:2056", False)],
)
def test_gdal_geopdf_ogc_without_wkt(tmp_path: Path, crs: str, known: bool) -> None:
    """Without GDAL's /WKT extension an /LGIDict names its projection by the best practice's
    codes, as TerraGo writes them: geographic and UTM on WGS84 are read; GDAL's Mercator ("MC",
    which reads back as World Mercator, not EPSG:3857) and its "GEOGRAPHIC" in metres for
    projections it cannot encode (EPSG:2056) leave crs and bbox unknown."""
    source = tmp_path / "source.tif"
    expected = _pdf_source(source, crs)
    path = tmp_path / "map.pdf"
    with rasterio.Env(GDAL_PDF_OGC_BP_WRITE_WKT="NO"):
        gw.copy_raster(source, path, "PDF", GEO_ENCODING="OGC_BP")
    assert b"/WKT" not in path.read_bytes()

    meta = inspect_file(str(path)).metadata

    assert meta["georeferenced"] is True
    if known:
        assert meta["crs"] == crs
        assert meta["bbox"] == pytest.approx(expected, abs=DEGREES)
    else:
        assert (meta["crs"], meta["bbox"]) == (None, None)


def test_gdal_pdf_without_georeferencing(tmp_path: Path) -> None:
    source = tmp_path / "source.tif"
    _pdf_source(source, "EPSG:3857")
    path = tmp_path / "map.pdf"
    gw.copy_raster(source, path, "PDF", GEO_ENCODING="NONE")

    found = inspect_file(str(path))

    assert found.metadata == {
        "pages": 1,
        "encrypted": False,
        "pdf_version": _pdf_version(path),
        "bbox": None,
        "crs": None,
        "georeferenced": False,
    }


# --- GeoPackage vectors ---------------------------------------------------------------------------


def _assert_gpkg_layer(found: dict[str, Any], gdal: GdalLayer, epsg: int, geometry: str) -> None:
    assert found["name"] == gdal.name
    assert (found["data_type"], found["srs_id"], found["crs"]) == ("features", epsg, f"EPSG:{epsg}")
    assert gdal.epsg == epsg
    assert (found["feature_count"], found["geometry_type"]) == (gdal.feature_count, geometry)
    assert found["bbox"] == pytest.approx(gdal.wgs84_bbox(), abs=DEGREES)


def test_gdal_gpkg_points_in_wgs84(tmp_path: Path) -> None:
    path = tmp_path / "cities.gpkg"
    gw.ogr2ogr(path, _sources(tmp_path)["cities"], "-f", "GPKG")

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("gpkg", "application/geopackage+sqlite3")
    gdal = _one_layer(path)
    assert gdal.feature_count == 4
    [layer] = found.metadata["layers"]
    _assert_gpkg_layer(layer, gdal, 4326, "POINT")
    assert (found.metadata["crs"], found.metadata["feature_count"]) == ("EPSG:4326", 4)
    assert found.metadata["bbox"] == pytest.approx([6.1432, 46.2044, 8.5417, 47.3769], abs=1e-9)


def test_gdal_gpkg_with_layers_in_several_crs(tmp_path: Path) -> None:
    """Points in EPSG:4326, lines in Swiss LV95, polygons in UTM 32N, and an attribute table."""
    sources = _sources(tmp_path)
    path = tmp_path / "layers.gpkg"
    gw.ogr2ogr(path, sources["cities"], "-f", "GPKG", "-nln", "cities")
    gw.ogr2ogr(path, sources["routes"], "-update", "-nln", "routes", "-t_srs", "EPSG:2056")
    gw.ogr2ogr(path, sources["lakes"], "-update", "-nln", "lakes", "-t_srs", "EPSG:32632")
    gw.ogr2ogr(path, sources["cities"], "-update", "-nln", "ranks", "-nlt", "NONE")

    meta = inspect_file(str(path)).metadata

    gdal = {layer.name: layer for layer in gw.gdal_layers(path)}
    layers = {layer["name"]: layer for layer in meta["layers"]}
    assert sorted(layers) == sorted(gdal) == ["cities", "lakes", "ranks", "routes"]
    _assert_gpkg_layer(layers["cities"], gdal["cities"], 4326, "POINT")
    _assert_gpkg_layer(layers["routes"], gdal["routes"], 2056, "LINESTRING")
    _assert_gpkg_layer(layers["lakes"], gdal["lakes"], 32632, "POLYGON")
    assert layers["ranks"]["data_type"] == "attributes"
    assert (layers["ranks"]["crs"], layers["ranks"]["bbox"]) == (None, None)
    assert meta["crs"] is None  # three different CRSs
    assert meta["feature_count"] == 4 + 2 + 1  # features layers only
    boxes = [gdal[name].wgs84_bbox() for name in ("cities", "routes", "lakes")]
    assert meta["bbox"] == pytest.approx(_union(boxes), abs=DEGREES)


def test_gdal_gpkg_attribute_table_does_not_hide_the_crs(tmp_path: Path) -> None:
    """A lookup table beside a LV95 layer: the GeoPackage is in LV95 (attribute tables have
    no CRS to disagree with)."""
    sources = _sources(tmp_path)
    path = tmp_path / "routes.gpkg"
    gw.ogr2ogr(path, sources["routes"], "-f", "GPKG", "-nln", "routes", "-t_srs", "EPSG:2056")
    gw.ogr2ogr(path, sources["routes"], "-update", "-nln", "operators", "-nlt", "NONE")

    meta = inspect_file(str(path)).metadata

    assert [layer["data_type"] for layer in meta["layers"]] == ["features", "attributes"]
    assert (meta["crs"], meta["feature_count"]) == ("EPSG:2056", 2)


# --- zipped Shapefiles ----------------------------------------------------------------------------


def _shapefile(tmp_path: Path, source: Path, stem: str, *argv: str) -> list[Path]:
    """ogr2ogr to a Shapefile; returns every file GDAL wrote for it (.shp .shx .dbf .prj .cpg)."""
    out = tmp_path / "shp"
    out.mkdir(exist_ok=True)
    gw.ogr2ogr(out / f"{stem}.shp", source, "-f", "ESRI Shapefile", "-lco", "ENCODING=UTF-8", *argv)
    return sorted(out.glob(f"{stem}.*"))


def _zip(path: Path, files: list[Path], folder: str = "") -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in files:
            zf.write(file, folder + file.name)


def _assert_shapefile_layer(found: dict[str, Any], gdal: GdalLayer, epsg: int, shape: str) -> None:
    assert found["name"] == gdal.name
    assert (found["geometry_type"], found["feature_count"]) == (shape, gdal.feature_count)
    assert (found["crs"], gdal.epsg) == (f"EPSG:{epsg}", epsg)
    assert found["native_bbox"] == pytest.approx(list(gdal.extent or ()), abs=METRES)
    assert found["bbox"] == pytest.approx(gdal.wgs84_bbox(), abs=DEGREES)
    assert found["fields"] == ["name", "rank"]
    assert "record_count_mismatch" not in found


def test_gdal_shapefiles_zipped_in_a_folder(tmp_path: Path) -> None:
    """Three layers (points in WGS84, lines in UTM 32N, polygons in Web Mercator) with their
    .prj and .cpg, zipped inside a folder as users export them."""
    sources = _sources(tmp_path)
    files = _shapefile(tmp_path, sources["cities"], "cities")
    files += _shapefile(tmp_path, sources["routes"], "routes", "-t_srs", "EPSG:32632")
    files += _shapefile(tmp_path, sources["lakes"], "lakes", "-t_srs", "EPSG:3857")
    assert {f.suffix for f in files} == {".shp", ".shx", ".dbf", ".prj", ".cpg"}
    path = tmp_path / "export.zip"
    _zip(path, files, folder="export/")

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("shapefile", "application/zip")
    meta = found.metadata
    gdal = {f.stem: _one_layer(f) for f in files if f.suffix == ".shp"}
    layers = {layer["name"]: layer for layer in meta["layers"]}
    assert sorted(layers) == ["cities", "lakes", "routes"]
    _assert_shapefile_layer(layers["cities"], gdal["cities"], 4326, "POINT")
    _assert_shapefile_layer(layers["routes"], gdal["routes"], 32632, "POLYLINE")
    _assert_shapefile_layer(layers["lakes"], gdal["lakes"], 3857, "POLYGON")
    assert (meta["crs"], meta["feature_count"]) == (None, 4 + 2 + 1)
    assert meta["geometry_types"] == ["POINT", "POLYGON", "POLYLINE"]


@pytest.mark.parametrize(("epsg", "shape"), [(25832, "POLYLINE"), (26917, "POINT")])
def test_gdal_shapefile_in_etrs89_or_nad83_utm(tmp_path: Path, epsg: int, shape: str) -> None:
    """GDAL's .prj is ESRI WKT without authority codes: "ETRS_1989_UTM_Zone_32N" and
    "NAD_1983_UTM_Zone_17N" name zones the inspector knows (datums within ~1 m of WGS84)."""
    source = _sources(tmp_path)["routes" if shape == "POLYLINE" else "cities"]
    if epsg == 26917:  # zone 17N: put the points in Ontario
        gw.write_geojson(
            source,
            [
                feature({"type": "Point", "coordinates": [-79.387, 43.6426]}, name="CN", rank=1),
                feature({"type": "Point", "coordinates": [-80.0, 44.0]}, name="N", rank=2),
            ],
        )
    files = _shapefile(tmp_path, source, "layer", "-t_srs", f"EPSG:{epsg}")
    assert "AUTHORITY" not in _member(files, ".prj").read_text()
    path = tmp_path / "layer.zip"
    _zip(path, files)

    meta = inspect_file(str(path)).metadata

    [layer] = meta["layers"]
    _assert_shapefile_layer(layer, _one_layer(_member(files, ".shp")), epsg, shape)
    assert (meta["crs"], meta["bbox"]) == (f"EPSG:{epsg}", layer["bbox"])


@pytest.mark.parametrize("name", ["lakes.shz", "lakes.shp.zip"])
def test_gdal_own_zipped_shapefile(tmp_path: Path, name: str) -> None:
    """GDAL (3.1+) writes a zipped Shapefile itself when the output is named .shz/.shp.zip."""
    path = tmp_path / name
    gw.ogr2ogr(path, _sources(tmp_path)["lakes"], "-f", "ESRI Shapefile", "-t_srs", "EPSG:32632")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["lakes.dbf", "lakes.prj", "lakes.shp", "lakes.shx"]

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("shapefile", "application/zip")
    [layer] = found.metadata["layers"]
    _assert_shapefile_layer(layer, _one_layer(path), 32632, "POLYGON")


def test_gdal_shapefile_in_swiss_lv95(tmp_path: Path) -> None:
    files = _shapefile(tmp_path, _sources(tmp_path)["routes"], "routes", "-t_srs", "EPSG:2056")
    path = tmp_path / "routes.zip"
    _zip(path, files)

    meta = inspect_file(str(path)).metadata

    [layer] = meta["layers"]
    _assert_shapefile_layer(layer, _one_layer(_member(files, ".shp")), 2056, "POLYLINE")


# --- GeoJSON --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [(), ("-lco", "RFC7946=YES", "-lco", "WRITE_BBOX=YES")],
    ids=["default", "rfc7946"],
)
def test_gdal_geojson_in_wgs84(tmp_path: Path, options: tuple[str, ...]) -> None:
    """GDAL's GeoJSON of lon/lat data; by default it names the CRS ("OGC:1.3:CRS84")."""
    sources = _sources(tmp_path)
    lv95 = tmp_path / "lakes-lv95.gpkg"
    gw.ogr2ogr(lv95, sources["lakes"], "-f", "GPKG", "-t_srs", "EPSG:2056")
    path = tmp_path / "out" / "lakes.geojson"
    path.parent.mkdir()
    # RFC 7946 output reprojects to WGS84 by itself; the default keeps lon/lat input as is.
    gw.ogr2ogr(path, lv95 if options else sources["lakes"], "-f", "GeoJSON", *options)
    text = path.read_text()
    assert ('"crs"' in text) is not options

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("geojson", "application/geo+json")
    gdal = _one_layer(path)
    assert found.metadata == {
        "geojson_type": "FeatureCollection",
        "feature_count": gdal.feature_count,
        "geometry_types": ["Polygon"],
        "crs": "EPSG:4326",
        "bbox": pytest.approx(list(gdal.extent or ()), abs=1e-9),
    }
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = optimize(str(path), found, str(workdir))
    if result is not None:  # gzip only when it saves >= 10 %
        assert (result.kind, result.content_encoding) == ("gzip", "gzip")
        assert gzip.decompress(Path(result.path).read_bytes()) == path.read_bytes()


@pytest.mark.parametrize("epsg", [2056, 32632, 3857])
def test_gdal_geojson_with_a_crs_member(tmp_path: Path, epsg: int) -> None:
    """Projected GeoJSON: GDAL writes "crs": {"name": "urn:ogc:def:crs:EPSG::<code>"}."""
    path = tmp_path / f"routes-{epsg}.geojson"
    gw.ogr2ogr(path, _sources(tmp_path)["routes"], "-f", "GeoJSON", "-t_srs", f"EPSG:{epsg}")
    assert f"urn:ogc:def:crs:EPSG::{epsg}" in path.read_text()

    meta = inspect_file(str(path)).metadata

    gdal = _one_layer(path)
    assert (gdal.epsg, gdal.feature_count) == (epsg, 2)
    assert (meta["crs"], meta["feature_count"]) == (f"EPSG:{epsg}", 2)
    assert meta["geometry_types"] == ["LineString"]
    assert meta["native_bbox"] == pytest.approx(list(gdal.extent or ()), abs=METRES)
    assert meta["bbox"] == pytest.approx(gdal.wgs84_bbox(), abs=DEGREES)


# --- MBTiles vector (MVT) -------------------------------------------------------------------------


def test_gdal_mvt_mbtiles(tmp_path: Path) -> None:
    """Three layers cut into Mapbox Vector Tiles, zoom 2-6, in one MBTiles file."""
    sources = _sources(tmp_path)
    merged = tmp_path / "layers.gpkg"
    gw.ogr2ogr(merged, sources["cities"], "-f", "GPKG", "-nln", "cities")
    gw.ogr2ogr(merged, sources["routes"], "-update", "-nln", "routes")
    gw.ogr2ogr(merged, sources["lakes"], "-update", "-nln", "lakes")
    path = tmp_path / "vector.mbtiles"
    gw.ogr2ogr(path, merged, "-f", "MBTiles", "-dsco", "MINZOOM=2", "-dsco", "MAXZOOM=6")
    with sqlite3.connect(path) as conn:
        tiles = conn.execute("SELECT count(*) FROM tiles").fetchone()[0]
    conn.close()

    found = inspect_file(str(path))

    assert (found.format, found.media_type) == ("mbtiles", "application/x-sqlite3")
    meta = found.metadata
    assert {k: meta[k] for k in ("name", "tile_format", "minzoom", "maxzoom", "tile_count")} == {
        "name": "vector",
        "tile_format": "pbf",
        "minzoom": 2,
        "maxzoom": 6,
        "tile_count": tiles,
    }
    assert sorted(layer["name"] for layer in meta["layers"]) == ["cities", "lakes", "routes"]
    extents = [layer.extent for layer in gw.gdal_layers(merged)]
    assert meta["bbox"] == pytest.approx(_union(extents), abs=DEGREES)  # "bounds", 7 decimals
