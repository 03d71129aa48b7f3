"""Fixtures for the end-to-end tests: one real local stack per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import (
    LocalStack,
    database_for_stack,
    kill_leftovers,
    start_stack,
    throwaway_home,
)


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    with database_for_stack() as database_url, throwaway_home() as home:
        stack = start_stack(home, database_url)
        pids = stack.run_files()["pids"]
        try:
            yield stack
        finally:
            kill_leftovers(stack, pids)
