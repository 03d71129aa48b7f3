"""Map files written by a real third-party writer: the GDAL bundled in rasterio's wheel.

Rasters are written through rasterio. rasterio has no OGR (vector) API, so vectors are
written by calling the bundled libgdal's C API through ctypes: GDALVectorTranslate is the
library form of ogr2ogr, and the OGR layer calls give GDAL's own view of a vector file
(layers, feature counts, extents, CRS) to check the inspectors against.

Import rasterio before anything here: it loads libgdal and registers GDAL's drivers, and
ctypes then binds to that same, already loaded library.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.warp import transform_bounds

PathLike = str | os.PathLike[str]

_OF_VECTOR = 0x04  # GDAL_OF_VECTOR
_OF_VERBOSE_ERROR = 0x40  # GDAL_OF_VERBOSE_ERROR
_OF_UPDATE = 0x01  # GDAL_OF_UPDATE
_VP = ctypes.c_void_p


class _Envelope(ctypes.Structure):
    """OGREnvelope: note the MinX, MaxX, MinY, MaxY order."""

    _fields_ = [(name, ctypes.c_double) for name in ("minx", "maxx", "miny", "maxy")]


def _find_libgdal() -> str | None:
    site = Path(rasterio.__file__).resolve().parent.parent
    patterns = ("rasterio.libs/libgdal-*.so*", "rasterio/.dylibs/libgdal*.dylib")
    for pattern in patterns:
        found = sorted(glob.glob(str(site / pattern)))
        if found:
            return found[0]
    return None


@functools.cache
def libgdal() -> Any:
    """The bundled libgdal with the C signatures used here; raises when it cannot be found (the
    pinned rasterio wheel bundles it: a missing one is a broken environment, not a skip)."""
    import rasterio._base  # noqa: F401 - loads libgdal and registers the drivers

    path = _find_libgdal()
    if path is None:
        raise RuntimeError("rasterio's bundled libgdal was not found")
    lib = ctypes.CDLL(path)
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "GDALAllRegister": (None, []),
        "GDALGetDriverByName": (_VP, [ctypes.c_char_p]),
        "GDALOpenEx": (_VP, [ctypes.c_char_p, ctypes.c_uint, _VP, _VP, _VP]),
        "GDALClose": (ctypes.c_int, [_VP]),
        "GDALVectorTranslateOptionsNew": (_VP, [ctypes.POINTER(ctypes.c_char_p), _VP]),
        "GDALVectorTranslateOptionsFree": (None, [_VP]),
        "GDALVectorTranslate": (
            _VP,
            [
                ctypes.c_char_p,
                _VP,
                ctypes.c_int,
                ctypes.POINTER(_VP),
                _VP,
                ctypes.POINTER(ctypes.c_int),
            ],
        ),
        "GDALDatasetGetLayerCount": (ctypes.c_int, [_VP]),
        "GDALDatasetGetLayer": (_VP, [_VP, ctypes.c_int]),
        "OGR_L_GetName": (ctypes.c_char_p, [_VP]),
        "OGR_L_GetFeatureCount": (ctypes.c_int64, [_VP, ctypes.c_int]),
        "OGR_L_GetExtent": (ctypes.c_int, [_VP, ctypes.POINTER(_Envelope), ctypes.c_int]),
        "OGR_L_GetSpatialRef": (_VP, [_VP]),
        "OSRAutoIdentifyEPSG": (ctypes.c_int, [_VP]),
        "OSRGetAuthorityName": (ctypes.c_char_p, [_VP, ctypes.c_char_p]),
        "OSRGetAuthorityCode": (ctypes.c_char_p, [_VP, ctypes.c_char_p]),
        "CPLErrorReset": (None, []),
        "CPLGetLastErrorMsg": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in signatures.items():
        func = getattr(lib, name)
        func.restype, func.argtypes = restype, argtypes
    lib.GDALAllRegister()  # idempotent; rasterio has done it already
    return lib


def _error(lib: Any, what: str) -> RuntimeError:
    message = (lib.CPLGetLastErrorMsg() or b"").decode(errors="replace")
    return RuntimeError(f"{what}: {message}")


def _open_vector(lib: Any, path: PathLike, update: bool = False) -> Any:
    flags = _OF_VECTOR | _OF_VERBOSE_ERROR | (_OF_UPDATE if update else 0)
    handle = lib.GDALOpenEx(os.fsencode(path), flags, None, None, None)
    if not handle:
        raise _error(lib, f"GDALOpenEx({path})")
    return handle


def ogr2ogr(dst: PathLike, src: PathLike, *argv: str) -> None:
    """Run GDALVectorTranslate (ogr2ogr) from `src` to `dst` with ogr2ogr's arguments."""
    lib = libgdal()
    lib.CPLErrorReset()
    source = _open_vector(lib, src)
    try:
        args = (ctypes.c_char_p * (len(argv) + 1))(*(a.encode() for a in argv), None)
        options = lib.GDALVectorTranslateOptionsNew(args, None)
        if not options:
            raise _error(lib, f"ogr2ogr options {argv}")
        try:
            usage_error = ctypes.c_int(0)
            sources = (_VP * 1)(source)
            out = lib.GDALVectorTranslate(
                os.fsencode(dst), None, 1, sources, options, ctypes.byref(usage_error)
            )
        finally:
            lib.GDALVectorTranslateOptionsFree(options)
        if not out:
            raise _error(lib, f"ogr2ogr {argv} (usage error: {bool(usage_error.value)})")
        lib.GDALClose(out)  # flushes: GPKG counts, MBTiles tiles, shapefile headers
    finally:
        lib.GDALClose(source)


@dataclass(frozen=True)
class GdalLayer:
    """One vector layer as GDAL itself reports it."""

    name: str
    feature_count: int
    epsg: int | None
    extent: tuple[float, float, float, float] | None  # minx, miny, maxx, maxy in the layer CRS

    def wgs84_bbox(self) -> list[float] | None:
        """The extent as a lon/lat bbox, reprojected by GDAL (densified edges)."""
        if self.extent is None or self.epsg is None:
            return None
        if self.epsg == 4326:
            return list(self.extent)
        return list(
            transform_bounds(f"EPSG:{self.epsg}", "EPSG:4326", *self.extent, densify_pts=21)
        )


def _epsg(lib: Any, layer: Any) -> int | None:
    srs = lib.OGR_L_GetSpatialRef(layer)
    if not srs:
        return None
    lib.OSRAutoIdentifyEPSG(srs)  # ESRI .prj files carry no authority codes of their own
    authority = lib.OSRGetAuthorityName(srs, None)
    code = lib.OSRGetAuthorityCode(srs, None)
    if authority != b"EPSG" or not code:
        return None
    return int(code)


def gdal_layers(path: PathLike) -> list[GdalLayer]:
    """GDAL's view of every layer of a vector dataset: name, count, EPSG, extent."""
    lib = libgdal()
    lib.CPLErrorReset()
    dataset = _open_vector(lib, path)
    try:
        layers = []
        for index in range(lib.GDALDatasetGetLayerCount(dataset)):
            layer = lib.GDALDatasetGetLayer(dataset, index)
            envelope = _Envelope()
            found = lib.OGR_L_GetExtent(layer, ctypes.byref(envelope), 1) == 0
            extent = (envelope.minx, envelope.miny, envelope.maxx, envelope.maxy)
            layers.append(
                GdalLayer(
                    name=lib.OGR_L_GetName(layer).decode(),
                    feature_count=int(lib.OGR_L_GetFeatureCount(layer, 1)),
                    epsg=_epsg(lib, layer),
                    extent=extent if found else None,
                )
            )
        return layers
    finally:
        lib.GDALClose(dataset)


# --- sources -------------------------------------------------------------------------------


def pattern(bands: int, height: int, width: int, dtype: str = "uint8") -> Any:
    """Deterministic pixels: gradients, edges and noise (so they compress like a real scan,
    not to nothing), where lossy or shifted copies show up."""
    y, x = numpy.mgrid[0:height, 0:width]
    layers = [(x * 7 + y * 3 + 40 * band + (x // 8 + y // 8) % 2 * 90) for band in range(bands)]
    noise = numpy.random.default_rng(height * width + bands).integers(0, 8, (bands, height, width))
    data = (numpy.stack(layers) + noise) % 256
    return data.astype(dtype)


def write_raster(
    path: PathLike,
    data: Any,
    crs: str | None,
    transform: Affine | None,
    driver: str = "GTiff",
    tags: dict[str, str] | None = None,
    **creation: Any,
) -> None:
    """Write `data` (bands, rows, cols) with GDAL's `driver` and its creation options;
    without `crs` and `transform` the file has no georeferencing."""
    profile = {
        "driver": driver,
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": str(data.dtype),
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:  # even an identity transform is written as georeferencing
        profile["transform"] = transform
    with rasterio.open(path, "w", **profile, **creation) as dst:
        if tags:
            dst.update_tags(**tags)
        dst.write(data)


def copy_raster(src: PathLike, dst: PathLike, driver: str, **creation: Any) -> None:
    """GDAL's CreateCopy (gdal_translate) of `src` into `driver`'s format."""
    rasterio.shutil.copy(str(src), str(dst), driver=driver, **creation)


def wgs84_bounds(path: PathLike, **open_options: Any) -> list[float]:
    """GDAL's lon/lat bbox of a georeferenced raster (densified edges)."""
    with rasterio.open(path, **open_options) as ds:
        return list(transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21))


def write_geojson(path: PathLike, features: Sequence[dict[str, Any]]) -> None:
    """A plain RFC 7946 FeatureCollection as text: the source for ogr2ogr."""
    doc = {"type": "FeatureCollection", "features": list(features)}
    Path(path).write_text(json.dumps(doc), encoding="utf-8")


def feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}
