"""Public result types of content inspection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The closed set of rejection codes; callers may map them to user-facing texts.
REJECTION_CODES = frozenset(
    {
        "unsupported_format",  # not an accepted map format (HTML, executables, noise, ...)
        "malformed",  # claims a supported format but is truncated or corrupt
        "zip_bomb",  # archive declares or produces more data than the budgets allow
        "unsafe_archive",  # path traversal, absolute paths, symlinks, nested archives
        "xml_entities",  # DTDs / entity declarations / external references in XML
        "too_large",  # exceeds the inspector's size or work budget for that format
    }
)


@dataclass(frozen=True)
class Inspection:
    """What the content of an accepted upload turned out to be."""

    format: str
    media_type: str
    metadata: dict[str, Any]


class Rejected(Exception):
    """The content is not acceptable; `code` is machine-readable, `message` is generic text."""

    def __init__(self, code: str, message: str):
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code: {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with custom __init__ signatures do not pickle by default.
        return (type(self), (self.code, self.message))
