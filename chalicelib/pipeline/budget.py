"""One wall-time budget per processing job, shared by its steps (spool, inspect, optimize, store).

A job's budget is JOB_BUDGET_SECONDS, capped by what the Lambda invocation has left (a batch of up
to ten jobs shares one invocation) minus a reserve for recording the job's outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Kept back from the invocation's remaining time: the job that runs out still has to record its
# outcome (release or fail: database calls of up to DB_TIMEOUT_SECONDS each, retried once) and
# the batch has to answer.
RECORD_RESERVE_SECONDS = 15.0
# A job is not started in an invocation with less than this left for it (or than its full budget,
# if that is smaller): it would most likely only be released again.
MIN_JOB_SECONDS = 30.0
# Inspection is not started with less time left; it runs under at most INSPECT_CAP_SECONDS
# (a 1 GiB GeoJSON, the largest accepted, inspects at ~40 MiB/s: under 30 s).
MIN_INSPECT_SECONDS = 5.0
INSPECT_CAP_SECONDS = 120.0
# Optimization is skipped when less than this is left after the store reserve.
MIN_OPTIMIZE_SECONDS = 5.0
# A job's optimization may take at most this long, whatever the job has left: the jobs of one
# invocation run one after another, so a long conversion holds up every map queued behind it.
# The COG conversion cannot be interrupted: it is not started when its estimate
# (optimize.COG_SECONDS_PER_GIB, conservative) exceeds this, i.e. over ~1 GiB of decoded pixels.
OPTIMIZE_CAP_SECONDS = 120.0
# Storing a variant: a conservative Lambda -> S3 upload rate for a variant up to 1.5 x the
# original (a COG may grow that much), plus the requests and recording the result.
STORE_BYTES_PER_SECOND = 20 * 2**20
STORE_GROWTH = 1.5
STORE_FIXED_SECONDS = 5.0
# Hashing a file too large for /tmp streams it from S3 by parallel ranged reads: network-bound in
# Lambda, where S3 downloads are measured at 400-700 Mbit/s (hashing itself is faster, see
# bench/streaming_checksum.py). A file that would take longer than the job has left at this
# rate is not hashed in Lambda (over 40 GiB in the default 540 s budget); one that turns out
# slower while being hashed is given up when its measured rate says it cannot finish.
CHECKSUM_BYTES_PER_SECOND = 80 * 2**20
# What a job keeps after hashing: ranged inspection and recording the outcome (or the hand-off).
CHECKSUM_RESERVE_SECONDS = 20.0
# Seconds of hashing before its measured rate is trusted to give it up.
CHECKSUM_MEASURE_SECONDS = 10.0

# While a job runs, its checkpoints ask at most this often whether the map is still its own (not
# deleted, its lease not taken over): a deleted map stops being read within seconds, not after
# the job's minutes of work.
PROBE_SECONDS = 5.0

_STEP_TEXT = {"spool": "reading the upload", "inspect": "inspecting the file"}


class OutOfTime(Exception):
    """The job's time ran out in `step`. Transient (slow S3, a crowded invocation): retried."""

    def __init__(self, step: str):
        super().__init__(f"the job ran out of time ({step})")
        self.step = step

    @property
    def reason(self) -> str:
        """What the map's owner reads when the last attempt ran out of time."""
        doing = _STEP_TEXT.get(self.step, self.step)
        return f"Processing ran out of time while {doing}; the upload was kept. Contact support."


class Cancelled(Exception):
    """The job's map was deleted, or its lease taken over, while the job ran (noticed in
    `step`): stop, and keep nothing the job wrote for a deleted map."""

    def __init__(self, step: str):
        super().__init__(f"the map is no longer this job's ({step})")
        self.step = step


class Budget:
    """The wall time (time.monotonic) one job may use; records the seconds each step took."""

    def __init__(self, seconds: float):
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.steps: dict[str, float] = {}
        self._still_ours: Callable[[], bool] | None = None
        self._every = PROBE_SECONDS
        self._next_probe = 0.0

    def watch(self, still_ours: Callable[[], bool], every: float | None = None) -> None:
        """Make check() also ask `still_ours()` (at most once per `every` seconds, by default
        PROBE_SECONDS)."""
        self._still_ours = still_ours
        self._every = PROBE_SECONDS if every is None else every
        self._next_probe = time.monotonic() + self._every

    @classmethod
    def for_job(cls, job_seconds: float, invocation_deadline: float | None) -> Budget:
        """JOB_BUDGET_SECONDS from now, cut at the invocation's deadline when it is known."""
        if invocation_deadline is None:
            return cls(job_seconds)
        return cls(min(job_seconds, invocation_deadline - time.monotonic()))

    def remaining(self) -> float:
        """Seconds left (negative once past the deadline)."""
        return self.deadline - time.monotonic()

    def check(self, step: str) -> None:
        """Raises OutOfTime once the deadline has passed, Cancelled once the watched map is no
        longer the job's."""
        now = time.monotonic()
        if now >= self.deadline:
            raise OutOfTime(step)
        if self._still_ours is not None and now >= self._next_probe:
            self._next_probe = now + self._every
            if not self._still_ours():
                raise Cancelled(step)

    def require(self, step: str, seconds: float) -> None:
        """Raises OutOfTime unless `seconds` are left: a step not worth starting."""
        if self.remaining() < seconds:
            raise OutOfTime(step)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Add the block's wall time to step `name`."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.monotonic() - started

    def report(self) -> dict[str, Any]:
        """The job's use of its budget, for its log line."""
        return {
            "budget_s": round(self.deadline - self.started, 3),
            "used_s": round(time.monotonic() - self.started, 3),
            # Summed unrounded and rounded here, like used_s: a step never shows more than used.
            "steps_s": {name: round(seconds, 3) for name, seconds in self.steps.items()},
        }


def invocation_deadline(remaining_ms: float | None) -> float | None:
    """The monotonic time by which an invocation's jobs must stop (its end minus the record
    reserve); None when the invocation's remaining time is unknown (no Lambda context)."""
    if remaining_ms is None:
        return None
    return time.monotonic() + remaining_ms / 1000 - RECORD_RESERVE_SECONDS


def leaves_time_for_job(deadline: float | None, job_seconds: float) -> bool:
    """True when an invocation ending at `deadline` still has time to start a job."""
    if deadline is None:
        return True
    return deadline - time.monotonic() >= min(MIN_JOB_SECONDS, job_seconds)


def store_reserve_seconds(size: int) -> float:
    """Seconds to keep for storing a variant of an upload of `size` bytes and recording it."""
    return size * STORE_GROWTH / STORE_BYTES_PER_SECOND + STORE_FIXED_SECONDS
