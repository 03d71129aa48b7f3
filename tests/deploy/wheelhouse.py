"""Wheels of requirements.txt's distributions, rebuilt from the files the dev venv installed,
so that `chalice package` resolves them offline (pip --no-index --find-links) the way a deploy
does from PyPI. A binary one is tagged for this machine (linux_x86_64), as a wheel Chalice
builds here from source is: Chalice packages both kinds."""

from __future__ import annotations

import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def closure(requirements: Path) -> list[metadata.Distribution]:
    """The installed distributions the requirements resolve to, dependencies included; raises
    PackageNotFoundError for one the venv lacks."""
    todo, seen, found = _requirements(requirements), set(), []
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        found.append(dist)
        todo.extend(Requirement(r) for r in dist.requires or [])
    return found


def _tags(dist: metadata.Distribution) -> tuple[str, str]:
    """(file name tag, WHEEL file text) for the rebuilt wheel."""
    wheel = dist.read_text("WHEEL") or ""
    tag_lines = [line for line in wheel.splitlines() if line.startswith("Tag:")]
    triples = [line.split(":", 1)[1].strip().split("-") for line in tag_lines]
    platform = "any"
    if any(t[2] != "any" for t in triples):
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    impls, abis = sorted({t[0] for t in triples}), sorted({t[1] for t in triples})
    kept = [line for line in wheel.splitlines() if not line.startswith("Tag:")]
    kept += [f"Tag: {i}-{a}-{platform}" for i in impls for a in abis]
    return f"{'.'.join(impls)}-{'.'.join(abis)}-{platform}", "\n".join(kept) + "\n"


def rebuild(dist: metadata.Distribution, out: Path) -> Path:
    """dist's installed files (its scripts and byte code left out) as a wheel in `out`."""
    tag, wheel_text = _tags(dist)
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    archive = out / f"{name}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in dist.files or []:
            source = Path(str(file.locate()))
            if file.parts[0] == ".." or "__pycache__" in file.parts or not source.is_file():
                continue
            if file.name == "WHEEL" and file.parent.name.endswith(".dist-info"):
                zf.writestr(file.as_posix(), wheel_text)
            else:
                zf.write(source, file.as_posix())
    return archive


def build(requirements: Path, out: Path) -> list[Path]:
    """A find-links directory holding every distribution `requirements` resolves to."""
    out.mkdir(parents=True, exist_ok=True)
    return [rebuild(dist, out) for dist in closure(requirements)]
