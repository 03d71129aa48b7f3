"""The database layer: concurrent migrations, documented functions, one round trip per request,
and least privilege: the API's role executes only what routes call, the pipeline's only what
the event handlers call."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from tests.conftest import GEOJSON, ROOT, body, log_lines, multipart

CHALICELIB = ROOT / "chalicelib"
# The code each role's credentials serve: the API function's routes, and the event handlers.
ROUTE_CODE = [*(CHALICELIB / "web").rglob("*.py")]
PIPELINE_CODE = [*(CHALICELIB / "handlers").rglob("*.py"), *(CHALICELIB / "pipeline").rglob("*.py")]
_CALLED = re.compile(r"[\"'](api|pipeline|ops)\.([a-z_][a-z0-9_]*)[\"']")


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


def test_every_function_is_documented_and_definers_pin_search_path(sql):
    rows = sql.run(
        "SELECT p.oid::regprocedure::text, n.nspname, obj_description(p.oid, 'pg_proc'), "
        "p.prosecdef, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname IN ('app', 'api', 'pipeline', 'ops')"
    )
    schemas = [r[1] for r in rows]
    assert schemas.count("api") >= 10 and schemas.count("pipeline") >= 10
    for name, schema, comment, security_definer, config in rows:
        assert comment, name
        # What the app's roles call runs as its owner (app.* helpers only through those; ops.*
        # is run by the owner itself).
        assert security_definer or schema in ("app", "ops"), name
        if security_definer:
            assert config and any(
                c.startswith("search_path=") and c.endswith("pg_temp") for c in config
            ), name
    public = sql.run(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname IN ('api', 'pipeline', 'ops', 'app') "
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


def _called(paths: list[Path]) -> set[str]:
    """The stored functions these modules name ("schema.function" strings)."""
    return {".".join(m) for path in paths for m in _CALLED.findall(path.read_text())}


def _executable(conn, role: str) -> set[str]:
    """Every non-system function `role` can call: EXECUTE on it and USAGE on its schema."""
    rows = conn.run(
        "SELECT n.nspname || '.' || p.proname FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' "
        "AND has_schema_privilege(:r, n.oid, 'USAGE') "
        "AND has_function_privilege(:r, p.oid, 'EXECUTE')",
        r=role,
    )
    return {r[0] for r in rows}


def test_the_code_of_each_role_calls_only_its_schema():
    routes, pipeline = _called(ROUTE_CODE), _called(PIPELINE_CODE)
    assert routes and {f.split(".")[0] for f in routes} == {"api"}
    assert pipeline and {f.split(".")[0] for f in pipeline} == {"pipeline"}
    # No other module of the app names a function (the admin CLI's ops.* run as the owner).
    others = set(CHALICELIB.rglob("*.py")) - {*ROUTE_CODE, *PIPELINE_CODE, CHALICELIB / "cli.py"}
    assert _called(sorted(others)) == set()


@pytest.mark.parametrize(
    ("setting", "role", "schema", "code"),
    [
        ("DATABASE_URL", "mapstock_api", "api", ROUTE_CODE),
        ("PIPELINE_DATABASE_URL", "mapstock_pipeline", "pipeline", PIPELINE_CODE),
    ],
)
def test_each_role_executes_exactly_what_its_code_calls(stack, sql, setting, role, schema, code):
    from chalicelib import db

    conn = db.connect(stack[setting])  # the login the app connects as, granted `role`
    try:
        login = conn.run("SELECT current_user")[0][0]
    finally:
        conn.close()
    memberships = sql.run(
        "SELECT array_agg(g.rolname::text ORDER BY g.rolname) FROM pg_auth_members m "
        "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
        "WHERE u.rolname = :login",
        login=login,
    )
    assert memberships == [[[role]]]
    in_schema = {
        r[0]
        for r in sql.run(
            "SELECT n.nspname || '.' || p.proname FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s",
            s=schema,
        )
    }
    for who in (role, login):
        # Exactly the schema's functions, and the schema holds exactly what the code calls.
        assert _executable(sql, who) == in_schema == _called(code), who
        usage = sql.run(
            "SELECT array_agg(nspname::text ORDER BY nspname) FROM pg_namespace "
            "WHERE nspname IN ('app', 'api', 'pipeline', 'ops') "
            "AND has_schema_privilege(:r, oid, 'CREATE')",
            r=who,
        )
        assert usage == [[None]], who  # CREATE nowhere
        assert sql.run(
            "SELECT array_agg(nspname::text) FROM pg_namespace "
            "WHERE nspname IN ('app', 'api', 'pipeline', 'ops') "
            "AND has_schema_privilege(:r, oid, 'USAGE')",
            r=who,
        ) == [[[schema]]]
        owned = sql.run(
            "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid) "
            "+ (SELECT count(*) FROM pg_proc WHERE proowner = r.oid) "
            "+ (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) "
            "+ (SELECT count(*) FROM pg_type WHERE typowner = r.oid) "
            "FROM pg_roles r WHERE r.rolname = :r",
            r=who,
        )
        assert owned == [[0]], who
        tables = sql.run(
            "SELECT array_agg(c.oid::regclass::text) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('app', 'api', 'pipeline', 'ops', 'public') "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
            "AND (has_table_privilege(:r, c.oid, "
            "'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') "
            "OR has_any_column_privilege(:r, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))",
            r=who,
        )
        assert tables == [[None]], who


def _refused(url: str, statement: str) -> str:
    """The SQLSTATE the statement fails with when run through `url`."""
    from pg8000.exceptions import DatabaseError

    from chalicelib import db

    conn = db.connect(url)
    try:
        conn.run(statement)
    except DatabaseError as exc:
        return str(exc.args[0]["C"])
    finally:
        conn.close()
    raise AssertionError(f"allowed: {statement}")


def test_the_api_role_cannot_run_the_pipeline_nor_the_pipeline_role_the_api(stack, sql, users):
    member = users.create("alice")
    sql.run(
        "INSERT INTO app.maps (id, owner_id, title, object_key, filename, status, declared_size, "
        "upload_expires_at) VALUES (gen_random_uuid(), :o, 'x', 'maps/x/original', 'x', "
        "'awaiting_upload', 5, now() - interval '1 day')",
        o=member["id"],
    )
    api_url, pipeline_url = stack["DATABASE_URL"], stack["PIPELINE_DATABASE_URL"]
    # 42501 insufficient_privilege: refused before anything runs.
    sweep = "SELECT pipeline.sweep(p_upload_grace_seconds => 0, p_stall_seconds => 0, "
    assert _refused(api_url, sweep + "p_max_attempts => 1)") == "42501"
    for function in ("register_upload('maps/x/original', 5, NULL, NULL)", "existing_maps('{}')"):
        assert _refused(api_url, f"SELECT pipeline.{function}") == "42501"
    create = (
        (
            "SELECT api.create_map(p_caller => :c, p_token_version => :v, "
            "p_id => gen_random_uuid(), p_object_key => 'maps/y/original', p_title => 't', "
            "p_description => NULL, "
            "p_filename => 'y.geojson', p_visibility => 'public', p_size => 5, p_sha256 => NULL, "
            "p_direct => false, p_request_id => 'r', p_upload_ttl_seconds => 60, "
            "p_default_quota_maps => 10, p_default_quota_bytes => 100)"
        )
        .replace(":c", f"'{member['id']}'")
        .replace(":v", str(member["token_version"]))
    )
    for statement in (
        create,
        "SELECT api.health()",
        "SELECT ops.list_users()",
        "SELECT count(*) FROM app.maps",
        "DELETE FROM app.maps",
        "CREATE TABLE pipeline.sneaky (x int)",
    ):
        assert _refused(pipeline_url, statement) == "42501", statement
    # Nothing ran: the upload slot is still there, no map was created.
    assert sql.run("SELECT object_key FROM app.maps") == [["maps/x/original"]]


def test_db_call_connects_as_the_role_of_the_functions_schema(stack):
    from chalicelib import db

    with db.connection("api") as conn:
        assert conn.run("SELECT current_user") == [["mapstock_app_test"]]
    with db.connection("pipeline") as conn:
        assert conn.run("SELECT current_user") == [["mapstock_pipeline_test"]]
    with pytest.raises(ValueError, match="not a stored function"):
        db.call("app.iso", p_t="now")


def test_event_handlers_run_with_the_pipeline_credentials_alone(pipeline, alice, monkeypatch):
    """As in AWS, where the event functions hold only the pipeline's secret: register,
    process and sweep with DATABASE_URL (the API's role) unset."""
    from chalicelib import config, db
    from tests.events import scheduled_event

    map_id = pipeline.upload_maps(alice)[0]
    monkeypatch.delenv("DATABASE_URL")
    config.database_url.cache_clear()
    try:
        pipeline.deliver_s3(map_id)
        assert pipeline.process_all() == {"batchItemFailures": []}
        swept = pipeline.client.lambda_.invoke("sweeper", scheduled_event()).payload
        assert swept["timed_out"] == 0
        # The API's credentials really are absent: a route would have nothing to connect with.
        with pytest.raises(config.ConfigError, match="DATABASE_URL"):
            db.call("api.health")
    finally:
        monkeypatch.undo()
        config.database_url.cache_clear()
    assert body(pipeline.get(map_id, alice))["status"] == "ready"
