"""PDF inspection: pages, encryption, robustness bounds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.processing import pdf
from chalicelib.processing.inspect import inspect_file
from chalicelib.processing.result import Rejected
from tests import samples


def _code(path: Path) -> str:
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    return caught.value.code


def test_encrypted_with_unknown_user_password_still_reports_pages(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(4):
        writer.add_blank_page(width=100, height=100)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as fh:
        writer.write(fh)
    meta = inspect_file(str(path)).metadata
    assert meta["encrypted"] is True and meta["pages"] == 4


def test_deadline_aborts_slow_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "slow.pdf"
    samples.make_pdf(path)

    def spin(_reader: Any) -> None:
        while True:
            time.sleep(0.001)

    monkeypatch.setattr(pdf, "_read", spin)
    monkeypatch.setattr(pdf, "PDF_TIME_LIMIT_S", 0.05)
    started = time.monotonic()
    assert _code(path) == "too_large"
    assert time.monotonic() - started < 2


def test_size_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.pdf"
    samples.make_pdf(path)
    monkeypatch.setattr(pdf, "PDF_MAX_BYTES", 100)
    assert _code(path) == "too_large"


def test_page_tree_loop_is_malformed_not_a_hang(tmp_path: Path) -> None:
    # /Kids of the page tree points back at itself.
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[2 0 R]/Count 1>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
    path = tmp_path / "loop.pdf"
    path.write_bytes(body)
    assert _code(path) == "malformed"
