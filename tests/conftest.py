"""Real PostgreSQL (embedded, or DATABASE_URL) + moto server + the Chalice test client."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from devstack import aws
from devstack.postgres import LocalPostgres, free_port

BUCKET = "mapstock-maps-local"
QUEUE = "mapstock-processing-local"
ROOT = Path(__file__).resolve().parent.parent


def _fresh_database(server_url: str) -> tuple[str, Any]:
    """A throwaway database on the DATABASE_URL server, so tests never touch real data."""
    from chalicelib.db import connect

    admin = connect(server_url)
    name = f"mapstock_test_{uuid.uuid4().hex[:10]}"
    admin.run(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}")), (admin, name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        url, (admin, name) = _fresh_database(external)
        yield url
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        return
    root = Path(tempfile.mkdtemp(prefix="mapstock-test-pg-"))
    os.chmod(root, 0o755)  # noqa: S103 - the unprivileged server account must reach it
    server = LocalPostgres(root / "pg")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = aws.start_moto(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def stack(database_url: str, moto_endpoint: str) -> Iterator[dict[str, str]]:
    """The environment the app reads, resources created, schema migrated."""
    env = {
        **aws.LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "DATABASE_URL": database_url,
        "JWT_SECRET": secrets.token_urlsafe(32),
        "MAPSTOCK_BUCKET": BUCKET,
        "MAPSTOCK_QUEUE": QUEUE,
        "MAPSTOCK_SQL_DIR": str(ROOT / "sql"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    urls = aws.create_resources(moto_endpoint, BUCKET, QUEUE)
    from chalicelib import db
    from chalicelib.migrate import migrate

    conn = db.connect(database_url)
    migrate(conn)
    conn.close()
    _reset_caches()
    yield {**env, **urls}
    _reset_caches()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _reset_caches() -> None:
    from chalicelib import config, db, jobs, storage

    config.get_settings.cache_clear()
    storage.client.cache_clear()
    jobs.client.cache_clear()
    jobs.queue_url.cache_clear()
    db.reset()


@pytest.fixture
def sql(stack: dict[str, str]) -> Iterator[Any]:
    """A direct connection for setting up and checking rows (as an operator would)."""
    from chalicelib import db

    conn = db.connect(stack["DATABASE_URL"])
    conn.run("TRUNCATE app.maps, app.users CASCADE")
    yield conn
    conn.close()


@pytest.fixture
def client(stack: dict[str, str], sql: Any) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


@pytest.fixture
def sqs(stack: dict[str, str]) -> Any:
    """The processing queue, emptied for this test."""
    import boto3

    client = boto3.client("sqs", endpoint_url=stack["AWS_ENDPOINT_URL"])
    for url in (stack["queue_url"], stack["dlq_url"]):
        client.purge_queue(QueueUrl=url)
    return client


@pytest.fixture
def s3(stack: dict[str, str]) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"])


# A real cost-12 hash of "correct horse battery" made once: creating users stays fast, and the
# login tests still run a full bcrypt check.
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def password_hash() -> str:
    from chalicelib.auth import hash_password

    return hash_password(PASSWORD)


class Users:
    """Make users and tokens straight in the database (login itself is tested separately)."""

    def __init__(self, sql: Any, password_hash: str):
        self.sql = sql
        self.password_hash = password_hash

    def create(self, username: str, role: str = "member", days: int | None = 30) -> dict[str, Any]:
        until = "now() + make_interval(days => :days)" if days is not None else "NULL"
        args = {"days": days} if days is not None else {}
        self.sql.run(
            f"SELECT ops.create_user(:u, :h, :r, {until})",
            u=username,
            h=self.password_hash,
            r=role,
            **args,
        )
        return self.get(username)

    def get(self, username: str) -> dict[str, Any]:
        row = self.sql.run(
            "SELECT id, token_version FROM app.users WHERE username = :u", u=username
        )
        return {"id": str(row[0][0]), "token_version": row[0][1], "username": username}

    def token(self, username: str) -> str:
        from chalicelib.auth import issue_token

        user = self.get(username)
        return issue_token(user["id"], user["token_version"])[0]

    def headers(self, username: str | None, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if username is not None:
            headers["Authorization"] = f"Bearer {self.token(username)}"
        return headers


@pytest.fixture
def users(sql: Any, password_hash: str) -> Users:
    return Users(sql, password_hash)


def body(response: Any) -> Any:
    """The JSON body of a Chalice test response."""
    return json.loads(response.body) if response.body else None
