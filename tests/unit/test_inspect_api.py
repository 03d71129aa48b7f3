"""Public types and the dispatcher's safety net."""

from __future__ import annotations

import logging
import math
import pickle
from pathlib import Path

import pytest

from chalicelib.formats import inspect as inspect_module
from chalicelib.formats.result import Inspection, Rejected
from tests import samples


def test_rejected_carries_code_and_message() -> None:
    exc = Rejected("malformed", "PNG is truncated")
    assert (exc.code, exc.message) == ("malformed", "PNG is truncated")
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert (copy.code, copy.message) == (exc.code, exc.message)
    with pytest.raises(ValueError):
        Rejected("nope", "unknown codes are a programming error")


def test_inspection_is_frozen() -> None:
    found = Inspection("png", "image/png", {})
    with pytest.raises(AttributeError):
        found.format = "jpeg"  # type: ignore[misc]


def test_unexpected_inspector_error_becomes_malformed_and_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "a.png"
    samples.make_png(path)

    def broken(_path: str) -> Inspection:
        raise KeyError("bug")

    monkeypatch.setitem(inspect_module._INSPECTORS, "png", broken)
    with caplog.at_level(logging.ERROR), pytest.raises(Rejected) as caught:
        inspect_module.inspect_file(str(path))
    assert caught.value.code == "malformed"
    assert "unexpected inspector failure" in caplog.text


def test_memory_error_becomes_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"
    samples.make_png(path)

    def hungry(_path: str) -> Inspection:
        raise MemoryError

    monkeypatch.setitem(inspect_module._INSPECTORS, "png", hungry)
    with pytest.raises(Rejected) as caught:
        inspect_module.inspect_file(str(path))
    assert caught.value.code == "too_large"


def test_metadata_is_cleaned_to_strict_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.png"
    samples.make_png(path)

    def dirty(_path: str) -> Inspection:
        return Inspection("png", "image/png", {"bbox": (1.0, math.nan, math.inf, 2), "n": [None]})

    monkeypatch.setitem(inspect_module._INSPECTORS, "png", dirty)
    found = inspect_module.inspect_file(str(path))
    assert found.metadata == {"bbox": [1.0, None, None, 2], "n": [None]}


def test_missing_file_is_an_os_error_not_a_rejection(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        inspect_module.inspect_file(str(tmp_path / "gone"))
