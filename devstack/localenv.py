"""The local stack's settings and private files: ports, state folder, secret, run files."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.aws import LOCAL_CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_PORT = 8000
DEFAULT_PG_PORT = 54329
DEFAULT_MOTO_PORT = 54330
NOTIFY_QUEUE = "mapstock-s3-events-local"
STAGE = "local"


class StackError(Exception):
    """A one-line reason why the local stack cannot start or keep running."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise StackError(f"{name} must be a port number (1-65535), not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Options:
    """What `make run` is asked for, from the environment."""

    state: Path
    api_port: int
    pg_port: int
    moto_port: int
    database_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Options:
        """Read PORT, MAPSTOCK_PG_PORT, MAPSTOCK_MOTO_PORT, MAPSTOCK_STATE_DIR, DATABASE_URL."""
        options = cls(
            state=Path(env.get("MAPSTOCK_STATE_DIR") or ROOT / ".local").resolve(),
            api_port=_port(env, "PORT", DEFAULT_API_PORT),
            pg_port=_port(env, "MAPSTOCK_PG_PORT", DEFAULT_PG_PORT),
            moto_port=_port(env, "MAPSTOCK_MOTO_PORT", DEFAULT_MOTO_PORT),
            database_url=env.get("DATABASE_URL") or None,
        )
        ports = [options.api_port, options.moto_port]
        if not options.database_url:
            ports.append(options.pg_port)
        if len(set(ports)) != len(ports):
            raise StackError("PORT, MAPSTOCK_MOTO_PORT and MAPSTOCK_PG_PORT must differ")
        return options

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"


def stage_names() -> tuple[str, str]:
    """The bucket and queue of the `local` stage in .chalice/config.json (what the app uses)."""
    from chalicelib import config

    doc = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {
        **doc.get("environment_variables", {}),
        **doc.get("stages", {}).get(STAGE, {}).get("environment_variables", {}),
    }
    return (
        env.get(config.BUCKET_ENV, config.DEFAULT_BUCKET),
        env.get(config.QUEUE_ENV, config.DEFAULT_QUEUE),
    )


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (mode 600), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, 0o600)  # a leftover .tmp may have had another mode
    os.replace(tmp, path)


def jwt_secret(state: Path) -> str:
    """The local signing secret: made once, kept in the state folder, never in the repo."""
    path = state / "jwt_secret"
    if not path.is_file() or not path.read_text().strip():
        write_private(path, secrets.token_urlsafe(48))
    os.chmod(path, 0o600)
    return path.read_text().strip()


def isolated_env(base: Mapping[str, str], aws_endpoint: str) -> dict[str, str]:
    """`base` with every AWS and proxy setting replaced, so no request can leave 127.0.0.1."""
    dropped = ("AWS_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "DATABASE_URL", "JWT_SECRET")
    env = {k: v for k, v in base.items() if not k.upper().startswith(dropped)}
    env.update(LOCAL_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_REGION": LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"],
            # A profile in ~/.aws could name another endpoint or credentials: read none.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def shown(path: Path) -> str:
    """A path as the user typed it: relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def prepare_state(o: Options) -> int:
    """Create the state folders and take the run lock; returns its fd (held while we run)."""
    for folder in (o.state, o.run_dir, o.log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # Under root the server runs as `nobody`, which must pass through to .local/postgres.
    os.chmod(o.state, 0o711 if os.geteuid() == 0 else 0o700)
    os.chmod(o.log_dir, 0o700)
    fd = os.open(o.run_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StackError(f"the local stack is already running from {shown(o.state)}") from None
    return fd


def write_run_files(o: Options, env: Mapping[str, str], pids: dict[str, int]) -> None:
    """env.json (what the CLI and scripts need to reach this stack) and pids.json, mode 600."""
    keys = ["DATABASE_URL", "JWT_SECRET", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"]
    keys += ["AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "MAPSTOCK_BUCKET"]
    keys += ["MAPSTOCK_QUEUE", "MAPSTOCK_QUEUE_URL", "MAPSTOCK_API_URL"]
    write_private(o.run_dir / "env.json", json.dumps({k: env[k] for k in keys}, indent=1))
    ports = [o.api_port, o.moto_port] + ([] if o.database_url else [o.pg_port])
    write_private(o.run_dir / "pids.json", json.dumps({"pids": pids, "ports": ports}))
