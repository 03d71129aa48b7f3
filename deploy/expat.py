"""libexpat.so.1 for the processor layer's lib/ (on Lambda's LD_LIBRARY_PATH as /opt/lib):
rasterio's libgdal needs it and its wheel does not ship it. Compiled here, with the machine's C
compiler, from the expat sources a hash-pinned PyPI sdist vendors (deploy/libexpat.lock)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from deploy.stage import ROOT

LOCK = Path(__file__).with_name("libexpat.lock")
# make fetches the sdist here with the venv (tests/deploy build from it offline); a deploy
# without it downloads it.
CACHE = ROOT / ".venv" / "layer-sources"
SONAME = "libexpat.so.1"
LICENCE = "libexpat.COPYING"
# 2.6.0 fixed CVE-2023-52425 (and 2.6.2 CVE-2024-28757): nothing older ships.
MINIMUM = (2, 6, 0)
LOCK_LINE = re.compile(
    r"^(?P<name>[\w.-]+)==(?P<version>\S+) --hash=sha256:(?P<sha>[0-9a-f]{64})  # (?P<file>\S+)$"
)
MEMBER = re.compile(r"^[^/]+/cextern/expat/(?P<path>lib/[\w.]+\.[ch]|COPYING)$")
# Upstream's Linux defaults (configure / CMake), but for entropy: no getrandom() (glibc 2.25)
# nor arc4random (glibc 2.36), which Lambda's glibc 2.26 or manylinux2014's 2.17 lack; the
# getrandom system call through syscall() (any glibc), then /dev/urandom.
CONFIG = """\
#define BYTEORDER 1234
#define XML_NS 1
#define XML_DTD 1
#define XML_GE 1
#define XML_CONTEXT_BYTES 1024
#define HAVE_SYSCALL_GETRANDOM 1
#define XML_DEV_URANDOM 1
#define XML_ENABLE_VISIBILITY 1
"""
# -fvisibility=hidden + XML_ENABLE_VISIBILITY: only the XML_* API is exported. No debug
# information and stripped: the bytes do not depend on the temporary folder built in, so the
# same lock builds the same layer.
CFLAGS = ["-O2", "-fPIC", "-fvisibility=hidden", "-DNDEBUG", "-g0", "-shared", "-s"]
SOURCES = ["xmlparse.c", "xmlrole.c", "xmltok.c"]


class ExpatError(RuntimeError):
    """libexpat's source could not be fetched or built."""


def locked() -> re.Match[str]:
    """The lock's one line; raises ExpatError."""
    lines = [line for line in LOCK.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    match = LOCK_LINE.match(lines[0]) if len(lines) == 1 else None
    if match is None:
        raise ExpatError(f"{LOCK.name} must hold one `name==version --hash=sha256:…  # file`")
    return match


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source(cache: Path = CACHE) -> Path:
    """The locked sdist: the cached copy, or pip downloads it (hash-checked); raises ExpatError."""
    pin = locked()
    cached = cache / pin["file"]
    if cached.is_file() and _sha256(cached) == pin["sha"]:
        return cached
    with tempfile.TemporaryDirectory(prefix="mapstock-expat-") as work:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-binary", pin["name"], "--require-hashes", "-r", str(LOCK),
            "-d", work,
        ]  # fmt: skip
        downloaded = Path(work) / pin["file"]
        if subprocess.run(command, check=False).returncode != 0 or not downloaded.is_file():
            raise ExpatError(f"pip could not download {pin['file']} ({LOCK.name})")
        cache.mkdir(parents=True, exist_ok=True)
        shutil.move(downloaded, cached)
    return cached


def version(header: str) -> tuple[int, int, int]:
    """expat.h's XML_MAJOR/MINOR/MICRO_VERSION; raises ExpatError."""
    found = dict(re.findall(r"#\s*define\s+XML_(MAJOR|MINOR|MICRO)_VERSION\s+(\d+)", header))
    if set(found) != {"MAJOR", "MINOR", "MICRO"}:
        raise ExpatError("expat.h names no XML_MAJOR/MINOR/MICRO_VERSION")
    return int(found["MAJOR"]), int(found["MINOR"]), int(found["MICRO"])


def build(archive: Path, lib_dir: Path) -> Path:
    """Compile the sdist's expat into lib_dir/libexpat.so.1, its licence beside; raises
    ExpatError."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        raise ExpatError("building libexpat for the layer needs a C compiler (cc, or set CC)")
    with tempfile.TemporaryDirectory(prefix="mapstock-expat-") as work:
        tree = Path(work)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                match = MEMBER.match(member.name)
                if match and member.isfile():
                    target = tree / match["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    extracted = tar.extractfile(member)
                    assert extracted is not None  # a regular file
                    target.write_bytes(extracted.read())
        src = tree / "lib"
        if not (src / "expat.h").is_file() or not (tree / "COPYING").is_file():
            raise ExpatError(f"{archive.name} holds no cextern/expat sources")
        found = version((src / "expat.h").read_text(encoding="utf-8"))
        if found < MINIMUM:
            raise ExpatError(
                f"{archive.name} vendors expat {'.'.join(map(str, found))}, older than "
                f"{'.'.join(map(str, MINIMUM))}: lock a newer release"
            )
        (src / "expat_config.h").write_text(CONFIG, encoding="utf-8")
        lib_dir.mkdir(parents=True, exist_ok=True)
        target = lib_dir / SONAME
        command = [compiler, *CFLAGS, f"-Wl,-soname,{SONAME}", "-o", str(target), *SOURCES]
        result = subprocess.run(command, cwd=src, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ExpatError(f"compiling libexpat failed:\n{result.stderr[-2000:]}")
        shutil.copyfile(tree / "COPYING", lib_dir / LICENCE)
    return target


if __name__ == "__main__":
    # make runs this with the venv, so the tests (offline) and deploys find the sdist cached.
    try:
        print(f"libexpat source: {source().relative_to(ROOT)}")
    except ExpatError as exc:
        sys.exit(f"libexpat source: {exc}")
