"""TIFFs claiming more pixels than their bytes hold are rejected; GDAL's own files are not.

The hostile files are built byte by byte (tests/hostile_tiffs.py); the legitimate ones are
written by GDAL (rasterio's wheel), blank or mostly nodata: the highest ratios real files reach.
"""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import rasterio
import tifffile
from affine import Affine

from chalicelib.formats import tiff
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from chalicelib.pipeline.optimize import optimize
from tests.gdal_writers import copy_raster, pattern, write_raster
from tests.hostile_tiffs import shared_tile_bomb, short_strip_tiff, write

UTM = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_300_000.0)


def _rejected(path: Path) -> Rejected:
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    return caught.value


def test_the_reviews_shared_tile_bomb_is_too_large(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb_shared.tif", shared_tile_bomb())
    assert 60_000 < path.stat().st_size < 64_000  # the review's file: 45000 px in 62 KB
    rejected = _rejected(path)
    assert (rejected.code, rejected.message) == (
        "too_large",
        "Image decodes to far more pixels than its size can hold",
    )


def test_a_few_tiles_sharing_one_blob_is_too_large_at_any_size(tmp_path: Path) -> None:
    # 16 tiles, one 277-byte blob: each tile alone would be an honest 946:1.
    assert _rejected(write(tmp_path / "s.tif", shared_tile_bomb(side=2048))).code == "too_large"


def test_sparse_tiles_do_not_carry_a_bomb_through(tmp_path: Path) -> None:
    # Half the tiles sparse, the other half still sharing one blob: the data tiles are judged.
    path = write(tmp_path / "half.tif", shared_tile_bomb(sparse=0.5))
    assert _rejected(path).code == "too_large"


def test_an_all_sparse_raster_is_accepted_as_the_blank_image_it_is(tmp_path: Path) -> None:
    path = write(tmp_path / "sparse.tif", shared_tile_bomb(sparse=1.0))
    found = inspect_file(str(path))
    assert (found.format, found.metadata["width"]) == ("tiff", 45000)


def test_a_short_uncompressed_strip_is_truncated(tmp_path: Path) -> None:
    # The review's 100000 x 100000 TIFF with StripByteCounts 10.
    rejected = _rejected(write(tmp_path / "short.tif", short_strip_tiff()))
    assert (rejected.code, rejected.message) == ("malformed", "TIFF image data is truncated")


def test_one_byte_short_of_an_uncompressed_strip_is_truncated(tmp_path: Path) -> None:
    assert _rejected(write(tmp_path / "s.tif", short_strip_tiff(64, 64 * 64 - 1))).code == (
        "malformed"
    )
    found = inspect_file(str(write(tmp_path / "ok.tif", short_strip_tiff(64, 64 * 64))))
    assert found.metadata["width"] == 64


def test_a_short_compressed_strip_is_too_large(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tif", short_strip_tiff(100_000, 10, compression=8))
    assert _rejected(path).code == "too_large"


def test_union_counts_shared_and_overlapping_ranges_once() -> None:
    starts = numpy.array([100, 0, 100, 150, 400], dtype=numpy.uint64)
    ends = numpy.array([200, 50, 200, 300, 410], dtype=numpy.uint64)
    assert tiff._union_bytes(starts, ends) == 50 + 200 + 10


# --- what GDAL writes: blank, sparse and mostly-nodata rasters must pass -----------------------

BLANK_CODECS = {
    "deflate": {"compress": "DEFLATE", "zlevel": 9},
    "deflate-predictor": {"compress": "DEFLATE", "predictor": 2},
    "lzw": {"compress": "LZW"},
    "zstd": {"compress": "ZSTD"},
    "packbits": {"compress": "PACKBITS"},
    "lzma": {"compress": "LZMA"},
    "lerc": {"compress": "LERC"},
    "jpeg": {"compress": "JPEG"},
    "none": {},
}


@pytest.mark.parametrize("layout", ["tiled", "stripped"])
@pytest.mark.parametrize("codec", sorted(BLANK_CODECS))
def test_gdal_blank_rasters_pass_in_every_codec(tmp_path: Path, codec: str, layout: str) -> None:
    bands, dtype = (3, "uint8") if codec == "jpeg" else (1, "float32")
    if codec in ("deflate", "zstd", "none"):
        bands, dtype = 1, "uint8"
    blank = numpy.zeros((bands, 1024, 1024), dtype=dtype)
    tiles = {"tiled": True, "blockxsize": 512, "blockysize": 512} if layout == "tiled" else {}
    path = tmp_path / f"{codec}.tif"
    write_raster(path, blank, "EPSG:32632", UTM, **tiles, **BLANK_CODECS[codec])
    found = inspect_file(str(path))
    assert (found.format, found.metadata["width"]) == ("geotiff", 1024)


def _mostly_nodata(size: int = 2048) -> numpy.ndarray:
    data = numpy.zeros((1, size, size), dtype="uint8")
    data[:, size // 2 : size // 2 + 300, 100:400] = pattern(1, 300, 300)  # one small island
    return data


@pytest.mark.parametrize("sparse", [True, False])
def test_gdal_mostly_nodata_cog_passes(tmp_path: Path, sparse: bool) -> None:
    src = tmp_path / "src.tif"
    write_raster(src, _mostly_nodata(), "EPSG:32632", UTM, nodata=0, tiled=True)
    cog = tmp_path / "cog.tif"
    copy_raster(src, cog, "COG", COMPRESS="DEFLATE", SPARSE_OK="TRUE" if sparse else "FALSE")
    with rasterio.open(cog) as ds:
        overviews = len(ds.overviews(1))
    assert overviews  # a real COG: its overview IFDs are judged with the image
    counts = tifffile.TiffFile(cog).pages.first.databytecounts
    assert (0 in counts) is sparse  # GDAL wrote its blank tiles sparse, or compressed
    found = inspect_file(str(cog))
    assert (found.format, found.metadata["overviews"]) == ("geotiff", overviews)


def test_gdal_sparse_geotiff_with_a_mask_passes(tmp_path: Path) -> None:
    path = tmp_path / "masked.tif"
    data = _mostly_nodata(2048)
    with rasterio.open(
        path, "w", driver="GTiff", width=2048, height=2048, count=1, dtype="uint8",
        crs="EPSG:32632", transform=UTM, tiled=True, compress="DEFLATE", sparse_ok=True,
    ) as dst:  # fmt: skip
        dst.write(data)
        dst.write_mask(data[0] > 0)  # GDAL's internal 1-bit nodata mask, itself mostly sparse
    found = inspect_file(str(path))
    assert found.metadata["mask"] is True


def test_all_sparse_raster_is_not_converted(tmp_path: Path) -> None:
    """A tiny file of sparse tiles cannot give a COG worth storing: skipped before converting."""
    path = write(tmp_path / "sparse.tif", shared_tile_bomb(sparse=1.0))
    found = inspect_file(str(path))
    assert optimize(str(path), found, str(tmp_path)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sparse.tif"]  # nothing written
