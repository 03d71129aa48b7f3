"""The admin CLI as an operator runs it: a subprocess, password from env or stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(stack, *args, password=None, stdin=None):
    env = {k: v for k, v in os.environ.items() if k != "MAPSTOCK_PASSWORD"}
    env["DATABASE_URL"] = stack["ADMIN_DATABASE_URL"]
    if password is not None:
        env["MAPSTOCK_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_lifecycle(stack, sql):
    created = cli(stack, "user", "create", "carto", "--days", "30", password="long enough pw")
    assert created.returncode == 0, created.stderr
    assert created.stdout.count("\n") == 1
    assert "created user carto (member, active until" in created.stdout

    admin = cli(stack, "user", "create", "boss", "--role", "admin", stdin="long enough pw\n")
    assert admin.returncode == 0, admin.stderr

    duplicate = cli(stack, "user", "create", "CARTO", password="long enough pw")
    assert duplicate.returncode != 0
    assert duplicate.stderr.strip() == "error: username: already taken."

    listed = cli(stack, "user", "list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "ACTIVE", "ACTIVE_UNTIL"]
    assert [line.split()[0] for line in lines[1:]] == ["boss", "carto"]

    updated = cli(stack, "user", "update", "carto", "--deactivate")
    assert updated.returncode == 0, updated.stderr
    assert "inactive" in updated.stdout
    until = sql.run("SELECT active_until FROM app.users WHERE username = 'carto'")[0][0]
    assert until is None

    renewed = cli(stack, "user", "update", "carto", "--active-until", "2099-12-31")
    assert renewed.returncode == 0
    assert "2099-12-31" in renewed.stdout


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [
        (("user", "create", "weak"), "short", "password"),
        (("user", "create", "longpw"), "x" * 73, "password"),
        (("user", "create", "baddate", "--active-until", "31/12/2099"), "long enough pw", "date"),
        (("user", "create", "bad name"), "long enough pw", "username"),
        (("user", "update", "ghost", "--days", "3"), None, "not found"),
        (("user", "update", "ghost"), None, "nothing to change"),
    ],
)
def test_errors_are_one_line_and_nonzero(stack, sql, args, password, reason):
    result = cli(stack, *args, password=password)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert reason in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_password_never_taken_from_argv():
    result = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "user", "create", "x", "--password", "pw"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_migrate_twice_is_a_no_op(stack):
    first = cli(stack, "migrate")
    second = cli(stack, "migrate")
    assert first.returncode == second.returncode == 0
    assert "0 new migration(s)" in second.stdout
