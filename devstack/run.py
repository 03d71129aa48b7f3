"""`make run`: PostgreSQL, local S3 + SQS (moto), the API (`chalice local`) and the event pump,
started in order, watched, and stopped together on Ctrl-C / SIGTERM. As deployed, the API
connects with mapstock_api's rights only and the pumps with mapstock_pipeline's.

Settings (environment): PORT (8000), MAPSTOCK_PG_PORT (54329), MAPSTOCK_MOTO_PORT (54330),
MAPSTOCK_STATE_DIR (.local), DATABASE_URL (replaces the embedded PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from devstack import steps
from devstack.localenv import (
    NOTIFY_QUEUE,
    ROOT,
    STAGE,
    Options,
    StackError,
    isolated_env,
    jwt_secret,
    prepare_state,
    shown,
    stage_names,
    write_run_files,
)
from devstack.postgres import LocalPostgres, PostgresError, port_in_use
from devstack.procs import Child, http_ok, pid_alive, signals_deferred, spawn
from devstack.screen import ready_screen

STARTUP_SECONDS = 60
# Two pump processes, so a long processing job never holds up registering uploads.
PUMPS = {
    "s3": ("event pump (S3, schedules)", ["s3", "schedule"]),
    "sqs": ("event pump (SQS)", ["sqs"]),
}


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while starting."""


class Stack:
    """Everything `make run` starts, and the order it is stopped in."""

    def __init__(self, options: Options):
        self.o = options
        self.children: list[Child] = []
        self.postgres: LocalPostgres | None = None
        self.bucket = ""
        self.stop_requested = False
        self.hurry = False
        self.env: dict[str, str] = {}  # every child's; each adds its own database login
        self.admin_url = ""  # the schema owner's: for the CLI (env.json), never a child
        self.lock_fd = -1  # held (flock) while running: one stack per state folder
        self.locked = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT/SIGTERM: stop; a second one skips saving S3 objects."""
        # Never raise here: every step checks the flag, so nothing is left half-recorded.
        self.hurry = self.stop_requested
        self.stop_requested = True

    def check(self) -> None:
        """Raise when asked to stop, or when anything started has died."""
        if self.stop_requested:
            raise Interrupted
        for child in self.children:
            death = child.death()
            if death:
                raise StackError(f"{child.name} {death} [log: {shown(child.log)}]")
        pg_pid = self.postgres.pid() if self.postgres else None
        if self.postgres and (pg_pid is None or not pid_alive(pg_pid)):
            raise StackError(f"PostgreSQL stopped unexpectedly [log: {shown(self.postgres.log)}]")

    def wait_for(self, what: str, ready: Callable[[], bool], log: Path) -> None:
        """Poll `ready` until true; raises StackError on timeout or a death, Interrupted."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            self.check()  # a dead child first: its port may be someone else's
            if ready():
                return
            if time.monotonic() > deadline:
                raise StackError(f"{what} not ready after {STARTUP_SECONDS}s [log: {shown(log)}]")
            time.sleep(0.05)

    def spawn(self, name: str, argv: list[str], log: str, **extra: str) -> Child:
        """Start a child with the stack's environment and record it before any signal lands."""
        with signals_deferred():
            child = spawn(name, argv, {**self.env, **extra}, self.o.log_dir / log, ROOT)
            self.children.append(child)
        return child

    def start(self) -> None:
        """Start every part, in dependency order; raises StackError or Interrupted."""
        o = self.o
        self.lock_fd = prepare_state(o)
        self.locked = True
        self.check_ports()
        self.env = isolated_env(os.environ, o.aws_endpoint)
        os.environ.clear()
        os.environ.update(self.env)  # this process talks to moto too (resources, snapshot)
        # moto boots while PostgreSQL starts and migrates: they need nothing from each other.
        moto = self.spawn(
            "S3/SQS (moto)",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(o.moto_port)],
            "moto.log",
        )
        database_url = self.start_database()
        self.check()
        steps.migrate_database(database_url)
        # The API connects as mapstock_api's login, the pumps as mapstock_pipeline's.
        logins = steps.create_logins(database_url)
        self.wait_for("S3/SQS (moto)", lambda: port_in_use(o.moto_port), moto.log)
        self.bucket, queue = stage_names()
        urls = steps.create_aws_resources(o, self.bucket, queue)
        self.admin_url = database_url
        self.env.update(
            {
                "JWT_SECRET": jwt_secret(o.state),
                "MAPSTOCK_BUCKET": self.bucket,
                "MAPSTOCK_QUEUE": queue,
                "MAPSTOCK_QUEUE_URL": urls["queue_url"],
                "MAPSTOCK_NOTIFY_QUEUE": NOTIFY_QUEUE,
                "MAPSTOCK_API_URL": o.api_url,
            }
        )
        # `chalice local` through devstack.api_server: unknown paths get the contract's 404.
        # No autoreload: the pump would keep running the old code while the API ran the new.
        argv = [
            sys.executable,
            "-m",
            "devstack.api_server",
            "--stage",
            STAGE,
            "--host",
            "127.0.0.1",
        ]
        argv += ["--port", str(o.api_port), "--no-autoreload"]
        api_login = logins["DATABASE_URL"]
        api = self.spawn("API (chalice local)", argv, "api.log", DATABASE_URL=api_login)
        steps.restore_bucket(o, self.bucket, database_url)  # while the API boots
        pumps = []
        for key, (name, kinds) in PUMPS.items():
            ready = o.run_dir / f"pump-{key}.ready"
            ready.unlink(missing_ok=True)
            argv = [sys.executable, "-m", "devstack.pump", *kinds]
            pump = self.spawn(
                name,
                argv,
                f"pump-{key}.log",
                MAPSTOCK_READY_FILE=str(ready),
                PIPELINE_DATABASE_URL=logins["PIPELINE_DATABASE_URL"],
            )
            pumps.append((pump, ready))
        self.wait_for("the API", lambda: http_ok(f"{o.api_url}/v1/health"), api.log)
        for pump, ready in pumps:
            self.wait_for(pump.name, ready.exists, pump.log)
        self.write_run_files()

    def check_ports(self) -> None:
        """Stop our own PostgreSQL if a killed run left it, then insist every port is free."""
        o = self.o
        if not o.database_url:
            self.postgres = LocalPostgres(o.state / "postgres", port=o.pg_port)
            if self.postgres.pid() and pid_alive(self.postgres.pid() or 0):
                # We hold the lock, so this server was left behind by a run that was killed.
                print("Stopping a PostgreSQL left running by an earlier run...", file=sys.stderr)
                self.postgres.stop()
        steps.check_ports_free(o)

    def start_database(self) -> str:
        """The embedded PostgreSQL started (or DATABASE_URL); returns the URL."""
        if self.postgres is None:
            return str(self.o.database_url)
        try:
            return self.postgres.start()
        except PostgresError as exc:
            if self.stop_requested:
                raise Interrupted from None  # Ctrl-C reached pg_ctl too
            raise StackError(f"PostgreSQL: {exc}".splitlines()[0]) from None

    def write_run_files(self) -> None:
        """env.json for the CLI, pids.json for whoever checks on us."""
        pids = {"orchestrator": os.getpid(), **{c.name: c.pid for c in self.children}}
        if self.postgres and self.postgres.pid():
            pids["PostgreSQL"] = self.postgres.pid() or 0
        write_run_files(self.o, {**self.env, "DATABASE_URL": self.admin_url}, pids)

    def stop(self) -> bool:
        """Stop everything started, newest first; bounded in time, safe after a partial start.

        Returns whether anything had been started.
        """
        started = bool(self.children or (self.postgres and self.postgres.pid()))
        moto = next((c for c in self.children if c.name.startswith("S3/SQS")), None)
        for child in reversed(self.children):
            if child is not moto:
                self.attempt(child.name, child.stop)
        o, bucket, hurry = self.o, self.bucket, lambda: self.hurry
        if moto and bucket and moto.exit_code() is None and not self.hurry:
            self.attempt("saving S3 objects", lambda: steps.save_bucket(o, bucket, hurry))
        if moto:
            self.attempt(moto.name, moto.stop)
        if self.postgres:
            self.attempt("PostgreSQL", self.postgres.stop)
        # Another instance's files are not ours to remove (we stopped at its lock).
        owned = ("env.json", "pids.json", *(f"pump-{k}.ready" for k in PUMPS))
        for name in owned if self.locked else ():
            with contextlib.suppress(FileNotFoundError):
                (self.o.run_dir / name).unlink()
        return started

    @staticmethod
    def attempt(what: str, step: Callable[[], None]) -> None:
        """Run one stop step; a failure is reported and the next steps still run."""
        try:
            step()
        except Exception as exc:
            print(f"warning: stopping {what}: {type(exc).__name__}: {exc}", file=sys.stderr)


def main() -> int:
    """Run the stack until Ctrl-C/SIGTERM (exit 0) or until a part fails (one line, exit 1)."""
    if sys.argv[1:]:  # settings come from the environment only
        print(__doc__)
        return 0 if sys.argv[1] in ("-h", "--help") else 2
    started = time.monotonic()
    try:
        stack = Stack(Options.from_env(os.environ))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, stack.on_signal)
    signal.signal(signal.SIGTERM, stack.on_signal)
    code = 0
    try:
        stack.start()
        print(ready_screen(stack.o, time.monotonic() - started), flush=True)
        while True:
            stack.check()
            time.sleep(0.2)
    except Interrupted:
        print("Stopping...", flush=True)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        code = 1
    except Exception as exc:
        # A bug, not a situation: keep the traceback, show one line.
        with open(stack.o.log_dir / "run.log", "a") as log:
            traceback.print_exc(file=log)
        print(f"error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        print(f"(traceback in {shown(stack.o.log_dir / 'run.log')})", file=sys.stderr, flush=True)
        code = 1
    finally:
        if stack.stop():
            print("Stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
