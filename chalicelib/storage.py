"""S3: object keys, presigned POST/GET, put, streamed get, delete. Keys never hold user text."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from chalicelib.config import get_settings

CHUNK_BYTES = 1024 * 1024
_ORIGINAL_KEY = re.compile(
    r"^maps/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/original$"
)


@functools.lru_cache(maxsize=1)
def client() -> Any:
    """The S3 client of this container (SigV4, so presigned URLs carry their expiry)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        config=Config(
            signature_version="s3v4",
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def original_key(map_id: str) -> str:
    """Where a map's upload lives."""
    return f"maps/{map_id}/original"


def map_prefix(map_id: str) -> str:
    """Every object of a map lives under this prefix."""
    return f"maps/{map_id}/"


def map_id_of_original(key: str) -> str | None:
    """The map id of an upload's key, or None for any other key."""
    match = _ORIGINAL_KEY.match(key)
    return match.group(1) if match else None


def presigned_post(key: str, size: int, expires_in: int) -> dict[str, Any]:
    """A browser/curl-ready POST whose policy pins the key and the exact size."""
    return client().generate_presigned_post(
        Bucket=get_settings().bucket,
        Key=key,
        Conditions=[["content-length-range", size, size]],
        ExpiresIn=expires_in,
    )


def content_disposition(filename: str) -> str:
    """attachment with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%;' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def presigned_get(key: str, filename: str, media_type: str | None, expires_in: int) -> str:
    """A short-lived download URL that makes browsers save the file under its name."""
    return client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": get_settings().bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition(filename),
            "ResponseContentType": media_type or "application/octet-stream",
        },
        ExpiresIn=expires_in,
    )


def put_bytes(key: str, data: bytes) -> None:
    """Store a small object (direct uploads)."""
    client().put_object(
        Bucket=get_settings().bucket, Key=key, Body=data, ContentType="application/octet-stream"
    )


def object_size(key: str) -> int | None:
    """The stored size, or None when the object does not exist."""
    from botocore.exceptions import ClientError

    try:
        head = client().head_object(Bucket=get_settings().bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(head["ContentLength"])


def iter_object(key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The object's bytes in chunks, read once, in constant memory."""
    body = client().get_object(Bucket=get_settings().bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(chunk_bytes)
    finally:
        body.close()


def delete_map_objects(map_id: str) -> int:
    """Remove every object under the map's prefix; returns how many were removed."""
    bucket = get_settings().bucket
    removed = 0
    paginator = client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=map_prefix(map_id)):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client().delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed
