"""Whether the processor layer loads on Lambda by itself: every shared library an ELF file in it
needs is shipped in the layer (beside it through its RPATH, or in the layer's lib/) or is one
the python3.11 runtime provides, and no file asks for a newer glibc than the runtime's."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

# Lambda unpacks a layer in /opt and puts /opt/lib on LD_LIBRARY_PATH (not /opt/python).
LIB_DIR = "lib"
# Lambda's python3.11 runs on Amazon Linux 2: glibc 2.26.
RUNTIME_GLIBC = (2, 26)
# What the python3.11 runtime (Amazon Linux 2) provides, so a layer may need it unshipped:
RUNTIME_LIBRARIES = frozenset(
    {
        # glibc 2.26 itself: the runtime's Python runs on it, and a copy in the layer could
        # not be used anyway (the loader and libc must match).
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "libutil.so.1",
        "ld-linux-x86-64.so.2",
        # GCC's runtime of the base system (GCC 7: up to GLIBCXX_3.4.24), which every manylinux
        # C++ wheel relies on: manylinux2014 links newer libstdc++ parts statically instead.
        "libstdc++.so.6",
        "libgcc_s.so.1",
        # zlib: the runtime's own Python links its zlib module (zipimport, gzip, pip) to it.
        "libz.so.1",
    }
)
GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class _Elf:
    needed: tuple[str, ...]
    rpath: tuple[str, ...]  # DT_RPATH: searched for its own and, inherited, its libraries' needs
    runpath: tuple[str, ...]  # DT_RUNPATH: searched for its own needs only
    glibc: tuple[int, int] | None  # the newest GLIBC_x.y symbol version it asks for


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def _folders(text: str, origin: Path) -> list[str]:
    """An RPATH's folders with $ORIGIN put in; an absolute one is the build machine's, dropped."""
    return [
        os.path.normpath(entry.replace("${ORIGIN}", str(origin)).replace("$ORIGIN", str(origin)))
        for entry in text.split(":")
        if entry.startswith(("$ORIGIN", "${ORIGIN}"))
    ]


def _read(path: Path) -> _Elf:
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    glibc: tuple[int, int] | None = None
    with path.open("rb") as f:
        for section in ELFFile(f).iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif tag.entry.d_tag == "DT_RPATH":
                        rpath += _folders(tag.rpath, path.parent)
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        runpath += _folders(tag.runpath, path.parent)
            elif isinstance(section, GNUVerNeedSection):
                for _, auxiliaries in section.iter_versions():
                    for aux in auxiliaries:
                        match = GLIBC_VERSION.match(aux.name)
                        if match:
                            version = (int(match[1]), int(match[2]))
                            glibc = version if glibc is None else max(glibc, version)
    return _Elf(tuple(needed), tuple(rpath), tuple(runpath), glibc)


def glibc_needed(path: Path) -> tuple[int, int] | None:
    """The newest GLIBC_x.y symbol version the ELF file asks for (None: none)."""
    return _read(path).glibc


def unresolved(root: Path) -> list[str]:
    """What would stop the layer unpacked at root from loading on Lambda, one line per problem
    (empty: nothing)."""
    root = Path(os.path.normpath(root))
    files = {
        os.path.normpath(path): _read(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and _is_elf(path)
    }
    problems: list[str] = []
    visited: set[tuple[str, tuple[str, ...]]] = set()
    ld_library_path = os.path.normpath(root / LIB_DIR)

    def shown(path: str) -> str:
        return Path(path).relative_to(root).as_posix()

    def load(path: str, inherited: tuple[str, ...]) -> None:
        """Resolve path's needs as ld.so does when the files holding `inherited` (the DT_RPATH
        folders of what loaded it, nearest first) loaded it."""
        if (path, inherited) in visited:
            return
        visited.add((path, inherited))
        elf = files.get(path) or _read(Path(path))
        # glibc's order: its RPATH and its loaders' (unless it has a RUNPATH), LD_LIBRARY_PATH,
        # its RUNPATH. Its own folder only through $ORIGIN: a library merely beside it is not
        # found.
        folders = (() if elf.runpath else elf.rpath + inherited) + (ld_library_path,)
        for name in elf.needed:
            if name in RUNTIME_LIBRARIES:
                continue
            found = next(
                (
                    f
                    for f in (os.path.join(d, name) for d in folders + elf.runpath)
                    if os.path.isfile(f)
                ),
                None,
            )
            if found is None:
                problem = (
                    f"{shown(path)} needs {name}: neither in the layer (its RPATH, {LIB_DIR}/) "
                    "nor in the runtime"
                )
                if problem not in problems:
                    problems.append(problem)
            else:
                load(os.path.normpath(found), elf.rpath + inherited)

    # Python opens extension modules (and ctypes its libraries) itself: every file no other
    # file needs. The others are checked as the files needing them load them.
    needed_names = {name for elf in files.values() for name in elf.needed}
    for path in files:
        if os.path.basename(path) not in needed_names:
            load(path, ())
    for path, elf in files.items():
        if elf.glibc is not None and elf.glibc > RUNTIME_GLIBC:
            problems.append(
                f"{shown(path)} needs GLIBC_{elf.glibc[0]}.{elf.glibc[1]}: the runtime has glibc "
                f"{RUNTIME_GLIBC[0]}.{RUNTIME_GLIBC[1]}"
            )
    return problems
