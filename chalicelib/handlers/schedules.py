"""Scheduled sweepers: expired upload slots, stalled jobs, and objects without a map."""

from __future__ import annotations

from typing import Any

from chalicelib import db, logs, storage
from chalicelib.config import get_settings
from chalicelib.pipeline import jobs


def sweep() -> dict[str, Any]:
    """Scheduled: time out external jobs, drop never-used upload slots (idempotent)."""
    settings = get_settings()
    result: dict[str, Any] = db.call(
        "pipeline.sweep",
        retry=True,
        p_upload_grace_seconds=settings.upload_grace_seconds,
        p_stall_seconds=settings.stall_seconds,
        p_max_attempts=settings.max_receive_count,
    )
    for map_id in result["expired_uploads"]:
        storage.delete_map_objects(map_id)
    for map_id in result["requeue"]:
        jobs.enqueue_processing(map_id, None)
    logs.log(
        "sweep",
        timed_out=result["timed_out"],
        expired=len(result["expired_uploads"]),
        requeued=len(result["requeue"]),
        gave_up=result["gave_up"],
    )
    return result


def sweep_orphans() -> dict[str, int]:
    """Scheduled: remove objects whose map row is gone (idempotent; recent ones are left, as a
    delete or an upload may be in flight)."""
    grace = get_settings().upload_grace_seconds
    checked = removed = 0
    for ids in storage.map_ids_in_bucket():
        existing = set(db.call("pipeline.existing_maps", retry=True, p_ids=ids))
        checked += len(ids)
        for map_id in ids:
            if map_id in existing:
                continue
            age = storage.newest_object_age_seconds(map_id)
            if age is not None and age >= grace:
                removed += storage.delete_map_objects(map_id)
    logs.log("orphan_sweep", checked=checked, removed=removed)
    return {"checked": checked, "removed_objects": removed}
