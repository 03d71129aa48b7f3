"""Where the client keeps its state: $MAPSTOCK_CONFIG (default ~/.config/mapstock/), mode 0700,
with the tokens and the records of unfinished uploads in files of mode 0600."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_API = "http://127.0.0.1:8000"
CREDENTIALS = "credentials.json"


def api_url() -> str:
    """The API root from MAPSTOCK_API (default http://127.0.0.1:8000), without a trailing /."""
    return (os.environ.get("MAPSTOCK_API") or DEFAULT_API).rstrip("/")


class ConfigError(Exception):
    """The client's folder cannot be used: one line naming it and why."""


def config_dir() -> Path:
    """The client's folder, created with mode 0700 (tightened if it already existed); raises
    ConfigError when it cannot be (a file, a place where nothing may be created)."""
    folder = Path(os.environ.get("MAPSTOCK_CONFIG") or Path.home() / ".config" / "mapstock")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        # mkdir says "File exists" of a file in the way: name what is wrong instead.
        reason = "not a folder" if folder.exists() and not folder.is_dir() else exc.strerror
        raise ConfigError(f"{folder}: {reason} (the client's folder, $MAPSTOCK_CONFIG)") from None
    return folder


def write_private(path: Path, doc: dict[str, Any]) -> None:
    """Write JSON readable by its owner only (0600), atomically: a crash leaves the old file,
    a failure no temporary one. Raises OSError."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out, indent=1)
        os.chmod(tmp, 0o600)  # the umask cannot widen it, but a leftover file may have another mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


# Tokens: one per API root, so a client used against two servers keeps both logins.


def save_token(api: str, username: str, token: str, expires_in: int) -> Path:
    """Keep the access token for `api`; returns the file it is in."""
    path = config_dir() / CREDENTIALS
    doc = _read(path)
    doc[api] = {"username": username, "access_token": token, "expires_at": time.time() + expires_in}
    write_private(path, doc)
    return path


@dataclass(frozen=True)
class Session:
    """A stored login: who, the token, and when it expires (time.time(), as measured here)."""

    username: str
    access_token: str
    expires_at: float

    def expired(self) -> bool:
        return time.time() >= self.expires_at


def load_session(api: str) -> Session | None:
    """The stored login for `api`, or None (a guest)."""
    entry = _read(config_dir() / CREDENTIALS).get(api)
    if not isinstance(entry, dict) or not isinstance(entry.get("access_token"), str):
        return None
    expires_at = entry.get("expires_at")
    return Session(
        str(entry.get("username") or "USERNAME"),
        str(entry["access_token"]),
        float(expires_at) if isinstance(expires_at, int | float) else float("inf"),
    )


def load_token(api: str) -> str | None:
    """The stored token for `api`, or None (a guest)."""
    session = load_session(api)
    return session.access_token if session else None


def forget_token(api: str) -> bool:
    """Drop the token for `api`; returns whether there was one."""
    path = config_dir() / CREDENTIALS
    doc = _read(path)
    if api not in doc:
        return False
    del doc[api]
    if doc:
        write_private(path, doc)
    else:
        path.unlink(missing_ok=True)
    return True


# Unfinished multipart uploads, keyed by API root + absolute path; each record holds the size
# and mtime the file had: the same file uploaded again resumes, a file that changed since
# (size or mtime) has its old upload aborted and starts over.


RECORD_MAX_AGE_SECONDS = 30 * 86400  # the longest UPLOAD_EXPIRY_HOURS a server may have


def _records() -> Path:
    folder = config_dir() / "uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    # Records of uploads never tried again would pile up: past any server's expiry they
    # name nothing that can resume.
    for old in folder.glob("*.json"):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - old.stat().st_mtime > RECORD_MAX_AGE_SECONDS:
                old.unlink()
    return folder


def record_path(api: str, path: Path) -> Path:
    """Where the record of an upload of the file at `path` to `api` lives."""
    key = f"{api}\0{path}"
    return _records() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def new_record(map_id: str, path: Path, st: os.stat_result) -> dict[str, Any]:
    """The record of an upload of the file at `path` as it is now (`st`)."""
    return {"map_id": map_id, "path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def same_file(record: dict[str, Any], st: os.stat_result) -> bool:
    """Whether the file is as it was when its upload was recorded (size and mtime)."""
    return record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns


def load_record(where: Path) -> dict[str, Any] | None:
    """The record at `where` when it names a map, else None."""
    doc = _read(where)
    return doc if isinstance(doc.get("map_id"), str) else None


def save_record(where: Path, doc: dict[str, Any]) -> None:
    """Keep an upload's record (mode 0600)."""
    write_private(where, doc)


def drop_record(where: Path) -> None:
    """Forget an upload (finished, or gone on the server)."""
    with contextlib.suppress(FileNotFoundError):
        where.unlink()
