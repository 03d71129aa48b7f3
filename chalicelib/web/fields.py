"""Strict input checks: unknown fields, wrong types and hostile strings are 400s, named."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import errors, rules

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
INT64_MAX = 2**63 - 1  # PostgreSQL's bigint


@dataclass(frozen=True)
class Field:
    """One input value's rule. The validator (check_value) and the OpenAPI schema
    (chalicelib/web/openapi/fields.py) are both read from it, so they cannot differ."""

    # "str" (one line) | "text" (newlines, tabs) | "int" | "bool" | "date" | "choice" |
    # "opaque" (any string up to max_length: a credential is only ever right or wrong)
    kind: str
    required: bool = False
    nullable: bool = False
    min_length: int = 0  # characters (code points, as JSON Schema and PostgreSQL count them)
    max_length: int = 200
    min_bytes: int = 0  # UTF-8 bytes
    max_bytes: int | None = None
    pattern: str | None = None  # ^...$, matched against the whole value (ECMA-262 compatible)
    minimum: int = 0
    maximum: int = INT64_MAX
    choices: tuple[str, ...] = ()
    visible: bool = False  # shown to people: nothing that hides or reorders characters
    # A last check that may also normalise (strip); it refuses in its own words.
    refine: Callable[[str, str], str] | None = None
    rule: str = ""  # the 400's text when `pattern` or `choices` refuse (after "name: ")
    description: str = ""


def check_fields(
    doc: Mapping[str, Any], fields: Mapping[str, Field], where: str = "", *, text: bool = False
) -> dict[str, Any]:
    """The validated subset of doc (`text`: its values are query-string text, integers written
    in ASCII digits); raises ApiError 400 naming the first bad field."""
    for name in doc:
        if name not in fields:
            raise errors.invalid(f"{where}{name}: unknown field.")
    clean: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in doc:
            if field.required:
                raise errors.invalid(f"{where}{name}: required.")
            continue
        value = doc[name]
        if text and field.kind == "int" and isinstance(value, str):
            label = f"{where}{name}"
            check_text(label, value, field.max_length)
            clean[name] = parse_int(label, value, field.minimum, field.maximum)
            continue
        clean[name] = check_value(f"{where}{name}", value, field)
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
    if field.kind == "opaque":
        if not isinstance(value, str) or len(value) > field.max_length:
            raise errors.invalid(
                f"{name}: must be a string of at most {field.max_length} characters."
            )
        return value
    if not isinstance(value, str):
        raise errors.invalid(f"{name}: must be a string.")
    text = check_text(name, value, field.max_length, multiline=field.kind == "text")
    if field.visible:
        check_visible(name, text)
    if field.refine is not None:
        text = field.refine(name, text)
    if len(text) < field.min_length:
        raise errors.invalid(f"{name}: must be at least {field.min_length} characters.")
    _check_bytes(name, text, field)
    if field.pattern is not None and not re.fullmatch(field.pattern, text):
        raise errors.invalid(f"{name}: {field.rule or 'malformed.'}")
    if field.kind == "choice" and text not in field.choices:
        raise errors.invalid(
            f"{name}: {field.rule or 'must be one of ' + ', '.join(field.choices) + '.'}"
        )
    if field.kind == "date":
        return parse_datetime(name, text)
    return text


def _check_bytes(name: str, text: str, field: Field) -> None:
    """The Field's UTF-8 byte bounds; raises ApiError 400."""
    if field.max_bytes is None and not field.min_bytes:
        return
    size = len(text.encode("utf-8"))
    high = INT64_MAX if field.max_bytes is None else field.max_bytes
    if field.min_bytes <= size <= high:
        return
    if field.min_bytes:
        raise errors.invalid(f"{name}: must be {field.min_bytes} to {high} bytes (UTF-8).")
    raise errors.invalid(f"{name}: must be at most {high} bytes.")


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


def non_blank(name: str, value: str) -> str:
    """The value stripped; raises ApiError 400 when nothing is left."""
    if not value.strip():
        raise errors.invalid(f"{name}: must not be blank.")
    return value.strip()


def plain_filename(name: str, value: str) -> str:
    """A plain file name (metadata only, never a path), stripped; raises ApiError 400."""
    value = value.strip()
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise errors.invalid(f"{name}: must be a plain file name, not a path.")
    return value


def map_filename(name: str, value: str) -> str:
    """A plain file name with a map file's extension, or none (rules.MAP_EXTENSIONS), stripped;
    raises ApiError 400 for a path, 415 for another extension."""
    value = plain_filename(name, value)
    _, dot, ext = value.rpartition(".")
    # ".html" alone is an extension too (Windows opens such a file as a web page).
    if dot and ext.lower() not in rules.MAP_EXTENSIONS:
        raise errors.unsupported_media_type(
            f"{name}: .{ext[:16]} is not a map format Map Stock accepts (GeoTIFF, GeoJSON, "
            "KML/KMZ, GPX, GeoPackage, MBTiles, PMTiles, zipped Shapefile, PNG/JPEG/WebP, PDF)."
        )
    return value


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
