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


def job_message(map_id: str, request_id: str | None, **extra: str) -> str:
    """The job document: the map, the request id that started it (for the logs), and for a
    finalize job the external job id."""
    return json.dumps({"map_id": map_id, "request_id": request_id or None, **extra})


def enqueue_processing(map_id: str, request_id: str | None, **extra: str) -> None:
    """Queue one processing job for a map (extra: kind="finalize_external", external_job_id)."""
    client().send_message(
        QueueUrl=queue_url(), MessageBody=job_message(map_id, request_id, **extra)
    )


def requeue(job: dict[str, Any]) -> None:
    """Queue a job document again as a new message (its receive count starts over)."""
    client().send_message(QueueUrl=queue_url(), MessageBody=json.dumps(job))


def publish_external(job: dict[str, Any]) -> None:
    """Hand a job to the external processing system (its queue is its interface)."""
    url = get_settings().external_queue_url
    if not url:
        raise RuntimeError("EXTERNAL_QUEUE_URL is not configured")
    client().send_message(QueueUrl=url, MessageBody=json.dumps(job, separators=(",", ":")))
