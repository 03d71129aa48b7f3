"""What `ls`, `show` and `upload` print for people: aligned columns, `key  value` lines, the
line after an upload."""

from __future__ import annotations

from typing import Any

from mapstock_client.progress import human

COLUMNS = ("id", "status", "visibility", "format", "size", "title")


def _cell(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if key == "size" and isinstance(value, int):
        return human(value)
    # One line per map, whatever the title holds.
    return " ".join(str(value).split()) or "-" if value is not None else "-"


def table(items: list[dict[str, Any]]) -> str:
    """Maps as aligned columns with a header line."""
    rows = [[c.upper() for c in COLUMNS]] + [[_cell(d, c) for c in COLUMNS] for d in items]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(v.ljust(w) for v, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def details(doc: dict[str, Any]) -> str:
    """One map as `key  value` lines, the metadata flattened."""
    pairs: list[tuple[str, str]] = []
    for key in ("id", "title", "description", "filename", "owner", "status", "visibility"):
        pairs.append((key, _cell(doc, key)))
    if doc.get("stage"):
        pairs.append(("stage", f"{doc['stage']} {doc.get('progress') or ''}".strip()))
    if doc.get("error"):
        pairs.append(("error", f"{doc['error'].get('code')}: {doc['error'].get('message')}"))
    size = doc.get("size")
    pairs.append(("size", f"{human(size)} ({size} bytes)" if isinstance(size, int) else "-"))
    pairs.append(("sha256", _cell(doc, "sha256")))
    pairs.append(("format", f"{_cell(doc, 'format')} ({_cell(doc, 'media_type')})"))
    for key, value in sorted((doc.get("metadata") or {}).items()):
        shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        pairs.append((key, " ".join(shown.split())[:200]))
    optimized = (doc.get("variants") or {}).get("optimized")
    if optimized:
        pairs.append(("optimized", f"{optimized.get('kind')}, {human(optimized['size'])}"))
    for key in ("created_at", "updated_at", "processed_at", "download_count"):
        pairs.append((key, _cell(doc, key)))
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


# What the status a map has just after its upload means, for the line on a terminal.
AFTER_UPLOAD = {
    "awaiting_upload": "sent {name} as map {id}; the server has yet to register it",
    "uploaded": "uploaded {name} as map {id}; waiting to be processed",
    "processing": "uploaded {name} as map {id}; being processed",
    "ready": "uploaded {name} as map {id}; ready",
}


def upload_summary(name: str, doc: dict[str, Any]) -> str:
    """The line a person at a terminal reads once the upload is sent, true to the status."""
    template = AFTER_UPLOAD.get(doc["status"], "uploaded {name} as map {id}; {status}")
    return template.format(name=name, id=doc["id"], status=doc["status"])
