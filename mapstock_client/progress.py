"""Transfer progress on stderr: a bar with rate and ETA on a terminal, else plain lines."""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO

PLAIN_EVERY_SECONDS = 5.0
PLAIN_STEP = 0.10  # a line at each 10 % too, so short transfers still show their course


def human(size: float) -> str:
    """Bytes as a short human figure (KiB, MiB, … in base 1024)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Progress(Protocol):
    def advance(self, amount: int) -> None: ...
    def close(self) -> None: ...


class PlainProgress:
    """Lines such as `upload: 12.0 MiB of 40.0 MiB (30%), 5.2 MiB/s, 6 s left`; thread-safe."""

    def __init__(self, label: str, total: int, done: int = 0, out: TextIO | None = None):
        self.label, self.total, self.done = label, total, done
        self.out = out or sys.stderr
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.base = done  # what was already there (a resumed upload) does not count for the rate
        self.last_time = self.started
        self.last_step = self._step()
        self.closed = False

    def _step(self) -> int:
        return int(self.done / self.total / PLAIN_STEP) if self.total else 0

    def advance(self, amount: int) -> None:
        with self.lock:
            self.done += amount
            now = time.monotonic()
            if now - self.last_time >= PLAIN_EVERY_SECONDS or self._step() > self.last_step:
                self._line(now)

    def _line(self, now: float) -> None:
        self.last_time, self.last_step = now, self._step()
        elapsed = max(now - self.started, 1e-6)
        rate = (self.done - self.base) / elapsed
        percent = 100 * self.done / self.total if self.total else 100.0
        left = f", {(self.total - self.done) / rate:.0f} s left" if rate > 0 else ""
        self.out.write(
            f"{self.label}: {human(self.done)} of {human(self.total)} ({percent:.0f}%), "
            f"{human(rate)}/s{left if self.done < self.total else ''}\n"
        )
        self.out.flush()

    def close(self) -> None:
        with self.lock:
            if not self.closed and self.done >= self.total and self.last_step * PLAIN_STEP < 1:
                self._line(time.monotonic())
            self.closed = True


class BarProgress:
    """rich's bar with size, rate and time left, drawn on stderr."""

    def __init__(self, label: str, total: int, done: int = 0):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.bar.add_task(label, total=total, completed=done)
        self.bar.start()

    def advance(self, amount: int) -> None:
        self.bar.advance(self.task, amount)

    def close(self) -> None:
        self.bar.stop()


def progress(label: str, total: int, done: int = 0) -> Progress:
    """A bar when stderr is a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        return BarProgress(label, total, done)
    return PlainProgress(label, total, done)
