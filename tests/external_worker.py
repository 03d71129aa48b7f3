"""A stand-in for the other team's processing system, written only from the documented
interface (README "External processing"): read a job message, produce the result, write it
under the job's result key with its SHA-256 in the object's metadata."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any


def take_jobs(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every pending job message."""
    jobs = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return jobs
        for message in batch:
            jobs.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def run_job(
    s3: Any,
    job: dict[str, Any],
    *,
    corrupt_checksum: bool = False,
    source_sha256: str | None = None,
) -> bytes:
    """Do the job (gzip for text vectors; for "sha256" only hash the source) and write the
    result; returns the bytes written. A job whose source came unhashed gets the source's
    SHA-256 back in the result's metadata (`source_sha256` replaces it, "" leaves it out)."""
    assert job["version"] == 1
    pinned = {"VersionId": job["source"]["version_id"]} if job["source"].get("version_id") else {}
    source = s3.get_object(Bucket=job["source"]["bucket"], Key=job["source"]["key"], **pinned)[
        "Body"
    ].read()
    hashed = hashlib.sha256(source).hexdigest()
    if job["report_source_sha256"]:
        assert job["source"]["sha256"] is None
    else:
        assert hashed == job["source"]["sha256"]
    assert job["task"] in ("gzip", "sha256"), "this stand-in only gzips and hashes"
    metadata = {"kind": "gzip"}
    extra = {"ContentType": job["source"]["media_type"], "ContentEncoding": "gzip"}
    result = gzip.compress(source, mtime=0)
    if job["task"] == "sha256":
        metadata, extra, result = {}, {"ContentType": "application/octet-stream"}, b""
    if job["report_source_sha256"] and source_sha256 != "":
        metadata["source-sha256"] = source_sha256 or hashed
    digest = hashlib.sha256(result).hexdigest()
    s3.put_object(
        Bucket=job["output"]["bucket"],
        Key=job["output"]["result_key"],
        Body=result,
        Metadata={"sha256": "0" * 64 if corrupt_checksum else digest, **metadata},
        **extra,
    )
    return result


def fail_job(s3: Any, job: dict[str, Any], message: str) -> None:
    """Report failure the documented way: a small JSON document at the error key."""
    s3.put_object(
        Bucket=job["output"]["bucket"],
        Key=job["output"]["error_key"],
        Body=json.dumps({"code": "conversion_failed", "message": message}).encode(),
        ContentType="application/json",
    )
