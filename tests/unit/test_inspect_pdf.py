"""PDF inspection: pages, encryption, robustness bounds."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from pyproj import Transformer

from chalicelib.formats import pdf
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from tests import samples


def _code(path: Path) -> str:
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    return caught.value.code


def test_encrypted_with_unknown_user_password_still_reports_pages(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(4):
        writer.add_blank_page(width=100, height=100)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as fh:
        writer.write(fh)
    meta = inspect_file(str(path)).metadata
    assert meta["encrypted"] is True and meta["pages"] == 4


def test_deadline_aborts_slow_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "slow.pdf"
    samples.make_pdf(path)

    def spin(_reader: Any) -> None:
        while True:
            time.sleep(0.001)

    monkeypatch.setattr(pdf, "_read", spin)
    monkeypatch.setattr(pdf, "PDF_TIME_LIMIT_S", 0.05)
    started = time.monotonic()
    assert _code(path) == "too_large"
    assert time.monotonic() - started < 2


def test_size_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.pdf"
    samples.make_pdf(path)
    monkeypatch.setattr(pdf, "PDF_MAX_BYTES", 100)
    assert _code(path) == "too_large"


def test_page_tree_loop_is_malformed_not_a_hang(tmp_path: Path) -> None:
    # /Kids of the page tree points back at itself.
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[2 0 R]/Count 1>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
    path = tmp_path / "loop.pdf"
    path.write_bytes(body)
    assert _code(path) == "malformed"


# --- GeoPDF: hand-written georeferencing (GDAL-written files: tests/unit/test_gdal_written.py) ---

LPTS = [0, 0, 0, 1, 1, 1, 1, 0]
LAT_LON = [46, 7, 47, 7, 47, 8, 46, 8]  # /GPTS: latitude first
WGS84 = {"/Type": "/GEOGCS", "/EPSG": 4326}


def _obj(value: Any) -> Any:
    """A pypdf object for a plain value: dict, list, int, float, "/Name" or text."""
    from pypdf.generic import (
        ArrayObject,
        BooleanObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        NumberObject,
        PdfObject,
        TextStringObject,
    )

    if isinstance(value, PdfObject):
        return value
    if isinstance(value, dict):
        return DictionaryObject({NameObject(k): _obj(v) for k, v in value.items()})
    if isinstance(value, list):
        return ArrayObject(_obj(v) for v in value)
    if isinstance(value, bool):
        return BooleanObject(value)
    if isinstance(value, int):
        return NumberObject(value)
    if isinstance(value, float):
        return FloatObject(value)
    return NameObject(value) if value.startswith("/") else TextStringObject(value)


def _viewport(gpts: Any, gcs: Any = WGS84, subtype: str = "/GEO") -> dict[str, Any]:
    measure = {"/Type": "/Measure", "/Subtype": subtype, "/GPTS": gpts, "/LPTS": LPTS}
    return {"/Type": "/Viewport", "/BBox": [0, 0, 200, 100], "/Measure": {**measure, "/GCS": gcs}}


def _geopdf(tmp_path: Path, build: Any) -> dict[str, Any]:
    """Inspect a one-page PDF whose page dictionary `build(writer)` extends."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=100)
    for key, value in build(writer).items():
        writer.pages[0][NameObject(key)] = _obj(value)
    path = tmp_path / "geo.pdf"
    with open(path, "wb") as fh:
        writer.write(fh)
    meta = inspect_file(str(path)).metadata
    assert meta["georeferenced"] is True
    return meta


def _page(entries: dict[str, Any]) -> Any:
    return lambda _writer: entries


def _ref(writer: Any, value: Any) -> Any:
    return writer._add_object(_obj(value))


def test_iso_viewport_gpts_are_latitude_first(tmp_path: Path) -> None:
    meta = _geopdf(tmp_path, _page({"/VP": [_viewport(LAT_LON)]}))
    assert (meta["crs"], meta["bbox"]) == ("EPSG:4326", [7.0, 46.0, 8.0, 47.0])


def test_iso_viewports_union_ignoring_other_measures(tmp_path: Path) -> None:
    scale_bar = _viewport([0, 0, 90, 180, 0, 180], subtype="/RL")  # a drawing's scale
    east = _viewport([45.5, 9, 46.5, 9, 46.5, 9.5, 45.5, 9.5])
    meta = _geopdf(tmp_path, _page({"/VP": [_viewport(LAT_LON), scale_bar, east]}))
    assert (meta["crs"], meta["bbox"]) == ("EPSG:4326", [7.0, 45.5, 9.5, 47.0])

    etrs89 = _viewport(LAT_LON, {"/Type": "/GEOGCS", "/EPSG": 4258})
    meta = _geopdf(tmp_path, _page({"/VP": [east, etrs89]}))
    assert (meta["crs"], meta["bbox"]) == (None, [7.0, 45.5, 9.5, 47.0])  # CRSs differ


def test_iso_gcs_without_epsg(tmp_path: Path) -> None:
    utm = 'PROJCS["WGS_1984_UTM_Zone_32N",GEOGCS["GCS_WGS_1984"]]'  # ESRI's name is enough
    meta = _geopdf(tmp_path, _page({"/VP": [_viewport(LAT_LON, {"/WKT": utm})]}))
    assert (meta["crs"], meta["bbox"]) == ("EPSG:32632", [7.0, 46.0, 8.0, 47.0])
    # Unidentified: the WKT's name; GPTS are taken as WGS84, as is a missing or junk /GCS.
    local = {"/Type": "/PROJCS", "/WKT": 'PROJCS["Site grid",GEOGCS["unknown"]]'}
    for gcs, crs in [(local, "Site grid"), ({"/EPSG": "4326", "/WKT": 7}, None), (5, None)]:
        meta = _geopdf(tmp_path, _page({"/VP": [_viewport(LAT_LON, gcs)]}))
        assert (meta["crs"], meta["bbox"]) == (crs, [7.0, 46.0, 8.0, 47.0])


HOSTILE_GPTS = {
    "dict": {"/Lat": 46, "/Lon": 7},
    "strings": ["46", "7", "47", "7", "47", "8", "46", "8"],
    "booleans": [True, False] * 4,
    "latitude_out_of_range": [46, 7, 95, 7, 47, 8, 46, 8],
    "longitude_out_of_range": [46, 7, 47, 7, 47, 200, 46, 8],
    "odd_length": LAT_LON[:-1],
    "two_points": LAT_LON[:4],
    "huge_integer": [10**40, 7, 47, 7, 47, 8, 46, 8],  # 60 digits: pypdf rejects the file
    "too_many_numbers": LAT_LON * 1000,
    "null": None,
}


@pytest.mark.parametrize("case", sorted(HOSTILE_GPTS))
def test_iso_junk_gpts_give_no_bbox(tmp_path: Path, case: str) -> None:
    from pypdf.generic import NullObject

    gpts = HOSTILE_GPTS[case]
    meta = _geopdf(tmp_path, _page({"/VP": [_viewport(NullObject() if gpts is None else gpts)]}))
    assert meta["bbox"] is None


def _cycles(writer: Any) -> dict[str, Any]:
    """A /VP that contains itself, a /Measure that is its own viewport, a /GPTS reference that
    names itself and a /GCS chain of two references naming each other."""
    vp = _ref(writer, [])
    vp.get_object().append(vp)
    viewport = _ref(writer, {"/Type": "/Viewport"})
    viewport.get_object()[_obj("/Measure")] = viewport
    vp.get_object().append(viewport)
    selfish = _ref(writer, 0)
    writer._objects[selfish.idnum - 1] = selfish
    first, second = _ref(writer, 0), _ref(writer, 0)
    writer._objects[first.idnum - 1], writer._objects[second.idnum - 1] = second, first
    vp.get_object().append(_obj(_viewport(selfish)))
    vp.get_object().append(_obj(_viewport(LAT_LON, first)))  # valid points, looping /GCS
    return {"/VP": vp}


def test_iso_reference_cycles(tmp_path: Path) -> None:
    meta = _geopdf(tmp_path, _cycles)
    assert (meta["crs"], meta["bbox"]) == (None, [7.0, 46.0, 8.0, 47.0])


@pytest.mark.parametrize(
    "vp",
    [
        {"/Measure": 1},  # not an array
        [5, "/GEO", [1, 2]],  # viewports that are not dictionaries
        [_viewport(LAT_LON)] * (pdf.MAX_GEO_ENTRIES + 1),  # too many: none is read
        [{"/Measure": {"/Subtype": "/GEO", "/GPTS": LAT_LON * 10}}] * 200,
    ],
    ids=["dict", "wrong_types", "too_many", "many_big"],
)
def test_iso_junk_viewport_arrays(tmp_path: Path, vp: Any) -> None:
    meta = _geopdf(tmp_path, _page({"/VP": vp}))
    assert (meta["crs"], meta["bbox"]) == (None, None)


def test_non_finite_numbers_in_memory() -> None:
    """pypdf cannot write NaN or infinity (a file's 400-digit real reads as inf): objects built
    in memory stand in for what a reader could produce."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject

    for bad in (math.nan, math.inf, -math.inf):
        writer = PdfWriter()
        page = writer.add_blank_page(width=200, height=100)
        page[NameObject("/VP")] = _obj([_viewport([bad, *LAT_LON[1:]])])
        assert pdf._georeference(page) == {"crs": "EPSG:4326", "bbox": None}
        page[NameObject("/LGIDict")] = _obj({**LGI_GEOGRAPHIC, "/CTM": [bad, 0, 0, 0.01, 7, 46]})
        assert pdf._georeference(page) == {"crs": "EPSG:4326", "bbox": None}
    overflow = {"/CTM": [1e300, 0, 0, 1e300, 0, 0], "/Neatline": [1e300, 1e300] * 3}
    page[NameObject("/LGIDict")] = _obj({**LGI_GEOGRAPHIC, **overflow})  # products are inf
    assert pdf._georeference(page) == {"crs": "EPSG:4326", "bbox": None}


# GDAL's OGC best-practice shape: page space (0..200 x 0..100) to lon/lat by /CTM, numbers as
# strings; the neatline covers x 0..100, so lon 7..8, lat 46..47.
LGI_GEOGRAPHIC = {
    "/Type": "/LGIDict",
    "/Version": "2.1",
    "/CTM": ["0.01", 0, 0, "0.01", 7, 46],
    "/Neatline": [0, 100, 0, 0, 100, 0, 100, 100],
    "/Projection": {"/Type": "/Projection", "/ProjectionType": "GEOGRAPHIC", "/Datum": "WGE"},
}


def test_lgidict_ctm_and_registration(tmp_path: Path) -> None:
    meta = _geopdf(tmp_path, _page({"/LGIDict": LGI_GEOGRAPHIC}))
    assert (meta["crs"], meta["bbox"]) == ("EPSG:4326", pytest.approx([7, 46, 8, 47]))

    points = [[0, 0, 7, 46], [100, 0, 8, 46], [0, 100, 7, 47]]
    registered = {k: v for k, v in LGI_GEOGRAPHIC.items() if k not in ("/CTM", "/Neatline")}
    registered["/Registration"] = points  # no neatline: the whole page (200 x 100) is mapped
    nad83 = {"/ProjectionType": "GEOGRAPHIC", "/Datum": "NAR-C"}
    second = {**LGI_GEOGRAPHIC, "/Projection": nad83, "/CTM": [0.01, 0, 0, 0.01, 10, 46]}
    meta = _geopdf(tmp_path, _page({"/LGIDict": [registered, second]}))
    assert (meta["crs"], meta["bbox"]) == (None, pytest.approx([7, 46, 11, 47]))


def test_lgidict_utm_without_wkt(tmp_path: Path) -> None:
    utm = {"/ProjectionType": "UT", "/Zone": 32, "/Hemisphere": "N", "/Datum": "WGE"}
    lgi = {**LGI_GEOGRAPHIC, "/Projection": utm, "/CTM": [10, 0, 0, 10, 400000, 5200000]}
    meta = _geopdf(tmp_path, _page({"/LGIDict": lgi}))
    assert meta["crs"] == "EPSG:32632"
    to_wgs84 = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    expected = to_wgs84.transform_bounds(400000, 5200000, 401000, 5201000, densify_pts=21)
    assert meta["bbox"] == pytest.approx(list(expected), abs=1e-7)  # geo.utm_to_lonlat: ~1 cm


HOSTILE_LGIDICT = {
    "ctm_text": {"/CTM": ["a", 0, 0, "0.01", 7, 46]},
    "ctm_length": {"/CTM": [0.01, 0, 0, 0.01, 7]},
    "ctm_huge": {"/CTM": [10**40, 0, 0, 10**40, 0, 0], "/Neatline": [0, 10**40] * 3},
    "neatline_dict": {"/Neatline": {"/X": 0}},
    "neatline_huge": {"/Neatline": [0, 100] * 1000},
    "registration_collinear": {"/CTM": None, "/Registration": [[0, 0, 7, 46], [1, 1, 8, 47]] * 2},
    "registration_junk": {"/CTM": None, "/Registration": [[0, 0, 7], "x", {"/A": 1}]},
    "projection_missing": {"/Projection": None},
    "projection_unknown": {"/Projection": {"/ProjectionType": "LE", "/Datum": "WGE"}},
    "datum_unknown": {"/Projection": {"/ProjectionType": "GEOGRAPHIC", "/Datum": "XYZ"}},
    "geographic_metres": {"/Projection": {**LGI_GEOGRAPHIC["/Projection"], "/Units": "M"}},
    "utm_zone_junk": {"/Projection": {"/ProjectionType": "UT", "/Zone": 61, "/Datum": "WGE"}},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_LGIDICT))
def test_lgidict_junk_gives_no_bbox(tmp_path: Path, case: str) -> None:
    from pypdf.generic import NullObject

    changes = {k: NullObject() if v is None else v for k, v in HOSTILE_LGIDICT[case].items()}
    meta = _geopdf(tmp_path, _page({"/LGIDict": {**LGI_GEOGRAPHIC, **changes}}))
    assert meta["bbox"] is None


def test_lgidict_is_read_when_viewports_are_junk(tmp_path: Path) -> None:
    meta = _geopdf(tmp_path, _page({"/VP": [_viewport({})], "/LGIDict": [LGI_GEOGRAPHIC]}))
    assert (meta["crs"], meta["bbox"]) == ("EPSG:4326", pytest.approx([7, 46, 8, 47]))
