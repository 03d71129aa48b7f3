"""Recording a job's outcome: what it learnt about the upload, and ending or releasing it."""

from __future__ import annotations

from typing import Any

from chalicelib import db, logs, storage
from chalicelib.pipeline.budget import Cancelled, OutOfTime
from chalicelib.pipeline.spool import Spooled


def bbox_of(metadata: dict[str, Any]) -> list[float] | None:
    """The metadata's WGS84 bbox as four floats, or None."""
    bbox = metadata.get("bbox")
    if isinstance(bbox, list | tuple) and len(bbox) == 4:
        return [float(v) for v in bbox]
    return None


def inspection_args(spooled: Spooled, found: Any) -> dict[str, Any]:
    """What a job learnt about the upload, as the stored functions take it."""
    return {
        "p_size": spooled.size,
        "p_sha256": spooled.sha256,
        "p_format": found.format,
        "p_media_type": found.media_type,
        "p_metadata": found.metadata,
        "p_bbox": bbox_of(found.metadata),
    }


def end_failed(map_id: str, lease: str, message: str) -> None:
    """End a job we hold the lease of as `failed` (processing_failed) with a reason."""
    db.call(
        "pipeline.finish_processing_error",
        retry=True,
        p_id=map_id,
        p_lease_token=lease,
        p_status="failed",
        p_code="processing_failed",
        p_message=message,
        p_size=None,
        p_sha256=None,
    )


def fail_or_release(map_id: str, lease: str, exc: Exception, final_attempt: bool) -> str:
    """After a transient error: hand the map back for the SQS retry (re-raising), or on the
    last attempt end it `failed` with a reason (so it is never left processing)."""
    out_of_time = exc if isinstance(exc, OutOfTime) else None
    logs.log(
        "job_error",
        "error",
        map_id=map_id,
        error=type(exc).__name__,
        step=out_of_time.step if out_of_time else None,
        final=final_attempt,
    )
    if final_attempt:
        reason = "Processing failed repeatedly; the upload was kept. Contact support."
        end_failed(map_id, lease, out_of_time.reason if out_of_time else reason)
        return "failed"
    db.call("pipeline.release_processing", retry=True, p_id=map_id, p_lease_token=lease)
    raise exc


def map_deleted(map_id: str) -> bool:
    """True when the map's row is gone (deleted while its job ran); raises on a database error."""
    return map_id not in db.call("pipeline.existing_maps", retry=True, p_ids=[map_id])


def abandon(map_id: str, cancelled: Cancelled) -> str:
    """Stop a job whose map is no longer its own. A deleted map's DELETE may have run before
    the job wrote its variant or preview: the job removes them (every version), so nothing of
    the map stays stored. A lease taken over leaves them to the job that holds it now."""
    if not map_deleted(map_id):
        logs.log(
            "job_abandoned", "warning", map_id=map_id, reason="lease_lost", step=cancelled.step
        )
        return "stale"
    removed = storage.delete_every_version(
        [storage.variant_key(map_id), storage.preview_key(map_id)]
    )
    logs.log("job_abandoned", map_id=map_id, reason="deleted", step=cancelled.step, removed=removed)
    return "deleted"


def check_recorded(recorded: object, step: str) -> None:
    """Raises Cancelled when a conditional write of the job changed no row (the map is gone
    or no longer leased to this job)."""
    if not recorded:
        raise Cancelled(step)
