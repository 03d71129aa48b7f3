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
    assert admin.stdout == "created user boss (admin, always active, no end date)\n"

    duplicate = cli(stack, "user", "create", "CARTO", password="long enough pw")
    assert duplicate.returncode != 0
    assert duplicate.stderr.strip() == "error: username: already taken."

    listed = cli(stack, "user", "list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "ACTIVE", "ACTIVE_UNTIL"]
    carto_until = _until(sql, "carto")
    assert [line.split() for line in lines[1:]] == [
        ["boss", "admin", "yes", "-"],
        ["carto", "member", "yes", carto_until],
    ]
    assert f"created user carto (member, active until {carto_until})\n" == created.stdout

    updated = cli(stack, "user", "update", "carto", "--deactivate")
    assert updated.returncode == 0, updated.stderr
    assert "inactive" in updated.stdout
    until = sql.run("SELECT active_until FROM app.users WHERE username = 'carto'")[0][0]
    assert until is None

    renewed = cli(stack, "user", "update", "carto", "--active-until", "2099-12-31")
    assert renewed.returncode == 0
    assert (
        renewed.stdout == "updated user carto (member, active until 2099-12-31T00:00:00.000000Z)\n"
    )

    lapsed = cli(stack, "user", "update", "carto", "--active-until", "2020-01-01T12:00:00+02:00")
    assert lapsed.returncode == 0, lapsed.stderr
    assert (
        lapsed.stdout == "updated user carto (member, inactive since 2020-01-01T10:00:00.000000Z)\n"
    )

    boss = cli(stack, "user", "update", "boss", "--days", "10")
    assert boss.returncode == 0, boss.stderr
    boss_until = _until(sql, "boss")
    assert (
        boss.stdout
        == f"updated user boss (admin, always active, subscription until {boss_until})\n"
    )
    assert cli(stack, "user", "list").stdout.splitlines()[1].split() == [
        "boss",
        "admin",
        "yes",
        boss_until,
    ]


def _until(sql, username):
    """active_until as the API and the CLI print it."""
    return sql.run("SELECT app.iso(active_until) FROM app.users WHERE username = :u", u=username)[
        0
    ][0]


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [
        (("user", "create", "weak"), "short", "password"),
        (("user", "create", "longpw"), "x" * 73, "password"),
        (("user", "create", "weak1"), "password", "weak or invalid password: too common"),
        (("user", "create", "weak2"), "12345678", "weak or invalid password: too common"),
        (("user", "create", "weak3"), "weak3", "weak or invalid password: must be 8"),
        (("user", "create", "Weakling"), "weakling", "must not contain the username"),
        (("user", "create", "weak4"), "my weak4 pw", "must not contain the username"),
        (("user", "create", "weak5"), "aaaaaaaaaa", "must not be one character repeated"),
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


# --days takes ASCII digits only (argparse's int() would take fullwidth or Arabic-Indic ones);
# --active-until takes what the API does. Each: one line, non-zero, nothing written. In-process
# (main() as the module runs it): a subprocess per value would cost a second or two each.
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--days", "\uff11\uff12"),
        ("--days", "\u0661\u0662"),
        ("--days", "\u00b2"),
        ("--days", "-1"),
        ("--days", "36501"),
        ("--days", "1e3"),
        ("--days", ""),
        ("--active-until", "2030-01-01T00:00:00+23:59"),
        ("--active-until", "9999-12-31T23:00:00-05:00"),
        ("--active-until", "0000-01-01"),
        ("--active-until", "infinity"),
        ("--active-until", "\uff12\uff10\uff13\uff10-01-01"),
        ("--active-until", ""),
    ],
)
def test_bad_subscription_ends_are_one_line_errors(
    stack, sql, users, monkeypatch, capsys, option, value
):
    from chalicelib.cli import main

    monkeypatch.setenv("DATABASE_URL", stack["ADMIN_DATABASE_URL"])
    monkeypatch.setenv("MAPSTOCK_PASSWORD", "long enough pw")
    users.create("carto", days=5)
    before = sql.run("SELECT active_until, token_version FROM app.users")
    for args in (
        ["user", "create", "newbie", option, value],
        ["user", "update", "carto", option, value],
    ):
        assert main(args) == 1, args
        out, err = capsys.readouterr()
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"error: {option}"), err
    assert sql.run("SELECT active_until, token_version FROM app.users") == before


def test_update_refuses_a_weak_new_password_and_keeps_the_old_one(stack, sql, users):
    users.create("carto")
    before = sql.run("SELECT password_hash, token_version FROM app.users")
    for password in ("qwertyuiop", "CARTO-2024!", "########"):
        result = cli(stack, "user", "update", "carto", "--password-stdin", stdin=password + "\n")
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith("error: weak or invalid password: "), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert sql.run("SELECT password_hash, token_version FROM app.users") == before
    strong = cli(stack, "user", "update", "carto", "--password-stdin", stdin="map of the alps\n")
    assert strong.returncode == 0, strong.stderr
    assert sql.run("SELECT password_hash FROM app.users")[0][0] != before[0][0]


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
