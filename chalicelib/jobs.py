"""SQS: enqueue a processing job."""

from __future__ import annotations

import functools
import json
from typing import Any

from chalicelib.config import get_settings


@functools.lru_cache(maxsize=1)
def client() -> Any:
    """The SQS client of this container."""
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", config=Config(retries={"max_attempts": 4, "mode": "standard"}))


@functools.lru_cache(maxsize=1)
def queue_url() -> str:
    """The processing queue's URL (configured, or looked up once per container)."""
    settings = get_settings()
    if settings.queue_url:
        return settings.queue_url
    return str(client().get_queue_url(QueueName=settings.queue_name)["QueueUrl"])


def job_message(map_id: str, request_id: str | None) -> str:
    """The job document: which map, and the request id that started it (for the logs)."""
    return json.dumps({"map_id": map_id, "request_id": request_id or None})


def enqueue_processing(map_id: str, request_id: str | None) -> None:
    """Queue one processing job for a map."""
    client().send_message(QueueUrl=queue_url(), MessageBody=job_message(map_id, request_id))
