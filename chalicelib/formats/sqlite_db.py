"""A read-only SQLite database whose statements run under a step and time budget (the
GeoPackage and MBTiles readers share it)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from chalicelib.formats.timer import current_limit

MAX_VM_STEPS = 50_000  # progress-handler calls (x1000 VM instructions) for everything
COUNT_VM_STEPS = 20_000  # per optional count(*) / min-max scan; over it the value is None
TIME_LIMIT_S = 15.0


class Guard:
    """Progress handler: aborts statements past the step budget, a soft limit or the deadline."""

    def __init__(self) -> None:
        self.steps = 0
        self.soft: int | None = None
        # The earlier of its own limit and the job's: SIGALRM cannot cut a running statement
        # short (and a Python exception raised in this handler is swallowed by sqlite3), so this
        # is how the job's deadline reaches SQLite. The pipeline tells the two apart.
        self.deadline = time.monotonic() + TIME_LIMIT_S
        outer = current_limit()
        if outer is not None:
            self.deadline = min(self.deadline, outer.deadline)
        self.hard_tripped = False

    def __call__(self) -> int:
        self.steps += 1
        if self.steps > MAX_VM_STEPS or time.monotonic() > self.deadline:
            self.hard_tripped = True
            return 1
        return 1 if self.soft is not None and self.steps > self.soft else 0


class SqliteDb:
    """A read-only connection whose queries run under a Guard."""

    def __init__(self, conn: sqlite3.Connection, guard: Guard):
        self.conn = conn
        self.guard = guard

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def optional(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any] | None:
        """Run a query under the soft budget; None when it would cost too much."""
        self.guard.soft = self.guard.steps + COUNT_VM_STEPS
        try:
            return self.rows(sql, params)
        except sqlite3.OperationalError:
            if self.guard.hard_tripped:
                raise
            return None
        finally:
            self.guard.soft = None
