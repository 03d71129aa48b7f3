"""Apply sql/migrations (once each, in order) and re-apply sql/functions, under one lock."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pg8000.native

SQL_DIR = Path(os.environ.get("MAPSTOCK_SQL_DIR", Path(__file__).resolve().parent.parent / "sql"))
# Any constant works; it only has to be the same for every migrating process.
MIGRATION_LOCK_KEY = 7_254_911_301

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE IF NOT EXISTS app.schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""

# Functions are dropped and re-created on every migrate so that a changed signature never
# leaves a stale overload behind (nor a function moved to another schema); tables never depend
# on api/pipeline/ops functions. Re-created functions start with no grants: _GRANTS gives them.
_DROP_FUNCTIONS = """
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('api', 'pipeline', 'ops') LOOP
        EXECUTE 'DROP FUNCTION ' || f;
    END LOOP;
END $$;
"""

# Each role reaches only its own schema: the API's what routes call, the pipeline's what the
# event handlers call; ops.* is the owner's (the admin CLI).
_GRANTS = """
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA app, api, pipeline, ops FROM PUBLIC;
REVOKE ALL ON SCHEMA app, api, pipeline, ops FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA app FROM PUBLIC;
GRANT USAGE ON SCHEMA api TO mapstock_api;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO mapstock_api;
GRANT USAGE ON SCHEMA pipeline TO mapstock_pipeline;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pipeline TO mapstock_pipeline;
"""
API_ROLE = "mapstock_api"
PIPELINE_ROLE = "mapstock_pipeline"
APP_ROLES = (API_ROLE, PIPELINE_ROLE)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def migrate(conn: pg8000.native.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Bring the schema up to date in one transaction; returns the migrations applied now."""
    migrations = sorted((sql_dir / "migrations").glob("[0-9][0-9][0-9]_*.sql"))
    functions = sorted((sql_dir / "functions").glob("*.sql"))
    applied_now: list[str] = []
    conn.run("BEGIN")
    try:
        # Concurrent migrators queue here; the second one finds nothing left to do.
        conn.run("SELECT pg_advisory_xact_lock(:key)", key=MIGRATION_LOCK_KEY)
        conn.run(_BOOTSTRAP)
        done = {row[0] for row in conn.run("SELECT version FROM app.schema_migrations")}
        for path in migrations:
            version = path.name.split("_", 1)[0]
            if version in done:
                continue
            conn.run(path.read_text(encoding="utf-8"))
            conn.run("INSERT INTO app.schema_migrations (version) VALUES (:v)", v=version)
            applied_now.append(path.name)
        conn.run(_DROP_FUNCTIONS)
        for path in functions:
            conn.run(path.read_text(encoding="utf-8"))
        conn.run(_GRANTS)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return applied_now


def ensure_login_role(
    conn: pg8000.native.Connection, name: str, password: str, grant: str = API_ROLE
) -> None:
    """Create (or re-password) a LOGIN role that has one app role's EXECUTE rights (`grant`:
    mapstock_api or mapstock_pipeline) and not the other's; raises ValueError on a bad name."""
    if not _ROLE_NAME.match(name) or grant not in APP_ROLES or name in APP_ROLES:
        raise ValueError("role names are lower-case identifiers, granted one app role")
    exists = conn.run("SELECT 1 FROM pg_roles WHERE rolname = :n", n=name)
    verb = "ALTER" if exists else "CREATE"
    # Identifiers and passwords cannot be bound parameters in DDL; both are checked/quoted.
    quoted = conn.run("SELECT quote_literal(:p)", p=password)[0][0]
    conn.run(f"{verb} ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {quoted}")
    # A login that held the other role (reconfigured, or both secrets naming one user) would
    # carry both rights: it keeps only the one asked for.
    for other in APP_ROLES:
        if other != grant:
            conn.run(f"REVOKE {other} FROM {name}")
    conn.run(f"GRANT {grant} TO {name}")
