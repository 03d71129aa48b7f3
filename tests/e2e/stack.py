"""The real local stack, `python -m devstack.run` as `make run` starts it, in a throwaway folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from devstack.postgres import free_port
from devstack.procs import pid_alive
from tests.conftest import EXTERNAL_DATABASE_URL, ORIGINAL_ENV

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Map Stock is running"
START_SECONDS = 90


@dataclass
class LocalStack:
    """A running `python -m devstack.run` and where it keeps its state."""

    process: subprocess.Popen[bytes]
    home: Path  # the folder the CLI runs in: its .local is the stack's state folder
    output: Path
    url: str

    @property
    def state(self) -> Path:
        return self.home / ".local"

    def run_files(self) -> dict[str, Any]:
        """pids.json as the stack wrote it once ready."""
        return dict(json.loads((self.state / "run" / "pids.json").read_text()))

    def env(self) -> dict[str, str]:
        """env.json as the stack wrote it: its database, S3 endpoint, credentials, bucket."""
        return dict(json.loads((self.state / "run" / "env.json").read_text()))

    def s3(self) -> Any:
        """An S3 client of the stack's moto (with the stack's own credentials)."""
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def cli(self, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        """The admin CLI as a user runs it next to a running stack: no DATABASE_URL given."""
        env = {k: v for k, v in ORIGINAL_ENV.items() if k != "DATABASE_URL"}
        env["PYTHONPATH"] = str(ROOT)
        if password is not None:
            env["MAPSTOCK_PASSWORD"] = password
        return subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def tail(self) -> str:
        return self.output.read_text(errors="replace")[-3000:]

    def stop(self, signum: int = signal.SIGINT, timeout: float = 45) -> int:
        """Signal the orchestrator as Ctrl-C would and wait for it; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


def _distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@contextlib.contextmanager
def database_for_stack() -> Iterator[str | None]:
    """None (the stack starts its own PostgreSQL), or a fresh database on DATABASE_URL's server."""
    external = EXTERNAL_DATABASE_URL
    if not external:
        yield None
        return
    from chalicelib.db import connect

    admin = connect(external)
    name = f"mapstock_e2e_{uuid.uuid4().hex[:10]}"
    admin.run(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(external)._replace(path=f"/{name}"))
    finally:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def throwaway_home() -> Iterator[Path]:
    """A folder whose .local becomes the stack's state folder; removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="mapstock-e2e-"))
    os.chmod(home, 0o755)  # noqa: S103 - the unprivileged PostgreSQL account must reach .local
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def start_stack(
    home: Path, database_url: str | None, extra_env: dict[str, str] | None = None
) -> LocalStack:
    """Start the stack and wait for its ready screen; fails the test with its output if not.

    `extra_env` reaches every part (moto reads S3_UPLOAD_PART_MIN_SIZE, the API the
    MULTIPART_* settings)."""
    api_port, pg_port, moto_port = _distinct_free_ports(3)
    env = {k: v for k, v in ORIGINAL_ENV.items() if k != "DATABASE_URL"}
    env.update(
        {
            "PORT": str(api_port),
            "MAPSTOCK_PG_PORT": str(pg_port),
            "MAPSTOCK_MOTO_PORT": str(moto_port),
            "MAPSTOCK_STATE_DIR": str(home / ".local"),
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra_env or {})
    output = home / "run.out"
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # only the test's own SIGINT reaches it
        )
    stack = LocalStack(process, home, output, f"http://127.0.0.1:{api_port}")
    deadline = time.monotonic() + START_SECONDS
    while READY_LINE not in output.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop(signal.SIGTERM)
            pytest.fail(f"the local stack did not start:\n{stack.tail()}")
        time.sleep(0.1)
    return stack


def kill_leftovers(stack: LocalStack, pids: dict[str, int]) -> None:
    """Last resort, so a failed test never leaves processes behind (only the ones we started)."""
    with contextlib.suppress(Exception):
        stack.stop(timeout=45)
    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
        stack.process.kill()
        stack.process.wait(timeout=5)
    for name, pid in pids.items():
        if name != "PostgreSQL" and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    if pids.get("PostgreSQL") and pid_alive(pids["PostgreSQL"]):
        from devstack.postgres import LocalPostgres

        LocalPostgres(stack.state / "postgres").stop()
