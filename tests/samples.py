"""Writers for real sample map files (and a hostile corpus) used by unit, functional and e2e tests.

Every make_* function writes one file at `path` with a real writer (tifffile, Pillow,
pypdf, json, ElementTree, pyshp, sqlite3 following the GeoPackage/MBTiles specs, the
pmtiles package, zipfile) and returns what inspection must report:
``{"format": ..., "media_type": ..., "metadata": {subset of expected keys}}``.
Float values are exact unless the key is listed in ``"approx"`` (absolute tolerance).

HOSTILE maps a name to (writer, expected rejection code); those writers return None.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import sqlite3
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from tests.hostile_tiffs import shared_tile_bomb

PathLike = str | os.PathLike[str]
Expected = dict[str, Any]

WEB_MERCATOR_MAX = 20037508.342789244  # half the EPSG:3857 world width, in metres
MERCATOR_MAX_LAT = 85.0511287798066
KML_NS = "http://www.opengis.net/kml/2.2"
GPX_NS = "http://www.topografix.com/GPX/1/1"
WGS84_PRJ = (
    'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
    'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)
MERCATOR_PRJ = (
    'PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984",'
    'DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Mercator_Auxiliary_Sphere"],'
    'PARAMETER["False_Easting",0.0],PARAMETER["False_Northing",0.0],'
    'PARAMETER["Central_Meridian",0.0],PARAMETER["Standard_Parallel_1",0.0],'
    'PARAMETER["Auxiliary_Sphere_Type",0.0],UNIT["Meter",1.0]]'
)


def _expected(
    fmt: str, media: str, approx: dict[str, float] | None = None, **meta: Any
) -> Expected:
    return {"format": fmt, "media_type": media, "metadata": meta, "approx": approx or {}}


# --- rasters -------------------------------------------------------------------------


def _geokeys(*keys: tuple[int, int]) -> tuple[int, ...]:
    """A GeoKeyDirectory with inline SHORT values: header + (id, 0, 1, value) per key."""
    out = [1, 1, 0, len(keys)]
    for key_id, value in keys:
        out += [key_id, 0, 1, value]
    return tuple(out)


def _write_geotiff(path: PathLike, data: Any, tags: list[tuple[int, int, int, Any, bool]]) -> None:
    import tifffile

    photometric = "rgb" if data.ndim == 3 else "minisblack"
    tifffile.imwrite(
        path, data, photometric=photometric, tile=(64, 64), compression="deflate", extratags=tags
    )


def make_geotiff(path: PathLike) -> Expected:
    """EPSG:4326, 200x100 RGB, 0.01 degree pixels, upper-left corner at 10E 50N."""
    import numpy

    keys = _geokeys((1024, 2), (1025, 1), (2048, 4326), (2054, 9102))
    tags = [
        (33550, 12, 3, (0.01, 0.01, 0.0), False),
        (33922, 12, 6, (0.0, 0.0, 0.0, 10.0, 50.0, 0.0), False),
        (34735, 3, len(keys), keys, False),
    ]
    _write_geotiff(path, numpy.zeros((100, 200, 3), numpy.uint8), tags)
    return _expected(
        "geotiff",
        "image/tiff",
        approx={"bbox": 1e-9, "resolution": 1e-12},
        width=200,
        height=100,
        bands=3,
        dtype="uint8",
        compression="deflate",
        tiled=True,
        crs="EPSG:4326",
        bbox=[10.0, 49.0, 12.0, 50.0],
        resolution=[0.01, 0.01],
    )


def make_geotiff_webmercator(path: PathLike) -> Expected:
    """EPSG:3857 covering the whole Web Mercator square, 256x256 uint16, one band."""
    import numpy

    keys = _geokeys((1024, 1), (1025, 1), (3072, 3857), (3076, 9001))
    pixel = 2 * WEB_MERCATOR_MAX / 256
    tags = [
        (33550, 12, 3, (pixel, pixel, 0.0), False),
        (33922, 12, 6, (0.0, 0.0, 0.0, -WEB_MERCATOR_MAX, WEB_MERCATOR_MAX, 0.0), False),
        (34735, 3, len(keys), keys, False),
    ]
    _write_geotiff(path, numpy.zeros((256, 256), numpy.uint16), tags)
    lat = MERCATOR_MAX_LAT
    return _expected(
        "geotiff",
        "image/tiff",
        approx={"bbox": 1e-9, "resolution": 1e-6},
        width=256,
        height=256,
        bands=1,
        dtype="uint16",
        crs="EPSG:3857",
        bbox=[-180.0, -lat, 180.0, lat],
        resolution=[pixel, pixel],
    )


def make_geotiff_utm(path: PathLike) -> Expected:
    """EPSG:32617 (UTM 17N), 10 m pixels, upper-left corner at the CN Tower's grid position.

    Wikipedia's UTM article gives the CN Tower (43d38'33.24"N 79d23'13.7"W) as
    17T 630084 4833438; the raster spans 1 km east and south of it.
    """
    import numpy

    keys = _geokeys((1024, 1), (1025, 1), (3072, 32617))
    tags = [
        (33550, 12, 3, (10.0, 10.0, 0.0), False),
        (33922, 12, 6, (0.0, 0.0, 0.0, 630084.0, 4833438.0, 0.0), False),
        (34735, 3, len(keys), keys, False),
    ]
    _write_geotiff(path, numpy.zeros((100, 100), numpy.uint8), tags)
    west, north = -(79 + 23 / 60 + 13.7 / 3600), 43 + 38 / 60 + 33.24 / 3600
    # 1 km is ~0.0124 deg of longitude and ~0.009 deg of latitude here; grid convergence
    # (~1.1 deg) moves the other corners by < 0.0003 deg, hence the tolerance.
    return _expected(
        "geotiff",
        "image/tiff",
        approx={"bbox": 5e-4},
        crs="EPSG:32617",
        bbox=[west, north - 0.009, west + 0.0124, north],
        resolution=[10.0, 10.0],
    )


def make_tiff(path: PathLike) -> Expected:
    """A plain (non-geo) BigTIFF with one reduced-resolution overview."""
    import numpy
    import tifffile

    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(numpy.zeros((64, 48), numpy.float32), photometric="minisblack")
        tif.write(numpy.zeros((32, 24), numpy.float32), photometric="minisblack", subfiletype=1)
    return _expected(
        "tiff",
        "image/tiff",
        width=48,
        height=64,
        bands=1,
        dtype="float32",
        tiled=False,
        bigtiff=True,
        overviews=1,
        bbox=None,
        crs=None,
    )


def make_png(path: PathLike) -> Expected:
    from PIL import Image

    Image.new("RGBA", (64, 32), (10, 20, 30, 255)).save(path, format="PNG")
    return _expected("png", "image/png", width=64, height=32, bands=4, mode="RGBA")


def make_jpeg(path: PathLike) -> Expected:
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 100, 50)).save(path, format="JPEG", quality=80)
    return _expected("jpeg", "image/jpeg", width=40, height=30, bands=3, mode="RGB")


def make_webp(path: PathLike) -> Expected:
    from PIL import Image

    Image.new("RGB", (20, 10), (0, 128, 255)).save(path, format="WEBP")
    return _expected("webp", "image/webp", width=20, height=10, bands=3, mode="RGB")


def make_pdf(path: PathLike, pages: int = 3, password: str | None = None) -> Expected:
    """A PDF of blank A4 pages; with `password` set it is RC4-encrypted (empty user password)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if password is not None:
        writer.encrypt(user_password="", owner_password=password, algorithm="RC4-128")
    with open(path, "wb") as fh:
        writer.write(fh)
    return _expected("pdf", "application/pdf", pages=pages, encrypted=password is not None)


def make_pdf_encrypted(path: PathLike) -> Expected:
    return make_pdf(path, pages=2, password="owner-secret")


# --- vector text -----------------------------------------------------------------------


def make_geojson(path: PathLike) -> Expected:
    ring = [[7.5, 46.5], [10.5, 46.5], [10.5, 49.0], [7.5, 49.0], [7.5, 46.5]]
    geometries = [
        {"type": "Point", "coordinates": [8.5, 47.3]},
        {"type": "LineString", "coordinates": [[8.0, 47.0], [9.0, 48.0, 500.0]]},
        {"type": "Polygon", "coordinates": [ring]},
        None,
    ]
    features = [
        {"type": "Feature", "properties": {"n": i}, "geometry": g} for i, g in enumerate(geometries)
    ]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"type": "FeatureCollection", "features": features}, fh)
    return _expected(
        "geojson",
        "application/geo+json",
        feature_count=4,
        crs="EPSG:4326",
        bbox=[7.5, 46.5, 10.5, 49.0],
        geometry_types=["LineString", "Point", "Polygon"],
    )


def _write_xml(path: PathLike, root: ET.Element) -> None:
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _kml_document() -> ET.Element:
    ET.register_namespace("", KML_NS)
    k = f"{{{KML_NS}}}"
    root = ET.Element(k + "kml")
    doc = ET.SubElement(root, k + "Document")
    ET.SubElement(doc, k + "name").text = "Sample"
    point = ET.SubElement(ET.SubElement(doc, k + "Placemark"), k + "Point")
    ET.SubElement(point, k + "coordinates").text = "-122.08,37.42,0"
    line = ET.SubElement(ET.SubElement(doc, k + "Placemark"), k + "LineString")
    ET.SubElement(line, k + "coordinates").text = "\n  -122.1,37.4,0\n  -122.0, 37.5,0\n"
    overlay = ET.SubElement(doc, k + "GroundOverlay")
    ET.SubElement(ET.SubElement(overlay, k + "Icon"), k + "href").text = "files/map.png"
    box = ET.SubElement(overlay, k + "LatLonBox")
    for edge, value in (("north", 37.6), ("south", 37.3), ("east", -121.9), ("west", -122.2)):
        ET.SubElement(box, k + edge).text = str(value)
    return root


def _kml_expected(fmt: str, media: str) -> Expected:
    return _expected(
        fmt,
        media,
        feature_count=2,
        ground_overlays=1,
        crs="EPSG:4326",
        bbox=[-122.2, 37.3, -121.9, 37.6],
    )


def make_kml(path: PathLike) -> Expected:
    _write_xml(path, _kml_document())
    return _kml_expected("kml", "application/vnd.google-earth.kml+xml")


def make_gpx(path: PathLike) -> Expected:
    ET.register_namespace("", GPX_NS)
    g = f"{{{GPX_NS}}}"
    root = ET.Element(g + "gpx", {"version": "1.1", "creator": "tests"})
    for lat, lon in ((46.5, 7.9), (46.6, 8.0)):
        ET.SubElement(root, g + "wpt", {"lat": str(lat), "lon": str(lon)})
    seg = ET.SubElement(ET.SubElement(root, g + "trk"), g + "trkseg")
    for lat, lon in ((46.4, 7.8), (46.45, 7.85), (46.7, 8.1)):
        ET.SubElement(seg, g + "trkpt", {"lat": str(lat), "lon": str(lon)})
    rte = ET.SubElement(root, g + "rte")
    for lat, lon in ((46.5, 7.7), (46.55, 7.75)):
        ET.SubElement(rte, g + "rtept", {"lat": str(lat), "lon": str(lon)})
    _write_xml(path, root)
    return _expected(
        "gpx",
        "application/gpx+xml",
        waypoints=2,
        tracks=1,
        routes=1,
        track_points=3,
        route_points=2,
        feature_count=4,
        crs="EPSG:4326",
        bbox=[7.7, 46.4, 8.1, 46.7],
    )


# --- archives ----------------------------------------------------------------------------


def make_kmz(path: PathLike) -> Expected:
    buf = io.BytesIO()
    ET.ElementTree(_kml_document()).write(buf, encoding="utf-8", xml_declaration=True)
    png = io.BytesIO()
    make_png_bytes(png)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", buf.getvalue())
        zf.writestr("files/map.png", png.getvalue())
    expected = _kml_expected("kmz", "application/vnd.google-earth.kmz")
    expected["metadata"]["entries"] = 2
    return expected


def make_png_bytes(out: io.BytesIO) -> None:
    from PIL import Image

    Image.new("RGB", (16, 16), (255, 0, 0)).save(out, format="PNG")


def _shapefile_members(stem: str, kind: str, prj: str | None) -> dict[str, bytes]:
    import shapefile

    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    shape_type = shapefile.POLYLINE if kind == "lines" else shapefile.POINT
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shape_type) as writer:
        writer.field("name", "C", size=20)
        if kind == "lines":
            writer.line([[[10.0, 50.0], [10.5, 50.5]]])
            writer.record("a")
            writer.line([[[11.0, 49.5], [11.2, 51.0]]])
            writer.record("b")
        else:
            for x, y in ((0.0, 0.0), (1113194.9079327357, 1118889.9748579594)):
                writer.point(x, y)
                writer.record("p")
    members = {f"{stem}.shp": shp.getvalue(), f"{stem}.shx": shx.getvalue()}
    members[f"{stem}.dbf"] = dbf.getvalue()
    if prj is not None:
        members[f"{stem}.prj"] = prj.encode()
    return members


def make_shapefile_zip(path: PathLike) -> Expected:
    """Two layers: WGS84 lines and Web Mercator points (0,0) and (10E, 10N)."""
    members = _shapefile_members("data/roads", "lines", WGS84_PRJ)
    members.update(_shapefile_members("data/towns", "points", MERCATOR_PRJ))
    members["data/readme.txt"] = b"sample"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return _expected(
        "shapefile",
        "application/zip",
        approx={"bbox": 1e-6},
        feature_count=4,
        crs=None,
        geometry_types=["POINT", "POLYLINE"],
        bbox=[0.0, 0.0, 11.2, 51.0],
        layers=[
            {
                "name": "roads",
                "geometry_type": "POLYLINE",
                "feature_count": 2,
                "crs": "EPSG:4326",
                "bbox": [10.0, 49.5, 11.2, 51.0],
            },
            {
                "name": "towns",
                "geometry_type": "POINT",
                "feature_count": 2,
                "crs": "EPSG:3857",
                "bbox": [0.0, 0.0, 10.0, 10.0],
            },
        ],
    )


# --- SQLite ------------------------------------------------------------------------------

_GPKG_SCHEMA = """
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
  organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
  identifier TEXT UNIQUE, description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
  srs_id INTEGER REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
  m TINYINT NOT NULL, PRIMARY KEY (table_name, column_name));
CREATE TABLE gpkg_tile_matrix_set (table_name TEXT NOT NULL PRIMARY KEY,
  srs_id INTEGER NOT NULL, min_x DOUBLE NOT NULL, min_y DOUBLE NOT NULL,
  max_x DOUBLE NOT NULL, max_y DOUBLE NOT NULL);
CREATE TABLE gpkg_tile_matrix (table_name TEXT NOT NULL, zoom_level INTEGER NOT NULL,
  matrix_width INTEGER NOT NULL, matrix_height INTEGER NOT NULL, tile_width INTEGER NOT NULL,
  tile_height INTEGER NOT NULL, pixel_x_size DOUBLE NOT NULL, pixel_y_size DOUBLE NOT NULL,
  PRIMARY KEY (table_name, zoom_level));
CREATE TABLE poi (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, name TEXT);
CREATE TABLE basemap (id INTEGER PRIMARY KEY AUTOINCREMENT, zoom_level INTEGER NOT NULL,
  tile_column INTEGER NOT NULL, tile_row INTEGER NOT NULL, tile_data BLOB NOT NULL,
  UNIQUE (zoom_level, tile_column, tile_row));
"""


def _gpkg_point(x: float, y: float, srs_id: int) -> bytes:
    """GeoPackage binary: 'GP', version 0, flags (little-endian, xy envelope), srs, WKB."""
    header = b"GP" + bytes([0, 0b0000_0011]) + struct.pack("<i4d", srs_id, x, x, y, y)
    return header + struct.pack("<BIdd", 1, 1, x, y)


def make_gpkg(path: PathLike) -> Expected:
    """A features layer in EPSG:4326 and a tiles layer covering the EPSG:3857 world."""
    m = WEB_MERCATOR_MAX
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA application_id = 1196444487")  # 0x47504B47 'GPKG'
        conn.execute("PRAGMA user_version = 10300")
        conn.executescript(_GPKG_SCHEMA)
        conn.executemany(
            "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, NULL)",
            [
                ("WGS 84 geodetic", 4326, "EPSG", 4326, "GEOGCS[...]"),
                ("Undefined cartesian SRS", -1, "NONE", -1, "undefined"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined"),
                ("WGS 84 / Pseudo-Mercator", 3857, "EPSG", 3857, "PROJCS[...]"),
            ],
        )
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, "
            "max_x, max_y, srs_id) VALUES ('poi', 'features', 'poi', 11.5, 48.1, 13.4, 52.5, 4326)"
        )
        conn.execute(
            "INSERT INTO gpkg_geometry_columns VALUES ('poi', 'geom', 'POINT', 4326, 0, 0)"
        )
        conn.executemany(
            "INSERT INTO poi (geom, name) VALUES (?, ?)",
            [(_gpkg_point(11.5, 48.1, 4326), "Munich"), (_gpkg_point(13.4, 52.5, 4326), "Berlin")],
        )
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, "
            "max_x, max_y, srs_id) VALUES ('basemap', 'tiles', 'basemap', ?, ?, ?, ?, 3857)",
            (-m, -m, m, m),
        )
        conn.execute(
            "INSERT INTO gpkg_tile_matrix_set VALUES ('basemap', 3857, ?, ?, ?, ?)", (-m, -m, m, m)
        )
        for zoom in (0, 1):
            n = 2**zoom
            size = 2 * m / (256 * n)
            conn.execute(
                "INSERT INTO gpkg_tile_matrix VALUES ('basemap', ?, ?, ?, 256, 256, ?, ?)",
                (zoom, n, n, size, size),
            )
        png = io.BytesIO()
        make_png_bytes(png)
        # A tile on each defined level: the zoom range is the levels that hold tiles.
        conn.executemany(
            "INSERT INTO basemap (zoom_level, tile_column, tile_row, tile_data) "
            "VALUES (?, 0, 0, ?)",
            [(0, png.getvalue()), (1, png.getvalue())],
        )
    conn.close()
    lat = MERCATOR_MAX_LAT
    return _expected(
        "gpkg",
        "application/geopackage+sqlite3",
        approx={"bbox": 1e-9},
        crs=None,
        bbox=[-180.0, -lat, 180.0, lat],
        feature_count=2,
        minzoom=0,
        maxzoom=1,
        layers=[
            {
                "name": "poi",
                "data_type": "features",
                "srs_id": 4326,
                "crs": "EPSG:4326",
                "bbox": [11.5, 48.1, 13.4, 52.5],
                "feature_count": 2,
                "geometry_type": "POINT",
            },
            {
                "name": "basemap",
                "data_type": "tiles",
                "srs_id": 3857,
                "crs": "EPSG:3857",
                "bbox": [-180.0, -lat, 180.0, lat],
                "minzoom": 0,
                "maxzoom": 1,
            },
        ],
    )


def _mbtiles(
    path: PathLike, metadata: dict[str, str], tiles: list[tuple[int, int, int, bytes]]
) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA application_id = 1297105496")  # 0x4D504258 'MPBX' (MBTiles 1.3)
        conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        conn.execute(
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
            "tile_data BLOB)"
        )
        conn.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", list(metadata.items()))
        conn.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", tiles)
    conn.close()


def make_mbtiles(path: PathLike) -> Expected:
    """A raster (PNG) tileset over Switzerland, zoom 0-3 declared in metadata."""
    png = io.BytesIO()
    make_png_bytes(png)
    metadata = {
        "name": "Swiss raster",
        "format": "png",
        "bounds": "5.9,45.8,10.5,47.8",
        "center": "8.2,46.8,2",
        "minzoom": "0",
        "maxzoom": "3",
    }
    _mbtiles(path, metadata, [(0, 0, 0, png.getvalue()), (1, 1, 1, png.getvalue())])
    return _expected(
        "mbtiles",
        "application/x-sqlite3",
        name="Swiss raster",
        tile_format="png",
        minzoom=0,
        maxzoom=3,
        tile_count=2,
        crs="EPSG:3857",
        bbox=[5.9, 45.8, 10.5, 47.8],
        layers=[],
    )


def make_mbtiles_vector(path: PathLike) -> Expected:
    """A vector tileset without zoom metadata: zooms come from the tiles table."""
    tile = gzip.compress(b"\x1a\x00", mtime=0)  # gzipped (empty) MVT bytes
    layers = {"vector_layers": [{"id": "roads", "fields": {}}, {"id": "water", "fields": {}}]}
    metadata = {"name": "Vector", "bounds": "-10,35,30,60", "json": json.dumps(layers)}
    _mbtiles(path, metadata, [(1, 0, 0, tile), (4, 8, 8, tile), (2, 1, 1, tile)])
    return _expected(
        "mbtiles",
        "application/x-sqlite3",
        name="Vector",
        tile_format="pbf",
        minzoom=1,
        maxzoom=4,
        tile_count=3,
        bbox=[-10.0, 35.0, 30.0, 60.0],
        layers=[{"name": "roads"}, {"name": "water"}],
    )


def make_pmtiles(path: PathLike) -> Expected:
    """A PMTiles v3 vector archive written with the pmtiles package's Writer."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    tile = gzip.compress(b"\x1a\x00", mtime=0)
    with open(path, "wb") as fh:
        writer = Writer(fh)
        for z, x, y in ((0, 0, 0), (1, 0, 0), (1, 1, 1), (2, 2, 1)):
            writer.write_tile(zxy_to_tileid(z, x, y), tile)
        header = {
            "tile_type": TileType.MVT,
            "tile_compression": Compression.GZIP,
            "min_lon_e7": int(5.9e7),
            "min_lat_e7": int(45.8e7),
            "max_lon_e7": int(10.5e7),
            "max_lat_e7": int(47.8e7),
            "center_zoom": 1,
            "center_lon_e7": int(8.2e7),
            "center_lat_e7": int(46.8e7),
        }
        writer.finalize(header, {"name": "Swiss vector", "vector_layers": [{"id": "roads"}]})
    return _expected(
        "pmtiles",
        "application/vnd.pmtiles",
        approx={"bbox": 1e-9},
        minzoom=0,
        maxzoom=2,
        bbox=[5.9, 45.8, 10.5, 47.8],
        crs="EPSG:3857",
        tile_type="mvt",
        tile_compression="gzip",
        name="Swiss vector",
        layers=[{"name": "roads"}],
        addressed_tiles=4,
    )


VALID: dict[str, Callable[[PathLike], Expected]] = {
    "geotiff.tif": make_geotiff,
    "mercator.tif": make_geotiff_webmercator,
    "utm.tif": make_geotiff_utm,
    "plain.tif": make_tiff,
    "image.png": make_png,
    "photo.jpg": make_jpeg,
    "image.webp": make_webp,
    "doc.pdf": make_pdf,
    "locked.pdf": make_pdf_encrypted,
    "features.geojson": make_geojson,
    "places.kml": make_kml,
    "trip.gpx": make_gpx,
    "places.kmz": make_kmz,
    "layers.zip": make_shapefile_zip,
    "data.gpkg": make_gpkg,
    "raster.mbtiles": make_mbtiles,
    "vector.mbtiles": make_mbtiles_vector,
    "vector.pmtiles": make_pmtiles,
}


# --- hostile corpus ------------------------------------------------------------------------


def _write(path: PathLike, data: bytes) -> None:
    Path(path).write_bytes(data)


def truncate(path: PathLike, keep: float = 0.5) -> None:
    """Cut a file to `keep` of its size (at least 1 byte shorter)."""
    size = os.path.getsize(path)
    os.truncate(path, min(size - 1, int(size * keep)))


def _truncated(
    maker: Callable[[PathLike], Expected], keep: float = 0.5
) -> Callable[[PathLike], None]:
    def write(path: PathLike) -> None:
        maker(path)
        truncate(path, keep)

    return write


def _zip(path: PathLike, members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.create_system = 3
                info.external_attr = 0o120777 << 16  # S_IFLNK | rwxrwxrwx
            zf.writestr(info, data)


_SMALL_KML = (
    b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><Point>'
    b"<coordinates>1,2</coordinates></Point></Placemark></kml>"
)


def write_zip_declared_bomb(path: PathLike) -> None:
    """A KMZ whose member declares ~4 GiB uncompressed (patched local + central headers)."""
    _zip(path, {"doc.kml": _SMALL_KML})
    data = bytearray(Path(path).read_bytes())
    huge = struct.pack("<I", 0xFFFFFFF0)
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 22 : local + 26] = huge
    data[central + 24 : central + 28] = huge
    _write(path, bytes(data))


def write_zip_ratio_bomb(path: PathLike) -> None:
    """A real high-ratio member: 8 MiB of zeros deflate to ~8 KiB (ratio ~1000:1)."""
    _zip(path, {"doc.kml": _SMALL_KML, "padding.bin": bytes(8 * 1024 * 1024)})


def write_kmz_lying_size(path: PathLike) -> None:
    """doc.kml declares 40 bytes but inflates to far more (patched sizes, CRC left alone)."""
    big = _SMALL_KML.replace(b"<Placemark>", b"<Placemark>" + b" " * 20000)
    _zip(path, {"doc.kml": big})
    data = bytearray(Path(path).read_bytes())
    small = struct.pack("<I", 40)
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 22 : local + 26] = small
    data[central + 24 : central + 28] = small
    _write(path, bytes(data))


_BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE kml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>&lol9;</name></Document></kml>
"""


def _lolz(root: bytes) -> bytes:
    doc = _BILLION_LAUGHS.replace(b"<!DOCTYPE kml", b"<!DOCTYPE lolz")
    return doc.replace(b"<kml", b"<" + root).replace(b"</kml>", b"</" + root + b">")


_BILLION_LAUGHS_LOLZ = _lolz(b"kml")

_XXE_GPX = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<gpx xmlns="http://www.topografix.com/GPX/1/1" version="1.1" creator="x">
<wpt lat="1" lon="2"><name>&xxe;</name></wpt></gpx>
"""


def write_png_bomb_header(path: PathLike) -> None:
    """A structurally valid PNG (good CRCs) whose IHDR claims 30000 x 30000 pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    _write(path, data + chunk(b"IEND", b""))


def write_sqlite_other(path: PathLike) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("INSERT INTO users (email) VALUES ('a@example.com')")
    conn.close()


def _bytes(data: bytes) -> Callable[[PathLike], None]:
    return lambda path: _write(path, data)


def _json(doc: Any) -> Callable[[PathLike], None]:
    return lambda path: _write(path, json.dumps(doc).encode())


_PMTILES_V4 = b"PMTiles\x04" + bytes(119)

HOSTILE: dict[str, tuple[Callable[[PathLike], None], str]] = {
    "page.html.tif": (
        _bytes(b"<!DOCTYPE html><html><body><p>hi</p></body></html>"),
        "unsupported_format",
    ),
    "html-no-doctype.kml": (
        _bytes(b"<html><head></head><body></body></html>"),
        "unsupported_format",
    ),
    "program.elf.tif": (_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(120)), "unsupported_format"),
    "program.exe.png": (_bytes(b"MZ\x90\x00\x03\x00\x00\x00" + bytes(120)), "unsupported_format"),
    "script.sh.geojson": (_bytes(b"#!/bin/sh\nrm -rf /\n"), "unsupported_format"),
    "empty.gpkg": (_bytes(b""), "unsupported_format"),
    "noise.bin": (_bytes(random.Random(7).randbytes(4096)), "unsupported_format"),
    "notes.txt.kml": (_bytes(b"just some text about maps\n"), "unsupported_format"),
    "drawing.svg.kml": (
        _bytes(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'),
        "unsupported_format",
    ),
    "config.json.geojson": (_json({"name": "x", "features": "none"}), "unsupported_format"),
    "list.geojson": (_json([{"type": "Feature"}]), "unsupported_format"),
    "broken.json": (_bytes(b'{"name": '), "unsupported_format"),
    "bad-coords.geojson": (
        _json(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Point", "coordinates": ["a", 1]},
                    }
                ],
            }
        ),
        "malformed",
    ),
    "nan.geojson": (_bytes(b'{"type": "Point", "coordinates": [NaN, 1]}'), "malformed"),
    "truncated.geojson": (_truncated(make_geojson), "malformed"),
    "truncated.png": (_truncated(make_png), "malformed"),
    "png-magic-garbage.png": (
        _bytes(b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(500)),
        "malformed",
    ),
    "bomb-header.png": (write_png_bomb_header, "too_large"),
    "truncated.jpg": (_truncated(make_jpeg), "malformed"),
    "truncated.webp": (_truncated(make_webp), "malformed"),
    "truncated.tif": (_truncated(make_geotiff), "malformed"),
    "header-only.tif": (_bytes(b"II*\x00\x08\x00\x00\x00"), "malformed"),
    "truncated.pdf": (_truncated(make_pdf), "malformed"),
    "garbage.pdf": (_bytes(b"%PDF-1.7\nthis is not a pdf\n%%EOF\n"), "malformed"),
    "truncated.gpkg": (_truncated(make_gpkg, 0.4), "malformed"),
    "header-only.sqlite": (_bytes(b"SQLite format 3\x00" + bytes(84)), "malformed"),
    "users.sqlite": (write_sqlite_other, "unsupported_format"),
    "truncated.pmtiles": (_truncated(make_pmtiles, 0.6), "malformed"),
    "v4.pmtiles": (_bytes(_PMTILES_V4), "unsupported_format"),
    "billion-laughs.kml": (_bytes(_BILLION_LAUGHS), "xml_entities"),
    # The DOCTYPE's name need not be the root's: the review's variant.
    "billion-laughs-lolz.kml": (_bytes(_BILLION_LAUGHS_LOLZ), "xml_entities"),
    "billion-laughs-lolz.gpx": (_bytes(_lolz(b"gpx")), "xml_entities"),
    "billion-laughs-lolz.kmz": (
        lambda p: _zip(p, {"doc.kml": _BILLION_LAUGHS_LOLZ}),
        "xml_entities",
    ),
    "shared-tiles.tif": (lambda p: _write(p, shared_tile_bomb(side=2048)), "too_large"),
    "xxe.gpx": (_bytes(_XXE_GPX), "xml_entities"),
    "truncated.kml": (_truncated(make_kml), "malformed"),
    "declared-bomb.kmz": (write_zip_declared_bomb, "zip_bomb"),
    "ratio-bomb.kmz": (write_zip_ratio_bomb, "zip_bomb"),
    "lying-size.kmz": (write_kmz_lying_size, "malformed"),
    "zip-slip.kmz": (lambda p: _zip(p, {"../../evil.kml": _SMALL_KML}), "unsafe_archive"),
    "absolute.kmz": (lambda p: _zip(p, {"/etc/evil.kml": _SMALL_KML}), "unsafe_archive"),
    "backslash.kmz": (lambda p: _zip(p, {"..\\evil.kml": _SMALL_KML}), "unsafe_archive"),
    "drive.kmz": (lambda p: _zip(p, {"C:/evil.kml": _SMALL_KML}), "unsafe_archive"),
    "symlink.kmz": (
        lambda p: _zip(p, {"doc.kml": _SMALL_KML, "link.kml": b"/etc/passwd"}, ("link.kml",)),
        "unsafe_archive",
    ),
    "nested.kmz": (
        lambda p: _zip(p, {"doc.kml": _SMALL_KML, "inner.zip": b"PK\x05\x06" + bytes(18)}),
        "unsafe_archive",
    ),
    "billion-laughs.kmz": (lambda p: _zip(p, {"doc.kml": _BILLION_LAUGHS}), "xml_entities"),
    "not-kml.kmz": (lambda p: _zip(p, {"doc.kml": b"<html><body/></html>"}), "malformed"),
    "readme.zip": (lambda p: _zip(p, {"readme.txt": b"hello"}), "unsupported_format"),
    "shp-only.zip": (lambda p: _zip(p, {"a.shp": bytes(100)}), "malformed"),
    "truncated.zip": (_truncated(make_shapefile_zip), "malformed"),
}


def assert_matches(fmt: str, media_type: str, metadata: dict[str, Any], expected: Expected) -> None:
    """Assert an inspection result against a make_* expectation (subset of metadata keys)."""
    assert fmt == expected["format"]
    assert media_type == expected["media_type"]
    for key, want in expected["metadata"].items():
        assert key in metadata, f"metadata lacks {key!r}"
        _match(metadata[key], want, expected["approx"].get(key, 1e-9), key)


def _match(got: Any, want: Any, tol: float, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        for key, value in want.items():
            assert key in got, f"{where} lacks {key!r}"
            _match(got[key], value, tol, f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _match(g, w, tol, f"{where}[{i}]")
    elif isinstance(want, float):
        assert isinstance(got, (int, float)) and abs(got - want) <= tol, f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"
