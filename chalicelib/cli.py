"""Admin CLI: python -m chalicelib.cli migrate | user create | user update | user list."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from chalicelib import auth, errors
from chalicelib.rules import ROLES
from chalicelib.web.fields import check_value, parse_datetime, parse_int
from chalicelib.web.inputs import USERNAME

# While `make run` is up it writes the local stack's settings here (git-ignored).
LOCAL_ENV_FILE = Path(".local") / "run" / "env.json"


class CliError(Exception):
    """A one-line reason, printed to stderr with exit status 1."""


def database_url() -> str:
    """DATABASE_URL, else the running local stack's; raises CliError."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if LOCAL_ENV_FILE.is_file():
        url = json.loads(LOCAL_ENV_FILE.read_text()).get("DATABASE_URL")
        if url:
            return str(url)
    raise CliError("no database: set DATABASE_URL, or start the local stack with `make run`")


def _connect() -> Any:
    from chalicelib import db

    try:
        return db.connect(database_url(), timeout=30)
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"cannot reach the database ({type(exc).__name__})") from None


def _call(conn: Any, function: str, **args: Any) -> Any:
    from pg8000.exceptions import DatabaseError

    sql = "SELECT {}({})".format(function, ", ".join(f"{a} => :{a}" for a in args))
    try:
        return conn.run(sql, **args)[0][0]
    except DatabaseError as exc:
        detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        api_error = errors.from_sqlstate(str(detail.get("C", "")), str(detail.get("M", "")))
        if api_error is None:
            raise CliError(f"database error {detail.get('C', '?')}") from None
        raise CliError(api_error.message) from None


def _read_password(username: str) -> str:
    if "MAPSTOCK_PASSWORD" in os.environ:
        password = os.environ["MAPSTOCK_PASSWORD"]
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = auth.new_password_problem(password, username)
    if problem:
        raise CliError(f"weak or invalid {problem}")
    return password


def _active_until(args: argparse.Namespace) -> dt.datetime | None:
    """The subscription end the arguments give (UTC); raises CliError for a bad one."""
    if getattr(args, "days", None) is not None:
        try:
            days = parse_int("--days", args.days, 0, 36500)
        except errors.ApiError:
            raise CliError("--days must be a whole number of days from 0 to 36500") from None
        return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    if getattr(args, "active_until", None) is not None:  # "" is a bad date, not "none"
        try:
            return parse_datetime("--active-until", args.active_until)
        except errors.ApiError as exc:
            raise CliError(exc.message) from None
    return None


def _describe(user: dict[str, Any]) -> str:
    """username (role, standing): admins are always active, but their end date still shows."""
    until = user["active_until"]
    if user["role"] == "admin":
        state = "always active, " + (f"subscription until {until}" if until else "no end date")
    elif user["active"]:
        state = f"active until {until}"
    else:
        state = f"inactive since {until}" if until else "inactive, no subscription"
    return f"{user['username']} ({user['role']}, {state})"


def cmd_migrate(args: argparse.Namespace) -> str:
    from chalicelib.migrate import migrate

    applied = migrate(_connect())
    return f"migrated: {len(applied)} new migration(s) applied, functions refreshed"


def cmd_user_create(args: argparse.Namespace) -> str:
    username = check_value("username", args.username, USERNAME)  # as POST /v1/users checks it
    until = _active_until(args)
    password_hash = auth.hash_password(_read_password(username))
    user = _call(
        _connect(),
        "ops.create_user",
        p_username=username,
        p_password_hash=password_hash,
        p_role=args.role,
        p_active_until=until,
    )
    return f"created user {_describe(user)}"


def cmd_user_update(args: argparse.Namespace) -> str:
    password_hash = (
        auth.hash_password(_read_password(args.username)) if args.password_stdin else None
    )
    set_until = args.deactivate or args.active_until is not None or args.days is not None
    if not (password_hash or args.role or set_until):
        raise CliError(
            "nothing to change: give --password-stdin, --role, --active-until, --days "
            "or --deactivate"
        )
    until = None if args.deactivate else _active_until(args)
    user = _call(
        _connect(),
        "ops.update_user",
        p_username=args.username,
        p_password_hash=password_hash,
        p_role=args.role,
        p_set_active_until=set_until,
        p_active_until=until,
    )
    return f"updated user {_describe(user)}"


def cmd_user_list(args: argparse.Namespace) -> str:
    users = _call(_connect(), "ops.list_users")
    rows = [f"{'USERNAME':<24} {'ROLE':<7} {'ACTIVE':<6} ACTIVE_UNTIL"]
    rows += [
        f"{u['username']:<24} {u['role']:<7} {'yes' if u['active'] else 'no':<6} "
        f"{u['active_until'] or '-'}"
        for u in users
    ]
    return "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply sql/ to the database").set_defaults(run=cmd_migrate)
    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True
    )

    create = user.add_parser(
        "create", help="create a user (password from MAPSTOCK_PASSWORD or stdin)"
    )
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES)  # none: the database's default
    until = create.add_mutually_exclusive_group()
    until.add_argument("--active-until", metavar="YYYY-MM-DD")
    until.add_argument("--days", metavar="N")
    create.set_defaults(run=cmd_user_create)

    update = user.add_parser("update", help="change a user")
    update.add_argument("username")
    update.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the new password from MAPSTOCK_PASSWORD or stdin",
    )
    update.add_argument("--role", choices=ROLES)
    change = update.add_mutually_exclusive_group()
    change.add_argument("--active-until", metavar="YYYY-MM-DD")
    change.add_argument("--days", metavar="N")
    change.add_argument("--deactivate", action="store_true")
    update.set_defaults(run=cmd_user_update)

    user.add_parser("list", help="list users").set_defaults(run=cmd_user_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 and one line on success, 1 and a one-line reason on error."""
    args = build_parser().parse_args(argv)
    try:
        print(args.run(args))
    except (CliError, errors.ApiError) as exc:
        message = exc.message if isinstance(exc, errors.ApiError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
