"""S3 ObjectCreated: register uploads and external results, queue their jobs."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from chalicelib import db, logs, storage
from chalicelib.config import get_settings
from chalicelib.pipeline import jobs


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
    elif action == "discard":
        # The owner's subscription ended before the bytes came: the map is rejected and no
        # byte it never accepted stays in the bucket (every version under its prefix).
        storage.delete_map_objects(map_id)
        logs.log("s3_upload_discarded", "warning", map_id=map_id, reason="subscription_inactive")
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
        from chalicelib.pipeline import external  # the processor's side: not for every event

        failed = external.record_error(map_id, job_id)
        logs.log("external_error_reported", map_id=map_id, job_id=job_id, applied=failed)
        return "external_failed"
    # Verifying the checksum means reading the object: that is the processor's work.
    jobs.enqueue_finalize(map_id, job_id)
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
