"""GET /v1/maps?q= finds words in any script, as prefixes, in title, description and filename;
case-insensitively where the database folds case; words inside Chinese, Japanese and Korean
text (indexed as bigrams); and text without a word matches nothing."""
# ruff: noqa: RUF001 - Cyrillic capitals that look Latin are the point here

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tests.conftest import GEOJSON, body, multipart

MAPS = {
    "zurich": ("Zürich Übersicht", "", "plan.geojson"),
    "moscow": ("МОСКВА центр", "", "moscow.geojson"),
    "tokyo": ("東京、地図", "", "tokyo.geojson"),
    "quoted": ("Town plan", "«Ласточка» and “Straße” maps", "town.geojson"),
    "file": ("Sheet", "", "Übersichtsplan_Köln-Süd.geojson"),
    "ascii": ("Alpine trails", "hiking", "alps_2021.geojson"),
}


# Words run together in Chinese and Japanese, and Korean joins particles and compounds to them.
CJK_MAPS = {
    "osaka": ("大阪地図", "", "osaka.geojson"),
    "beijing": ("北京市交通图", "公交线路", "beijing.geojson"),
    "kyoto": ("きょうとのちず", "京都観光マップ", "kyoto.geojson"),  # kana and kanji
    "seoul": ("서울지도", "", "seoul.geojson"),  # Hangul without spaces
    "busan": ("부산 관광 지도", "", "busan.geojson"),  # and with
    "mixed": ("東京Tokyo map", "2024年版", "kanto_2024.geojson"),
}


def _post_ready_maps(client, users, sql, maps) -> dict[str, str]:
    """The maps given, posted by alice, made ready and public: {name: id}."""
    users.create("alice")
    ids = {}
    for name, (title, description, filename) in maps.items():
        fields = {"visibility": "public", "title": title, "description": description}
        payload, content_type = multipart(fields, (filename, GEOJSON))
        response = client.http.post(
            "/v1/maps",
            headers={**users.headers("alice"), "Content-Type": content_type},
            body=payload,
        )
        assert response.status_code == 201, response.body
        doc = body(response)["map"]
        assert (doc["title"], doc["filename"]) == (title, filename)
        sql.run("UPDATE app.maps SET status = 'ready' WHERE id = :id", id=doc["id"])
        ids[name] = doc["id"]
    return ids


@pytest.fixture
def named(client, users, sql):
    """MAPS, ready and public: {name: id}."""
    return _post_ready_maps(client, users, sql, MAPS)


@pytest.fixture
def cjk_named(client, users, sql):
    """CJK_MAPS, ready and public: {name: id}."""
    return _post_ready_maps(client, users, sql, CJK_MAPS)


def _found(client, named, q: str) -> set[str]:
    response = client.http.get(f"/v1/maps?q={quote(q)}")
    assert response.status_code == 200, response.body
    by_id = {v: k for k, v in named.items()}
    return {by_id[m["id"]] for m in body(response)["items"]}


def _folds(sql) -> bool:
    """Whether this database's locale folds non-ASCII case (the builtin C.UTF-8 one does)."""
    return sql.run("SELECT lower('ÜМ') = 'üм'")[0][0]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("zürich", {"zurich"}),
        ("Zürich", {"zurich"}),
        ("zür", {"zurich"}),  # a prefix
        ("Übersicht", {"zurich", "file"}),  # a title word, and a filename word
        ("Übersicht Zürich", {"zurich"}),  # every word must match
        ("МОСКВА", {"moscow"}),
        ("МОСК", {"moscow"}),
        ("地図", {"tokyo"}),  # CJK words split at the ideographic comma
        ("東京", {"tokyo"}),
        ("Ласточка", {"quoted"}),  # not glued to its guillemets
        ("Straße", {"quoted"}),  # nor to curly quotes
        ("Köln", {"file"}),  # filename words split at _ and -
        ("Süd", {"file"}),
        ("köln-süd.geojson", {"file"}),
        ("alps_2021", {"ascii"}),  # ASCII as before
        ("ALPINE tRaIl", {"ascii"}),
        ("Київ", set()),  # a word in no map
        ("Zürich центр", set()),  # two maps' words, no map's both
    ],
)
def test_words_in_any_script(client, named, q, expected):
    assert _found(client, named, q) == expected


def test_case_folds_beyond_ascii_where_the_database_can(client, named, sql):
    folded = {"zurich", "file"} if _folds(sql) else set()
    assert _found(client, named, "übersicht") == folded
    assert _found(client, named, "ZÜRICH") == ({"zurich"} if _folds(sql) else set())
    assert _found(client, named, "москва") == ({"moscow"} if _folds(sql) else set())


@pytest.mark.parametrize("q", ["!!!", "«»", "、。", "-_-", "'\"", "\u00a0.\u2014"])
def test_text_without_a_word_matches_no_map(client, named, q):
    assert _found(client, named, q) == set()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("大阪", {"osaka"}),  # the run's start, as before
        ("地図", {"osaka"}),  # a word inside the run
        ("阪地", {"osaka"}),  # any two adjacent characters
        ("大阪地図", {"osaka"}),  # the whole run: all its bigrams
        ("大阪 地図", {"osaka"}),
        ("図大", set()),  # characters of the title, not adjacent
        ("大阪地図大阪", set()),  # longer than the title
        ("交通", {"beijing"}),
        ("交通图", {"beijing"}),
        ("线路", {"beijing"}),  # in the description
        ("北京 线路", {"beijing"}),
        ("ちず", {"kyoto"}),  # hiragana
        ("とのち", {"kyoto"}),
        ("観光", {"kyoto"}),  # kanji
        ("マップ", {"kyoto"}),  # katakana
        ("観光マップ", {"kyoto"}),  # across scripts, one run
        ("지도", {"seoul", "busan"}),
        ("울지", {"seoul"}),
        ("서울 지도", {"seoul"}),
        ("관광", {"busan"}),
        ("부산 지도", {"busan"}),
        ("관광지도", set()),  # busan's words, but a space between them
        ("Tokyo", {"mixed"}),  # the Latin word set apart from the kanji before it
        ("tok", {"mixed"}),  # still a prefix
        ("東京", {"mixed"}),
        ("東京tokyo", {"mixed"}),
        ("東京 map 2024", {"mixed"}),
        ("年版", {"mixed"}),  # set apart from the digits before it
        ("Tokyo 大阪", set()),
        ("ソウル", set()),  # a word in no map
    ],
)
def test_words_inside_cjk_text(client, cjk_named, q, expected):
    assert _found(client, cjk_named, q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("大", {"osaka"}),  # first
        ("阪", {"osaka"}),  # inside
        ("図", {"osaka"}),  # last
        ("京", {"kyoto", "beijing", "mixed"}),  # first, inside, last of a run
        ("ず", {"kyoto"}),
        ("프", set()),
        ("도", {"seoul", "busan"}),
        ("年", {"mixed"}),
        ("版", {"mixed"}),
    ],
)
def test_one_cjk_character_finds_it_anywhere(client, cjk_named, q, expected):
    assert _found(client, cjk_named, q) == expected


@pytest.mark.parametrize("q", ["", " ", "%20%20"])
def test_blank_q_is_no_filter(client, named, q):
    response = client.http.get(f"/v1/maps?q={q}")
    assert response.status_code == 200
    assert len(body(response)["items"]) == len(MAPS)


@contextmanager
def _database_before(stack, tmp_path: Path, version: str) -> Iterator:
    """A new database migrated up to (not including) `version`, without sql/functions."""
    from chalicelib import db
    from chalicelib.migrate import SQL_DIR, migrate

    old = tmp_path / "sql"
    (old / "functions").mkdir(parents=True)
    (old / "migrations").mkdir()
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        if path.name < version:
            shutil.copy(path, old / "migrations" / path.name)
    admin = db.connect(stack["ADMIN_DATABASE_URL"])
    name = f"mapstock_m{version}_{uuid.uuid4().hex[:8]}"
    admin.run(f'CREATE DATABASE "{name}"')
    parts = urlsplit(stack["ADMIN_DATABASE_URL"])
    conn = db.connect(urlunsplit(parts._replace(path=f"/{name}")))
    try:
        migrate(conn, old)
        yield conn
    finally:
        conn.close()
        admin.run(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def _insert_map(conn, title: str, filename: str) -> None:
    """One ready map of a new user, written as the old schema writes it."""
    owner = conn.run(
        "INSERT INTO app.users (username, password_hash) VALUES ('m', 'x') RETURNING id"
    )[0][0]
    # Triggers of the old schema may call functions from sql/functions, which is not loaded
    # here (today's needs the newest migrations): they are off for this one write.
    conn.run("ALTER TABLE app.maps DISABLE TRIGGER USER")
    conn.run(
        "INSERT INTO app.maps (id, owner_id, title, filename, status, declared_size, "
        "object_key) VALUES (:id, :owner, :title, :filename, 'ready', 1, 'k')",
        id=uuid.uuid4(),
        owner=owner,
        title=title,
        filename=filename,
    )
    conn.run("ALTER TABLE app.maps ENABLE TRIGGER USER")


def _lexemes(conn) -> set[str]:
    return set(
        conn.run("SELECT array_agg(w) FROM app.maps, unnest(tsvector_to_array(search)) w")[0][0]
    )


def _later_migrations(version: str) -> list[str]:
    from chalicelib.migrate import SQL_DIR

    return sorted(p.name for p in (SQL_DIR / "migrations").glob("*.sql") if p.name >= version)


def test_migration_013_reindexes_existing_maps(stack, tmp_path):
    """A database at migration 012 keeps its maps; 013 recomputes their search column: the
    title is split at punctuation as q is (the old column kept 'sheet_2021.pdf' whole), and
    the filename's accented words are whole words (the C locale's regex cut them up)."""
    from chalicelib.migrate import migrate

    with _database_before(stack, tmp_path, "013") as conn:
        _insert_map(conn, "sheet_2021.pdf", "Köln_Süd.tif")
        assert "sheet_2021.pdf" in _lexemes(conn)
        assert migrate(conn) == _later_migrations("013")
        assert {w.lower() for w in _lexemes(conn)} == {"sheet", "2021", "pdf", "köln", "süd", "tif"}
        assert conn.run("SELECT count(*) FROM app.maps WHERE search @@ app.tsquery_of('KÖL')")[0][
            0
        ] == (1 if conn.run("SELECT lower('Ö') = 'ö'")[0][0] else 0)


def test_migration_015_reindexes_existing_maps(stack, tmp_path):
    """A database at the migration before 015 keeps its maps; 015 recomputes their search
    column: a CJK run (one word before) is its bigrams and first and last characters, set
    apart from the Latin letters touching it, so a word inside it is found."""
    from chalicelib.migrate import migrate

    with _database_before(stack, tmp_path, "015") as conn:
        _insert_map(conn, "大阪地図", "osaka東京.tif")
        assert _lexemes(conn) == {"大阪地図", "osaka東京", "tif"}
        assert migrate(conn) == _later_migrations("015")
        assert _lexemes(conn) == {
            "大", "大阪", "阪地", "地図", "図", "osaka", "東", "東京", "京", "tif"
        }  # fmt: skip
        found = "SELECT count(*) FROM app.maps WHERE search @@ app.tsquery_of(:q)"
        assert [conn.run(found, q=q)[0][0] for q in ("地図", "京", "Osaka 東京", "図大")] == [
            1, 1, 1, 0
        ]  # fmt: skip
