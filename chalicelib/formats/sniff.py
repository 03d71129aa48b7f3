"""Magic-byte detection: decide the format family from the first few KB of content."""

from __future__ import annotations

import re

# Only this much of the file is ever read here; enough for any magic number and for
# an XML prolog (declaration, comments) in front of the root element.
SNIFF_BYTES = 8192

# Families returned by sniff(); "xml" means an XML text whose root element was not
# visible in the window (or hides behind a DOCTYPE) and must be decided by parsing.
KINDS = frozenset(
    {"tiff", "png", "jpeg", "webp", "pdf", "zip", "sqlite", "pmtiles", "json", "kml", "gpx", "xml"}
)

_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic + BigTIFF
_XML_NAME = re.compile(r"<([A-Za-z_][\w.\-]*(?::[\w.\-]+)?)")
_DOCTYPE = re.compile(r"<!DOCTYPE\s+([^\s>\[]+)", re.IGNORECASE)
_JSON_WS = " \t\r\n"


def sniff(path: str) -> str | None:
    """Return the format family of the file at `path` (see KINDS) or None; raises OSError."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> str | None:
    """Return the format family for the leading bytes `head` or None; never raises."""
    # Binary magics: the leading bytes decide, so polyglots go to their first format.
    if head.startswith(_TIFF_MAGICS):
        return "tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # first local header / empty archive
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"PMTiles"):
        return "pmtiles"
    return _sniff_text(head)


def _decode(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head[: len(head) & ~1].decode("utf-16")
        except UnicodeDecodeError:
            return None
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if b"\x00" in head:  # binary data (executables, noise) is never a text format
        return None
    # The window may end inside a multi-byte character; "replace" keeps sniffing total.
    return head.decode("utf-8", errors="replace")


def _sniff_text(head: bytes) -> str | None:
    text = _decode(head)
    if text is None:
        return None
    text = text.lstrip(_JSON_WS)
    if text.startswith("{"):
        return "json"  # GeoJSON or not is decided by the parser (top-level "type")
    if text.startswith("<"):
        return _sniff_xml(text)
    return None


def _sniff_xml(text: str) -> str | None:
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return "xml"  # prolog longer than the window: let the XML parser decide
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            if end < 0:
                return "xml"
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            if end < 0:
                return "xml"
            pos = end + 3
        elif text[pos : pos + 9].upper() == "<!DOCTYPE":
            match = _DOCTYPE.match(text, pos)
            name = match.group(1).split(":")[-1].lower() if match else ""
            # A DOCTYPE in a KML/GPX is refused by the parser (xml_entities). Its name need not
            # be the root's (`<!DOCTYPE lolz [...]><kml>`): the root element after it decides,
            # so that HTML, SVG, ... are still simply not map formats.
            if name in ("kml", "gpx"):
                return "xml"
            after = _doctype_end(text, pos)
            if after is None:  # an internal subset longer than the window
                return "xml" if "<!ENTITY" in text[pos:] else None
            pos = after
        else:
            match = _XML_NAME.match(text, pos)
            if match is None:
                return None
            local = match.group(1).split(":")[-1]
            return local if local in ("kml", "gpx") else None


def _doctype_end(text: str, pos: int) -> int | None:
    """The index just past the DOCTYPE starting at `pos` (its internal subset and quoted
    literals skipped), or None when it does not end within `text`."""
    quote = ""
    depth = 0
    for i in range(pos + 9, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ">" and depth <= 0:
            return i + 1
    return None
