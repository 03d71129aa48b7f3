"""GET /v1/maps?q= finds words in any script, as prefixes, in title, description and filename;
case-insensitively where the database folds case; and text without a word matches nothing."""
# ruff: noqa: RUF001 - Cyrillic capitals that look Latin are the point here

from __future__ import annotations

from urllib.parse import quote

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


@pytest.fixture
def named(client, users, sql):
    """The maps above, ready and public: {name: id}."""
    users.create("alice")
    ids = {}
    for name, (title, description, filename) in MAPS.items():
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


@pytest.mark.parametrize("q", ["", " ", "%20%20"])
def test_blank_q_is_no_filter(client, named, q):
    response = client.http.get(f"/v1/maps?q={q}")
    assert response.status_code == 200
    assert len(body(response)["items"]) == len(MAPS)


def test_migration_013_reindexes_existing_maps(stack, tmp_path):
    """A database at migration 012 keeps its maps; 013 recomputes their search column: the
    title is split at punctuation as q is (the old column kept 'sheet_2021.pdf' whole), and
    the filename's accented words are whole words (the C locale's regex cut them up)."""
    import shutil
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    from chalicelib import db
    from chalicelib.migrate import SQL_DIR, migrate

    old = tmp_path / "sql"
    (old / "functions").mkdir(parents=True)
    (old / "migrations").mkdir()
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        if path.name < "013":
            shutil.copy(path, old / "migrations" / path.name)
    admin = db.connect(stack["ADMIN_DATABASE_URL"])
    name = f"mapstock_m013_{uuid.uuid4().hex[:8]}"
    admin.run(f'CREATE DATABASE "{name}"')
    parts = urlsplit(stack["ADMIN_DATABASE_URL"])
    conn = db.connect(urlunsplit(parts._replace(path=f"/{name}")))
    try:
        migrate(conn, old)
        owner = conn.run(
            "INSERT INTO app.users (username, password_hash) VALUES ('m', 'x') RETURNING id"
        )[0][0]
        map_id = uuid.uuid4()
        conn.run(
            "INSERT INTO app.maps (id, owner_id, title, filename, status, declared_size, "
            "object_key) VALUES (:id, :owner, 'sheet_2021.pdf', 'Köln_Süd.tif', 'ready', 1, 'k')",
            id=map_id,
            owner=owner,
        )
        before = conn.run("SELECT search::text FROM app.maps")[0][0]
        assert "'sheet_2021.pdf'" in before
        assert migrate(conn)[0] == "013_search_any_script.sql"
        after = conn.run("SELECT search::text FROM app.maps")[0][0]
        words = {w.split("':")[0].strip("'").lower() for w in after.split()}
        assert words == {"sheet", "2021", "pdf", "köln", "süd", "tif"}
        assert conn.run("SELECT count(*) FROM app.maps WHERE search @@ app.tsquery_of('KÖL')")[0][
            0
        ] == (1 if conn.run("SELECT lower('Ö') = 'ö'")[0][0] else 0)
    finally:
        conn.close()
        admin.run(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()
