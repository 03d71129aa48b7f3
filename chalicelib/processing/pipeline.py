"""One processing job: claim the map, stream the object once (size + SHA-256), inspect, record."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from chalicelib import db, logs, storage
from chalicelib.config import get_settings


@dataclass(frozen=True)
class Spooled:
    path: str
    size: int
    sha256: str


class ContentRejected(Exception):
    """The upload is not what it claims (size or checksum differs from the declared one)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def spool(key: str, limit: int, directory: str | None = None) -> Spooled:
    """Copy the object to a temp file in one pass, hashing as it goes; stops past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    fd, path = tempfile.mkstemp(prefix="mapstock-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in storage.iter_object(key):
                size += len(chunk)
                if size > limit:
                    raise ContentRejected(
                        "size_mismatch", "The stored object is larger than declared."
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return Spooled(path, size, digest.hexdigest())


def _bbox(metadata: dict[str, Any]) -> list[float] | None:
    bbox = metadata.get("bbox")
    if isinstance(bbox, list | tuple) and len(bbox) == 4:
        return [float(v) for v in bbox]
    return None


def process_map(map_id: str, *, final_attempt: bool) -> str:
    """Run the job for one map; returns the outcome. Raises on a transient error (retry)."""
    settings = get_settings()
    claim = db.call(
        "api.claim_processing", p_id=map_id, p_lease_seconds=settings.processing_lease_seconds
    )
    if not claim["claimed"]:
        logs.log("job_skipped", map_id=map_id, status=claim.get("status"))
        return "skipped"
    if claim.get("request_id"):
        logs.request_id.set(claim["request_id"])
    lease = claim["lease_token"]
    spooled: Spooled | None = None
    try:
        spooled = spool(
            claim["object_key"],
            int(claim["declared_size"]),
            os.environ.get("MAPSTOCK_TMP_DIR") or None,
        )
        if spooled.size != int(claim["declared_size"]):
            raise ContentRejected(
                "size_mismatch", "The stored object's size differs from the declared one."
            )
        declared = claim.get("declared_sha256")
        if declared and declared != spooled.sha256:
            raise ContentRejected(
                "checksum_mismatch", "SHA-256 of the upload differs from the declared one."
            )
        from chalicelib.processing.inspect import inspect_file  # heavy readers: processor only
        from chalicelib.processing.result import Rejected

        try:
            found = inspect_file(spooled.path)
        except Rejected as exc:
            raise ContentRejected(exc.code, exc.message) from None
        db.call(
            "api.complete_processing",
            retry=True,
            p_id=map_id,
            p_lease_token=lease,
            p_size=spooled.size,
            p_sha256=spooled.sha256,
            p_format=found.format,
            p_media_type=found.media_type,
            p_metadata=found.metadata,
            p_bbox=_bbox(found.metadata),
        )
        logs.log("map_ready", map_id=map_id, format=found.format, size=spooled.size)
        return "ready"
    except ContentRejected as exc:
        db.call(
            "api.finish_processing_error",
            retry=True,
            p_id=map_id,
            p_lease_token=lease,
            p_status="rejected",
            p_code=exc.code,
            p_message=exc.message,
            p_size=spooled.size if spooled else None,
            p_sha256=spooled.sha256 if spooled else None,
        )
        logs.log("map_rejected", map_id=map_id, code=exc.code)
        return "rejected"
    except Exception as exc:
        logs.log("job_error", "error", map_id=map_id, error=type(exc).__name__, final=final_attempt)
        if final_attempt:
            db.call(
                "api.finish_processing_error",
                retry=True,
                p_id=map_id,
                p_lease_token=lease,
                p_status="failed",
                p_code="processing_failed",
                p_message="Processing failed repeatedly; the upload was kept. Contact support.",
                p_size=None,
                p_sha256=None,
            )
            return "failed"
        db.call("api.release_processing", retry=True, p_id=map_id, p_lease_token=lease)
        raise
    finally:
        if spooled is not None:
            os.unlink(spooled.path)
