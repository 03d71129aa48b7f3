"""STAC search parameters from a query string or a JSON body: checked, normalised, 400s named."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib import errors
from chalicelib.web.fields import check_text

DEFAULT_LIMIT = 10
MAX_LIMIT = 100  # larger asks are clamped (STAC API: "the server may return fewer")
MAX_IDS = 100
MAX_COLLECTIONS = 50
SEARCH_PARAMS = ("bbox", "datetime", "ids", "collections", "limit", "intersects", "cursor")
# A collection's items take item search's filters too: STAC clients send them there
# (pystac-client's get_items asks .../items?collections=<that collection>). `collections`
# narrows like any filter: the items in the path's collection and in the list, so a list
# without the path's collection matches nothing (an empty page, as a search would answer).
ITEMS_PARAMS = ("bbox", "datetime", "ids", "collections", "limit", "cursor")
# RFC 3339 date-time, ASCII digits only; 'T'/'Z' in either case. Ranges are checked by datetime.
_INSTANT = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_OPEN = ("", "..")


@dataclass(frozen=True)
class Search:
    """One search, as api.stac_search takes it."""

    limit: int = DEFAULT_LIMIT
    bbox: list[float] | None = None  # 4 numbers, or 8 (two boxes) across the antimeridian
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    ids: list[str] | None = None  # canonical UUIDs; other ids name no item
    collections: list[str] | None = None
    cursor: str | None = None
    echo: dict[str, Any] = field(default_factory=dict)  # the request's own filters, for links

    def db_args(self) -> dict[str, Any]:
        return {
            "p_limit": self.limit,
            "p_bbox": self.bbox,
            "p_from": self.start,
            "p_to": self.end,
            "p_ids": self.ids,
            "p_collections": self.collections,
        }


def from_query(params: dict[str, str], allowed: tuple[str, ...] = SEARCH_PARAMS) -> Search:
    """A Search from GET parameters (lists comma-separated); raises ApiError 400."""
    for name in params:
        if name not in allowed:
            raise errors.invalid(f"{check_text('query', name, 64)}: unknown query parameter.")
    if "intersects" in params:
        _no_intersects("bbox" in params)
    bbox = None
    if "bbox" in params:
        try:
            numbers = [float(v) for v in check_text("bbox", params["bbox"], 200).split(",")]
        except ValueError:
            raise errors.invalid("bbox: must be 4 or 6 comma-separated numbers.") from None
        bbox = _bbox(numbers)
    return _search(
        limit=_limit(params.get("limit")),
        bbox=bbox,
        interval=params.get("datetime"),
        ids=_split("ids", params["ids"]) if "ids" in params else None,
        collections=_split("collections", params["collections"])
        if "collections" in params
        else None,
        cursor=params.get("cursor"),
        echo={k: v for k, v in params.items() if k != "cursor"},
    )


def from_body(body: dict[str, Any]) -> Search:
    """A Search from a POST body (lists as JSON arrays); raises ApiError 400."""
    for name in body:
        if name not in SEARCH_PARAMS:
            raise errors.invalid(f"{check_text('body', str(name), 64)}: unknown field.")
    if "intersects" in body:
        _no_intersects("bbox" in body)
    bbox = body.get("bbox")
    if bbox is not None:
        if not isinstance(bbox, list) or not all(_is_number(v) for v in bbox):
            raise errors.invalid("bbox: must be an array of 4 or 6 numbers.")
        bbox = _bbox([float(v) for v in bbox])
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise errors.invalid("limit: must be an integer.")
    interval = body.get("datetime")
    if interval is not None and not isinstance(interval, str):
        raise errors.invalid("datetime: must be a string.")
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise errors.invalid("cursor: must be a string from a next link.")
    return _search(
        limit=_limit(None if limit is None else str(limit)),
        bbox=bbox,
        interval=interval,
        ids=_strings("ids", body["ids"]) if body.get("ids") is not None else None,
        collections=_strings("collections", body["collections"])
        if body.get("collections") is not None
        else None,
        cursor=cursor,
        echo={k: v for k, v in body.items() if k != "cursor"},
    )


def _search(
    *,
    limit: int,
    bbox: list[float] | None,
    interval: str | None,
    ids: list[str] | None,
    collections: list[str] | None,
    cursor: str | None,
    echo: dict[str, Any],
) -> Search:
    start, end = parse_interval(interval) if interval is not None else (None, None)
    if ids is not None and len(ids) > MAX_IDS:
        raise errors.invalid(f"ids: at most {MAX_IDS}.")
    if collections is not None and len(collections) > MAX_COLLECTIONS:
        raise errors.invalid(f"collections: at most {MAX_COLLECTIONS}.")
    return Search(
        limit=limit,
        bbox=bbox,
        start=start,
        end=end,
        ids=None if ids is None else [i for i in (_uuid(v) for v in ids) if i],
        collections=collections,
        cursor=check_text("cursor", cursor, 200) if cursor is not None else None,
        echo=echo,
    )


def _no_intersects(with_bbox: bool) -> None:
    if with_bbox:
        raise errors.invalid("intersects: give bbox or intersects, not both.")
    raise errors.invalid("intersects: not supported here; search by bbox.")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isascii() or not value.isdigit() or not value.strip("0"):
        raise errors.invalid("limit: must be a positive integer.")
    digits = value.lstrip("0")  # int() refuses 4300 digits, leading zeros too: a 500
    return MAX_LIMIT if len(digits) > len(str(MAX_LIMIT)) else min(int(digits), MAX_LIMIT)


def _bbox(numbers: list[float]) -> list[float]:
    """[minx, miny, maxx, maxy] (or two such boxes when it crosses the antimeridian)."""
    if len(numbers) == 6:  # 3D: minx, miny, minz, maxx, maxy, maxz; heights are not indexed
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise errors.invalid("bbox: must be 4 or 6 finite numbers.")
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise errors.invalid(
            "bbox: WGS84 longitudes -180..180, latitudes -90..90, south not above north."
        )
    if west > east:  # crosses the antimeridian (RFC 7946 section 5.2)
        return [west, south, 180.0, north, -180.0, south, east, north]
    return [west, south, east, north]


def _split(name: str, value: str) -> list[str]:
    items = [v.strip() for v in check_text(name, value, 10_000).split(",")]
    return [check_text(name, v, 100) for v in items if v]


def _strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.invalid(f"{name}: must be an array of strings.")
    return [check_text(name, v, 100) for v in value]


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value)) if len(value) == 36 else None
    except ValueError:
        return None


def parse_interval(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """An RFC 3339 instant, or an interval start/end with '..' or '' for an open end; raises
    ApiError 400 for anything else (both ends open, start after end, a date alone, ...)."""
    check_text("datetime", text, 100)
    parts = text.split("/")
    if len(parts) == 1:
        if text in _OPEN:
            raise errors.invalid("datetime: an RFC 3339 date-time or interval.")
        instant = parse_instant(text)
        return instant, instant
    if len(parts) != 2 or (parts[0] in _OPEN and parts[1] in _OPEN):
        raise errors.invalid("datetime: an interval needs start/end with at most one end open.")
    start = None if parts[0] in _OPEN else parse_instant(parts[0])
    end = None if parts[1] in _OPEN else parse_instant(parts[1])
    if start is not None and end is not None and start > end:
        raise errors.invalid("datetime: the interval's start is after its end.")
    return start, end


def parse_instant(text: str) -> dt.datetime:
    """One RFC 3339 date-time (offset required; beyond microseconds truncated); raises ApiError
    400."""
    match = _INSTANT.match(text)
    if not match:
        raise errors.invalid(
            "datetime: RFC 3339 date-times like 2024-05-01T12:00:00Z, with an offset."
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    leap = second == 60  # a leap second is the instant after :59
    try:
        if offset in ("Z", "z"):
            zone = dt.UTC
        else:
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(offset)
            sign = 1 if offset[0] == "+" else -1
            zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
        value = dt.datetime(
            year, month, day, hour, minute, 59 if leap else second, micro, tzinfo=zone
        )
    except (ValueError, OverflowError):
        raise errors.invalid("datetime: not a valid date-time.") from None
    return value + dt.timedelta(seconds=1) if leap else value
