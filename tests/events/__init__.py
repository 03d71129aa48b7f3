"""Canonical S3 and SQS payloads, filled in as AWS would (encoded keys, distinct messageIds)."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

_HERE = Path(__file__).parent
_S3 = json.loads((_HERE / "s3_object_created.json").read_text())
_SQS = json.loads((_HERE / "sqs_record.json").read_text())


def s3_object_created(
    bucket: str,
    key: str,
    size: int,
    event_name: str = "ObjectCreated:Post",
    version_id: str | None = None,
) -> dict[str, Any]:
    """An S3 notification as Lambda receives it: the key URL-encoded (spaces as '+'), and the
    object's versionId when the bucket is versioned."""
    event = copy.deepcopy(_S3)
    record = event["Records"][0]
    record["eventName"] = event_name
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    record["s3"]["object"]["size"] = size
    if version_id is not None:
        record["s3"]["object"]["versionId"] = version_id
    return event


def sqs_record(
    body: str, queue: str, receive_count: int = 1, message_id: str | None = None
) -> dict[str, Any]:
    """One SQS record with its own messageId and receive count."""
    record = copy.deepcopy(_SQS)
    record["messageId"] = message_id or str(uuid.uuid4())
    record["receiptHandle"] = uuid.uuid4().hex
    record["body"] = body
    record["md5OfBody"] = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    record["eventSourceARN"] = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    return record


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of SQS records."""
    return {"Records": records}


def scheduled_event() -> dict[str, Any]:
    """An EventBridge scheduled event, as a `@app.schedule` function receives it."""
    return json.loads((_HERE / "scheduled_event.json").read_text())  # type: ignore[no-any-return]
