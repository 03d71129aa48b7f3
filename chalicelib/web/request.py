"""Request parsing: media type, query parameters, and bounded, strict JSON bodies."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Collection
from typing import Any

from chalice.app import Request

from chalicelib import errors
from chalicelib.web.fields import check_text

MAX_JSON_BYTES = 64 * 1024
# A multipart completion lists every part, up to S3's 10,000: the longest item a client sends,
# {"part_number": 10000, "etag": "\"<32 hex>\"", "checksum_sha256": "<44 base64>"}, with
# json.dumps' default spaces, the ETag's quotes kept and ", " after it, is 139 bytes: 1.39 MB
# for 10,000 (680 KB as httpx and browsers send ETags alone). 2 MiB also holds them indented;
# every other JSON body stays at MAX_JSON_BYTES. API Gateway takes 10 MB, Lambda 6 MB.
MAX_COMPLETE_JSON_BYTES = 2 * 1024 * 1024
# Request bodies are shallow; json.loads recurses once per level and a 64 KiB body holds
# 32768 of them (a multipart completion's 2 MiB, a million), so depth is measured first
# (without recursion) and capped far below Python's recursion limit.
MAX_JSON_DEPTH = 32
# No field is a number this long; a longer one is refused before Python converts it (an int of
# over 4300 digits raises with interpreter advice, and conversion time grows with the length).
MAX_NUMBER_DIGITS = 100
# A JSON string, or the rest of the text after an unterminated one: one forward pass, no
# backtracking, so stripping strings stays linear whatever the body.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1, +1, -1, -1 as int8
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def media_type(request: Request) -> str:
    """The request's media type, lower-case, without parameters ('' when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def query_params(request: Request, allowed: Collection[str] | None = None) -> dict[str, str]:
    """The query string as {name: value}; raises ApiError 400 for a repeated parameter, or
    one not in `allowed` (when given)."""
    params: Any = request.query_params or {}
    clean: dict[str, str] = {}
    for name in params:
        if allowed is not None and name not in allowed:
            raise errors.invalid(f"{check_text('query', name, 64)}: unknown query parameter.")
        values = params.getlist(name)
        if len(values) != 1:
            raise errors.invalid(f"{name}: give it once.")
        clean[name] = values[0]
    return clean


def raw_body(request: Request) -> bytes:
    """The request body as bytes."""
    raw = request.raw_body or b""
    return raw.encode("utf-8") if isinstance(raw, str) else raw


def json_body(request: Request, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The request's JSON object of at most `max_bytes` (MAX_JSON_BYTES unless a route's
    body must be longer); raises ApiError 415/413/400 for anything else."""
    if media_type(request) != "application/json":
        raise errors.unsupported_media_type("Send a JSON body with Content-Type: application/json.")
    raw = raw_body(request)
    if len(raw) > max_bytes:
        raise errors.too_large(f"JSON bodies are limited to {max_bytes} bytes.")
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth(raw) > MAX_JSON_DEPTH:
        raise errors.invalid(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        doc = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
            parse_int=_integer,
            parse_float=_number,
        )
    except UnicodeDecodeError as exc:
        raise errors.invalid(f"body: not valid UTF-8 (at byte {exc.start + 1}).") from None
    except json.JSONDecodeError as exc:  # its msg is the grammar's ("Expecting value")
        where = f"line {exc.lineno} column {exc.colno}"
        raise errors.invalid(f"body: not valid JSON at {where} ({exc.msg.lower()}).") from None
    except _Refused as exc:
        raise errors.invalid(f"body: {exc}.") from None
    except ValueError:  # nothing else raises one; never Python's own words in an answer
        raise errors.invalid("body: not valid JSON.") from None
    except RecursionError:  # not reached under MAX_JSON_DEPTH; kept should the cap ever grow
        raise errors.invalid(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
    if not isinstance(doc, dict):
        raise errors.invalid("body: must be a JSON object.")
    return doc


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar), in linear time and
    without recursion: strings are cut out, then the brackets summed in C. Raises nothing."""
    structure = _JSON_STRING.sub(b"", raw).translate(_BRACKET_STEPS, _NOT_BRACKETS)
    return max(itertools.accumulate(memoryview(structure).cast("b")), default=0)


class _Refused(ValueError):
    """JSON that parses but is refused here; its text is said as it is."""


def _reject_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _integer(text: str) -> int:
    # Checked first: past 4300 digits int() raises with Python's advice in its message.
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _number(text: str) -> float:
    if sum(c.isdigit() for c in text) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return float(text)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _Refused(f"the key {key[:64]!r} is given twice")
        doc[key] = value
    return doc
