"""What every preview renderer shares: the size, the job it runs in, and NoPreview."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.formats.timer import TimeLimit

PREVIEW_MAX_SIDE = 512


class NoPreview(Exception):
    """The map cannot be drawn (its content, a size or time cap); the message says why and
    quotes no content."""


@dataclass(frozen=True)
class Job:
    """What a renderer gets besides the file: where to write, until when, the COG, and for a
    map that is not on this disk, how to open it (rasterio's opener: (path, mode) -> file)."""

    workdir: str
    limit: TimeLimit
    source_for_raster: str | None = None
    opener: Callable[[str, str], Any] | None = None

    def check(self) -> None:
        """Raises NoPreview once the preview's time is up (for loops SIGALRM cannot reach)."""
        if self.limit.expired():
            raise NoPreview("out of time")

    def remaining(self) -> float:
        return self.limit.deadline - time.monotonic()


def fit(width: float, height: float, longest: int = PREVIEW_MAX_SIDE) -> tuple[int, int]:
    """Integer (w, h) of the given aspect with the longer side `longest` (each side >= 1);
    raises NoPreview for a degenerate aspect."""
    if not (width > 0 and height > 0) or width == float("inf") or height == float("inf"):
        raise NoPreview("degenerate extent")
    if width >= height:
        return longest, max(1, round(longest * height / width))
    return max(1, round(longest * width / height)), longest


def pillow() -> Any:
    """PIL.Image with its PNG, JPEG and WebP plugins loaded: saving or opening a format not yet
    registered makes Pillow import all of its ~40 plugins (0.1-0.35 s in a cold process)."""
    from PIL import Image, JpegImagePlugin, PngImagePlugin, WebPImagePlugin  # noqa: F401

    return Image
