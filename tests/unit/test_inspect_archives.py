"""ZIP vetting (budgets, paths, lying headers), KMZ and zipped Shapefile inspection."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from chalicelib.formats import zipsafe
from chalicelib.formats.geo import crs_from_wkt
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from tests import samples


def _code(path: Path) -> str:
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    return caught.value.code


def test_entry_count_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "many.kmz"
    samples._zip(path, {"doc.kml": samples._SMALL_KML, **{f"f{i}.txt": b"x" for i in range(5)}})
    monkeypatch.setattr(zipsafe, "MAX_ENTRIES", 3)
    assert _code(path) == "zip_bomb"


def test_total_declared_size_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.kmz"
    samples._zip(path, {"doc.kml": samples._SMALL_KML, "a.txt": b"abc" * 100})
    monkeypatch.setattr(zipsafe, "MAX_TOTAL_UNCOMPRESSED", 200)
    assert _code(path) == "zip_bomb"


def test_small_highly_compressible_member_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.kmz"
    samples._zip(path, {"doc.kml": samples._SMALL_KML, "zeros.bin": bytes(512 * 1024)})
    assert inspect_file(str(path)).format == "kmz"


def test_overlapping_members_are_a_bomb(tmp_path: Path) -> None:
    """Three central-directory entries sharing one local member (the overlap trick)."""
    path = tmp_path / "overlap.kmz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("doc.kml", samples._SMALL_KML + b" " * 4000)
    data = path.read_bytes()
    cd_at = data.find(b"PK\x01\x02")
    eocd_at = data.find(b"PK\x05\x06")
    entry = data[cd_at:eocd_at]
    names = [b"doc.kml", b"doc.kmx", b"doc.kmy"]
    directory = b"".join(entry.replace(b"doc.kml", n) for n in names)
    eocd = bytearray(data[eocd_at:])
    struct.pack_into("<HHII", eocd, 8, 3, 3, len(directory), cd_at)
    path.write_bytes(data[:cd_at] + directory + bytes(eocd))
    assert _code(path) == "zip_bomb"


def test_central_directory_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cd.kmz"
    samples._zip(path, {"doc.kml": samples._SMALL_KML})
    monkeypatch.setattr(zipsafe, "MAX_CENTRAL_DIRECTORY", 10)
    assert _code(path) == "zip_bomb"


def test_limited_reader_counts_real_bytes() -> None:
    reader = zipsafe.LimitedReader(io.BytesIO(b"x" * 100), declared=10, budget=1000)
    assert reader.read(10) == b"x" * 10
    with pytest.raises(Rejected) as caught:
        reader.read(10)
    assert caught.value.code == "zip_bomb"
    budget = zipsafe.LimitedReader(io.BytesIO(b"x" * 100), declared=100, budget=50)
    with pytest.raises(Rejected) as caught:
        budget.read()
    assert caught.value.code == "too_large"


def test_kml_inside_kmz_over_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.formats import archives

    path = tmp_path / "k.kmz"
    samples.make_kmz(path)
    monkeypatch.setattr(archives, "XML_MAX_BYTES", 100)
    assert _code(path) == "too_large"


def test_encrypted_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.kmz"
    samples._zip(path, {"doc.kml": samples._SMALL_KML})
    data = bytearray(path.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + flag_at] |= 0x01  # general purpose bit 0: encrypted
    path.write_bytes(bytes(data))
    assert _code(path) == "unsupported_format"


def test_kmz_without_doc_kml_uses_shallowest_kml(tmp_path: Path) -> None:
    path = tmp_path / "other.kmz"
    deep = samples._SMALL_KML.replace(b"1,2", b"50,60")
    samples._zip(path, {"sub/deep.kml": deep, "main.kml": samples._SMALL_KML})
    meta = inspect_file(str(path)).metadata
    assert meta["bbox"] == [1.0, 2.0, 1.0, 2.0]


def test_doc_kml_wins_over_shapefile(tmp_path: Path) -> None:
    path = tmp_path / "mixed.zip"
    members = samples._shapefile_members("roads", "lines", samples.WGS84_PRJ)
    samples._zip(path, {**members, "doc.kml": samples._SMALL_KML})
    assert inspect_file(str(path)).format == "kmz"


def test_shapefile_without_prj_has_native_bbox_only(tmp_path: Path) -> None:
    path = tmp_path / "noprj.zip"
    samples._zip(path, samples._shapefile_members("roads", "lines", None))
    meta = inspect_file(str(path)).metadata
    layer = meta["layers"][0]
    assert meta["crs"] is None and meta["bbox"] is None
    assert layer["native_bbox"] == [10.0, 49.5, 11.2, 51.0] and layer["feature_count"] == 2


def test_shapefile_with_unknown_projection_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "bng.zip"
    wkt = (
        'PROJCS["British_National_Grid",GEOGCS["GCS_OSGB_1936",DATUM["D_OSGB_1936",'
        'SPHEROID["Airy_1830",6377563.396,299.3249646]],PRIMEM["Greenwich",0.0],'
        'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],UNIT["Meter",1.0]]'
    )
    samples._zip(path, samples._shapefile_members("roads", "lines", wkt))
    meta = inspect_file(str(path)).metadata
    assert meta["crs"] == "British_National_Grid" and meta["bbox"] is None


def test_truncated_shp_member_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "cut.zip"
    members = samples._shapefile_members("roads", "lines", None)
    members["roads.shp"] = members["roads.shp"][:-20]
    samples._zip(path, members)
    assert _code(path) == "malformed"


def test_shx_that_is_not_a_shapefile_index(tmp_path: Path) -> None:
    path = tmp_path / "junk.zip"
    members = samples._shapefile_members("roads", "lines", None)
    members["roads.shx"] = b"junk" * 40
    samples._zip(path, members)
    assert _code(path) == "malformed"


BNG_ESRI = (
    'PROJCS["British_National_Grid",GEOGCS["GCS_OSGB_1936",DATUM["D_OSGB_1936",'
    'SPHEROID["Airy_1830",6377563.396,299.3249646]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",400000.0],PARAMETER["False_Northing",-100000.0],'
    'PARAMETER["Central_Meridian",-2.0],PARAMETER["Scale_Factor",0.9996012717],'
    'PARAMETER["Latitude_Of_Origin",49.0],UNIT["Meter",1.0]]'
)
LAMBERT93_ESRI = (
    'PROJCS["RGF_1993_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",'
    'SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],'
    'PARAMETER["False_Easting",700000.0],PARAMETER["False_Northing",6600000.0],'
    'PARAMETER["Central_Meridian",3.0],PARAMETER["Standard_Parallel_1",49.0],'
    'PARAMETER["Standard_Parallel_2",44.0],PARAMETER["Latitude_Of_Origin",46.5],'
    'UNIT["Meter",1.0]]'
)


@pytest.mark.parametrize(
    ("wkt", "crs", "epsg", "geographic"),
    [
        (samples.WGS84_PRJ, "EPSG:4326", 4326, True),
        (samples.MERCATOR_PRJ, "EPSG:3857", 3857, False),
        ('PROJCS["WGS_1984_UTM_Zone_33N",GEOGCS["GCS_WGS_1984"]]', "EPSG:32633", 32633, False),
        (
            'PROJCS["WGS 84 / UTM zone 56S",GEOGCS["WGS 84"],AUTHORITY["EPSG","32756"]]',
            "EPSG:32756",
            32756,
            False,
        ),
        (
            'GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983"]]',
            "GCS_North_American_1983",
            None,
            True,
        ),
        ("garbage", None, None, False),
        # ESRI .prj files (as ArcGIS and GDAL write them) carry no code: PROJ identifies them.
        (BNG_ESRI, "EPSG:27700", 27700, False),
        (LAMBERT93_ESRI, "EPSG:2154", 2154, False),
        # A made-up grid PROJ knows no code for, and an over-long text: the name, no code.
        (
            BNG_ESRI.replace("British_National_Grid", "My_Grid").replace("-2.0", "-2.5"),
            "My_Grid",
            None,
            False,
        ),
        (BNG_ESRI.replace("]]", "]]" + " " * 20_000, 1), "British_National_Grid", None, False),
    ],
)
def test_crs_from_wkt(wkt: str, crs: str | None, epsg: int | None, geographic: bool) -> None:
    assert crs_from_wkt(wkt) == (crs, epsg, geographic)


def test_macos_appledouble_twins_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "mac.zip"
    members = samples._shapefile_members("roads", "lines", samples.WGS84_PRJ)
    junk = {f"__MACOSX/._{name}": b"\x00\x05\x16\x07" + bytes(60) for name in members}
    samples._zip(path, {**members, **junk, "._roads.shp": b"\x00\x05\x16\x07"})
    meta = inspect_file(str(path)).metadata
    assert [layer["name"] for layer in meta["layers"]] == ["roads"]
