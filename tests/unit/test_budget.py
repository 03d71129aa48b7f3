"""The job budget and time_limit: deadlines, nesting, fallbacks, and the inspectors' own caps
inside the job's."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.formats import geojson, pdf, sqlite_db
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Rejected
from chalicelib.formats.timer import TimeLimitExceeded, current_limit, time_limit
from chalicelib.pipeline import budget
from chalicelib.pipeline.budget import Budget, OutOfTime
from tests import samples


def _spin() -> None:
    while True:
        time.sleep(0.001)


def test_budget_is_capped_by_the_invocation_deadline() -> None:
    assert Budget.for_job(540, None).remaining() == pytest.approx(540, abs=0.1)
    assert Budget.for_job(540, time.monotonic() + 10).remaining() == pytest.approx(10, abs=0.1)
    assert Budget.for_job(5, time.monotonic() + 10).remaining() == pytest.approx(5, abs=0.1)


def test_out_of_time_names_the_step() -> None:
    spent = Budget(0)
    with pytest.raises(OutOfTime) as caught:
        spent.check("spool")
    assert caught.value.step == "spool"
    assert "ran out of time while reading the upload" in caught.value.reason
    roomy = Budget(10)
    roomy.check("spool")
    roomy.require("inspect", 5)
    with pytest.raises(OutOfTime, match="inspect"):
        roomy.require("inspect", 20)


def test_steps_add_up_in_the_report() -> None:
    job = Budget(60)
    for _ in range(2):
        with job.step("spool"):
            time.sleep(0.01)
    report = job.report()
    assert report["budget_s"] == 60
    assert 0.02 <= report["steps_s"]["spool"] <= report["used_s"] < 1


def test_invocation_deadline_keeps_the_record_reserve() -> None:
    assert budget.invocation_deadline(None) is None
    deadline = budget.invocation_deadline(60_000)
    expected = time.monotonic() + 60 - budget.RECORD_RESERVE_SECONDS
    assert deadline == pytest.approx(expected, abs=0.1)


def test_a_job_starts_only_with_enough_time_left() -> None:
    now = time.monotonic()
    assert budget.leaves_time_for_job(None, 540)
    assert budget.leaves_time_for_job(now + budget.MIN_JOB_SECONDS + 1, 540)
    assert not budget.leaves_time_for_job(now + budget.MIN_JOB_SECONDS - 1, 540)
    assert budget.leaves_time_for_job(now + 11, 10)  # its whole (small) budget fits


def test_store_reserve_grows_with_the_size() -> None:
    assert budget.store_reserve_seconds(0) == budget.STORE_FIXED_SECONDS
    gib = budget.store_reserve_seconds(2**30)
    assert gib == pytest.approx(5 + 1.5 * 1024 / 20)


def test_time_limit_cuts_the_block_short_and_cleans_up() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as caught, time_limit(0.05) as limit:
        _spin()
    assert caught.value.limit is limit
    assert 0.05 <= time.monotonic() - started < 1
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    assert signal.getsignal(signal.SIGALRM) is handler
    assert current_limit() is None


def test_nested_limits_name_the_one_that_fired() -> None:
    with pytest.raises(TimeLimitExceeded) as caught, time_limit(0.05) as outer, time_limit(5):
        _spin()
    assert caught.value.limit is outer

    with time_limit(5) as outer:
        with pytest.raises(TimeLimitExceeded) as caught, time_limit(0.05) as inner:
            _spin()
        assert caught.value.limit is inner
        assert current_limit() is outer
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 4  # the outer one is armed again
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_outside_the_main_thread_the_limit_is_only_cooperative() -> None:
    seen: dict[str, Any] = {}

    def work() -> None:
        with time_limit(0.01) as limit:
            time.sleep(0.05)  # not interrupted
            seen.update(enforced=limit.enforced, expired=limit.expired())
            seen["current"] = current_limit() is limit

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == {"enforced": False, "expired": True, "current": True}


def test_someone_elses_timer_is_left_alone() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, _frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 10)
        with time_limit(0.01) as limit:
            time.sleep(0.03)
        assert not limit.enforced
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 9
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired == []


def test_pdf_keeps_its_own_cap_and_passes_the_jobs_limit_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "slow.pdf"
    samples.make_pdf(path)
    monkeypatch.setattr(pdf, "_read", lambda _reader: _spin())
    monkeypatch.setattr(pdf, "PDF_TIME_LIMIT_S", 0.05)
    # The job's time is longer: the PDF's own cap rejects it.
    with time_limit(5), pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    assert caught.value.code == "too_large"

    monkeypatch.setattr(pdf, "PDF_TIME_LIMIT_S", 5)
    with pytest.raises(TimeLimitExceeded) as cut, time_limit(0.05) as job:
        inspect_file(str(path))
    assert cut.value.limit is job  # not a rejection: the job's time ran out
    assert current_limit() is None
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_sqlite_guard_stops_at_the_earlier_of_its_limit_and_the_jobs() -> None:
    alone = sqlite_db.Guard()
    assert alone.deadline == pytest.approx(time.monotonic() + sqlite_db.TIME_LIMIT_S, abs=0.1)
    with time_limit(60):
        assert sqlite_db.Guard().deadline == pytest.approx(alone.deadline, abs=0.1)
    seen: dict[str, Any] = {}

    def work() -> None:  # no alarm in a worker thread: the guard alone carries the deadline
        with time_limit(0.02) as job:
            guard = sqlite_db.Guard()
            seen["deadline"] = guard.deadline == job.deadline
            seen["before"] = guard()
            time.sleep(0.03)
            seen["after"] = guard()  # 1 aborts the running statement
            seen["tripped"] = guard.hard_tripped

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == {"deadline": True, "before": 0, "after": 1, "tripped": True}


def test_an_inspector_giving_up_at_the_jobs_deadline_is_not_a_rejection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inspector may stop itself at the job's deadline (SQLite's guard) or lose the alarm in
    a C callback and report a rejection: past the deadline, that counts as out of time."""
    from chalicelib.pipeline.process import _inspect

    path = tmp_path / "map.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')

    def gives_up(_path: str) -> Any:
        limit = current_limit()
        assert limit is not None
        with contextlib.suppress(TimeLimitExceeded):  # as sqlite3's progress handler does
            _spin()
        raise Rejected("malformed", "interrupted")

    monkeypatch.setattr(geojson, "inspect_geojson", gives_up)
    with pytest.raises(OutOfTime, match="inspect"):
        _inspect(str(path), Budget(0.05))
    assert current_limit() is None
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
