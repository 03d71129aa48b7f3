"""Optimized variants: lossless COG from real GeoTIFFs, gzip for text vectors, None otherwise."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rio_cogeo.cogeo import cog_validate

from chalicelib.formats.inspect import inspect_file
from chalicelib.pipeline.optimize import COG_MEDIA_TYPE, OptimizeError, optimize
from tests import samples


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


def _write_raster(path: Path, data: Any, **profile: Any) -> None:
    """A striped (untiled), LZW-compressed GeoTIFF in UTM 32N: the usual desktop-GIS export."""
    base = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "crs": "EPSG:32632",
        "transform": Affine(2.0, 0.0, 500_000.0, 0.0, -2.0, 5_300_000.0),
        "compress": "lzw",
    }
    with rasterio.open(path, "w", **{**base, **profile}) as dst:
        dst.write(data)


def _scan(height: int = 1100, width: int = 1300) -> Any:
    """3-band uint8 with gradients and noise, like a scanned paper map."""
    y, x = numpy.mgrid[0:height, 0:width]
    noise = numpy.random.default_rng(7).integers(-3, 4, (3, height, width))
    bands = numpy.stack([x * 255 // width, y * 255 // height, (x + y) % 256]) + noise
    return numpy.clip(bands, 0, 255).astype(numpy.uint8)


def _dem(height: int = 900, width: int = 1000) -> Any:
    y, x = numpy.mgrid[0:height, 0:width]
    dem = (400 + 3 * numpy.sin(x / 50) * 100 + y * 0.7).astype(numpy.float32)[None]
    dem[0, :50, :50] = -9999.0  # a nodata corner
    return dem


def _run(path: Path, workdir: Path, **kwargs: Any) -> Any:
    return optimize(str(path), inspect_file(str(path)), str(workdir), **kwargs)


@pytest.mark.parametrize(
    ("data", "nodata"), [(_scan(), None), (_dem(), -9999.0)], ids=["rgb-uint8", "dem-float32"]
)
def test_geotiff_becomes_a_lossless_cog(
    tmp_path: Path, workdir: Path, data: Any, nodata: float | None
) -> None:
    source = tmp_path / "in.tif"
    _write_raster(source, data, nodata=nodata)
    result = _run(source, workdir)

    assert result is not None
    assert (result.kind, result.media_type) == ("cog", COG_MEDIA_TYPE)
    assert result.content_encoding is None
    assert cog_validate(result.path, quiet=True) == (True, [], [])
    assert result.size == os.path.getsize(result.path) < os.path.getsize(source) * 1.5
    with rasterio.open(source) as src, rasterio.open(result.path) as cog:
        assert numpy.array_equal(src.read(), cog.read())
        assert (cog.crs, cog.transform) == (src.crs, src.transform)
        assert (cog.count, cog.dtypes, cog.nodata) == (src.count, src.dtypes, nodata)
        assert cog.block_shapes[0] == (512, 512)
        levels = cog.overviews(1)
        assert levels and max(cog.width, cog.height) / levels[-1] <= 512  # down to one tile
        assert cog.compression.name == "deflate"


def test_cog_sha256_names_the_stored_bytes(tmp_path: Path, workdir: Path) -> None:
    import hashlib

    source = tmp_path / "in.tif"
    _write_raster(source, _dem(600, 700))
    result = _run(source, workdir)
    assert result is not None
    assert result.sha256 == hashlib.sha256(Path(result.path).read_bytes()).hexdigest()


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_plain_tiff_cog_keeps_plain_media_type(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "plain.tif"
    _write_raster(source, _scan(600, 700), crs=None, transform=None)
    assert inspect_file(str(source)).format == "tiff"
    result = _run(source, workdir)
    assert result is not None
    assert (result.kind, result.media_type) == ("cog", "image/tiff")


def test_already_a_cog_gives_none(tmp_path: Path, workdir: Path) -> None:
    source, cog = tmp_path / "in.tif", tmp_path / "cog.tif"
    _write_raster(source, _scan(700, 800))
    rasterio.shutil.copy(str(source), str(cog), driver="COG", COMPRESS="ZSTD")
    assert _run(cog, workdir) is None
    assert list(workdir.iterdir()) == []


def test_optimizing_its_own_output_gives_none(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "in.tif"
    _write_raster(source, _scan(700, 800))
    first = _run(source, workdir)
    assert first is not None
    assert _run(Path(first.path), tmp_path) is None


def test_jpeg_compressed_input_gives_none(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "jpeg.tif"
    _write_raster(source, _scan(600, 700), compress="jpeg", tiled=True)
    assert _run(source, workdir) is None
    assert list(workdir.iterdir()) == []


def test_corrupt_tiff_raises_and_leaves_nothing(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "bad.tif"
    _write_raster(source, _scan(700, 800))
    with open(source, "r+b") as fh:  # tags stay intact, so inspection still accepts it
        fh.seek(os.path.getsize(source) // 2)
        fh.write(numpy.random.default_rng(1).bytes(200_000))
    assert inspect_file(str(source)).format == "geotiff"
    with pytest.raises(OptimizeError) as caught:
        _run(source, workdir)
    assert list(workdir.iterdir()) == []
    # GDAL's own error, not a cleanup tripping over the file GDAL already removed.
    assert "FileNotFoundError" not in str(caught.value)
    assert "IReadBlock failed" in str(caught.value)


def _feature_collection(count: int) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"peak {i}", "elevation": 1000 + i},
            "geometry": {"type": "Point", "coordinates": [7.0 + i / 1000, 46.0 + i / 2000]},
        }
        for i in range(count)
    ]
    return {"type": "FeatureCollection", "features": features}


def test_geojson_becomes_gzip_of_identical_bytes(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "peaks.geojson"
    source.write_text(json.dumps(_feature_collection(3000)), encoding="utf-8")
    result = _run(source, workdir)

    assert result is not None
    assert (result.kind, result.content_encoding) == ("gzip", "gzip")
    assert result.media_type == "application/geo+json"
    assert result.size == os.path.getsize(result.path) < 0.9 * os.path.getsize(source)
    assert gzip.decompress(Path(result.path).read_bytes()) == source.read_bytes()


@pytest.mark.parametrize(
    ("make", "media_type"),
    [
        (samples.make_kml, "application/vnd.google-earth.kml+xml"),
        (samples.make_gpx, "application/gpx+xml"),
    ],
)
def test_xml_vectors_keep_their_media_type(
    tmp_path: Path, workdir: Path, make: Any, media_type: str
) -> None:
    source = tmp_path / "track.xml"
    make(source)
    result = _run(source, workdir)
    assert result is not None
    assert (result.media_type, result.content_encoding) == (media_type, "gzip")
    assert gzip.decompress(Path(result.path).read_bytes()) == source.read_bytes()


def test_tiny_geojson_gives_none(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "empty.geojson"
    source.write_text('{"type":"FeatureCollection","features":[]}', encoding="utf-8")
    assert _run(source, workdir) is None
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("make", [samples.make_png, samples.make_pdf], ids=["png", "pdf"])
def test_other_formats_give_none(tmp_path: Path, workdir: Path, make: Any) -> None:
    source = tmp_path / "file.bin"
    make(source)
    assert _run(source, workdir) is None


@pytest.mark.parametrize("kind", ["geotiff", "geojson"])
def test_deadline_in_the_past_raises(tmp_path: Path, workdir: Path, kind: str) -> None:
    source = tmp_path / "in.bin"
    if kind == "geotiff":
        _write_raster(source, _scan(600, 700))
    else:
        source.write_text(json.dumps(_feature_collection(500)), encoding="utf-8")
    with pytest.raises(OptimizeError, match="deadline"):
        _run(source, workdir, deadline=time.monotonic() - 1)
    assert list(workdir.iterdir()) == []


def test_conversion_that_cannot_finish_in_time_is_not_started(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.pipeline import optimize as module

    source = tmp_path / "in.tif"
    _write_raster(source, _scan(600, 700))  # 1.2 MiB of pixels: estimated at ~20 minutes
    monkeypatch.setattr(module, "COG_SECONDS_PER_GIB", 1e6)
    with pytest.raises(OptimizeError, match="deadline"):
        _run(source, workdir, deadline=time.monotonic() + 60)
    assert list(workdir.iterdir()) == []


def test_conversion_over_the_memory_budget_is_not_started(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.pipeline import optimize as module

    source = tmp_path / "in.tif"
    _write_raster(source, _scan(600, 700))
    monkeypatch.setattr(module, "COG_MEMORY_BUDGET", module.COG_CACHE)  # below cache + fixed
    with pytest.raises(OptimizeError, match="MiB"):
        _run(source, workdir)
    assert list(workdir.iterdir()) == []


def _plan(path: Path) -> Any:
    from chalicelib.pipeline.optimize import _cog_plan

    with rasterio.open(path) as src:
        return _cog_plan(src)


def test_wide_stripped_input_is_retiled_with_a_small_cache(tmp_path: Path) -> None:
    from chalicelib.pipeline.optimize import COG_CACHE

    wide, narrow = tmp_path / "wide.tif", tmp_path / "narrow.tif"
    _write_raster(wide, _scan(300, 3000))
    _write_raster(narrow, _scan(300, 500))  # one strip row is one window: nothing to gain
    plan = _plan(wide)
    assert (plan.retile, plan.cache) == (True, COG_CACHE)
    assert plan.disk > 2 * 300 * 3000 * 3  # the re-tiled copy and the COG
    assert not _plan(narrow).retile


def test_plan_memory_grows_with_block_size_not_raster_size(tmp_path: Path) -> None:
    small, large = tmp_path / "small.tif", tmp_path / "large.tif"
    _write_raster(small, _scan(600, 700), tiled=True, blockxsize=256, blockysize=256)
    _write_raster(large, _scan(2400, 2800), tiled=True, blockxsize=256, blockysize=256)
    assert not _plan(large).retile
    assert _plan(large).memory == _plan(small).memory
    assert _plan(large).seconds > 15 * _plan(small).seconds


def test_one_strip_image_is_over_the_memory_budget(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.pipeline import optimize as module

    source = tmp_path / "one-strip.tif"
    _write_raster(source, _scan(2000, 2000), blockysize=2000)  # a single 12 MB strip
    plan = _plan(source)
    assert plan.cache == 2 * 2000 * 2000 * 3  # two strips must fit, or each is decoded twice
    monkeypatch.setattr(module, "COG_MEMORY_BUDGET", plan.memory - 1)
    with pytest.raises(OptimizeError, match="MiB"):
        _run(source, workdir)
    assert list(workdir.iterdir()) == []


def test_conversion_needing_more_disk_than_is_free_is_not_started(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    from collections import namedtuple

    source = tmp_path / "in.tif"
    _write_raster(source, _scan(600, 700))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 10**5, 10**5))
    with pytest.raises(OptimizeError, match="disk"):
        _run(source, workdir)
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    "layout",
    [{}, {"tiled": True, "blockxsize": 256, "blockysize": 256}, {"interleave": "band"}],
    ids=["strips", "tiles-256", "band-interleaved-strips"],
)
def test_every_layout_converts_losslessly_leaving_only_the_variant(
    tmp_path: Path, workdir: Path, layout: dict[str, Any]
) -> None:
    source = tmp_path / "in.tif"
    data = _scan(700, 1900)
    data[:, :40, :40] = 0
    _write_raster(source, data, nodata=0, **layout)
    result = _run(source, workdir)
    assert result is not None
    assert [p.name for p in workdir.iterdir()] == [Path(result.path).name]
    with rasterio.open(result.path) as cog:
        assert numpy.array_equal(cog.read(), data)
        assert (cog.nodata, cog.block_shapes[0]) == (0, (512, 512))
