"""S3 and SQS handlers' logic: parse the event, call the service, report per record."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from chalicelib import db, jobs, logs, storage
from chalicelib.config import get_settings


def register_uploads(event: dict[str, Any]) -> list[str]:
    """S3 ObjectCreated: register each upload and queue its job; returns the actions taken."""
    settings = get_settings()
    actions = []
    for record in event.get("Records", []):
        logs.request_id.set("-")
        s3 = record.get("s3", {})
        key = unquote_plus(s3.get("object", {}).get("key", ""))
        map_id = storage.map_id_of_original(key)
        if (
            not str(record.get("eventName", "")).startswith("ObjectCreated")
            or s3.get("bucket", {}).get("name") != settings.bucket
            or map_id is None
        ):
            logs.log("s3_event_ignored", event_name=record.get("eventName"))
            actions.append("ignored")
            continue
        size = storage.object_size(key)
        if size is None:
            logs.log("s3_object_gone", map_id=map_id)
            actions.append("gone")
            continue
        result = db.call("api.register_upload", retry=True, p_object_key=key, p_size=size)
        action = result["action"]
        logs.request_id.set(result.get("request_id") or "-")
        if action == "enqueue":
            jobs.enqueue_processing(map_id, result.get("request_id"))
        elif action == "orphan":
            # Rows exist before any upload URL does: no row means the map was deleted.
            storage.delete_map_objects(map_id)
        logs.log("s3_upload_registered", map_id=map_id, action=action, size=size)
        actions.append(action)
    return actions


def process_batch(event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """SQS: process each job; report only the failed records so only they are retried."""
    from chalicelib.processing.pipeline import process_map

    settings = get_settings()
    failures = []
    for record in event.get("Records", []):
        logs.request_id.set("-")
        try:
            job = json.loads(record["body"])
            map_id = job["map_id"]
            if (
                not isinstance(map_id, str)
                or storage.map_id_of_original(storage.original_key(map_id)) is None
            ):
                raise ValueError("map_id")
        except (ValueError, KeyError, TypeError):
            # A message no retry can fix: dropping it loses no map (there is none to name).
            logs.log("job_malformed", "error", message_id=record.get("messageId"))
            continue
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            process_map(map_id, final_attempt=receives >= settings.max_receive_count)
        except Exception as exc:
            logs.log(
                "job_failed", "error", map_id=map_id, error=type(exc).__name__, receives=receives
            )
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
