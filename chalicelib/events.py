"""S3, SQS and schedule handlers' logic: parse the event, call the service, report per record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from chalicelib import db, jobs, logs, storage
from chalicelib.config import get_settings
from chalicelib.processing import budget


def _register_upload(key: str, map_id: str, event_version: str | None) -> str:
    # The event names the version it is about (S3 does, in a versioned bucket); without one,
    # the current object is the one to register.
    found = storage.head(key, event_version)
    if found is None:
        logs.log("s3_object_gone", map_id=map_id)
        return "gone"
    size = int(found["ContentLength"])
    version = found.get("VersionId") if found.get("VersionId") not in (None, "null") else None
    result = db.call(
        "pipeline.register_upload",
        retry=True,
        p_object_key=key,
        p_size=size,
        p_version=version,
        p_etag=str(found.get("ETag", "")).strip('"') or None,
    )
    action: str = result["action"]
    logs.request_id.set(result.get("request_id") or "-")
    if action in ("enqueue", "noop"):
        storage.clear_pending_tag(key, result.get("version"))
    if action == "enqueue":
        jobs.enqueue_processing(map_id, result.get("request_id"))
    elif action == "orphan":
        # Rows exist before any upload URL does: no row means the map was deleted.
        storage.delete_map_objects(map_id)
    elif action == "stray" and version:
        # Bytes sent again through an upload slot after the map was registered: they are not
        # the map (which stays the pinned version, checked and processed); remove them.
        storage.delete_version(key, version)
        logs.log("s3_stray_upload_removed", "warning", map_id=map_id, status=result.get("status"))
    elif action == "replaced":
        logs.log("s3_registered_object_replaced", "error", map_id=map_id)
    logs.log("s3_upload_registered", map_id=map_id, action=action, size=size)
    return action


def _register_external(map_id: str, job_id: str, kind: str) -> str:
    if kind == "error":
        from chalicelib.processing import external

        failed = external.record_error(map_id, job_id)
        logs.log("external_error_reported", map_id=map_id, job_id=job_id, applied=failed)
        return "external_failed"
    # Verifying the checksum means reading the object: that is the processor's work.
    jobs.enqueue_processing(map_id, None, kind="finalize_external", external_job_id=job_id)
    logs.log("external_result_registered", map_id=map_id, job_id=job_id)
    return "finalize_queued"


def register_uploads(event: dict[str, Any]) -> list[str]:
    """S3 ObjectCreated: register uploads and external results, queue their jobs."""
    settings = get_settings()
    actions = []
    for record in event.get("Records", []):
        logs.request_id.set("-")
        s3 = record.get("s3", {})
        key = unquote_plus(s3.get("object", {}).get("key", ""))
        created = str(record.get("eventName", "")).startswith("ObjectCreated")
        ours = created and s3.get("bucket", {}).get("name") == settings.bucket
        map_id = storage.map_id_of_original(key) if ours else None
        external = storage.parse_external_key(key) if ours else None
        if map_id:
            version = s3.get("object", {}).get("versionId")
            actions.append(_register_upload(key, map_id, version if version != "null" else None))
        elif external:
            actions.append(_register_external(*external))
        else:
            logs.log("s3_event_ignored", event_name=record.get("eventName"))
            actions.append("ignored")
    return actions


def _parse_job(body: str) -> dict[str, Any] | None:
    try:
        job = json.loads(body)
    except ValueError:
        return None
    if not isinstance(job, dict) or not storage.is_map_id(job.get("map_id")):
        return None
    if job.get("kind") == "finalize_external" and not storage.is_map_id(job.get("external_job_id")):
        return None
    earlier = job.get("earlier_receives")
    if not isinstance(earlier, int) or isinstance(earlier, bool) or earlier < 0:
        job.pop("earlier_receives", None)
    return job


class BatchFailed(Exception):
    """Every record of a batch failed: the whole batch is retried (works with or without
    ReportBatchItemFailures on the trigger)."""


def _jobs(
    event: dict[str, Any], malformed_event: str
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, job) for each SQS record; a message no retry can fix is logged and dropped:
    that loses no map (there is none to name)."""
    for record in event.get("Records", []):
        logs.request_id.set("-")
        job = _parse_job(record.get("body", ""))
        if job is None:
            logs.log(malformed_event, "error", message_id=record.get("messageId"))
            continue
        yield record, job


def _defer(job: dict[str, Any], receives: int) -> bool:
    """Queue a job this invocation has no time left to start as a new message; False when that
    failed.

    Why not report it in batchItemFailures: SQS would return it only after the visibility
    timeout (an hour), and every receive counts towards the redrive policy's maxReceiveCount:
    a job deferred on its last receive would go to the DLQ, whose consumer ends the map
    `failed` without it ever having been attempted. A new message starts at receive count 1
    and carries the receives its predecessors really used (`earlier_receives`), so the final
    attempt still comes after MAX_RECEIVE_COUNT attempts; a duplicate message is harmless (the
    claim lets one through)."""
    earlier = int(job.get("earlier_receives", 0)) + receives - 1
    try:
        jobs.requeue({**job, "earlier_receives": earlier})
    except Exception as exc:
        logs.log("job_defer_failed", "error", map_id=job["map_id"], error=type(exc).__name__)
        return False
    return True


def process_batch(
    event: dict[str, Any], remaining_ms: float | None = None
) -> dict[str, list[dict[str, str]]]:
    """SQS: process each job; report only the failed records so only they are retried.

    `remaining_ms` is the invocation's remaining time (the Lambda context's; None when unknown):
    it caps each job's budget, and jobs it has no time left for are queued again unstarted.
    Raises BatchFailed when every record failed."""
    from chalicelib.processing import external
    from chalicelib.processing.pipeline import process_map

    settings = get_settings()
    deadline = budget.invocation_deadline(remaining_ms)
    failures = []
    started = False
    for record, job in _jobs(event, "job_malformed"):
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        # The first job always starts: a new invocation would not have more time for it.
        if started and not budget.leaves_time_for_job(deadline, settings.job_budget_seconds):
            requeued = _defer(job, receives)
            logs.log("job_deferred", "warning", map_id=job["map_id"], requeued=requeued)
            if not requeued:
                failures.append({"itemIdentifier": record["messageId"]})
            continue
        started = True
        attempt = receives + int(job.get("earlier_receives", 0))
        final = attempt >= settings.max_receive_count
        try:
            if job.get("kind") == "finalize_external":
                external.finalize(job["map_id"], job["external_job_id"], final_attempt=final)
            else:
                process_map(job["map_id"], final_attempt=final, invocation_deadline=deadline)
        except Exception as exc:
            logs.log(
                "job_failed",
                "error",
                map_id=job["map_id"],
                error=type(exc).__name__,
                receives=receives,
                attempt=attempt,
            )
            failures.append({"itemIdentifier": record["messageId"]})
    if failures and len(failures) == len(event.get("Records", [])):
        raise BatchFailed(f"all {len(failures)} records failed")
    return {"batchItemFailures": failures}


def dead_letters(event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """DLQ: a job that exhausted its retries ends its map `failed` (never left processing)."""
    failures = []
    for record, job in _jobs(event, "dead_letter_malformed"):
        try:
            changed = db.call("pipeline.fail_dead_letter", retry=True, p_id=job["map_id"])
        except Exception as exc:
            logs.log("dead_letter_failed", "error", map_id=job["map_id"], error=type(exc).__name__)
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        logs.log("dead_letter", "warning", map_id=job["map_id"], map_failed=changed)
    return {"batchItemFailures": failures}


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
