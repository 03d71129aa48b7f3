"""Processing jobs: the typed job message and the queues it travels on."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from chalicelib import storage
from chalicelib.config import get_settings

PROCESS = "process"
FINALIZE_EXTERNAL = "finalize_external"


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


@dataclass(frozen=True)
class Job:
    """One processing job message: the map, the request id that started it (for the logs), for
    a finalize job the external job id, and the receives earlier messages of it used up."""

    map_id: str
    request_id: str | None = None
    kind: str = PROCESS  # PROCESS or FINALIZE_EXTERNAL
    external_job_id: str | None = None
    earlier_receives: int = 0

    @classmethod
    def parse(cls, body: str) -> Job | None:
        """The job in an SQS message body; None for a message no retry can fix (no map named)."""
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        if not isinstance(doc, dict) or not storage.is_map_id(doc.get("map_id")):
            return None
        kind = doc.get("kind") or PROCESS
        external_job_id = doc.get("external_job_id")
        if kind not in (PROCESS, FINALIZE_EXTERNAL):
            return None
        if kind == FINALIZE_EXTERNAL and not storage.is_map_id(external_job_id):
            return None
        request_id = doc.get("request_id")
        earlier = doc.get("earlier_receives")
        if not isinstance(earlier, int) or isinstance(earlier, bool) or earlier < 0:
            earlier = 0
        return cls(
            map_id=doc["map_id"],
            request_id=request_id if isinstance(request_id, str) and request_id else None,
            kind=kind,
            external_job_id=external_job_id if kind == FINALIZE_EXTERNAL else None,
            earlier_receives=earlier,
        )

    def message(self) -> str:
        """The SQS message body (what `parse` reads back)."""
        doc: dict[str, Any] = {"map_id": self.map_id, "request_id": self.request_id}
        if self.kind != PROCESS:
            doc["kind"] = self.kind
            doc["external_job_id"] = self.external_job_id
        if self.earlier_receives:
            doc["earlier_receives"] = self.earlier_receives
        return json.dumps(doc)


def enqueue(job: Job) -> None:
    """Queue one processing job (a new message: its receive count starts over)."""
    client().send_message(QueueUrl=queue_url(), MessageBody=job.message())


def enqueue_processing(map_id: str, request_id: str | None) -> None:
    """Queue the processing of a registered upload."""
    enqueue(Job(map_id, request_id))


def enqueue_finalize(map_id: str, external_job_id: str) -> None:
    """Queue the check and publication of an external system's result."""
    enqueue(Job(map_id, kind=FINALIZE_EXTERNAL, external_job_id=external_job_id))


def publish_external(job: dict[str, Any]) -> None:
    """Hand a job to the external processing system (its queue is its interface)."""
    url = get_settings().external_queue_url
    if not url:
        raise RuntimeError("EXTERNAL_QUEUE_URL is not configured")
    client().send_message(QueueUrl=url, MessageBody=json.dumps(job, separators=(",", ":")))
