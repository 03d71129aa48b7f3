"""One processing job: claim the map, stream the object once (size + SHA-256), inspect,
optimize (or hand off to the external system), record; all within the job's time budget."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib import db, logs, storage
from chalicelib.config import get_settings
from chalicelib.processing.budget import (
    CHECKSUM_BYTES_PER_SECOND,
    CHECKSUM_MEASURE_SECONDS,
    CHECKSUM_RESERVE_SECONDS,
    INSPECT_CAP_SECONDS,
    MIN_INSPECT_SECONDS,
    MIN_OPTIMIZE_SECONDS,
    Budget,
    OutOfTime,
    TimeLimit,
    TimeLimitExceeded,
    store_reserve_seconds,
    time_limit,
)

# A preview gets at most this long, and never the seconds the job needs to record its outcome.
PREVIEW_SECONDS = 30.0
RECORD_RESERVE_SECONDS = 10.0


@dataclass(frozen=True)
class Spooled:
    path: str  # "" when the file was read in place (too large for the disk)
    size: int
    sha256: str | None  # None when the file was too large to hash within the job's budget


class ContentRejected(Exception):
    """The upload is not what it claims (size or checksum differs from the declared one)."""

    def __init__(self, code: str, message: str, spooled: Spooled | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.spooled = spooled  # what was read of it, when all of it was


def spool_chunks(
    chunks: Iterable[bytes],
    limit: int,
    directory: str | None = None,
    *,
    budget: Budget | None = None,
) -> Spooled:
    """Copy chunks to a temp file in one pass, hashing as they go; raises ContentRejected past
    `limit` bytes, OutOfTime once `budget` has run out (checked between chunks)."""
    digest = hashlib.sha256()
    size = 0
    fd, path = tempfile.mkstemp(prefix="mapstock-", dir=directory)
    try:
        # hashlib and file writes both release the GIL: chunk N is hashed here while a writer
        # thread writes it (bench/processing_throughput.py: 0.71x -> 0.93x openssl). At most
        # one write is in flight, so memory stays at two chunks.
        with os.fdopen(fd, "wb") as out, ThreadPoolExecutor(1) as writer:
            pending: Future[int] | None = None
            for chunk in chunks:
                if budget is not None:
                    budget.check("spool")
                size += len(chunk)
                if size > limit:
                    raise ContentRejected(
                        "size_mismatch", "The stored object is larger than declared."
                    )
                if pending is not None:
                    pending.result()  # a write error (disk full) surfaces here
                pending = writer.submit(out.write, chunk)
                digest.update(chunk)
            if pending is not None:
                pending.result()
    except BaseException:
        os.unlink(path)
        raise
    return Spooled(path, size, digest.hexdigest())


def spool(
    key: str,
    limit: int,
    directory: str | None = None,
    *,
    budget: Budget | None = None,
    pin: dict[str, str] | None = None,
) -> Spooled:
    """Stream an S3 object (the `storage.pinned()` version) once into a temp file (see
    spool_chunks)."""
    return spool_chunks(storage.iter_object(key, pin=pin), limit, directory, budget=budget)


def bbox_of(metadata: dict[str, Any]) -> list[float] | None:
    """The metadata's WGS84 bbox as four floats, or None."""
    bbox = metadata.get("bbox")
    if isinstance(bbox, list | tuple) and len(bbox) == 4:
        return [float(v) for v in bbox]
    return None


def inspection_args(spooled: Spooled, found: Any) -> dict[str, Any]:
    """What a job learnt about the upload, as the stored functions take it."""
    return {
        "p_size": spooled.size,
        "p_sha256": spooled.sha256,
        "p_format": found.format,
        "p_media_type": found.media_type,
        "p_metadata": found.metadata,
        "p_bbox": bbox_of(found.metadata),
    }


def _progress(map_id: str, lease: str, stage: str, percent: int) -> None:
    db.call(
        "pipeline.set_progress",
        retry=True,
        p_id=map_id,
        p_lease_token=lease,
        p_stage=stage,
        p_progress=percent,
    )


def _inspect(path: str, job: Budget) -> Any:
    """inspect_file under min(the job's remaining time, the inspection cap); raises
    ContentRejected (hitting the cap: too expensive content) or OutOfTime (the job's deadline)."""
    from chalicelib.processing.inspect import inspect_file  # heavy readers: processor only

    return _inspect_with(lambda: inspect_file(path), job)


def _inspect_with(inspection: Any, job: Budget) -> Any:
    """Run `inspection()` as _inspect does (same limits, same outcomes)."""
    from chalicelib.processing.result import Rejected

    remaining = job.remaining()
    capped = remaining > INSPECT_CAP_SECONDS
    limit: TimeLimit | None = None
    try:
        with time_limit(min(remaining, INSPECT_CAP_SECONDS)) as limit:
            return inspection()
    except (TimeLimitExceeded, Rejected) as exc:
        # A Rejected past the limit counts as cut short too: an inspector's own guard may have
        # stopped at the same deadline (SQLite's), or a C callback may have eaten the alarm.
        if isinstance(exc, Rejected) and not (limit is not None and limit.expired()):
            raise ContentRejected(exc.code, exc.message) from None
        if capped:
            raise ContentRejected(
                "too_large", "Inspecting the file exceeds the time budget."
            ) from None
        raise OutOfTime("inspect") from None


def _optimize(path: str, found: Any, workdir: str, job: Budget) -> Any:
    """The optimized variant, or None (not worth it, no time left for it, or optimization
    failed: the original stays the download and the map is still ready)."""
    try:
        from chalicelib.processing.optimize import OptimizeError, optimize
    except ImportError:  # the optimizer's libraries are not in this deployment package
        logs.log("optimize_unavailable", "warning")
        return None
    # The variant must still be stored and the map recorded before the job's deadline.
    reserve = store_reserve_seconds(os.path.getsize(path))
    if job.remaining() - reserve < MIN_OPTIMIZE_SECONDS:
        logs.log("optimize_skipped", "warning", error="OutOfTime", reason="too little time left")
        return None
    deadline = job.deadline - reserve
    try:
        return optimize(path, found, workdir, deadline=deadline)
    except (OptimizeError, ImportError) as exc:
        logs.log("optimize_skipped", "warning", error=type(exc).__name__, reason=str(exc)[:200])
        return None


def _store_variant(map_id: str, optimized: Any) -> dict[str, Any]:
    key = storage.variant_key(map_id)
    storage.put_file(key, optimized.path, optimized.media_type, optimized.content_encoding)
    return {
        "key": key,
        "kind": optimized.kind,
        "size": optimized.size,
        "sha256": optimized.sha256,
        "media_type": optimized.media_type,
        "content_encoding": optimized.content_encoding,
    }


def _preview(
    map_id: str, path: str, found: Any, workdir: str, job: Budget, optimized: Any
) -> dict[str, Any] | None:
    """Draw and store the map's preview within PREVIEW_SECONDS and what the job has left; None
    when it cannot be drawn (the map is ready all the same: a preview never fails a job)."""
    try:
        from chalicelib.processing.preview import render_preview
    except ImportError:  # the renderers' libraries are not in this deployment package
        logs.log("preview_unavailable", "warning")
        return None
    deadline = min(job.deadline - RECORD_RESERVE_SECONDS, time.monotonic() + PREVIEW_SECONDS)
    cog = optimized.path if optimized is not None and optimized.kind == "cog" else None
    try:
        drawn = render_preview(path, found, workdir, deadline=deadline, source_for_raster=cog)
        if drawn is None:
            return None
        key = storage.preview_key(map_id)
        storage.put_file(key, drawn.path, drawn.media_type)
    except (TimeLimitExceeded, Exception) as exc:
        logs.log("preview_failed", "warning", map_id=map_id, error=type(exc).__name__)
        return None
    return {
        "key": key,
        "width": drawn.width,
        "height": drawn.height,
        "media_type": drawn.media_type,
        "size": drawn.size,
    }


def process_map(
    map_id: str, *, final_attempt: bool, invocation_deadline: float | None = None
) -> str:
    """Run the job for one map within its budget (JOB_BUDGET_SECONDS, cut at the invocation's
    deadline when known); returns the outcome. Raises on a transient error (retry)."""
    settings = get_settings()
    job = Budget.for_job(settings.job_budget_seconds, invocation_deadline)
    claim = db.call(
        "pipeline.claim_processing", p_id=map_id, p_lease_seconds=settings.processing_lease_seconds
    )
    if not claim["claimed"]:
        logs.log("job_skipped", map_id=map_id, status=claim.get("status"))
        return "skipped"
    if claim.get("request_id"):
        logs.request_id.set(claim["request_id"])
    outcome = "released"  # unless a return below says otherwise
    try:
        outcome = _run(map_id, claim, job, final_attempt)
        return outcome
    finally:
        # One line per job: where its time went, against its budget.
        logs.log("job_time", map_id=map_id, outcome=outcome, **job.report())


def _run(map_id: str, claim: dict[str, Any], job: Budget, final_attempt: bool) -> str:
    from chalicelib.processing import external

    settings = get_settings()
    lease = claim["lease_token"]
    declared_size = int(claim["declared_size"])
    spooled: Spooled | None = None
    workdir = tempfile.mkdtemp(prefix="mapstock-job-", dir=os.environ.get("MAPSTOCK_TMP_DIR"))
    try:
        pin = storage.pinned(claim.get("object_version"), claim.get("object_etag"))
        if declared_size > _spool_limit(workdir, settings.spool_limit_bytes):
            spooled, found = _read_in_place(map_id, lease, claim, pin, job, workdir)
        else:
            spooled, found = _read_spooled(map_id, lease, claim, pin, job, workdir)
        # Second line of defence: a map about to be kept must not stay in the lifecycle
        # rule's reach should its S3 event have failed to untag it.
        storage.clear_pending_tag(claim["object_key"], claim.get("object_version"))
        unhashed = spooled.sha256 is None
        if external.needed(spooled.size, found.format, settings) or (
            unhashed and settings.external_queue_url
        ):
            with job.step("handoff"):
                external.hand_off(map_id, lease, claim, spooled, found, settings)
            return "external"
        if unhashed:
            found = _checksum_skipped(found, spooled.size, claim, job)
        _progress(map_id, lease, "optimize", 60)
        with job.step("optimize"):
            if spooled.path:
                optimized = _optimize(spooled.path, found, workdir, job)
            else:
                optimized = None
                found = _optimization_skipped(found, "the file is too large to copy here.")
        variant = None
        if optimized is not None:
            _progress(map_id, lease, "store", 85)
            with job.step("store"):
                variant = _store_variant(map_id, optimized)
        preview = None
        if spooled.path:
            _progress(map_id, lease, "preview", 90)
            with job.step("preview"):
                preview = _preview(map_id, spooled.path, found, workdir, job, optimized)
        with job.step("record"):
            db.call(
                "pipeline.complete_processing",
                retry=True,
                p_id=map_id,
                p_lease_token=lease,
                **inspection_args(spooled, found),
                p_variant=variant,
                p_preview=preview,
            )
        logs.log(
            "map_ready",
            map_id=map_id,
            format=found.format,
            size=spooled.size,
            variant=variant["kind"] if variant else None,
        )
        return "ready"
    except ContentRejected as exc:
        spooled = spooled or exc.spooled
        db.call(
            "pipeline.finish_processing_error",
            retry=True,
            p_id=map_id,
            p_lease_token=lease,
            p_status="rejected",
            p_code=exc.code,
            p_message=exc.message,
            p_size=spooled.size if spooled else None,
            p_sha256=spooled.sha256 if spooled else None,
        )
        logs.log("map_rejected", map_id=map_id, code=exc.code)
        return "rejected"
    except Exception as exc:
        return fail_or_release(map_id, lease, exc, final_attempt)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _recording(spooled: Spooled) -> Iterator[None]:
    """A rejection of read content keeps its size and checksum (the owner sees both)."""
    try:
        yield
    except ContentRejected as exc:
        exc.spooled = spooled
        raise


def _spool_limit(workdir: str, configured: int) -> int:
    """The largest upload copied to disk: SPOOL_LIMIT_BYTES, or what the disk can take."""
    return min(configured, shutil.disk_usage(workdir).free - 64 * 1024 * 1024)


def _check_declared(claim: dict[str, Any], spooled: Spooled) -> None:
    if spooled.size != int(claim["declared_size"]):
        raise ContentRejected(
            "size_mismatch", "The stored object's size differs from the declared one.", spooled
        )
    if spooled.sha256 is None:
        return  # too large to hash here: the external system or the map's metadata says so
    if claim.get("declared_sha256") and claim["declared_sha256"] != spooled.sha256:
        raise ContentRejected(
            "checksum_mismatch", "SHA-256 of the upload differs from the declared one.", spooled
        )


def _read_spooled(
    map_id: str,
    lease: str,
    claim: dict[str, Any],
    pin: dict[str, str],
    job: Budget,
    workdir: str,
) -> tuple[Spooled, Any]:
    """Copy the object to disk once (size + SHA-256 on the way), then inspect the copy."""
    with job.step("spool"):
        spooled = spool(
            claim["object_key"], int(claim["declared_size"]), workdir, budget=job, pin=pin
        )
    _check_declared(claim, spooled)
    job.require("inspect", MIN_INSPECT_SECONDS)
    _progress(map_id, lease, "inspect", 40)
    with job.step("inspect"), _recording(spooled):
        found = _inspect(spooled.path, job)
    return spooled, found


def _read_in_place(
    map_id: str,
    lease: str,
    claim: dict[str, Any],
    pin: dict[str, str],
    job: Budget,
    workdir: str,
) -> tuple[Spooled, Any]:
    """Too large for the disk: stream the SHA-256 from S3 (parallel ranged reads, nothing
    written) unless it is too large to hash in time, and read the metadata by ranged reads
    (chalicelib/processing/ranged.py)."""
    from chalicelib.processing import ranged

    key = claim["object_key"]
    found_head = storage.head(key, pin.get("VersionId"))
    size = int(found_head["ContentLength"]) if found_head else -1
    if size != int(claim["declared_size"]):
        raise ContentRejected(
            "size_mismatch", "The stored object's size differs from the declared one."
        )

    def read_at(start: int, length: int) -> bytes:
        return storage.read_range(key, start, length, pin=pin)

    with job.step("stream"):
        sha256 = _stream_checksum(map_id, size, read_at, job)
    spooled = Spooled("", size, sha256)
    _check_declared(claim, spooled)
    job.require("inspect", MIN_INSPECT_SECONDS)
    _progress(map_id, lease, "inspect", 40)
    with job.step("inspect"), _recording(spooled):
        found = _inspect_with(lambda: ranged.inspect_ranged(size, read_at, workdir), job)
    return spooled, found


class _TooSlowToHash(Exception):
    """Hashing the object would not end before the job's checksum deadline."""


def _stream_checksum(map_id: str, size: int, read_at: Any, job: Budget) -> str | None:
    """The object's SHA-256 streamed from S3, or None when it cannot be hashed before the job
    must move on (CHECKSUM_RESERVE_SECONDS before its deadline): judged up front at
    CHECKSUM_BYTES_PER_SECOND, then from the rate measured while hashing. Never OutOfTime
    for size: a file too large to hash is handed on or recorded without its checksum."""
    from chalicelib.processing import ranged

    deadline = job.deadline - CHECKSUM_RESERVE_SECONDS
    started = time.monotonic()
    if started + size / CHECKSUM_BYTES_PER_SECOND > deadline:
        logs.log("checksum_skipped", "warning", map_id=map_id, size=size, reason="estimate")
        return None
    hashed = [0]

    def check() -> None:
        # Runs once per chunk as it is hashed (ranged.stream_sha256 calls it in order).
        hashed[0] += ranged.STREAM_CHUNK_BYTES
        now = time.monotonic()
        elapsed = now - started
        if now >= deadline or (
            elapsed >= CHECKSUM_MEASURE_SECONDS
            and now + (size - hashed[0]) * elapsed / hashed[0] > deadline
        ):
            raise _TooSlowToHash

    try:
        return ranged.stream_sha256(size, read_at, check, workers=ranged.STREAM_WORKERS).sha256
    except _TooSlowToHash:
        rate = hashed[0] / max(time.monotonic() - started, 1e-6)
        logs.log(
            "checksum_skipped",
            "warning",
            map_id=map_id,
            size=size,
            reason="measured",
            hashed=hashed[0],
            rate_mib_s=round(rate / 2**20, 1),
        )
        return None


def _checksum_skipped(found: Any, size: int, claim: dict[str, Any], job: Budget) -> Any:
    """The inspection with the reason the map has no SHA-256 (no external system to hash it)."""
    from chalicelib.processing.result import Inspection

    budget = round(job.deadline - job.started)
    reason = (
        f"The file ({size / 2**30:.1f} GiB) is too large to hash within one processing job "
        f"({budget} s), and no external processing system is configured to hash it."
    )
    if claim.get("declared_sha256"):
        reason += " The SHA-256 declared with the upload was not verified."
    metadata = {**found.metadata, "checksum": {"skipped": reason}}
    return Inspection(found.format, found.media_type, metadata)


def _optimization_skipped(found: Any, reason: str) -> Any:
    """The inspection with the reason the map has no optimized variant."""
    from chalicelib.processing.result import Inspection

    metadata = {**found.metadata, "optimization": {"skipped": reason}}
    return Inspection(found.format, found.media_type, metadata)


def end_failed(map_id: str, lease: str, message: str) -> None:
    """End a job we hold the lease of as `failed` (processing_failed) with a reason."""
    db.call(
        "pipeline.finish_processing_error",
        retry=True,
        p_id=map_id,
        p_lease_token=lease,
        p_status="failed",
        p_code="processing_failed",
        p_message=message,
        p_size=None,
        p_sha256=None,
    )


def fail_or_release(map_id: str, lease: str, exc: Exception, final_attempt: bool) -> str:
    """After a transient error: hand the map back for the SQS retry (re-raising), or on the
    last attempt end it `failed` with a reason (so it is never left processing)."""
    out_of_time = exc if isinstance(exc, OutOfTime) else None
    logs.log(
        "job_error",
        "error",
        map_id=map_id,
        error=type(exc).__name__,
        step=out_of_time.step if out_of_time else None,
        final=final_attempt,
    )
    if final_attempt:
        reason = "Processing failed repeatedly; the upload was kept. Contact support."
        end_failed(map_id, lease, out_of_time.reason if out_of_time else reason)
        return "failed"
    db.call("pipeline.release_processing", retry=True, p_id=map_id, p_lease_token=lease)
    raise exc
