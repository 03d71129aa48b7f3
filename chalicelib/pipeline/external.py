"""The long-job hand-off: jobs too big for Lambda go to another team's system through a queue
and come back as an object under the map's `external/{job_id}/` prefix (see README)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from chalicelib import db, logs, storage
from chalicelib.config import Settings, get_settings
from chalicelib.pipeline import jobs
from chalicelib.pipeline.outcome import end_failed, inspection_args

JOB_VERSION = 1
# What the external system produces per format family; other formats are kept as uploaded.
RESULT_KINDS = {"geotiff": "cog", "tiff": "cog", "geojson": "gzip", "kml": "gzip", "gpx": "gzip"}


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
    """The message the external system receives (version 1, documented in the README)."""
    prefix = storage.external_prefix(map_id, job_id)
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.external_timeout_seconds)
    return {
        "version": JOB_VERSION,
        "job_id": job_id,
        "map_id": map_id,
        "request_id": request_id,
        "task": RESULT_KINDS[found.format],
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
    record only costs a repeated job)."""
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
    logs.log("external_handoff", map_id=map_id, job_id=job_id, recorded=recorded)


def _hash_object(key: str, version: str | None) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in storage.iter_object(key, pin=storage.pinned(version, None)):
        size += len(chunk)
        digest.update(chunk)
    return size, digest.hexdigest()


def finalize(map_id: str, job_id: str, *, final_attempt: bool) -> str:
    """Verify an external result's checksum and publish it as the map's optimized variant."""
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
        metadata = head.get("Metadata", {})
        kind = metadata.get("kind") if metadata.get("kind") in ("cog", "gzip") else "cog"
        variant = {
            "key": key,
            "kind": kind,
            "size": size,
            "sha256": sha256,
            "media_type": head.get("ContentType") or claim.get("media_type"),
            "content_encoding": head.get("ContentEncoding"),
        }
        db.call(
            "pipeline.complete_processing",
            retry=True,
            p_id=map_id,
            p_lease_token=lease,
            p_size=None,
            p_sha256=None,
            p_format=None,
            p_media_type=None,
            p_metadata=None,
            p_bbox=None,
            p_variant=variant,
        )
        logs.log("map_ready", map_id=map_id, variant=kind, external_job_id=job_id)
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
