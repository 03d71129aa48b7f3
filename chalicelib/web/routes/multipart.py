"""Multipart uploads of any size, straight to S3 and resumable from any client: create (through
POST /v1/maps), part URLs in batches, the parts S3 holds, complete, abort."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

from chalice import Blueprint, Response

from chalicelib import db, errors, logs, storage
from chalicelib.auth import Caller
from chalicelib.config import get_settings
from chalicelib.web import part_checksums
from chalicelib.web.caller import caller_args, current_caller
from chalicelib.web.envelope import json_response
from chalicelib.web.fields import parse_map_id
from chalicelib.web.map_rows import create_row
from chalicelib.web.request import MAX_COMPLETE_JSON_BYTES, json_body

bp = Blueprint(__name__)

MAX_PARTS = 10_000  # S3's limit
PARTS_PER_CALL = 100
PART_URL_TTL_SECONDS = 900


def part_size_for(size: int, smallest: int) -> int:
    """The part size for an upload of `size` bytes: `smallest`, or larger (whole MiB) when the
    upload would otherwise need more than 10,000 parts."""
    needed = math.ceil(size / MAX_PARTS)
    if needed <= smallest:
        return smallest
    mib = 1024 * 1024
    return math.ceil(needed / mib) * mib


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def create(
    caller: Caller, fields: dict[str, Any], common: dict[str, Any], sha256: str | None
) -> Response:
    """POST /v1/maps for a multipart upload: the S3 upload is started, then the map row
    (quota) is made in one call; a refused row aborts the S3 upload again."""
    settings = get_settings()
    size = int(fields["size"])
    part_size = part_size_for(size, settings.multipart_part_bytes)
    part_count = math.ceil(size / part_size)
    checksum = fields.get("checksum_algorithm")
    map_id = str(uuid.uuid4())
    key = storage.original_key(map_id)
    upload_id = storage.create_multipart(key, checksum)
    ttl = settings.upload_expiry_hours * 3600
    try:
        doc = create_row(
            caller,
            map_id,
            common,
            size,
            sha256.lower() if sha256 else None,
            False,
            p_multipart_upload_id=upload_id,
            p_part_size=part_size,
            p_part_count=part_count,
            p_part_checksum=checksum,
            p_upload_ttl_seconds=ttl,
        )
    except BaseException:
        storage.abort_multipart(key, upload_id)
        raise
    upload = {
        "method": "multipart",
        "part_size": part_size,
        "part_count": part_count,
        "checksum_algorithm": checksum,
        "expires_at": _iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)),
    }
    logs.log("map_created", map_id=map_id, size=size, form="multipart", parts=part_count)
    return json_response({"map": doc, "upload": upload}, 201, {"Location": f"/v1/maps/{map_id}"})


def _caller() -> Caller:
    """The signed-in caller (checked before the body is read: a bad token is 401 whatever
    the body); raises ApiError 401."""
    caller = current_caller(bp.current_request)
    if caller is None:
        raise errors.unauthorized("Log in to upload maps.")
    return caller


def _upload(caller: Caller, map_id: str, owner_only: bool = False) -> dict[str, Any]:
    """The upload's shape; raises ApiError 404/409, and 403 when `owner_only` and the caller is
    not the owner (an admin may see and abort an upload, never send its bytes)."""
    return dict(
        db.call(
            "api.multipart_upload",
            **caller_args(caller),
            p_id=parse_map_id(map_id),
            p_owner_only=owner_only,
        )
    )


def _size_of(upload: dict[str, Any], part_number: int) -> int:
    if part_number < upload["part_count"]:
        return int(upload["part_size"])
    return int(upload["size"]) - (upload["part_count"] - 1) * int(upload["part_size"])


def _part_numbers(doc: dict[str, Any], part_count: int) -> list[int]:
    extra = sorted(set(doc) - {"part_numbers", part_checksums.FIELD})
    if extra:
        raise errors.invalid(f"{extra[0][:64]}: unknown field.")
    if "part_numbers" not in doc:
        raise errors.invalid("part_numbers: required.")
    numbers = doc["part_numbers"]
    if not isinstance(numbers, list) or not numbers:
        raise errors.invalid("part_numbers: must be a non-empty list of part numbers.")
    if len(numbers) > PARTS_PER_CALL:
        raise errors.invalid(f"part_numbers: at most {PARTS_PER_CALL} a call.")
    for n in numbers:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= part_count:
            raise errors.invalid(f"part_numbers: each must be an integer from 1 to {part_count}.")
    if len(set(numbers)) != len(numbers):
        raise errors.invalid("part_numbers: each part once.")
    return list(numbers)


@bp.route("/maps/{map_id}/upload/parts", methods=["POST"], content_types=["application/json"])
def part_urls(map_id: str) -> Response:
    """Owner: presigned PUT URLs for up to 100 parts (signed now, short-lived), each with the
    headers its PUT must carry (the part's checksum, for an upload created with them)."""
    caller = _caller()
    doc = json_body(bp.current_request)
    upload = _upload(caller, map_id, owner_only=True)
    numbers = _part_numbers(doc, int(upload["part_count"]))
    checksums = part_checksums.for_urls(doc, numbers, upload.get("checksum_algorithm"))
    expires_at = _iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=PART_URL_TTL_SECONDS))
    parts = [
        {
            "part_number": n,
            "size": _size_of(upload, n),
            "url": storage.presigned_part(
                upload["object_key"],
                upload["upload_id"],
                n,
                _size_of(upload, n),
                PART_URL_TTL_SECONDS,
                checksums.get(n),
            ),
            "headers": part_checksums.headers_for(checksums.get(n)),
            "expires_at": expires_at,
        }
        for n in numbers
    ]
    return json_response({"parts": parts})


def _held_parts(upload: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        return storage.list_parts(upload["object_key"], upload["upload_id"])
    except KeyError:
        # The row says awaiting_upload but S3 no longer has the upload (aborted by the bucket's
        # lifecycle rule): nothing can resume it.
        raise errors.conflict(_EXPIRED) from None


@bp.route("/maps/{map_id}/upload", methods=["GET"])
def upload_state(map_id: str) -> Response:
    """Owner: the upload's shape and the parts S3 already holds (resume from any client)."""
    upload = _upload(_caller(), map_id)
    return json_response(
        {
            "method": "multipart",
            "size": upload["size"],
            "part_size": upload["part_size"],
            "part_count": upload["part_count"],
            "checksum_algorithm": upload.get("checksum_algorithm"),
            "expires_at": upload["expires_at"],
            "parts": _held_parts(upload),
        }
    )


_COMPLETE_KEYS = ({"part_number", "etag"}, {"part_number", "etag", "checksum_sha256"})
_EXPIRED = "The upload expired in storage; delete it and start again."


def _listed_parts(
    doc: dict[str, Any], upload: dict[str, Any]
) -> tuple[dict[int, str], dict[int, str]]:
    """The client's part list: all parts, in order, each once; raises ApiError 400 naming what
    is wrong (the upload stays resumable). Returns {part: etag} and the checksums given."""
    if set(doc) != {"parts"} or not isinstance(doc["parts"], list):
        raise errors.invalid("parts: required, a list of {part_number, etag}.")
    given: dict[int, str] = {}
    claimed: dict[int, str] = {}
    for item in doc["parts"]:
        if not isinstance(item, dict) or not _COMPLETE_KEYS[0] <= set(item) <= _COMPLETE_KEYS[1]:
            raise errors.invalid("parts: each item is {part_number, etag, checksum_sha256?}.")
        n, etag = item["part_number"], item["etag"]
        if isinstance(n, bool) or not isinstance(n, int) or not isinstance(etag, str):
            raise errors.invalid("parts: part_number is an integer, etag a string.")
        if n in given:
            raise errors.invalid(f"parts: part {n} is listed twice.")
        given[n] = etag.strip().strip('"')
        if "checksum_sha256" in item:
            if not part_checksums.is_sha256_base64(item["checksum_sha256"]):
                raise errors.invalid(f"parts: part {n}'s checksum_sha256 is not base64 SHA-256.")
            claimed[n] = item["checksum_sha256"]
    count = int(upload["part_count"])
    if list(given) != sorted(given):
        raise errors.invalid("parts: list them in ascending part_number order.")
    missing = [n for n in range(1, count + 1) if n not in given]
    extra = [n for n in given if not 1 <= n <= count]
    if extra:
        raise errors.invalid(f"parts: part {extra[0]} is not in this upload (1..{count}).")
    if missing:
        raise errors.invalid(f"parts: part {missing[0]} is missing ({len(missing)} in all).")
    if claimed and upload.get("checksum_algorithm") is None:
        raise errors.invalid("parts: this upload was created without part checksums.")
    return given, claimed


def _check_held(
    given: dict[int, str], claimed: dict[int, str], upload: dict[str, Any]
) -> list[dict[str, Any]]:
    """The client's parts against S3's: the ETags (and checksums, when given) S3 holds, the
    right sizes; raises ApiError 400 naming what is wrong, KeyError when S3 has no such upload
    (any more). Returns the parts to complete with, with their checksums."""
    held = {
        p["part_number"]: p for p in storage.list_parts(upload["object_key"], upload["upload_id"])
    }
    parts = []
    for n in given:
        part = held.get(n)
        if part is None:
            raise errors.invalid(f"parts: S3 holds no part {n}; upload it, then complete.")
        if part["etag"] != given[n]:
            raise errors.invalid(f"parts: part {n}'s etag is not the one S3 holds.")
        if part["size"] != _size_of(upload, n):
            raise errors.invalid(
                f"parts: part {n} holds {part['size']} bytes, expected {_size_of(upload, n)}."
            )
        stored = part.get("checksum_sha256")
        if stored and n in claimed and claimed[n] != stored:
            raise errors.invalid(f"parts: part {n}'s checksum_sha256 is not the one S3 holds.")
        # Completing an upload made with checksums needs each part's: the one S3 holds (what
        # ListParts reports), else the client's (S3 then compares it with its own).
        checksum = stored or claimed.get(n)
        parts.append({"part_number": n, "etag": given[n], "checksum_sha256": checksum})
    return parts


def _same_completion(object_etag: Any, given: dict[int, str]) -> bool:
    """Whether the stored object is the one these parts complete (S3's multipart ETag)."""
    expected = storage.multipart_etag(list(given.values()))
    return expected is not None and str(object_etag or "").strip('"') == expected


def _completed_already(doc: dict[str, Any], upload: dict[str, Any]) -> dict[str, Any]:
    """The map, when these parts are the ones its object was completed from; raises ApiError
    409 saying the upload is complete otherwise (whatever is wrong with the list)."""
    try:
        given, _ = _listed_parts(doc, upload)
    except errors.ApiError:
        given = {}
    if not given or not _same_completion(upload["object_etag"], given):
        raise errors.conflict(
            f"The upload is already complete (the map is {upload['status']}), "
            "with other parts than these."
        )
    return dict(upload["map"])


@bp.route("/maps/{map_id}/upload/complete", methods=["POST"], content_types=["application/json"])
def complete(map_id: str) -> Response:
    """Owner: assemble the object from its parts; the map becomes `uploaded`. Idempotent: a
    completion already made (an answer lost, or concurrent calls) with the same parts is
    answered as the first one was.

    Two database calls, on purpose: the upload's shape is read (and the caller checked) before
    S3 assembles anything, and the map is marked uploaded after it did."""
    caller = _caller()
    doc = json_body(bp.current_request, MAX_COMPLETE_JSON_BYTES)
    upload = dict(
        db.call("api.multipart_completion", **caller_args(caller), p_id=parse_map_id(map_id))
    )
    if upload["status"] != "awaiting_upload":
        return json_response(_completed_already(doc, upload))
    given, claimed = _listed_parts(doc, upload)
    try:
        parts = _check_held(given, claimed, upload)
        done = storage.complete_multipart(upload["object_key"], upload["upload_id"], parts)
    except KeyError:
        # S3 has no such upload any more: a concurrent completion made the object (the map is
        # marked uploaded by whichever call gets there first), or it was aborted or expired.
        found = storage.head(upload["object_key"])
        if found is None:
            raise errors.conflict(_EXPIRED) from None
        if not _same_completion(found.get("ETag"), given):
            raise errors.conflict(
                "The upload is already complete, with other parts than these."
            ) from None
        done = found
    # Every part's size was checked against S3's list: the object is the declared size (and
    # its S3 event checks the stored one again), so no HEAD request is needed for it.
    size = int(upload["size"])
    version = done.get("VersionId") if done.get("VersionId") not in (None, "null") else None
    result = db.call(
        "api.finish_multipart",
        **caller_args(caller),
        p_id=parse_map_id(map_id),
        p_size=size,
        p_version=version,
        p_etag=str(done.get("ETag", "")).strip('"') or None,
    )
    logs.log("multipart_completed", map_id=map_id, parts=len(given), size=size)
    return json_response(result)


@bp.route("/maps/{map_id}/upload", methods=["DELETE"])
def abort(map_id: str) -> Response:
    """Owner: abort the upload; the map is removed (its quota freed)."""
    caller = _caller()
    gone = db.call("api.abort_multipart", **caller_args(caller), p_id=parse_map_id(map_id))
    try:
        storage.abort_multipart(gone["object_key"], gone["upload_id"])
        storage.delete_map_objects(gone["id"])
    except Exception as exc:
        # The row is gone; the bucket's lifecycle rule and the orphan sweep finish the job.
        logs.log("abort_storage_failed", "warning", map_id=gone["id"], error=type(exc).__name__)
    return Response(body="", status_code=204)
