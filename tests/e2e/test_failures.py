"""`make run` when something is wrong: a taken port, a part that dies. One line, nothing left."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from devstack.postgres import port_in_use
from devstack.procs import pid_alive
from tests.e2e.stack import ROOT, database_for_stack, kill_leftovers, start_stack, throwaway_home

pytestmark = pytest.mark.e2e


def test_port_in_use_is_one_line_and_starts_nothing() -> None:
    with throwaway_home() as home, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PORT": str(port), "MAPSTOCK_STATE_DIR": str(home / ".local")}
        result = subprocess.run(
            [sys.executable, "-m", "devstack.run"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"error: port {port} (for the API) is already in use on 127.0.0.1: "
            "stop what holds it, or set PORT to another port"
        ]
        assert not (home / ".local" / "postgres").exists()  # nothing was started


def test_a_dying_part_stops_everything() -> None:
    with database_for_stack() as database_url, throwaway_home() as home:
        stack = start_stack(home, database_url)
        pids, ports = stack.run_files()["pids"], stack.run_files()["ports"]
        try:
            os.kill(pids["event pump (SQS)"], signal.SIGKILL)
            assert stack.process.wait(timeout=45) == 1
            errors = [line for line in stack.tail().splitlines() if line.startswith("error:")]
            assert errors == [
                "error: event pump (SQS) was killed by SIGKILL "
                f"[log: {stack.state / 'logs' / 'pump-sqs.log'}]"
            ]
            assert [name for name, pid in pids.items() if pid_alive(pid)] == []
            assert [p for p in ports if port_in_use(p)] == []
        finally:
            kill_leftovers(stack, pids)
