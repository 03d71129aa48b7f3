"""The database layer: concurrent migrations, documented functions, one round trip per request."""

from __future__ import annotations

import json
import threading

from tests.conftest import GEOJSON, log_lines, multipart


def test_concurrent_migrations_serialise(stack):
    from chalicelib import db
    from chalicelib.migrate import migrate

    errors, results = [], []

    def run():
        conn = db.connect(stack["ADMIN_DATABASE_URL"])
        try:
            results.append(migrate(conn))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results == [[], [], [], []]


def test_every_api_function_is_documented_and_pins_search_path(sql):
    rows = sql.run(
        "SELECT p.oid::regprocedure::text, obj_description(p.oid, 'pg_proc'), p.prosecdef, "
        "p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'api'"
    )
    assert len(rows) >= 15
    for name, comment, security_definer, config in rows:
        assert comment, name
        assert security_definer, name
        assert config and any(
            c.startswith("search_path=") and c.endswith("pg_temp") for c in config
        ), name
    public = sql.run(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname IN ('api', 'ops', 'app') "
        "AND has_function_privilege('public', p.oid, 'EXECUTE')"
    )[0][0]
    assert public == 0


def test_each_api_request_makes_one_database_round_trip(client, users, capsys):
    users.create("alice")
    alice = users.headers("alice")
    payload, content_type = multipart({}, ("a.geojson", GEOJSON))
    map_id = json.loads(
        client.http.post(
            "/v1/maps", headers={**alice, "Content-Type": content_type}, body=payload
        ).body
    )["map"]["id"]
    json_headers = {**alice, "Content-Type": "application/json"}
    client.http.post(
        "/v1/maps", headers=json_headers, body=json.dumps({"filename": "b", "size": 5})
    )
    client.http.get("/v1/maps", headers=alice)
    client.http.get(f"/v1/maps/{map_id}", headers=alice)
    client.http.patch(f"/v1/maps/{map_id}", headers=json_headers, body=b'{"title": "t"}')
    client.http.get("/v1/me", headers=alice)
    client.http.get("/v1/health")
    client.http.get(f"/v1/maps/{map_id}/download", headers=alice)  # 409 not ready: still one
    client.http.delete(f"/v1/maps/{map_id}", headers=alice)
    requests = log_lines(capsys, "http_request")
    assert len(requests) == 9
    assert {(r["method"], r["db_round_trips"]) for r in requests} == {
        ("POST", 1),
        ("GET", 1),
        ("PATCH", 1),
        ("DELETE", 1),
    }


def test_app_role_may_only_execute_api_functions(stack):
    from pg8000.exceptions import DatabaseError

    from chalicelib import db

    conn = db.connect(stack["DATABASE_URL"])  # what the app connects as
    try:
        assert conn.run("SELECT api.health()")[0][0] is True
        forbidden = [
            "SELECT count(*) FROM app.maps",
            "SELECT count(*) FROM app.users",
            "UPDATE app.users SET role = 'admin'",
            "SELECT ops.list_users()",
            "SELECT app.iso(now())",
            "CREATE TABLE api.sneaky (x int)",
            "CREATE FUNCTION api.sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ]
        for statement in forbidden:
            try:
                conn.run(statement)
            except DatabaseError as exc:
                assert exc.args[0]["C"] == "42501", statement  # insufficient_privilege
            else:
                raise AssertionError(f"the app role could run: {statement}")
        owned = conn.run(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = current_user"
        )[0][0]
        assert owned == 0
    finally:
        conn.close()
