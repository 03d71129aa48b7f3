"""Silence third-party parser loggers while they chew on untrusted content."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Raise logger `name` to CRITICAL for the block; never raises by itself.

    pypdf and tifffile log recoverable problems as warnings that quote raw bytes of the
    file; user content must not reach our logs, and the outcome is reported anyway.
    """
    log = logging.getLogger(name)
    previous = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(previous)
