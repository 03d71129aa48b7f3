"""Each map row keeps its contract document (app.maps.doc, migration 014): written by the
row's trigger on every write, rebuilt by migrate when the document's builder changes, and what
GET /v1/maps/{id} and browse answer. (tests/conftest.py's `sql` fixture also checks, after
every test, that no stored document differs from the one its row builds.)"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from chalicelib import db
from chalicelib.migrate import SQL_DIR, migrate
from tests.conftest import GEOJSON, body, multipart

STALE = (
    "SELECT count(*) FROM app.maps m JOIN app.users u ON u.id = m.owner_id"
    " WHERE m.doc::text IS DISTINCT FROM app.map_doc(m, u.username)::text"
)


@pytest.fixture
def scratch(stack: dict[str, str]) -> Iterator[tuple[Any, str]]:
    """A database of its own (connection, URL), dropped after the test."""
    admin = db.connect(stack["ADMIN_DATABASE_URL"])
    name = f"mapstock_docs_{uuid.uuid4().hex[:8]}"
    admin.run(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(stack["ADMIN_DATABASE_URL"])._replace(path=f"/{name}"))
    conn = db.connect(url)
    try:
        yield conn, url
    finally:
        conn.close()
        admin.run(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def _add_map(conn: Any, owner: Any, title: str) -> str:
    map_id = str(uuid.uuid4())
    conn.run(
        "INSERT INTO app.maps (id, owner_id, title, filename, status, visibility, declared_size,"
        " object_key) VALUES (:id, :owner, :title, 'a.geojson', 'ready', 'public', 1, :key)",
        id=map_id,
        owner=owner,
        title=title,
        key=f"maps/{map_id}/original",
    )
    return map_id


def test_migration_014_stores_the_documents_of_existing_maps(scratch, tmp_path):
    """A database at 013 with maps: after migrate every row holds the document its row builds,
    the one the old read built."""
    conn, _ = scratch
    old = tmp_path / "sql"
    shutil.copytree(SQL_DIR / "functions", old / "functions")
    (old / "functions" / "99_stored_documents.sql").unlink()
    (old / "functions" / "30_browse.sql").unlink()  # it needs 015's search functions
    (old / "migrations").mkdir()
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        if path.name < "014":
            shutil.copy(path, old / "migrations" / path.name)
    # The 013 helpers, without what 014 added (they would not load without its table).
    helpers = (old / "functions" / "00_helpers.sql").read_text(encoding="utf-8")
    start = helpers.index("-- Every row keeps its document in app.maps.doc")
    end = helpers.index("CREATE OR REPLACE FUNCTION app.map_doc(")
    (old / "functions" / "00_helpers.sql").write_text(helpers[:start] + helpers[end:])
    migrate(conn, old)
    owner = conn.run(
        "INSERT INTO app.users (username, password_hash) VALUES ('m', 'x') RETURNING id"
    )
    ids = [_add_map(conn, owner[0][0], f"Old map {n}") for n in range(3)]
    before = {
        row[0]: json.loads(row[1])
        for row in conn.run("SELECT m.id::text, app.map_doc_json(m, 'm')::text FROM app.maps m")
    }
    later = sorted(p.name for p in (SQL_DIR / "migrations").glob("*.sql") if p.name >= "014")
    assert migrate(conn) == later  # 014, and whatever came after it
    stored = conn.run("SELECT id::text, doc::text FROM app.maps")
    after = {map_id: json.loads(text) for map_id, text in stored}
    assert after == before and sorted(after) == sorted(ids)
    # The keys in the order the API always gave them, spaced as jsonb prints.
    assert all(text.startswith('{"id": "') for _, text in stored)
    assert [list(doc) for doc in after.values()] == [list(doc) for doc in before.values()]
    assert conn.run(STALE)[0][0] == 0


def test_a_changed_builder_rewrites_every_stored_document(scratch):
    """When app.map_doc_json's source changes, the next migrate rewrites every row's document;
    an unchanged builder rewrites nothing."""
    conn, _ = scratch
    migrate(conn)
    owner = conn.run(
        "INSERT INTO app.users (username, password_hash) VALUES ('m', 'x') RETURNING id"
    )
    for n in range(4):
        _add_map(conn, owner[0][0], f"Map {n}")
    assert conn.run("SELECT app.refresh_map_docs()")[0][0] == 0
    source = conn.run(
        "SELECT pg_get_functiondef('app.map_doc_json(app.maps, text)'::regprocedure)"
    )[0][0]
    conn.run(source.replace("'id', m.id,", "'id', m.id, 'changed', true,", 1))
    assert conn.run("SELECT count(*) FROM app.maps WHERE doc::text LIKE '%changed%'")[0][0] == 0
    assert conn.run("SELECT app.refresh_map_docs()")[0][0] == 4
    docs = [json.loads(row[0]) for row in conn.run("SELECT doc::text FROM app.maps")]
    assert [d["changed"] for d in docs] == [True] * 4
    assert conn.run("SELECT app.refresh_map_docs()")[0][0] == 0
    # An edit that changes no document (here a comment) writes no row.
    source = conn.run(
        "SELECT pg_get_functiondef('app.map_doc_json(app.maps, text)'::regprocedure)"
    )[0][0]
    conn.run(source.replace("'id', m.id,", "'id', m.id, -- a comment\n", 1))
    assert conn.run("SELECT app.refresh_map_docs()")[0][0] == 0
    migrate(conn)  # the builder of the source tree again: the rows follow it back
    assert conn.run("SELECT count(*) FROM app.maps WHERE doc::text LIKE '%changed%'")[0][0] == 0
    assert conn.run(STALE)[0][0] == 0


def test_reads_answer_the_stored_document(client, users, sql):
    """GET /v1/maps/{id} and browse serve the row's document: every write (title, visibility,
    a download) shows at once, and the map reads the same in both."""
    users.create("alice")
    payload, content_type = multipart(
        {"visibility": "public", "title": "First"}, ("a.geojson", GEOJSON)
    )
    headers = users.headers("alice")
    created = client.http.post(
        "/v1/maps", headers={**headers, "Content-Type": content_type}, body=payload
    )
    assert created.status_code == 201, created.body
    map_id = body(created)["map"]["id"]
    sql.run("UPDATE app.maps SET status = 'ready' WHERE id = :id", id=map_id)
    patched = client.http.patch(
        f"/v1/maps/{map_id}",
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps({"title": "Renamed «Karte»", "visibility": "members"}),
    )
    assert patched.status_code == 200, patched.body
    one = client.http.get(f"/v1/maps/{map_id}", headers=headers)
    assert one.status_code == 200
    assert one.headers["Content-Type"] == "application/json"
    doc = body(one)
    assert (doc["title"], doc["visibility"], doc["status"]) == (
        "Renamed «Karte»",
        "members",
        "ready",
    )
    stored = sql.run("SELECT doc::text FROM app.maps WHERE id = :id", id=map_id)[0][0]
    assert json.loads(stored) == doc
    page = body(client.http.get("/v1/maps", headers=headers))
    assert page["items"] == [doc]
    # Not allowed reads exactly as missing, stored document or not.
    assert client.http.get(f"/v1/maps/{map_id}").status_code == 404
