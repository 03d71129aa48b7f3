"""`time_limit`: cut a block of code short when its time is up (SIGALRM in the main thread,
cooperative checks elsewhere). Readers use it to bound hostile files; the job budget too."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any


class TimeLimitExceeded(BaseException):
    """Raised inside a `time_limit` block whose time is up; `limit` says whose. A BaseException,
    so that parsers' `except Exception` cannot swallow it."""

    def __init__(self, limit: TimeLimit):
        super().__init__(f"time limit of {limit.seconds:.3f} s exceeded")
        self.limit = limit


class TimeLimit:
    """One time-limited block (see time_limit): its length and monotonic deadline."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.enforced = False  # by SIGALRM; otherwise only cooperative checks (expired) see it
        self.fired = False  # the alarm went off for it (it is not armed again)
        self._previous_handler: Any = None  # the outermost block's: restored when it ends

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.monotonic() >= self.deadline

    def __enter__(self) -> TimeLimit:
        limits = _limits()
        try:
            self.deadline = time.monotonic() + self.seconds
            if limits:
                self.enforced = limits[0].enforced
            else:
                self.enforced = (
                    hasattr(signal, "setitimer")
                    and threading.current_thread() is threading.main_thread()
                    and signal.getitimer(signal.ITIMER_REAL)[0] == 0
                )
                if self.enforced:
                    self._previous_handler = signal.signal(signal.SIGALRM, _alarm)
            limits.append(self)
            if self.enforced:
                _arm()
        except BaseException:  # an alarm before the block began: its time was up already
            if self in limits:
                self._leave()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._leave()

    def _leave(self) -> None:
        limits = _limits()
        if self.enforced:
            signal.setitimer(signal.ITIMER_REAL, 0)
        limits.remove(self)
        if self.enforced:
            if limits:
                _arm()
            else:
                signal.signal(signal.SIGALRM, self._previous_handler)


_local = threading.local()


def _limits() -> list[TimeLimit]:
    limits: list[TimeLimit] | None = getattr(_local, "limits", None)
    if limits is None:
        limits = _local.limits = []
    return limits


def current_limit() -> TimeLimit | None:
    """The earliest-ending time limit this thread runs under (for cooperative checks)."""
    limits = _limits()
    return min(limits, key=lambda limit: limit.deadline) if limits else None


def _alarm(_signum: int, frame: Any) -> None:
    pending = [limit for limit in _limits() if not limit.fired]
    if not pending:
        return
    earliest = min(pending, key=lambda limit: limit.deadline)
    earliest.fired = True
    # Raised in this module's own bookkeeping (a block being entered or left), the exception
    # could leave the stack of limits inconsistent: the block's time is up all the same, which
    # expired() tells its caller.
    if frame is not None and frame.f_globals.get("__name__") == __name__:
        return
    raise TimeLimitExceeded(earliest)


def _arm() -> None:
    pending = [limit for limit in _limits() if not limit.fired]
    if pending:
        deadline = min(limit.deadline for limit in pending)
        # 0 would disarm the timer: a deadline already passed fires at once instead.
        signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 1e-4))


def time_limit(seconds: float) -> TimeLimit:
    """A block (`with time_limit(s) as limit:`) that may run for at most `seconds`: past them
    TimeLimitExceeded(limit) is raised in it.

    Enforced with SIGALRM, so only in the main thread and when no one else's timer runs;
    elsewhere the limit is only visible to cooperative checks (current_limit, expired) and the
    callers' own bounds. Blocks nest: the earliest deadline fires, naming its own block."""
    return TimeLimit(seconds)
