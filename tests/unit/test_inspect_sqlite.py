"""GeoPackage / MBTiles: fixed queries on a read-only, budgeted connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chalicelib.formats import sqlite_db, sqlite_formats
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from tests import samples


def _code(path: Path) -> str:
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    return caught.value.code


def _run(path: Path, *sql: str) -> None:
    with sqlite3.connect(path) as conn:
        for statement in sql:
            conn.execute(statement)
    conn.close()


def test_inspection_does_not_modify_the_file(tmp_path: Path) -> None:
    path = tmp_path / "d.gpkg"
    samples.make_gpkg(path)
    before = path.read_bytes()
    inspect_file(str(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.gpkg"]  # no -wal / -journal


def test_gpkg_ogr_contents_count_is_used(tmp_path: Path) -> None:
    path = tmp_path / "o.gpkg"
    samples.make_gpkg(path)
    _run(
        path,
        "CREATE TABLE gpkg_ogr_contents (table_name TEXT PRIMARY KEY, feature_count INTEGER)",
        "INSERT INTO gpkg_ogr_contents VALUES ('poi', 1234)",
    )
    meta = inspect_file(str(path)).metadata
    assert meta["layers"][0]["feature_count"] == 1234


def test_gpkg_identified_by_contents_table_only(tmp_path: Path) -> None:
    path = tmp_path / "noappid.gpkg"
    samples.make_gpkg(path)
    _run(path, "PRAGMA application_id = 0")
    assert inspect_file(str(path)).format == "gpkg"


def test_gpkg_application_id_without_contents_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "empty.gpkg"
    _run(path, "PRAGMA application_id = 1196444487", "CREATE TABLE x (a)")
    assert _code(path) == "malformed"


def test_gpkg_contents_with_wrong_columns_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "cols.gpkg"
    _run(path, "CREATE TABLE gpkg_contents (name TEXT)")
    assert _code(path) == "malformed"


def test_hostile_view_hits_the_work_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "loop.gpkg"
    _run(
        path,
        "CREATE VIEW gpkg_contents AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
        "SELECT x + 1 FROM c) SELECT 'a' AS table_name, 'features' AS data_type, "
        "0 AS srs_id, 0 AS min_x, 0 AS min_y, 0 AS max_x, 0 AS max_y FROM c WHERE x < 0",
    )
    monkeypatch.setattr(sqlite_db, "MAX_VM_STEPS", 200)
    assert _code(path) == "too_large"


def test_expensive_optional_count_becomes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.mbtiles"
    samples.make_mbtiles_vector(path)
    _run(
        path,
        "DROP TABLE tiles",
        "CREATE VIEW tiles AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "LIMIT 10000000) SELECT 1 AS zoom_level, 0 AS tile_column, 0 AS tile_row, "
        "x'1f8b' AS tile_data FROM c",
    )
    monkeypatch.setattr(sqlite_db, "COUNT_VM_STEPS", 50)
    meta = inspect_file(str(path)).metadata
    assert meta["tile_count"] is None and meta["minzoom"] is None
    assert meta["tile_format"] == "pbf"  # LIMIT 1 stays cheap


def test_oversized_metadata_value_is_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v.mbtiles"
    samples.make_mbtiles(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO metadata VALUES ('description', ?)", ("x" * 5000,))
    conn.close()
    monkeypatch.setattr(sqlite_formats, "MAX_VALUE_BYTES", 1000)
    assert _code(path) == "too_large"


def test_mbtiles_junk_metadata_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "j.mbtiles"
    samples._mbtiles(path, {"bounds": "a,b,c", "minzoom": "x", "json": "{not json"}, [])
    meta = inspect_file(str(path)).metadata
    assert (meta["bbox"], meta["minzoom"], meta["layers"], meta["tile_count"]) == (
        None,
        None,
        [],
        0,
    )


def test_corrupt_page_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "c.gpkg"
    samples.make_gpkg(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : 2 * page] = b"\xa5" * page  # the sqlite_master page's child
    data[100:200] = b"\xa5" * 100  # and the schema root itself
    path.write_bytes(bytes(data))
    assert _code(path) == "malformed"


def test_path_with_uri_characters(tmp_path: Path) -> None:
    path = tmp_path / "a?b#c%20d.gpkg"
    samples.make_gpkg(path)
    assert inspect_file(str(path)).format == "gpkg"
