"""Strict input checks: unknown fields, wrong types and hostile strings are 400s, named."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import errors

# C0 and C1 controls (C1 include CSI, U+009B, which some terminals act on).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Unicode categories that hide or reorder what a reader sees: format characters (bidi overrides
# and isolates, zero-width spaces, word joiners, BOM, soft hyphen, tags...) and the line and
# paragraph separators. A file name "invoice\u202egpj.exe" displays as "invoiceexe.jpg".
_HIDDEN_CATEGORIES = ("Cf", "Zl", "Zp")
# Zero-width non-joiner and joiner spell Persian, Indic and emoji sequences (between two letters,
# marks or symbols of those scripts), so they pass there; anywhere else they only hide.
_JOINERS = ("\u200c", "\u200d")
_JOINABLE = ("L", "M", "So", "Sk")
# Integers written in text (query strings, CLI arguments): ASCII digits only. str.isdigit() is
# true for superscript two (which int() refuses), and int() takes fullwidth or Arabic-Indic
# digits (which nothing else here would).
_ASCII_INTEGER = re.compile(r"-?[0-9]{1,64}")
# Times: what PostgreSQL stores and this API means. PostgreSQL refuses UTC offsets of 16 hours
# or more ("time zone displacement out of range"); Python's parser takes up to 23:59:59.
_MAX_UTC_OFFSET = dt.timedelta(hours=15, minutes=59, seconds=59)
FIRST_YEAR, LAST_YEAR = 1970, 9999
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
    if field.kind == "text":
        check_visible(name, text)
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


def check_visible(name: str, value: str) -> str:
    """Text shown to people, with nothing that hides or reorders characters (bidi controls,
    zero-width and other format characters); raises ApiError 400 naming the first one."""
    if value.isascii():
        return value  # the common case; ASCII controls are check_text's
    for i, char in enumerate(value):
        if unicodedata.category(char) not in _HIDDEN_CATEGORIES:
            continue
        if char in _JOINERS and _joins(value, i):
            continue
        raise errors.invalid(
            f"{name}: must not contain invisible or bidirectional control characters "
            f"(U+{ord(char):04X})."
        )
    return value


def _joins(value: str, i: int) -> bool:
    """Whether the joiner at i sits between two non-ASCII letters, marks or symbols."""
    if i == 0 or i == len(value) - 1:
        return False
    before, after = value[i - 1], value[i + 1]
    return all(
        not c.isascii() and unicodedata.category(c).startswith(_JOINABLE) for c in (before, after)
    )


def check_filename(name: str, value: str) -> str:
    """A plain file name (metadata only, never a path) that shows what it is; raises
    ApiError 400."""
    value = check_visible(name, check_text(name, value, 255)).strip()
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise errors.invalid(f"{name}: must be a plain file name, not a path.")
    if len(value.encode("utf-8")) > 255:
        raise errors.invalid(f"{name}: must be at most 255 bytes.")
    return value


def check_title(value: str) -> str:
    """A non-blank title with nothing hidden in it; raises ApiError 400."""
    if not check_visible("title", value).strip():
        raise errors.invalid("title: must not be blank.")
    return value.strip()


def parse_int(name: str, text: str, minimum: int, maximum: int) -> int:
    """An integer written in ASCII digits, from minimum to maximum; raises ApiError 400."""
    if not _ASCII_INTEGER.fullmatch(text) or not minimum <= int(text) <= maximum:
        raise errors.invalid(f"{name}: must be an integer from {minimum} to {maximum}.")
    return int(text)


def parse_datetime(name: str, text: str) -> dt.datetime:
    """YYYY-MM-DD (midnight UTC) or an ISO 8601 time (UTC when no offset), as an aware UTC
    datetime that PostgreSQL stores as given; raises ApiError 400."""
    try:
        if not text.isascii():
            raise ValueError(text)
        if len(text) == 10:
            value = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        else:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid(f"{name}: must be a date (YYYY-MM-DD) or an ISO 8601 time.") from None
    offset = value.utcoffset()
    if offset is not None and abs(offset) > _MAX_UTC_OFFSET:
        raise errors.invalid(f"{name}: the UTC offset must be under 16 hours.")
    out_of_range = errors.invalid(f"{name}: year out of range ({FIRST_YEAR}-{LAST_YEAR}, in UTC).")
    try:
        value = value.astimezone(dt.UTC) if offset is not None else value.replace(tzinfo=dt.UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC
        raise out_of_range from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise out_of_range
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
