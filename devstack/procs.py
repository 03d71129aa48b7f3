"""Child processes of the local stack: each leads its own process group and logs to a file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_SECONDS = 8.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _find_prctl() -> Callable[..., int] | None:
    """Linux's prctl(2), looked up before any fork (importing in a forked child is unsafe)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()
_PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int) -> None:
    """Runs in the child between fork and exec."""
    # The orchestrator defers its signals while it spawns; the child must not inherit that.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if _PRCTL is not None:
        # Should the orchestrator be killed outright (kill -9), the kernel sends SIGTERM here,
        # so no child outlives it. Best effort: other systems have no such call.
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent_pid:
            os._exit(1)  # the orchestrator died before the call above


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _exit_code_peek(pid: int) -> int | None:
    """The child's exit code if it has ended, without reaping it (its pid stays reserved)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return -1  # already reaped
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


@dataclass
class Child:
    """A process this orchestrator started, named as the user knows it."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        """None while it runs; its exit code once it has ended."""
        if self.popen.returncode is not None:
            return self.popen.returncode
        return _exit_code_peek(self.pid)

    def death(self) -> str | None:
        """None while it runs, else how it ended, for a one-line error."""
        code = self.exit_code()
        if code is None:
            return None
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        why = last_line(self.log)
        return f"exited unexpectedly (code {code}){': ' + why if why else ''}"

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM to its whole group, SIGKILL after `grace` seconds; then reap it."""
        if self.popen.returncode is not None:
            return
        _signal_group(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # The leader is not reaped yet, so its pid still names only its own group: anything it
        # left behind there goes too, and no unrelated process can be hit.
        _signal_group(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


def spawn(name: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> Child:
    """Start argv in a new session (Ctrl-C on the terminal reaches only the orchestrator)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.exists():
        os.replace(log, log.with_name(log.name + ".1"))  # one earlier run kept, size bounded
    parent = os.getpid()
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Safe here: the orchestrator runs no threads when it forks.
            preexec_fn=lambda: _child_setup(parent),
        )
    return Child(name, popen, log)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, so a started child is always recorded."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def pid_alive(pid: int) -> bool:
    """True while a process with this pid runs (ours or not); an unreaped zombie has ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        # PostgreSQL is reparented to init once pg_ctl exits, and init may reap it late.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is the best answer there


def last_line(path: Path) -> str:
    """The last non-empty line of a log, for a one-line error."""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = [line.strip() for line in log.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else ""


def http_ok(url: str) -> bool:
    """True when GET url answers 200 (straight to loopback, never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
