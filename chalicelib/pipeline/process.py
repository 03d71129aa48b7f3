"""One processing job: claim the map, stream the object once (size + SHA-256), inspect,
optimize (or hand off to the external system), record; all within the job's time budget."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib import db, logs, storage
from chalicelib.config import get_settings
from chalicelib.formats.timer import TimeLimit, TimeLimitExceeded, time_limit
from chalicelib.pipeline.budget import (
    CHECKSUM_BYTES_PER_SECOND,
    CHECKSUM_MEASURE_SECONDS,
    CHECKSUM_RESERVE_SECONDS,
    INSPECT_CAP_SECONDS,
    MIN_INSPECT_SECONDS,
    MIN_OPTIMIZE_SECONDS,
    OPTIMIZE_CAP_SECONDS,
    Budget,
    Cancelled,
    OutOfTime,
    store_reserve_seconds,
)
from chalicelib.pipeline.outcome import (
    abandon,
    check_recorded,
    fail_or_release,
    inspection_args,
    map_deleted,
)
from chalicelib.pipeline.spool import ContentRejected, Spooled, spool

# A preview gets at most this long, and never the seconds the job needs to record its outcome.
PREVIEW_SECONDS = 30.0
RECORD_RESERVE_SECONDS = 10.0


def _progress(map_id: str, lease: str, stage: str, percent: int) -> None:
    """Show the stage the job starts; raises Cancelled when the map is no longer the job's
    (deleted meanwhile): each stage boundary is a point where the job stops early."""
    shown = db.call(
        "pipeline.set_progress",
        retry=True,
        p_id=map_id,
        p_lease_token=lease,
        p_stage=stage,
        p_progress=percent,
    )
    check_recorded(shown, stage)


def _watch(map_id: str, lease: str, job: Budget) -> None:
    """Let the job's checkpoints (between the chunks it reads) notice a deleted map."""

    def still_ours() -> bool:
        return bool(db.call("pipeline.holds_lease", retry=True, p_id=map_id, p_lease_token=lease))

    job.watch(still_ours)


def _inspect(path: str, job: Budget) -> Any:
    """inspect_file under min(the job's remaining time, the inspection cap); raises
    ContentRejected (hitting the cap: too expensive content) or OutOfTime (the job's deadline)."""
    from chalicelib.formats.inspect import inspect_file  # heavy readers: processor only

    return _inspect_with(lambda: inspect_file(path), job)


def _inspect_with(inspection: Any, job: Budget) -> Any:
    """Run `inspection()` as _inspect does (same limits, same outcomes)."""
    from chalicelib.formats.result import Rejected

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
    """The optimized variant, or None (not worth it, no time left for it within
    OPTIMIZE_CAP_SECONDS, or optimization failed: the original stays the download and the map
    is still ready)."""
    try:
        from chalicelib.pipeline.optimize import OptimizeError, optimize
    except ImportError:  # the optimizer's libraries are not in this deployment package
        logs.log("optimize_unavailable", "warning")
        return None
    # The variant must still be stored and the map recorded before the job's deadline.
    reserve = store_reserve_seconds(os.path.getsize(path))
    if job.remaining() - reserve < MIN_OPTIMIZE_SECONDS:
        logs.log("optimize_skipped", "warning", error="OutOfTime", reason="too little time left")
        return None
    deadline = min(job.deadline - reserve, time.monotonic() + OPTIMIZE_CAP_SECONDS)
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
    map_id: str,
    path: str,
    found: Any,
    workdir: str,
    job: Budget,
    optimized: Any,
    opener: Callable[[str, str], Any] | None = None,
) -> dict[str, Any] | None:
    """Draw and store the map's preview within PREVIEW_SECONDS and what the job has left; None
    when it cannot be drawn (the map is ready all the same: a preview never fails a job)."""
    try:
        from chalicelib.previews.render import render_preview
    except ImportError:  # the renderers' libraries are not in this deployment package
        logs.log("preview_unavailable", "warning")
        return None
    deadline = min(job.deadline - RECORD_RESERVE_SECONDS, time.monotonic() + PREVIEW_SECONDS)
    cog = optimized.path if optimized is not None and optimized.kind == "cog" else None
    try:
        drawn = render_preview(
            path, found, workdir, deadline=deadline, source_for_raster=cog, opener=opener
        )
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
    from chalicelib.pipeline import external

    settings = get_settings()
    lease = claim["lease_token"]
    declared_size = int(claim["declared_size"])
    _watch(map_id, lease, job)
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
            # The external system optimizes; the preview is ours, drawn now from the original
            # (the map page shows it while the external job runs, and keeps it after).
            preview = None
            if spooled.path:
                _progress(map_id, lease, "preview", 50)
                with job.step("preview"):
                    preview = _preview(map_id, spooled.path, found, workdir, job, None)
            with job.step("handoff"):
                external.hand_off(map_id, lease, claim, spooled, found, settings, preview)
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
        opener = None if spooled.path else _remote_overviews(claim, found, pin)
        if spooled.path or opener:
            _progress(map_id, lease, "preview", 90)
            with job.step("preview"):
                path = spooled.path or "in-place.tif"
                preview = _preview(map_id, path, found, workdir, job, optimized, opener)
        with job.step("record"):
            # Conditional on the lease: a map deleted after its variant and preview were
            # stored is not recorded, and abandon() removes what this job wrote.
            recorded = db.call(
                "pipeline.complete_processing",
                retry=True,
                p_id=map_id,
                p_lease_token=lease,
                **inspection_args(spooled, found),
                p_variant=variant,
                p_preview=preview,
            )
            check_recorded(recorded, "record")
        logs.log(
            "map_ready",
            map_id=map_id,
            format=found.format,
            size=spooled.size,
            variant=variant["kind"] if variant else None,
        )
        return "ready"
    except Cancelled as exc:
        return abandon(map_id, exc)
    except ContentRejected as exc:
        spooled = spooled or exc.spooled
        recorded = db.call(
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
        if not recorded:
            return abandon(map_id, Cancelled("reject"))
        logs.log("map_rejected", map_id=map_id, code=exc.code)
        return "rejected"
    except Exception as exc:
        # A DELETE also aborts the job's unfinished uploads (the variant's multipart upload
        # fails): an error of a deleted map's job is its deletion, not a reason to retry.
        if _deleted_meanwhile(map_id):
            return abandon(map_id, Cancelled(type(exc).__name__))
        return fail_or_release(map_id, lease, exc, final_attempt)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _deleted_meanwhile(map_id: str) -> bool:
    """map_deleted, False when even that cannot be told (the error is then handled as any)."""
    try:
        return map_deleted(map_id)
    except Exception:
        return False


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
    (chalicelib/pipeline/ranged.py)."""
    from chalicelib.pipeline import ranged

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


def _remote_overviews(
    claim: dict[str, Any], found: Any, pin: dict[str, str]
) -> Callable[[str, str], Any] | None:
    """For a TIFF read in place (too large to copy) that has overviews: an opener that lets
    GDAL read the pinned object by ranged reads, so the preview costs a few requests for the
    smallest overview's tiles. None for anything else: without overviews a preview would have
    to decode the whole raster, which is what reading in place avoids."""
    from chalicelib.pipeline.ranged import RangedFile

    if found.format not in ("geotiff", "tiff") or not found.metadata.get("overviews"):
        return None
    key, size = claim["object_key"], int(claim["declared_size"])

    def opener(path: str, mode: str = "rb") -> RangedFile:  # rasterio passes mode by name
        return RangedFile(size, lambda start, n: storage.read_range(key, start, n, pin=pin))

    return opener


class _TooSlowToHash(Exception):
    """Hashing the object would not end before the job's checksum deadline."""


def _stream_checksum(map_id: str, size: int, read_at: Any, job: Budget) -> str | None:
    """The object's SHA-256 streamed from S3, or None when it cannot be hashed before the job
    must move on (CHECKSUM_RESERVE_SECONDS before its deadline): judged up front at
    CHECKSUM_BYTES_PER_SECOND, then from the rate measured while hashing. Never OutOfTime
    for size: a file too large to hash is handed on or recorded without its checksum."""
    from chalicelib.pipeline import ranged

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
    from chalicelib.formats.result import Inspection

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
    from chalicelib.formats.result import Inspection

    metadata = {**found.metadata, "optimization": {"skipped": reason}}
    return Inspection(found.format, found.media_type, metadata)
