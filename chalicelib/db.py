"""The thin pg8000 layer: one connection per Lambda container, `call(fn, **args)`."""

from __future__ import annotations

import contextlib
import contextvars
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from chalicelib import errors
from chalicelib.config import get_settings

_connection: pg8000.native.Connection | None = None
_FUNCTION_NAME = re.compile(r"^(api|ops)\.[a-z_][a-z0-9_]*$")
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


def _get_connection() -> pg8000.native.Connection:
    global _connection
    if _connection is None:
        settings = get_settings()
        try:
            _connection = connect(settings.database_url, settings.db_timeout_seconds)
        except (InterfaceError, OSError) as exc:
            raise errors.unavailable() from exc
    return _connection


def reset() -> None:
    """Drop the cached connection (after a network error, or in tests)."""
    global _connection
    if _connection is not None:
        # The socket may already be broken: closing is best effort.
        with contextlib.suppress(Exception):
            _connection.close()
    _connection = None


def call(function: str, *, retry: bool = False, **args: Any) -> Any:
    """Run `SELECT function(arg => :arg, …)` in one round trip and return its single value.

    Raises ApiError for the SQLSTATEs in errors.SQLSTATE_ERRORS and 503 when the database is
    unreachable. A connection the server reports closed (SQLSTATE 57P0x/08xxx: the statement
    did not commit) is reopened and the call made once more. `retry=True` also does so after a
    bare socket error, where the outcome is unknown: only for calls safe to repeat (reads and
    conditional state changes).
    """
    if not _FUNCTION_NAME.match(function) or not all(_ARG_NAME.match(a) for a in args):
        raise ValueError(f"not a stored function call: {function}")
    sql = "SELECT {}({})".format(function, ", ".join(f"{a} => :{a}" for a in args))
    for attempt in range(2):
        last = attempt == 1
        conn = _get_connection()
        round_trips.set(round_trips.get() + 1)
        try:
            rows = conn.run(sql, **args)
        except DatabaseError as exc:
            detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            sqlstate = str(detail.get("C", ""))
            if sqlstate.startswith(_CONNECTION_LOST):
                reset()
                if not last:
                    continue
            api_error = errors.from_sqlstate(sqlstate, str(detail.get("M", "")))
            if api_error is None:
                raise
            if api_error.status == 503:
                reset()
            raise api_error from None
        except (TimeoutError, InterfaceError, OSError) as exc:
            reset()
            if retry and not last:
                continue
            raise errors.unavailable() from exc
        except Exception:
            # Anything else (a parameter pg8000 cannot encode, raised after it sent half the
            # exchange) leaves replies unread that the next call would take for its own.
            reset()
            raise
        return rows[0][0] if rows else None
    raise AssertionError("unreachable")
