"""The embedded cluster's locale follows the server's version (devstack/postgres.py)."""

from __future__ import annotations

import pytest

from devstack.postgres import locale_options

BUILTIN = ["--no-locale", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("initdb (PostgreSQL) 18.6\n", BUILTIN),
        ("initdb (PostgreSQL) 17.0", BUILTIN),
        ("initdb (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+2)\n", ["--no-locale"]),
        ("initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", ["--no-locale"]),
        ("", ["--no-locale"]),  # initdb could not say: the C locale every version has
    ],
)
def test_builtin_unicode_locale_from_postgresql_17(version, expected):
    assert locale_options(version) == expected
