"""SQS: the processing queue's batches and the dead-letter queue; per-record failures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from chalicelib import db, logs
from chalicelib.config import get_settings
from chalicelib.pipeline import budget, jobs
from chalicelib.pipeline.jobs import FINALIZE_EXTERNAL, Job


class BatchFailed(Exception):
    """Every record of a batch failed: the whole batch is retried (works with or without
    ReportBatchItemFailures on the trigger)."""


def _jobs(event: dict[str, Any], malformed_event: str) -> Iterator[tuple[dict[str, Any], Job]]:
    """(record, job) for each SQS record; a message no retry can fix is logged and dropped:
    that loses no map (there is none to name)."""
    for record in event.get("Records", []):
        logs.request_id.set("-")
        job = Job.parse(record.get("body", ""))
        if job is None:
            logs.log(malformed_event, "error", message_id=record.get("messageId"))
            continue
        yield record, job


def _defer(job: Job, receives: int) -> bool:
    """Queue a job this invocation has no time left to start as a new message; False when that
    failed.

    Why not report it in batchItemFailures: SQS would return it only after the visibility
    timeout (an hour), and every receive counts towards the redrive policy's maxReceiveCount:
    a job deferred on its last receive would go to the DLQ, whose consumer ends the map
    `failed` without it ever having been attempted. A new message starts at receive count 1
    and carries the receives its predecessors really used (`earlier_receives`), so the final
    attempt still comes after MAX_RECEIVE_COUNT attempts; a duplicate message is harmless (the
    claim lets one through)."""
    earlier = job.earlier_receives + receives - 1
    try:
        jobs.enqueue(dataclasses.replace(job, earlier_receives=earlier))
    except Exception as exc:
        logs.log("job_defer_failed", "error", map_id=job.map_id, error=type(exc).__name__)
        return False
    return True


def process_batch(
    event: dict[str, Any], remaining_ms: float | None = None
) -> dict[str, list[dict[str, str]]]:
    """SQS: process each job; report only the failed records so only they are retried.

    `remaining_ms` is the invocation's remaining time (the Lambda context's; None when unknown):
    it caps each job's budget, and jobs it has no time left for are queued again unstarted.
    Raises BatchFailed when every record failed."""
    from chalicelib.pipeline import external
    from chalicelib.pipeline.process import process_map

    settings = get_settings()
    deadline = budget.invocation_deadline(remaining_ms)
    failures = []
    started = False
    for record, job in _jobs(event, "job_malformed"):
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        # The first job always starts: a new invocation would not have more time for it.
        if started and not budget.leaves_time_for_job(deadline, settings.job_budget_seconds):
            requeued = _defer(job, receives)
            logs.log("job_deferred", "warning", map_id=job.map_id, requeued=requeued)
            if not requeued:
                failures.append({"itemIdentifier": record["messageId"]})
            continue
        started = True
        attempt = receives + job.earlier_receives
        final = attempt >= settings.max_receive_count
        try:
            if job.kind == FINALIZE_EXTERNAL and job.external_job_id:
                external.finalize(job.map_id, job.external_job_id, final_attempt=final)
            else:
                process_map(job.map_id, final_attempt=final, invocation_deadline=deadline)
        except Exception as exc:
            logs.log(
                "job_failed",
                "error",
                map_id=job.map_id,
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
            changed = db.call("pipeline.fail_dead_letter", retry=True, p_id=job.map_id)
        except Exception as exc:
            logs.log("dead_letter_failed", "error", map_id=job.map_id, error=type(exc).__name__)
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        logs.log("dead_letter", "warning", map_id=job.map_id, map_failed=changed)
    return {"batchItemFailures": failures}
