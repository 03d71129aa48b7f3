"""multipart/form-data bodies (python-multipart's streaming parser: ~10x faster than email)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from chalicelib import errors

MAX_PARTS = 16


@dataclass
class Part:
    name: str
    filename: str | None
    data: bytearray = field(default_factory=bytearray)


def _decode(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.invalid(f"{what}: must be UTF-8.") from None


def _disposition(raw: bytes) -> tuple[str, str | None]:
    kind, params = parse_options_header(raw)
    if kind.lower() != b"form-data" or b"name" not in params:
        raise errors.invalid("body: every part needs Content-Disposition: form-data; name=….")
    filename: str | None = None
    if b"filename*" in params:  # RFC 5987: UTF-8''percent-encoded
        charset, _, encoded = _decode(params[b"filename*"], "filename").partition("''")
        if charset.lower() != "utf-8":
            raise errors.invalid("filename: only UTF-8 filename* is supported.")
        filename = unquote(encoded, errors="strict")
    elif b"filename" in params:
        filename = _decode(params[b"filename"], "filename")
    return _decode(params[b"name"], "part name"), filename


def parse(body: bytes, content_type: str) -> list[Part]:
    """The parts of a complete form body; raises ApiError 400 for anything malformed."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise errors.invalid("Content-Type: multipart/form-data needs a boundary.")
    parts: list[Part] = []
    headers: dict[bytes, bytes] = {}
    header_name = bytearray()
    header_value = bytearray()
    ended = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        if len(parts) >= MAX_PARTS:
            raise errors.invalid(f"body: at most {MAX_PARTS} form parts.")
        name, filename = _disposition(headers.get(b"content-disposition", b""))
        parts.append(Part(name, filename))
        headers.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data.extend(data[start:end])

    def on_end() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_end": on_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise errors.invalid("body: malformed multipart/form-data.") from None
    if not ended:
        raise errors.invalid("body: multipart/form-data ends before its closing boundary.")
    return parts
