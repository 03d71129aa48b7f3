"""Migrations at deploy time: apply sql/ as the admin, then (re)create the functions' two login
roles with the passwords the stack generated into their secrets: the API's (granted
mapstock_api) and the event functions' (granted mapstock_pipeline)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit


class MigrationError(RuntimeError):
    """The database could not be migrated (unreachable, or the secret is malformed)."""


def stack_parameters(admin_url: str | None, host: str | None, port: str | None) -> dict[str, str]:
    """DatabaseHost/Port/Name for the stack, a given host/port first; raises MigrationError."""
    # The functions may reach the database by another name than the deployer does (an RDS
    # Proxy endpoint, or the real host behind an SSH tunnel), hence the separate host.
    params: dict[str, str] = {}
    if admin_url:
        parts = urlsplit(admin_url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise MigrationError("the admin database URL must be postgresql://user:pass@host/db")
        params["DatabaseHost"] = parts.hostname
        params["DatabasePort"] = str(parts.port or 5432)
        if parts.path.lstrip("/"):
            params["DatabaseName"] = parts.path.lstrip("/")
    if host:
        params["DatabaseHost"] = host
        params.pop("DatabasePort", None)
    if port:
        params["DatabasePort"] = port
    return params


def login_of(secret_string: str) -> tuple[str, str]:
    """(username, password) from the RDS-style database secret; raises MigrationError."""
    try:
        doc = json.loads(secret_string)
        return str(doc["username"]), str(doc["password"])
    except (ValueError, KeyError, TypeError):
        raise MigrationError("the database secret is not {username, password, ...}") from None


def migrate(
    secrets: Any, api_secret_arn: str, pipeline_secret_arn: str, admin_url: str
) -> list[str]:
    """Apply migrations, then (re)create the API's and the pipeline's login roles, each with
    only its app role's rights; raises MigrationError if unreachable or when both secrets name
    one login (it would hold both roles' rights)."""
    from chalicelib import db
    from chalicelib import migrate as migrations

    logins = {
        role: login_of(secrets.get_secret_value(SecretId=arn)["SecretString"])
        for role, arn in (
            (migrations.API_ROLE, api_secret_arn),
            (migrations.PIPELINE_ROLE, pipeline_secret_arn),
        )
    }
    if len({username for username, _ in logins.values()}) != len(logins):
        raise MigrationError("the API's and the pipeline's database secrets name the same user")
    try:
        conn = db.connect(admin_url, timeout=30)
    except Exception as exc:
        raise MigrationError(f"cannot reach the database ({type(exc).__name__})") from None
    try:
        applied = migrations.migrate(conn)
        for role, (username, password) in logins.items():
            migrations.ensure_login_role(conn, username, password, role)
    finally:
        conn.close()
    return applied
