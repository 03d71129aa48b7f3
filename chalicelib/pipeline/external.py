"""The long-job hand-off: jobs too big for Lambda go to another team's system through a queue
and come back as an object under the map's `external/{job_id}/` prefix (see README)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from typing import Any

from chalicelib import db, logs, storage
from chalicelib.config import Settings, get_settings
from chalicelib.pipeline import jobs
from chalicelib.pipeline.budget import Cancelled
from chalicelib.pipeline.outcome import (
    abandon,
    bbox_of,
    check_recorded,
    end_failed,
    inspection_args,
)

JOB_VERSION = 1
# What the external system produces per format family; other formats are kept as uploaded.
RESULT_KINDS = {"geotiff": "cog", "tiff": "cog", "geojson": "gzip", "kml": "gzip", "gpx": "gzip"}
# The task of a job that only hashes the source (a file too large to hash in Lambda, of a
# format with nothing to optimize): its result carries the checksum, not a variant.
CHECKSUM_TASK = "sha256"
SOURCE_SHA256 = "source-sha256"  # the result's user metadata naming the source's SHA-256
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def needed(size: int, file_format: str, settings: Settings) -> bool:
    """True when this map's optimization must leave Lambda (size or format over the threshold)."""
    if not settings.external_queue_url or file_format not in RESULT_KINDS:
        return False
    return size > settings.external_threshold_bytes or file_format in settings.external_formats


def job_document(
    map_id: str,
    job_id: str,
    request_id: str | None,
    spooled: Any,
    found: Any,
    settings: Settings,
    version: str | None = None,
) -> dict[str, Any]:
    """The message the external system receives (version 1, documented in the README). A
    source too large to hash in Lambda has `sha256` null and asks for its SHA-256 back."""
    prefix = storage.external_prefix(map_id, job_id)
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.external_timeout_seconds)
    return {
        "version": JOB_VERSION,
        "job_id": job_id,
        "map_id": map_id,
        "request_id": request_id,
        "task": RESULT_KINDS.get(found.format, CHECKSUM_TASK),
        "report_source_sha256": spooled.sha256 is None,
        "source": {
            "bucket": settings.bucket,
            "key": storage.original_key(map_id),
            # The version checked and inspected: a later object under the key is not the map.
            "version_id": version,
            "size": spooled.size,
            "sha256": spooled.sha256,
            "format": found.format,
            "media_type": found.media_type,
        },
        "output": {
            "bucket": settings.bucket,
            "result_key": prefix + "result",
            "error_key": prefix + "error",
        },
        "deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def hand_off(
    map_id: str,
    lease: str,
    claim: dict[str, Any],
    spooled: Any,
    found: Any,
    settings: Settings,
    preview: dict[str, Any] | None = None,
) -> None:
    """Publish the job, then record the hand-off and the preview drawn before it (a lost
    record only costs a repeated job); raises Cancelled when the map was deleted meanwhile."""
    job_id = str(uuid.uuid4())
    jobs.publish_external(
        job_document(
            map_id,
            job_id,
            claim.get("request_id"),
            spooled,
            found,
            settings,
            claim.get("object_version"),
        )
    )
    recorded = db.call(
        "pipeline.hand_off_external",
        retry=True,
        p_id=map_id,
        p_lease_token=lease,
        **inspection_args(spooled, found),
        p_job_id=job_id,
        p_timeout_seconds=settings.external_timeout_seconds,
        p_preview=preview,
    )
    check_recorded(recorded, "handoff")
    logs.log("external_handoff", map_id=map_id, job_id=job_id, recorded=recorded)


def _hash_object(key: str, version: str | None) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in storage.iter_object(key, pin=storage.pinned(version, None)):
        size += len(chunk)
        digest.update(chunk)
    return size, digest.hexdigest()


def _reported_sha256(head: dict[str, Any]) -> str | None:
    """The source's SHA-256 an external result reports (x-amz-meta-source-sha256), or None."""
    reported = str(head.get("Metadata", {}).get(SOURCE_SHA256, "")).lower()
    return reported if _HEX64.match(reported) else None


def _unhashed(claim: dict[str, Any]) -> dict[str, Any]:
    """The map's metadata with the reason it has no SHA-256 (the external system gave none)."""
    reason = (
        "The file is too large to hash within one processing job, and the external system did "
        "not report its SHA-256."
    )
    if claim.get("declared_sha256"):
        reason += " The SHA-256 declared with the upload was not verified."
    return {**(claim.get("metadata") or {}), "checksum": {"skipped": reason}}


def _reject_checksum(map_id: str, lease: str, sha256: str) -> None:
    db.call(
        "pipeline.finish_processing_error",
        retry=True,
        p_id=map_id,
        p_lease_token=lease,
        p_status="rejected",
        p_code="checksum_mismatch",
        p_message="SHA-256 of the upload differs from the declared one.",
        p_size=None,
        p_sha256=sha256,
    )
    logs.log("map_rejected", map_id=map_id, code="checksum_mismatch")


def finalize(map_id: str, job_id: str, *, final_attempt: bool) -> str:
    """Verify an external result's checksum and publish it as the map's optimized variant (and
    the source's SHA-256 it reports, for a source too large to hash in Lambda)."""
    settings = get_settings()
    claim = db.call(
        "pipeline.claim_external_result",
        p_id=map_id,
        p_job_id=job_id,
        p_lease_seconds=settings.processing_lease_seconds,
    )
    if not claim["claimed"]:
        logs.log("finalize_skipped", map_id=map_id, job_id=job_id)
        return "skipped"
    if claim.get("request_id"):
        logs.request_id.set(claim["request_id"])
    lease = claim["lease_token"]
    key = storage.external_prefix(map_id, job_id) + "result"
    try:
        head = storage.head(key)
        declared = (head or {}).get("Metadata", {}).get("sha256", "").lower()
        version = (head or {}).get("VersionId")
        size, sha256 = _hash_object(key, version) if head else (0, "")
        if not head or not declared or declared != sha256:
            # Not (yet) a verifiable result: drop it and keep waiting until the deadline.
            if head:
                storage.delete_version(key, version)
            db.call("pipeline.return_to_external", retry=True, p_id=map_id, p_lease_token=lease)
            logs.log("external_result_unverified", "warning", map_id=map_id, job_id=job_id)
            return "unverified"
        source_sha256, metadata = None, None
        if not claim.get("sha256"):  # handed off unhashed: the result reports the checksum
            source_sha256 = _reported_sha256(head)
            if source_sha256 is None:
                metadata = _unhashed(claim)
            elif claim.get("declared_sha256") not in (None, source_sha256):
                storage.delete_version(key, version)
                _reject_checksum(map_id, lease, source_sha256)
                return "rejected"
        variant = None
        if claim.get("format") in RESULT_KINDS:
            meta = head.get("Metadata", {})
            kind = meta.get("kind") if meta.get("kind") in ("cog", "gzip") else "cog"
            variant = {
                "key": key,
                "kind": kind,
                "size": size,
                "sha256": sha256,
                "media_type": head.get("ContentType") or claim.get("media_type"),
                "content_encoding": head.get("ContentEncoding"),
            }
        else:
            storage.delete_version(key, version)  # a checksum job: the result only carried it
        recorded = db.call(
            "pipeline.complete_processing",
            retry=True,
            p_id=map_id,
            p_lease_token=lease,
            p_size=None,
            p_sha256=source_sha256,
            p_format=None,
            p_media_type=None,
            p_metadata=metadata,
            p_bbox=bbox_of(metadata) if metadata is not None else None,
            p_variant=variant,
        )
        if not recorded:  # deleted while the external system worked: keep none of it
            outcome = abandon(map_id, Cancelled("record"))
            if outcome == "deleted" and variant is not None:
                storage.delete_version(key, version)
            return outcome
        logs.log(
            "map_ready",
            map_id=map_id,
            variant=variant["kind"] if variant else None,
            external_job_id=job_id,
        )
        return "ready"
    except Exception as exc:
        logs.log("finalize_error", "error", map_id=map_id, error=type(exc).__name__)
        if final_attempt:
            end_failed(
                map_id, lease, "The external result could not be published; contact support."
            )
            return "failed"
        db.call("pipeline.return_to_external", retry=True, p_id=map_id, p_lease_token=lease)
        raise


def record_error(map_id: str, job_id: str) -> bool:
    """The external system wrote `error`: end the map `failed` with its (sanitised) reason."""
    try:
        doc = json.loads(storage.read_small(storage.external_prefix(map_id, job_id) + "error"))
        reason = str(doc.get("message", ""))[:300] if isinstance(doc, dict) else ""
    except ValueError:
        reason = ""
    reason = "".join(c for c in reason if c.isprintable()) or "no reason given"
    return bool(
        db.call(
            "pipeline.fail_external",
            retry=True,
            p_id=map_id,
            p_job_id=job_id,
            p_code="external_failed",
            p_message=f"External processing failed: {reason}",
        )
    )
