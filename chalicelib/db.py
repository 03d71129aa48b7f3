"""The thin pg8000 layer: a small connection pool per role, `call(fn, **args)`.

Why per role: a function's schema names the role that may execute it (api.* the API's,
pipeline.* the event handlers'), and each role connects with its own credentials (config's
database_url). A Lambda function only ever calls one schema, so it holds one pool and reads one
secret; a process that serves both (the tests' Chalice client) holds two.

Why a pool: a pg8000 connection is not thread-safe and `chalice local` serves every request on
a new thread, so each call takes a connection for itself and gives it back; Lambda runs one
request at a time per container, so there the pool holds the container's one connection.

Why literals and not parameters: pg8000's parameterised run() is an unnamed prepare/bind/execute
exchange (3 round trips); a call with its arguments inlined as SQL literals is one simple-query
message (bench/db_roundtrip.py). Named prepared statements would also cost one, but they are
session state: behind RDS Proxy they pin the client to one database connection, and a
multiplexed connection may not hold them at all. A simple query carries everything it needs.
The literals are built here, from Python values only, by `literal()`, never from SQL text.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from chalicelib import errors
from chalicelib.config import API_DATABASE_URL, PIPELINE_DATABASE_URL, database_url, get_settings

# At most this many conversations at once per process and role; more requests wait for one.
POOL_SIZE = 8
_FUNCTION_NAME = re.compile(r"^(api|pipeline|ops)\.[a-z_][a-z0-9_]*$")
# The setting holding the credentials of the role that may execute each schema (ops.* only the
# owner may: the admin CLI points DATABASE_URL at the owner).
_CREDENTIALS = {"api": API_DATABASE_URL, "ops": API_DATABASE_URL, "pipeline": PIPELINE_DATABASE_URL}
_ARG_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# admin_shutdown, crash_shutdown, cannot_connect_now, connection_exception class.
_CONNECTION_LOST = ("57P01", "57P02", "57P03", "08")

# Round trips made while serving the current request (reported in the access log).
round_trips: contextvars.ContextVar[int] = contextvars.ContextVar("round_trips", default=0)


def connect(url: str, timeout: float = 10.0) -> pg8000.native.Connection:
    """Open a connection from a postgresql:// URL; raises InterfaceError when unreachable."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    ssl_context: Any = None
    if query.get("sslmode") in ("require", "verify-ca", "verify-full"):
        import ssl

        ssl_context = ssl.create_default_context()
        if query["sslmode"] == "require":
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
    conn = pg8000.native.Connection(
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        database=unquote(parts.path.lstrip("/")) or "postgres",
        timeout=timeout,
        ssl_context=ssl_context,
        application_name="mapstock",
        tcp_keepalive=True,
    )
    # No session SET here: it would pin RDS Proxy sessions. Times leave the database as text
    # made by app.iso(), which is UTC whatever the session's time zone.
    return conn


class _Pool:
    """Idle connections to one URL, newest first, and a cap on how many are open at once."""

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self._idle: list[pg8000.native.Connection] = []
        self._open = 0
        # Every call takes and gives back a connection: the plain lock (C) serves that, and
        # the condition on it is only notified when a caller waits for a connection.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting = 0

    def take(self) -> pg8000.native.Connection:
        """An idle connection, or a new one; raises ApiError 503 when none frees up in time
        or the database cannot be reached."""
        with self._lock:
            if self._idle:  # the usual case, served without reading the clock or settings
                return self._idle.pop()
        settings = get_settings()
        deadline = time.monotonic() + settings.db_timeout_seconds
        with self._changed:
            while not self._idle and self._open >= self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.unavailable()
                self._waiting += 1
                try:
                    self._changed.wait(left)
                finally:
                    self._waiting -= 1
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return connect(self.url, settings.db_timeout_seconds)
        except (InterfaceError, OSError, DatabaseError) as exc:
            # Unreachable, refused, or out of server slots (53300): the request may retry.
            self._forget()
            raise errors.unavailable() from exc

    def give(self, conn: pg8000.native.Connection) -> None:
        """Return a healthy connection for the next call."""
        with self._lock:
            self._idle.append(conn)
            if self._waiting:
                self._changed.notify()

    def discard(self, conn: pg8000.native.Connection) -> None:
        """Close a connection that failed (its socket may be gone: best effort)."""
        with contextlib.suppress(Exception):
            conn.close()
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._open -= 1
            if self._waiting:
                self._changed.notify()

    def close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self.discard(conn)


_pools: dict[str, _Pool] = {}  # one per URL
_pools_lock = threading.Lock()


def _pool(schema: str) -> _Pool:
    """The pool of the role that may execute `schema`'s functions; raises ConfigError when its
    setting is missing."""
    url = database_url(_CREDENTIALS[schema])
    pool = _pools.get(url)  # a dict read is atomic: the lock only guards creating one
    if pool is None:
        with _pools_lock:
            pool = _pools.get(url)
            if pool is None:
                pool = _pools[url] = _Pool(url, POOL_SIZE)
    return pool


@contextlib.contextmanager
def connection(schema: str = "api") -> Iterator[pg8000.native.Connection]:
    """A pooled connection of the role that executes `schema`, for one conversation (given back
    after it, closed if it failed); raises ConfigError, ApiError 503."""
    pool = _pool(schema)
    conn = pool.take()
    try:
        yield conn
    except BaseException:
        pool.discard(conn)
        raise
    pool.give(conn)


def reset() -> None:
    """Close every pool's idle connections (after a network error, or in tests)."""
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        pool.close_idle()


def _text(value: str, name: str) -> str:
    if "\x00" in value:
        raise errors.invalid(f"{name}: must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.invalid(f"{name}: not valid Unicode text.") from None
    return value


def _array_element(value: Any, name: str) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool) or not isinstance(value, int | float | str | uuid.UUID):
        raise TypeError(f"{name}: unsupported array element {type(value).__name__}")
    if isinstance(value, int | float):
        return _number(value, name)
    text = _text(str(value), name)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: int | float, name: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise errors.invalid(f"{name}: must be a finite number.")
    return repr(value) if isinstance(value, float) else str(int(value))


def literal(value: Any, name: str = "value") -> str:
    """`value` as a PostgreSQL literal: NULL, TRUE/FALSE, or a string constant typed by the
    function's parameter: numbers, JSON text for dicts, array text for lists, and text escaped
    as E'…' (safe whatever standard_conforming_strings says). Raises ApiError 400 for text
    PostgreSQL cannot hold (NUL, lone surrogates) and TypeError for other Python types."""
    if value is None:
        return "NULL"
    if type(value) is str:  # the most frequent argument (ids, names, text)
        text = _text(value, name)
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        # Quoted, so the parameter's type decides (an int4 parameter takes '5'; out of range is
        # SQLSTATE 22003, a 400, rather than "no such function" for a bigint literal).
        return f"'{_number(value, name)}'"
    if isinstance(value, dict):
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except ValueError:
            raise errors.invalid(f"{name}: numbers must be finite.") from None
    elif isinstance(value, list | tuple):
        text = "{" + ",".join(_array_element(v, name) for v in value) + "}"
    elif isinstance(value, dt.datetime | dt.date):
        text = value.isoformat()
    elif isinstance(value, str | uuid.UUID):
        text = str(value)
    else:
        raise TypeError(f"{name}: cannot pass {type(value).__name__} to the database")
    text = _text(text, name)
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@functools.lru_cache(maxsize=256)
def _statement(
    function: str, names: tuple[str, ...]
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(schema, "SELECT function(", [("name => ", name without p_), …]) for a call's shape,
    checked once per shape (a process makes a few dozen); raises ValueError for anything but
    a schema-qualified function name and plain argument names."""
    if not _FUNCTION_NAME.match(function) or not all(_ARG_NAME.match(a) for a in names):
        raise ValueError(f"not a stored function call: {function}")
    params = tuple((f"{a} => ", a.removeprefix("p_")) for a in names)
    return function.split(".", 1)[0], f"SELECT {function}(", params


def call(function: str, *, retry: bool = False, as_text: bool = False, **args: Any) -> Any:
    """Run `SELECT function(arg => :arg, …)` in one round trip and return its single value.

    Connects as the role that may execute the function's schema (see _CREDENTIALS). Raises
    ApiError for the SQLSTATEs in errors.SQLSTATE_ERRORS and 503 when the database is
    unreachable, ConfigError when that role's setting is missing. A connection the server
    reports closed (SQLSTATE 57P0x/08xxx: the statement did not commit) is reopened and the
    call made once more. `retry=True` also does so after a
    bare socket error, where the outcome is unknown: only for calls safe to repeat (reads and
    conditional state changes). `as_text=True` returns the value as the text PostgreSQL
    wrote (`::text`): a json document a route passes on unchanged is then neither decoded
    here nor encoded again there.
    """
    schema, head, params = _statement(function, tuple(args))
    sql = head + ", ".join(
        [p + literal(v, label) for (p, label), v in zip(params, args.values(), strict=True)]
    )
    sql += ")::text" if as_text else ")"
    pool = _pool(schema)
    for attempt in range(2):
        last = attempt == 1
        conn = pool.take()
        round_trips.set(round_trips.get() + 1)
        try:
            rows = conn.run(sql)
        except DatabaseError as exc:
            detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            sqlstate = str(detail.get("C", ""))
            api_error = errors.from_sqlstate(sqlstate, str(detail.get("M", "")))
            if sqlstate.startswith(_CONNECTION_LOST) or (api_error and api_error.status == 503):
                pool.discard(conn)
                if sqlstate.startswith(_CONNECTION_LOST) and not last:
                    continue
            else:
                pool.give(conn)  # an error the function raised: the connection is fine
            if api_error is None:
                raise
            raise api_error from None
        except (TimeoutError, InterfaceError, OSError) as exc:
            pool.discard(conn)
            if retry and not last:
                continue
            raise errors.unavailable() from exc
        except BaseException:
            # Anything else (an interrupt mid-exchange) may leave replies unread that the next
            # call would take for its own: the connection goes.
            pool.discard(conn)
            raise
        pool.give(conn)
        return rows[0][0] if rows else None
    raise AssertionError("unreachable")
