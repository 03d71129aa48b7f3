"""PDF inspection with pypdf, bounded in size and wall-clock time."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from chalicelib.processing.budget import TimeLimit, TimeLimitExceeded, time_limit
from chalicelib.processing.quiet import quiet_logger
from chalicelib.processing.result import Inspection, Rejected

PDF_MAX_BYTES = 1024 * 1024 * 1024
PDF_TIME_LIMIT_S = 20.0  # pypdf is pure Python: hostile object graphs can be slow
PDF_MAX_PAGES = 1_000_000
EOF_WINDOW = 2048  # "%%EOF" must appear this close to the end (Acrobat allows 1 KiB)


def inspect_pdf(path: str) -> Inspection:
    """Inspect a PDF: pages, version, encryption, georeferencing hint; raises Rejected."""
    size = os.path.getsize(path)
    if size > PDF_MAX_BYTES:
        raise Rejected("too_large", "PDF exceeds the size budget")
    with open(path, "rb") as fh:
        fh.seek(max(0, size - EOF_WINDOW))
        if b"%%EOF" not in fh.read():
            raise Rejected("malformed", "PDF is truncated")

    from pypdf import PdfReader

    limit: TimeLimit | None = None
    try:
        # A file handle, not the path: given a path pypdf reads the whole file into memory.
        # Its own cap, inside the job's (see budget.time_limit): when the job's time runs out
        # first, that limit's exception passes through (the job is retried, not rejected).
        with (
            open(path, "rb") as fh,
            quiet_logger("pypdf"),
            time_limit(PDF_TIME_LIMIT_S) as limit,
        ):
            reader = PdfReader(fh, strict=False)
            meta = _read(reader)
    except TimeLimitExceeded as exc:
        if exc.limit is not limit:
            raise
        raise Rejected("too_large", "PDF exceeds the processing budget") from exc
    except Rejected:
        raise
    except Exception as exc:  # pypdf raises many unrelated types on hostile input
        raise Rejected("malformed", "PDF structure is invalid") from exc
    return Inspection("pdf", "application/pdf", meta)


def _count_without_key(reader: Any) -> int | None:
    """/Count of a PDF we cannot decrypt: numbers and dictionaries are never encrypted.

    pypdf refuses every object until decryption; its private `_override_encryption`
    switch (used for the /Encrypt dictionary) lifts that. If pypdf ever drops it, this
    degrades to None ("pages unknown"), which the contract allows for encrypted files.
    """
    reader._override_encryption = True
    try:
        count = reader.trailer["/Root"]["/Pages"]["/Count"]
    except Exception:
        return None
    finally:
        reader._override_encryption = False
    return int(count) if isinstance(count, int) else None


def _read(reader: Any) -> dict[str, Any]:
    encrypted = bool(reader.is_encrypted)
    if encrypted:
        # Many "encrypted" PDFs only restrict printing/editing (empty user password);
        # failures (a real password, no AES support) leave the page count to /Count.
        with contextlib.suppress(Exception):
            reader.decrypt("")
    try:
        pages: int | None = reader.get_num_pages()
    except Exception:
        if not encrypted:
            raise
        pages = _count_without_key(reader)
    if pages is not None and (not isinstance(pages, int) or not 0 < pages <= PDF_MAX_PAGES):
        if not encrypted:
            raise Rejected("malformed", "PDF page tree is invalid")
        pages = None
    pages = int(pages) if pages is not None else None
    header = str(reader.pdf_header)
    meta: dict[str, Any] = {
        "pages": pages,
        "encrypted": encrypted,
        "pdf_version": header[5:] if header.startswith("%PDF-") else None,
        "bbox": None,
        "crs": None,
    }
    if pages:
        try:
            # GeoPDF (ISO 32000 /VP measure dictionaries) or TerraGo's /LGIDict.
            first = reader.pages[0]
            meta["georeferenced"] = "/VP" in first or "/LGIDict" in first
        except Exception:  # noqa: S110 - the hint is optional
            pass
    return meta
