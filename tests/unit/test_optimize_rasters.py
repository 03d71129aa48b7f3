"""COG variants of the raster kinds beyond plain RGB/DEM: alpha, masks, palettes, GCPs, BigTIFF."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy
import pytest
import rasterio
import tifffile
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.enums import ColorInterp, MaskFlags

from chalicelib.formats.inspect import inspect_file
from chalicelib.pipeline.optimize import COG_MEDIA_TYPE, OptimizeError, _check_same_raster
from tests.unit.test_optimize import _run, _scan, _write_raster

RGBA = (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha)
# Class values whose averages are none of them: a blending resampler would show up.
CLASSES = numpy.array([3, 50, 201, 254], numpy.uint8)
COLORMAP = {i: (i, 255 - i, (i * 7) % 256, 255) for i in range(256)}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


def _transparent_corner(height: int = 600, width: int = 700) -> Any:
    """A mask / alpha band: 255 where the map is, 0 in a cut-off corner and a strip."""
    alpha = numpy.full((height, width), 255, numpy.uint8)
    alpha[: height // 3, : width // 4] = 0
    alpha[:, width - 30 :] = 0
    return alpha


def _write_rgba(path: Path, alpha: str = "YES", **profile: Any) -> None:
    """RGB + unassociated alpha (ExtraSamples = 2), as GDAL writes with ALPHA=YES."""
    data = numpy.concatenate([_scan(600, 700), _transparent_corner()[None]])
    _write_raster(path, data, photometric="RGB", alpha=alpha, **profile)


def _write_masked(path: Path, with_mask: bool = True, **profile: Any) -> None:
    """RGB with GDAL's internal per-dataset mask (a NewSubfileType 4 image)."""
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        _write_raster(path, _scan(600, 700), photometric="RGB", **profile)
        if with_mask:
            with rasterio.open(path, "r+") as dst:
                dst.write_mask(_transparent_corner())


def _classes(height: int = 1100, width: int = 1300) -> Any:
    """One band of land-cover-like class patches (97 x 89 px cells)."""
    y, x = numpy.mgrid[0:height, 0:width]
    cells = (x // 97) * 7 + (y // 89) * 3
    return CLASSES[cells % len(CLASSES)][None]


def _write_palette(path: Path, colormap: dict[int, tuple[int, ...]] | None = COLORMAP) -> None:
    _write_raster(path, _classes(), photometric="palette" if colormap else "minisblack")
    if colormap:
        with rasterio.open(path, "r+") as dst:
            dst.write_colormap(1, colormap)


GCPS = [
    GroundControlPoint(row=row, col=col, x=630000.0 + 10 * col + row, y=4833000.0 + col - 10 * row)
    for col, row in [(0, 0), (700, 0), (0, 600), (700, 600), (350, 300)]
]


def _write_gcps(path: Path, gcps: list[GroundControlPoint] = GCPS) -> None:
    """A scan georeferenced by five GCPs in UTM 17N, no geotransform."""
    _write_raster(path, _scan(600, 700), crs="EPSG:32617", transform=None, gcps=gcps)


@pytest.mark.parametrize("tiled", [False, True], ids=["striped", "tiled"])
def test_rgba_cog_keeps_the_alpha_band(tmp_path: Path, workdir: Path, tiled: bool) -> None:
    source = tmp_path / "rgba.tif"
    _write_rgba(source, tiled=tiled)
    meta = inspect_file(str(source)).metadata
    assert (meta["bands"], meta["photometric"]) == (4, "rgb")
    assert (meta["alpha"], meta["mask"]) == (True, False)

    result = _run(source, workdir)

    assert result is not None
    cog_meta = inspect_file(result.path).metadata
    assert (cog_meta["bands"], cog_meta["alpha"], cog_meta["mask"]) == (4, True, False)
    with rasterio.open(source) as src, rasterio.open(result.path) as cog:
        assert cog.colorinterp == src.colorinterp == RGBA
        assert cog.mask_flag_enums == src.mask_flag_enums
        assert cog.mask_flag_enums[0] == [MaskFlags.per_dataset, MaskFlags.alpha]
        assert numpy.array_equal(cog.read(), src.read())
        assert numpy.array_equal(cog.read_masks(1), src.read_masks(1))
        assert int((cog.read_masks(1) == 0).sum()) == 200 * 175 + 600 * 30


@pytest.mark.parametrize("tiled", [False, True], ids=["striped", "tiled"])
def test_internal_mask_is_kept_and_never_counted_as_an_overview(
    tmp_path: Path, workdir: Path, tiled: bool
) -> None:
    source = tmp_path / "masked.tif"
    _write_masked(source, tiled=tiled)
    meta = inspect_file(str(source)).metadata
    assert (meta["bands"], meta["alpha"], meta["mask"], meta["overviews"]) == (3, False, True, 0)

    result = _run(source, workdir)

    assert result is not None
    with tifffile.TiffFile(result.path) as tif:  # image, its mask, overview, overview's mask
        assert [page.subfiletype for page in tif.pages] == [0, 4, 1, 5]
    cog_meta = inspect_file(result.path).metadata
    assert (cog_meta["bands"], cog_meta["mask"], cog_meta["overviews"]) == (3, True, 1)
    with rasterio.open(source) as src, rasterio.open(result.path) as cog:
        assert cog.colorinterp == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        assert cog.mask_flag_enums == ([MaskFlags.per_dataset],) * 3
        assert numpy.array_equal(cog.read(), src.read())
        assert numpy.array_equal(cog.read_masks(), src.read_masks())
        assert int((cog.read_masks(1) == 0).sum()) == 200 * 175 + 600 * 30


def test_palette_cog_keeps_the_colormap_unblended(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "classes.tif"
    _write_palette(source)
    meta = inspect_file(str(source)).metadata
    assert (meta["bands"], meta["dtype"], meta["photometric"]) == (1, "uint8", "palette")

    result = _run(source, workdir)

    assert result is not None
    assert inspect_file(result.path).metadata["photometric"] == "palette"
    with tifffile.TiffFile(result.path) as tif:
        assert [int(page.predictor) for page in tif.pages] == [1, 1, 1]  # none, in every IFD
    with rasterio.open(source) as src, rasterio.open(result.path) as cog:
        assert cog.colorinterp == (ColorInterp.palette,)
        assert cog.colormap(1) == src.colormap(1) == COLORMAP
        assert numpy.array_equal(cog.read(), src.read())
        levels = cog.overviews(1)
    assert levels == [2, 4]
    for level in range(len(levels)):
        with rasterio.open(result.path, overview_level=level) as overview:
            values = numpy.unique(overview.read(1))
        assert values.tolist() == CLASSES.tolist()  # nearest: only classes, and all of them


def test_gcp_only_cog_keeps_gcps_and_their_crs(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "scan.tif"
    _write_gcps(source)
    meta = inspect_file(str(source)).metadata
    assert (meta["georeferencing"], meta["gcp_count"], meta["crs"]) == ("gcps", 5, "EPSG:32617")
    assert meta["bbox"] is not None

    result = _run(source, workdir)

    assert result is not None
    assert result.media_type == COG_MEDIA_TYPE
    with rasterio.open(source) as src, rasterio.open(result.path) as cog:
        gcps, crs = cog.gcps
        assert (cog.crs, crs.to_epsg()) == (None, 32617)
        assert cog.transform.is_identity
        assert numpy.array_equal(cog.read(), src.read())
    assert [(g.col, g.row, g.x, g.y) for g in gcps] == [(g.col, g.row, g.x, g.y) for g in GCPS]
    cog_meta = inspect_file(result.path).metadata
    assert (cog_meta["georeferencing"], cog_meta["gcp_count"]) == ("gcps", 5)
    assert cog_meta["bbox"] == pytest.approx(meta["bbox"], abs=1e-12)


@pytest.mark.parametrize(
    ("write", "lost", "differs"),
    [
        (_write_masked, {"with_mask": False}, "masks"),
        (_write_rgba, {"alpha": "NO"}, "colorinterp, masks"),
        (_write_palette, {"colormap": {i: (i, i, i, 255) for i in range(256)}}, "colormaps"),
        (_write_palette, {"colormap": None}, "colorinterp, colormaps"),
        (_write_gcps, {"gcps": GCPS[:4]}, "gcps"),
    ],
    ids=["mask-dropped", "alpha-undefined", "colormap-changed", "colormap-dropped", "gcp-dropped"],
)
def test_check_refuses_a_variant_that_lost_what_the_input_has(
    tmp_path: Path, write: Any, lost: dict[str, Any], differs: str
) -> None:
    source, same, other = tmp_path / "in.tif", tmp_path / "same.tif", tmp_path / "other.tif"
    write(source)
    write(same)
    write(other, **lost)
    with rasterio.open(source) as src:
        _check_same_raster(src, str(same))  # the control: an identical file passes
        with pytest.raises(OptimizeError) as caught:
            _check_same_raster(src, str(other))
    assert str(caught.value) == f"COG differs from its input in {differs}"


def test_cog_whose_pixels_exceed_4_gib_is_a_bigtiff(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IF_SAFER: a compressed COG of > 4 GiB of pixels may pass 4 GiB, so it must be a BigTIFF
    even when (as here) it turns out small; IF_NEEDED would write a classic TIFF. Costs ~5 s and
    ~10 MiB of disk; optimize()'s worst-case disk estimate (~5.4 GiB, tested elsewhere) is
    answered with a large free figure so that a small CI disk does not refuse it."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(2**50, 0, 2**50))
    source = tmp_path / "huge.tif"
    side = 23_200  # 23200^2 8-byte pixels = 4.01 GiB; few pixels for their bytes keeps GDAL quick
    profile = {"driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "uint64"}
    profile.update(crs="EPSG:32632", transform=Affine(1.0, 0.0, 500_000.0, 0.0, -1.0, 5_300_000.0))
    # Sparse: no tile is written, readers see zeros, the file holds only its tags.
    with rasterio.open(source, "w", **profile, tiled=True, compress="deflate", sparse_ok=True):
        pass
    # A file hole stands in for the bytes a real 4 GiB upload would have (no disk used), so the
    # few-MiB COG of zeros is not skipped as growing past its input.
    os.truncate(source, 2**30)
    meta = inspect_file(str(source)).metadata
    assert (meta["width"], meta["dtype"], meta["bigtiff"]) == (side, "uint64", False)

    result = _run(source, workdir, deadline=None)

    assert result is not None
    with open(result.path, "rb") as fh:
        assert fh.read(4) in (b"II+\x00", b"MM\x00+")
    cog_meta = inspect_file(result.path).metadata
    assert (cog_meta["bigtiff"], cog_meta["width"], cog_meta["height"]) == (True, side, side)
    assert cog_meta["overviews"] == 6  # 23200 px down to 363 px
