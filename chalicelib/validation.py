"""Strict input checks: unknown fields, wrong types and hostile strings are 400s, named."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import errors

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")
VISIBILITIES = ("private", "members", "public")
ROLES = ("member", "admin")
FORMATS = (
    "geotiff",
    "tiff",
    "png",
    "jpeg",
    "webp",
    "pdf",
    "geojson",
    "kml",
    "kmz",
    "gpx",
    "gpkg",
    "mbtiles",
    "pmtiles",
    "shapefile",
)
STATUSES = ("awaiting_upload", "uploaded", "processing", "ready", "rejected", "failed")
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Field:
    kind: str  # "str" | "text" | "int" | "bool" | "date" | "choice"
    required: bool = False
    nullable: bool = False
    max_length: int = 200
    minimum: int = 0
    maximum: int = 2**63 - 1
    choices: tuple[str, ...] = ()


def check_fields(
    doc: Mapping[str, Any], fields: Mapping[str, Field], where: str = ""
) -> dict[str, Any]:
    """The validated subset of doc; raises ApiError 400 naming the first bad field."""
    for name in doc:
        if name not in fields:
            raise errors.invalid(f"{where}{name}: unknown field.")
    clean: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in doc:
            if field.required:
                raise errors.invalid(f"{where}{name}: required.")
            continue
        clean[name] = check_value(f"{where}{name}", doc[name], field)
    return clean


def check_value(name: str, value: Any, field: Field) -> Any:
    """One value against its Field; raises ApiError 400."""
    if value is None:
        if field.nullable:
            return None
        raise errors.invalid(f"{name}: must not be null.")
    if field.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.invalid(f"{name}: must be an integer.")
        if not field.minimum <= value <= field.maximum:
            raise errors.invalid(f"{name}: must be between {field.minimum} and {field.maximum}.")
        return value
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise errors.invalid(f"{name}: must be true or false.")
        return value
    if not isinstance(value, str):
        raise errors.invalid(f"{name}: must be a string.")
    text = check_text(name, value, field.max_length, multiline=field.kind == "text")
    if field.kind == "choice" and text not in field.choices:
        raise errors.invalid(f"{name}: must be one of {', '.join(field.choices)}.")
    if field.kind == "date":
        return parse_datetime(name, text)
    return text


def check_text(name: str, value: str, max_length: int, *, multiline: bool = False) -> str:
    """A string that PostgreSQL and every client can hold; raises ApiError 400."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.invalid(f"{name}: must be valid Unicode text.") from None
    if (_CONTROL if multiline else _CONTROL_OR_NEWLINE).search(value):
        raise errors.invalid(f"{name}: must not contain control characters.")
    if len(value) > max_length:
        raise errors.invalid(f"{name}: must be at most {max_length} characters.")
    return value


def check_filename(name: str, value: str) -> str:
    """A plain file name (metadata only, never a path); raises ApiError 400."""
    value = check_text(name, value, 255).strip()
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise errors.invalid(f"{name}: must be a plain file name, not a path.")
    if len(value.encode("utf-8")) > 255:
        raise errors.invalid(f"{name}: must be at most 255 bytes.")
    return value


def check_title(value: str) -> str:
    """A non-blank title; raises ApiError 400."""
    if not value.strip():
        raise errors.invalid("title: must not be blank.")
    return value.strip()


def parse_datetime(name: str, text: str) -> dt.datetime:
    """YYYY-MM-DD (midnight UTC) or an ISO 8601 time (UTC when no offset); raises ApiError 400."""
    try:
        if len(text) == 10:
            value = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        else:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid(f"{name}: must be a date (YYYY-MM-DD) or an ISO 8601 time.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if not 1970 <= value.year <= 9999:
        raise errors.invalid(f"{name}: year out of range.")
    return value


def parse_map_id(value: str) -> str:
    """A canonical map id; a malformed one names no map (404)."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise errors.not_found("Map not found.") from None
    if str(parsed) != value.lower():
        raise errors.not_found("Map not found.")
    return str(parsed)
