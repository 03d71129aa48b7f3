"""Fixtures for the fuzzers: the real API over HTTP (`chalice local`) and the example budget."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.postgres import free_port
from tests.conftest import ROOT

# schemathesis 4.32's lazy pytest loader (`schemathesis.pytest.from_fixture`, needed because the
# schema comes from a server a fixture starts) reads and renames `item._nodeid`, which pytest 9.2
# replaced with `item._id` (a NodeId). This restores the old attribute as a view of the new one;
# it does nothing on a pytest that still has it.
if not hasattr(pytest.Function, "_nodeid"):
    from _pytest.nodeid import coerce_node_id

    pytest.Function._nodeid = property(  # type: ignore[attr-defined]
        lambda item: item.nodeid,
        lambda item, value: setattr(item, "_id", coerce_node_id(value)),
    )

START_SECONDS = 60
STOP_GRACE_SECONDS = 8
# Runs in the child before it becomes `chalice local`: should this test process be killed
# outright (no fixture teardown), the kernel sends the server SIGTERM (PR_SET_PDEATHSIG survives
# exec), so it never outlives the run. Linux only; elsewhere teardown alone stops it. Not a
# preexec_fn: moto's server threads run in this process, and forking with threads forbids it.
_LAUNCHER = """
import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 15)
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execv(sys.argv[2], sys.argv[2:])
"""


def fuzz_examples() -> int:
    """The example budget per operation (`make fuzz` raises it through FUZZ_EXAMPLES)."""
    return max(1, int(os.environ.get("FUZZ_EXAMPLES", "200")))


@dataclass
class LiveApi:
    """`chalice local` serving the app on loopback, started by this test session."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after a grace period, then reap it."""
        pid = self.process.pid
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while not _ended(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            # Not reaped yet, so its pid still names only its own group: whatever it left behind
            # there goes too, and no unrelated process can be hit.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _ended(pid: int) -> bool:
    """True once the child has exited, without reaping it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _server_env(stack: dict[str, str]) -> dict[str, str]:
    # The stack fixture's variables (app role DATABASE_URL, JWT_SECRET, AWS_* for moto, names),
    # not its lower-case extras (queue URLs are passed under the names the app reads).
    env = {**os.environ, **{k: v for k, v in stack.items() if k.isupper()}}
    env["MAPSTOCK_QUEUE_URL"] = stack["queue_url"]
    env["EXTERNAL_QUEUE_URL"] = stack["external_url"]
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PIPELINE_DATABASE_URL", None)  # as deployed: the API holds only its own role's
    return env


def start_live_api(stack: dict[str, str]) -> LiveApi:
    """Start `chalice local --stage local` on a free port and wait until /v1/health answers."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="mapstock-fuzz-")) / "chalice-local.log"
    chalice = str(Path(sys.executable).parent / "chalice")  # the venv running these tests
    argv = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), chalice, "local"]
    argv += ["--stage", "local", "--host", "127.0.0.1", "--port", str(port)]
    argv.append("--no-autoreload")  # its file watcher would fork a second server process
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_server_env(stack),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole, no orphans
        )
    api = LiveApi(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            if requests.get(f"{api.url}/v1/health", timeout=2).status_code == 200:
                return api
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            api.stop()
            pytest.fail(f"chalice local did not become healthy:\n{api.tail()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def live_api(stack: dict[str, str]) -> Iterator[LiveApi]:
    api = start_live_api(stack)
    try:
        yield api
    finally:
        api.stop()


@dataclass
class FuzzSummary:
    """What the fuzzers did, printed at the end of the run (operations x cases, failures)."""

    cases: dict[str, int] = field(default_factory=dict)
    reached: dict[str, int] = field(default_factory=dict)  # answers below 400
    failures: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def count(self, label: str) -> None:
        self.cases[label] = self.cases.get(label, 0) + 1

    def succeeded(self, label: str) -> None:
        self.reached[label] = self.reached.get(label, 0) + 1

    def fail(self, label: str, what: str) -> None:
        found = self.failures.setdefault(label, [])
        if what not in found:
            found.append(what)


_SUMMARY = FuzzSummary()


@pytest.fixture(scope="session")
def fuzz_summary() -> FuzzSummary:
    return _SUMMARY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Keep the fuzz figures in the run's output even with -q (pytest captures prints)."""
    if not _SUMMARY.cases and not _SUMMARY.notes:
        return
    terminalreporter.section("fuzz summary")
    width = max((len(label) for label in _SUMMARY.cases), default=10)
    for label in sorted(_SUMMARY.cases):
        failed = _SUMMARY.failures.get(label, [])
        verdict = f"FAILED: {'; '.join(failed)}" if failed else "0 failures"
        terminalreporter.write_line(
            f"{label:<{width}}  {_SUMMARY.cases[label]:>6} cases  "
            f"{_SUMMARY.reached.get(label, 0):>5} 2xx/3xx  {verdict}"
        )
    total = sum(_SUMMARY.cases.values())
    failing = sum(len(v) for v in _SUMMARY.failures.values())
    terminalreporter.write_line(
        f"{len(_SUMMARY.cases)} operations, {total} cases sent, {failing} distinct failures"
    )
    for note in _SUMMARY.notes:
        terminalreporter.write_line(note)
    target = os.environ.get("FUZZ_SUMMARY_FILE")  # e.g. `make fuzz` keeping it as an artifact
    if target:
        Path(target).write_text(json.dumps(_SUMMARY.__dict__, indent=2, sort_keys=True))
