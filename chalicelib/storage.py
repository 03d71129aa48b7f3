"""S3: object keys, presigned POST/GET, put, streamed get, delete. Keys never hold user text."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from chalicelib.config import get_settings

CHUNK_BYTES = 1024 * 1024
# Presigned uploads land tagged pending; registering them removes the tag. The bucket's
# lifecycle rule expires objects still pending after days (an upload never registered).
PENDING_TAG = "mapstock-upload"
PENDING_TAGGING = (
    f"<Tagging><TagSet><Tag><Key>{PENDING_TAG}</Key><Value>pending</Value></Tag></TagSet></Tagging>"
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ORIGINAL_KEY = re.compile(rf"^maps/({_UUID})/original$")
# Where the external processing system writes back (its documented interface, see README).
_EXTERNAL_KEY = re.compile(rf"^maps/({_UUID})/external/({_UUID})/(result|error)$")


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


def variant_key(map_id: str) -> str:
    """Where a map's optimized variant lives."""
    return f"maps/{map_id}/optimized"


def preview_key(map_id: str) -> str:
    """Where a map's preview image lives."""
    return f"maps/{map_id}/preview"


def presigned_image(key: str, media_type: str, expires_in: int) -> str:
    """A short-lived URL that shows an image inline (an <img src>, a STAC thumbnail)."""
    url: str = client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": get_settings().bucket,
            "Key": key,
            "ResponseContentType": media_type,
            "ResponseContentDisposition": "inline",
        },
        ExpiresIn=expires_in,
    )
    return url


def external_prefix(map_id: str, job_id: str) -> str:
    """The folder the external system writes one job's `result` (or `error`) into."""
    return f"maps/{map_id}/external/{job_id}/"


def map_id_of_original(key: str) -> str | None:
    """The map id of an upload's key, or None for any other key."""
    match = _ORIGINAL_KEY.match(key)
    return match.group(1) if match else None


def parse_external_key(key: str) -> tuple[str, str, str] | None:
    """(map_id, job_id, 'result'|'error') for an external system's object, else None."""
    match = _EXTERNAL_KEY.match(key)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def is_map_id(value: object) -> bool:
    """True for a canonical (lower-case) UUID string."""
    return isinstance(value, str) and re.fullmatch(_UUID, value) is not None


def presigned_post(key: str, size: int, expires_in: int) -> dict[str, Any]:
    """A browser/curl-ready POST whose policy pins the key and the exact size."""
    post: dict[str, Any] = client().generate_presigned_post(
        Bucket=get_settings().bucket,
        Key=key,
        Fields={"tagging": PENDING_TAGGING},
        Conditions=[["content-length-range", size, size], {"tagging": PENDING_TAGGING}],
        ExpiresIn=expires_in,
    )
    return post


def _version(version: str | None) -> dict[str, str]:
    # "null" is the version id S3 reports for objects written while versioning was off.
    return {"VersionId": version} if version else {}


def create_multipart(key: str, checksum_algorithm: str | None = None) -> str:
    """Start a multipart upload of `key` (tagged pending like a presigned POST); its id. With
    `checksum_algorithm` ("SHA256") S3 wants that checksum with every part and verifies it."""
    extra = {"ChecksumAlgorithm": checksum_algorithm} if checksum_algorithm else {}
    started = client().create_multipart_upload(
        Bucket=get_settings().bucket,
        Key=key,
        ContentType="application/octet-stream",
        Tagging=f"{PENDING_TAG}=pending",
        **extra,
    )
    return str(started["UploadId"])


def presigned_part(
    key: str,
    upload_id: str,
    part_number: int,
    size: int,
    expires_in: int,
    checksum_sha256: str | None = None,
) -> str:
    """A PUT URL for one part; its Content-Length is signed, so S3 takes exactly `size` bytes.
    A `checksum_sha256` (base64) is signed in too: the PUT must carry it as the header
    x-amz-checksum-sha256 (S3 refuses unsigned x-amz-* headers on presigned requests, and bytes
    that do not match it)."""
    params: dict[str, Any] = {
        "Bucket": get_settings().bucket,
        "Key": key,
        "UploadId": upload_id,
        "PartNumber": part_number,
        "ContentLength": size,
    }
    if checksum_sha256:
        params["ChecksumSHA256"] = checksum_sha256
    url: str = client().generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_in)
    return url


def list_parts(key: str, upload_id: str) -> list[dict[str, Any]]:
    """The parts S3 holds for an upload: [{"part_number", "size", "etag"}] in order, with
    "checksum_sha256" (base64) when S3 keeps one; raises KeyError when the upload does not
    exist (any more)."""
    from botocore.exceptions import ClientError

    parts: list[dict[str, Any]] = []
    try:
        pages = (
            client()
            .get_paginator("list_parts")
            .paginate(Bucket=get_settings().bucket, Key=key, UploadId=upload_id)
        )
        for page in pages:
            for part in page.get("Parts", []):
                held = {
                    "part_number": int(part["PartNumber"]),
                    "size": int(part["Size"]),
                    "etag": str(part["ETag"]).strip('"'),
                }
                if part.get("ChecksumSHA256"):
                    held["checksum_sha256"] = str(part["ChecksumSHA256"])
                parts.append(held)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404"):
            raise KeyError(upload_id) from None
        raise
    return sorted(parts, key=lambda p: p["part_number"])


def complete_multipart(key: str, upload_id: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Assemble the object from `parts` ([{"part_number", "etag", "checksum_sha256"?}]: an
    upload created with SHA-256 checksums needs each part's); S3's answer. Raises KeyError
    when the upload does not exist (any more: completed, aborted or expired)."""
    from botocore.exceptions import ClientError

    listed = []
    for p in parts:
        part = {"PartNumber": p["part_number"], "ETag": f'"{p["etag"]}"'}
        if p.get("checksum_sha256"):
            part["ChecksumSHA256"] = p["checksum_sha256"]
        listed.append(part)
    try:
        done: dict[str, Any] = client().complete_multipart_upload(
            Bucket=get_settings().bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": listed},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404"):
            raise KeyError(upload_id) from None
        raise
    return done


def multipart_etag(etags: list[str]) -> str | None:
    """The ETag S3 gives the object completed from parts with these ETags, in order: the MD5
    of their MD5s, "-" and their count (None when one is not an MD5 in hex). Raises nothing."""
    try:
        digests = b"".join(bytes.fromhex(etag) for etag in etags)
    except ValueError:
        return None
    if len(digests) != 16 * len(etags):
        return None
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(etags)}"


def abort_multipart(key: str, upload_id: str) -> None:
    """Give up an upload and free its parts (an upload already gone is fine)."""
    from botocore.exceptions import ClientError

    try:
        client().abort_multipart_upload(Bucket=get_settings().bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchUpload", "404"):
            raise


def abort_map_uploads(map_id: str) -> int:
    """Abort every unfinished multipart upload under the map's prefix; returns how many."""
    bucket = get_settings().bucket
    aborted = 0
    pages = (
        client()
        .get_paginator("list_multipart_uploads")
        .paginate(Bucket=bucket, Prefix=map_prefix(map_id))
    )
    for page in pages:
        for upload in page.get("Uploads", []):
            abort_multipart(upload["Key"], upload["UploadId"])
            aborted += 1
    return aborted


def clear_pending_tag(key: str, version: str | None = None) -> None:
    """The upload is registered: take it out of the lifecycle rule's reach (idempotent)."""
    client().delete_object_tagging(Bucket=get_settings().bucket, Key=key, **_version(version))


def delete_version(key: str, version: str | None) -> None:
    """Remove one version of an object for good (without a version: the object, in a bucket
    without versioning)."""
    client().delete_object(Bucket=get_settings().bucket, Key=key, **_version(version))


def content_disposition(filename: str) -> str:
    """attachment with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%;' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def presigned_get(
    key: str,
    filename: str,
    media_type: str | None,
    expires_in: int,
    content_encoding: str | None = None,
    version: str | None = None,
) -> str:
    """A short-lived download URL of exactly `version` (when given) that makes browsers save
    the file under its name."""
    params = {
        "Bucket": get_settings().bucket,
        "Key": key,
        **_version(version),
        "ResponseContentDisposition": content_disposition(filename),
        "ResponseContentType": media_type or "application/octet-stream",
    }
    if content_encoding:
        # HTTP clients decode it on the fly: the saved file is the map itself.
        params["ResponseContentEncoding"] = content_encoding
    url: str = client().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
    return url


def put_bytes(key: str, data: bytes) -> None:
    """Store a small object (direct uploads)."""
    client().put_object(
        Bucket=get_settings().bucket, Key=key, Body=data, ContentType="application/octet-stream"
    )


def put_file(key: str, path: str, content_type: str, content_encoding: str | None = None) -> None:
    """Store a local file (multipart for large ones), with the headers downloads should carry."""
    extra = {"ContentType": content_type}
    if content_encoding:
        extra["ContentEncoding"] = content_encoding
    client().upload_file(path, get_settings().bucket, key, ExtraArgs=extra)


def head(key: str, version: str | None = None) -> dict[str, Any] | None:
    """The object's HEAD (ContentLength, VersionId, ETag, …), or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        found: dict[str, Any] = client().head_object(
            Bucket=get_settings().bucket, Key=key, **_version(version)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return found


def object_size(key: str) -> int | None:
    """The stored size, or None when the object does not exist."""
    found = head(key)
    return int(found["ContentLength"]) if found else None


def read_small(key: str, limit: int = 64 * 1024) -> bytes:
    """The first `limit` bytes of an object (for small control documents)."""
    response = client().get_object(
        Bucket=get_settings().bucket, Key=key, Range=f"bytes=0-{limit - 1}"
    )
    data: bytes = response["Body"].read(limit)
    response["Body"].close()
    return data


def pinned(version: str | None, etag: str | None) -> dict[str, str]:
    """The GetObject arguments that read exactly the registered object: its version, or (in a
    bucket without versioning) only while its ETag is unchanged."""
    if version:
        return {"VersionId": version}
    return {"IfMatch": etag} if etag else {}


def read_range(key: str, start: int, length: int, *, pin: dict[str, str] | None = None) -> bytes:
    """Bytes [start, start + length) of the object (of the `pinned()` version when given)."""
    response = client().get_object(
        Bucket=get_settings().bucket,
        Key=key,
        Range=f"bytes={start}-{start + length - 1}",
        **(pin or {}),
    )
    data: bytes = response["Body"].read()
    response["Body"].close()
    return data


def iter_object(
    key: str, chunk_bytes: int = CHUNK_BYTES, *, pin: dict[str, str] | None = None
) -> Iterator[bytes]:
    """The object's bytes (of the `pinned()` version when given) in chunks, read once, in
    constant memory."""
    body = client().get_object(Bucket=get_settings().bucket, Key=key, **(pin or {}))["Body"]
    try:
        yield from body.iter_chunks(chunk_bytes)
    finally:
        body.close()


def map_ids_in_bucket(page_size: int = 1000) -> Iterator[list[str]]:
    """Every map id that has objects, in pages (folders that are not map ids are skipped)."""
    paginator = client().get_paginator("list_objects_v2")
    pages = paginator.paginate(
        Bucket=get_settings().bucket,
        Prefix="maps/",
        Delimiter="/",
        PaginationConfig={"PageSize": page_size},
    )
    for page in pages:
        ids = [p["Prefix"][5:-1] for p in page.get("CommonPrefixes", [])]
        found = [i for i in ids if is_map_id(i)]
        if found:
            yield found


def newest_object_age_seconds(map_id: str) -> float | None:
    """Seconds since the newest object under the map's prefix was written (None: no objects)."""
    import datetime as dt

    newest = None
    paginator = client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=get_settings().bucket, Prefix=map_prefix(map_id)):
        for obj in page.get("Contents", []):
            newest = obj["LastModified"] if newest is None else max(newest, obj["LastModified"])
    if newest is None:
        return None
    return (dt.datetime.now(dt.UTC) - newest).total_seconds()


def delete_map_objects(map_id: str) -> int:
    """Remove every object under the map's prefix, every version of it and every delete
    marker (the bucket is versioned: a plain delete would keep the bytes), and abort its
    unfinished multipart uploads (their parts are stored too); returns how many object
    versions were removed."""
    bucket = get_settings().bucket
    abort_map_uploads(map_id)
    removed = 0
    paginator = client().get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=map_prefix(map_id)):
        found = page.get("Versions", []) + page.get("DeleteMarkers", [])
        keys = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in found]
        if keys:
            client().delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(page.get("Versions", []))
    return removed


def delete_every_version(keys: list[str]) -> int:
    """Remove every version and delete marker of exactly these keys (a processing job's own
    outputs, which its role may delete); returns how many object versions were removed."""
    bucket = get_settings().bucket
    removed = 0
    paginator = client().get_paginator("list_object_versions")
    for key in keys:
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            found = [
                v
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                if v["Key"] == key  # a prefix: never another key that starts like this one
            ]
            if found:
                objects = [{"Key": key, "VersionId": v["VersionId"]} for v in found]
                client().delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
                removed += sum(1 for v in page.get("Versions", []) if v["Key"] == key)
    return removed
