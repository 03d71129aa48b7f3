"""Real PostgreSQL (embedded, or DATABASE_URL) + moto server + the Chalice test client."""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

# Multipart parts of 64 KiB keep the tests small: moto reads its minimum part size from the
# environment when first imported (S3 itself wants 5 MiB), the app its own MULTIPART_PART_BYTES.
TEST_PART_BYTES = 64 * 1024
os.environ.setdefault("S3_UPLOAD_PART_MIN_SIZE", str(TEST_PART_BYTES))
os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(8 * 1024 * 1024))

# The environment as the test run got it: the `stack` fixture later points DATABASE_URL, AWS_*
# and the like at the in-process stack, which subprocess stacks (tests/e2e) must not inherit.
ORIGINAL_ENV = dict(os.environ)
EXTERNAL_DATABASE_URL = ORIGINAL_ENV.get("DATABASE_URL") or None

from devstack import aws  # noqa: E402
from devstack.postgres import LocalPostgres, free_port  # noqa: E402

BUCKET = "mapstock-maps-local"
QUEUE = "mapstock-processing-local"
EXTERNAL_QUEUE = "mapstock-external-local"
ROOT = Path(__file__).resolve().parent.parent
# The local stage's processor timeout, as deployed (devstack's invoker gives the same): what a
# processing invocation has left when a test does not say otherwise.
LAMBDA_TIMEOUT_MS = (
    1000
    * json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["local"][
        "lambda_functions"
    ]["on_processing_job"]["lambda_timeout"]
)
# moto server logs every request through werkzeug: keep test output to the app's own lines.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@contextmanager
def lambda_time(remaining_ms: float) -> Iterator[None]:
    """Give handlers invoked through chalice.test's Client this much time: it gives every
    function 3 s, where Lambda gives the function's timeout (the processor budgets by it)."""
    import chalice.test
    from chalice.local import LambdaContext

    real = chalice.test.LambdaContext
    chalice.test.LambdaContext = functools.partial(LambdaContext, max_runtime_ms=remaining_ms)
    try:
        yield
    finally:
        chalice.test.LambdaContext = real


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
    external = EXTERNAL_DATABASE_URL
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
        "MULTIPART_PART_BYTES": str(TEST_PART_BYTES),
    }
    saved = {k: os.environ.get(k) for k in [*env, "EXTERNAL_QUEUE_URL", "PIPELINE_DATABASE_URL"]}
    os.environ.update(env)
    urls = aws.create_resources(moto_endpoint, BUCKET, QUEUE)
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    urls["external_url"] = sqs.create_queue(QueueName=EXTERNAL_QUEUE)["QueueUrl"]
    # Hand-off only happens over the threshold (1 GiB); test_external.py lowers it.
    os.environ["EXTERNAL_QUEUE_URL"] = env["EXTERNAL_QUEUE_URL"] = urls["external_url"]
    from chalicelib import db
    from chalicelib.migrate import API_ROLE, PIPELINE_ROLE, ensure_login_role, migrate

    conn = db.connect(database_url)
    migrate(conn)
    # Routes run as a role that may only EXECUTE api.*, the event handlers as one that may only
    # EXECUTE pipeline.* (as deployed: db.call picks the role by the function's schema); tests
    # that set up or inspect rows use the owner's connection (the `sql` fixture).
    parts = urlsplit(database_url)
    for setting, login, role in (
        ("DATABASE_URL", "mapstock_app_test", API_ROLE),
        ("PIPELINE_DATABASE_URL", "mapstock_pipeline_test", PIPELINE_ROLE),
    ):
        password = secrets.token_urlsafe(16)
        ensure_login_role(conn, login, password, role)
        netloc = f"{login}:{password}@{parts.hostname}:{parts.port}"
        os.environ[setting] = env[setting] = urlunsplit(parts._replace(netloc=netloc))
    conn.close()
    env["ADMIN_DATABASE_URL"] = database_url
    _reset_caches()
    with lambda_time(LAMBDA_TIMEOUT_MS):
        yield {**env, **urls}
    _reset_caches()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _reset_caches() -> None:
    from chalicelib import config, db, storage
    from chalicelib.pipeline import jobs

    config.get_settings.cache_clear()
    config.database_url.cache_clear()
    config.jwt_secret.cache_clear()
    storage.client.cache_clear()
    jobs.client.cache_clear()
    jobs.queue_url.cache_clear()
    db.reset()


@pytest.fixture
def sql(stack: dict[str, str]) -> Iterator[Any]:
    """A direct connection for setting up and checking rows (as an operator would)."""
    from chalicelib import db

    conn = db.connect(stack["ADMIN_DATABASE_URL"])
    conn.run("TRUNCATE app.maps, app.users, app.login_throttle CASCADE")
    yield conn
    # Whatever the test did, every map's stored document (migration 014) is the one its row
    # builds now: no write path may leave it stale.
    stale = conn.run(
        "SELECT m.id::text FROM app.maps m JOIN app.users u ON u.id = m.owner_id"
        " WHERE m.doc::text IS DISTINCT FROM app.map_doc(m, u.username)::text"
    )
    conn.close()
    assert not stale, f"stale stored map documents: {stale}"


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
    for url in (stack["queue_url"], stack["dlq_url"], stack["external_url"]):
        drain(client, url)
    return client


def drain(client: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete every visible message (PurgeQueue allows one call a minute)."""
    taken: list[dict[str, Any]] = []
    while True:
        batch = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return taken
        for message in batch:
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        taken.extend(batch)


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


def fail_s3_reads(monkeypatch: Any, only: str | None = None) -> Any:
    """Make the processor's S3 reads fail (of keys containing `only`, or all of them), as a
    network error would; returns a function that restores them."""
    from chalicelib import storage

    real = storage.iter_object

    def failing(key: str, *args: Any, **kwargs: Any) -> Any:
        if only is None or only in key:
            raise ConnectionError("S3 read failed")
        return real(key, *args, **kwargs)

    monkeypatch.setattr(storage, "iter_object", failing)
    return lambda: monkeypatch.setattr(storage, "iter_object", real)


def slow_s3_reads(monkeypatch: Any, seconds_per_chunk: float, chunks: int = 10) -> None:
    """Make the processor's S3 reads slow, as a congested S3 is: each object arrives in
    `chunks` pieces, each after `seconds_per_chunk`."""
    import time

    from chalicelib import storage

    real = storage.iter_object

    def slow(key: str, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        data = b"".join(real(key, *args, **kwargs))
        size = max(1, -(-len(data) // chunks))
        for start in range(0, len(data), size):
            time.sleep(seconds_per_chunk)
            yield data[start : start + size]

    monkeypatch.setattr(storage, "iter_object", slow)


@pytest.fixture
def alice(users: Users) -> dict[str, str]:
    """A member's auth headers."""
    users.create("alice")
    return users.headers("alice")


def job_body(map_id: str, **extra: Any) -> str:
    """A processing job's message body, as the S3 handler queues it."""
    return json.dumps({"map_id": map_id, "request_id": None, **extra})


def log_lines(capsys: Any, event: str) -> list[dict[str, Any]]:
    """The JSON log lines printed so far (consumed from capsys) whose event is `event`."""
    out = capsys.readouterr().out.splitlines()
    return [d for d in (json.loads(line) for line in out if line[:1] == "{") if d["event"] == event]


def login(client: Any, username: str, password: str) -> Any:
    """POST /v1/auth/token through the test client."""
    return client.http.post(
        "/v1/auth/token",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"username": username, "password": password}),
    )


def body(response: Any) -> Any:
    """The JSON body of a Chalice test response."""
    return json.loads(response.body) if response.body else None


def multipart(fields: dict[str, str], file: tuple[str, bytes] | None) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, as a browser or curl -F sends it."""
    boundary = "----mapstock" + uuid.uuid4().hex
    chunks = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    if file is not None:
        filename, data = file
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class Pipeline:
    """Uploads through the API and delivers S3/SQS events to the real handlers, as AWS would."""

    def __init__(self, client: Any, sqs: Any, s3: Any, stack: dict[str, str]):
        self.client = client
        self.sqs = sqs
        self.s3 = s3
        self.stack = stack

    def upload_direct(
        self, headers: dict[str, str], data: bytes, filename: str = "map.geojson", **fields: str
    ) -> Any:
        payload, content_type = multipart(fields, (filename, data))
        return self.client.http.post(
            "/v1/maps", headers={**headers, "Content-Type": content_type}, body=payload
        )

    def create_presigned(self, headers: dict[str, str], **doc: Any) -> Any:
        return self.client.http.post(
            "/v1/maps",
            headers={**headers, "Content-Type": "application/json"},
            body=json.dumps(doc),
        )

    def post_to_s3(self, upload: dict[str, Any], data: bytes, filename: str = "upload.bin") -> int:
        """Send the bytes straight to S3 with the presigned POST, as a browser or curl does."""
        import requests

        response = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": (filename, data, "application/octet-stream")},
            timeout=30,
        )
        return response.status_code

    def s3_event(
        self, map_id: str, event_name: str = "ObjectCreated:Post", version: str | None = None
    ) -> dict[str, Any]:
        """The event S3 sends for the map's upload (its current version, unless `version`)."""
        from tests.events import s3_object_created

        key = f"maps/{map_id}/original"
        head = self.s3.head_object(
            Bucket=BUCKET, Key=key, **({"VersionId": version} if version else {})
        )
        return s3_object_created(
            BUCKET, key, head["ContentLength"], event_name, version_id=head.get("VersionId")
        )

    def deliver_s3(self, map_id: str, times: int = 1, version: str | None = None) -> None:
        event = self.s3_event(map_id, version=version)
        for _ in range(times):
            self.client.lambda_.invoke("on_upload", event)

    def receive(self) -> list[dict[str, Any]]:
        """Take every queued job off the processing queue (the test delivers them itself)."""
        return drain(self.sqs, self.stack["queue_url"])

    def records(
        self, messages: list[dict[str, Any]], receive_count: int | None = None
    ) -> list[dict[str, Any]]:
        from tests.events import sqs_record

        return [
            sqs_record(
                m["Body"],
                QUEUE,
                receive_count or int(m["Attributes"]["ApproximateReceiveCount"]),
                message_id=m["MessageId"],
            )
            for m in messages
        ]

    def deliver_jobs(
        self, records: list[dict[str, Any]], remaining_ms: float = LAMBDA_TIMEOUT_MS
    ) -> dict[str, Any]:
        """Invoke the processor with a batch, the invocation having `remaining_ms` left."""
        from tests.events import sqs_event

        with lambda_time(remaining_ms):
            response = self.client.lambda_.invoke("on_processing_job", sqs_event(records))
        return response.payload  # type: ignore[no-any-return]

    def process_all(self) -> dict[str, Any]:
        """Deliver every queued job once (then drop them from the queue)."""
        messages = self.receive()
        return self.deliver_jobs(self.records(messages)) if messages else {"batchItemFailures": []}

    def get(self, map_id: str, headers: dict[str, str]) -> Any:
        return self.client.http.get(f"/v1/maps/{map_id}", headers=headers)

    def upload_maps(
        self, headers: dict[str, str], n: int = 1, data: bytes | None = None
    ) -> list[str]:
        """Upload `n` GeoJSON maps directly (GEOJSON unless `data`); their ids."""
        ids = []
        for i in range(n):
            response = self.upload_direct(headers, data or GEOJSON, f"m{i}.geojson")
            assert response.status_code == 201, response.body
            ids.append(body(response)["map"]["id"])
        return ids


@pytest.fixture
def pipeline(client: Any, sqs: Any, s3: Any, stack: dict[str, str]) -> Pipeline:
    return Pipeline(client, sqs, s3, stack)


GEOJSON = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "summit"},
                "geometry": {"type": "Point", "coordinates": [7.5, 46.0]},
            },
            {
                "type": "Feature",
                "properties": {"name": "trail"},
                "geometry": {"type": "LineString", "coordinates": [[7.0, 45.5], [8.0, 46.5]]},
            },
        ],
    }
).encode()
