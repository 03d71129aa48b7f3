"""Start and stop steps of `make run` that keep no process bookkeeping of their own."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from devstack import s3_snapshot
from devstack.localenv import NOTIFY_QUEUE, Options, StackError, shown
from devstack.postgres import port_in_use


def check_ports_free(o: Options) -> None:
    """Raise StackError naming the first wanted loopback port that is taken."""
    wanted = [(o.api_port, "the API", "PORT"), (o.moto_port, "S3/SQS", "MAPSTOCK_MOTO_PORT")]
    if not o.database_url:
        wanted.append((o.pg_port, "PostgreSQL", "MAPSTOCK_PG_PORT"))
    for port, what, setting in wanted:
        if port_in_use(port):
            raise StackError(
                f"port {port} (for {what}) is already in use on 127.0.0.1: "
                f"stop what holds it, or set {setting} to another port"
            )


def migrate_database(database_url: str) -> None:
    """Apply sql/ (idempotent); raises StackError with a one-line reason."""
    from chalicelib import db
    from chalicelib.migrate import migrate

    try:
        conn = db.connect(database_url, timeout=30)
    except Exception as exc:
        raise StackError(f"cannot reach the database ({type(exc).__name__})") from None
    try:
        migrate(conn)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise StackError(f"migrating the database failed: {why}") from None
    finally:
        conn.close()


def create_logins(database_url: str) -> dict[str, str]:
    """(Re)create the API's and the pumps' login roles with fresh passwords; returns their URLs
    by setting name; raises StackError with a one-line reason."""
    from chalicelib import db
    from chalicelib.migrate import API_ROLE, PIPELINE_ROLE, ensure_login_role

    # Each with one role's rights, as the deployed functions have (the owner's URL stays for
    # migrations, the CLI and the run files).
    logins = {
        "DATABASE_URL": ("mapstock_local_api", API_ROLE),
        "PIPELINE_DATABASE_URL": ("mapstock_local_pipeline", PIPELINE_ROLE),
    }

    parts = urlsplit(database_url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
    where = f"{host}:{parts.port}" if parts.port else host
    urls = {}
    try:
        conn = db.connect(database_url, timeout=30)
    except Exception as exc:
        raise StackError(f"cannot reach the database ({type(exc).__name__})") from None
    try:
        for setting, (login, role) in logins.items():
            password = secrets.token_urlsafe(24)  # URL-safe: goes into the URL as is
            ensure_login_role(conn, login, password, role)
            urls[setting] = urlunsplit(parts._replace(netloc=f"{login}:{password}@{where}"))
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise StackError(f"creating the app's database logins failed: {why}") from None
    finally:
        conn.close()
    return urls


def create_aws_resources(o: Options, bucket: str, queue: str) -> dict[str, str]:
    """Bucket, queues and the S3 -> SQS notification (idempotent)."""
    from devstack.aws import create_resources

    return create_resources(o.aws_endpoint, bucket, queue, notify_queue=NOTIFY_QUEUE)


def restore_bucket(o: Options, bucket: str, database_url: str) -> None:
    """Put the objects saved at the last stop back into the fresh (in-memory) bucket and pin
    the maps to the restored versions; run it before the event pumps start."""
    import boto3

    from chalicelib import db

    s3 = boto3.client("s3", endpoint_url=o.aws_endpoint)
    # Each restored upload raises its S3 event again: a map whose job was lost (the queues
    # live in memory too) is queued anew; for every other map the event changes nothing. The
    # events wait in the queue until the pumps start, and by then the maps name the new
    # versions (otherwise a restored object would look like stray bytes and be removed).
    restored = s3_snapshot.restore(s3, bucket, o.state / "s3")
    if not restored:
        return
    conn = db.connect(database_url, timeout=30)
    try:
        conn.run(f"SELECT ops.repin_object_versions({db.literal(json.dumps(restored))})")
    finally:
        conn.close()


def save_bucket(o: Options, bucket: str, should_stop: Callable[[], bool]) -> None:
    """Copy the bucket to disk before moto (which keeps it in memory only) stops."""
    import boto3

    folder = o.state / "s3"
    folder.mkdir(mode=0o700, exist_ok=True)
    s3 = boto3.client("s3", endpoint_url=o.aws_endpoint)
    saved, removed = s3_snapshot.save(s3, bucket, folder, should_stop)
    if saved or removed:
        print(f"Saved S3 objects to {shown(folder)} ({saved} new, {removed} removed).")
