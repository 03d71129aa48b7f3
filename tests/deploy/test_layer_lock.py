"""The processor's layer loads on the runtime Chalice deploys: requirements-processing.lock names,
for every pin, a wheel whose tags Lambda's python3.11 (Amazon Linux 2, glibc 2.26) accepts, and
the dev venv runs those very wheels. Offline: the lock and its builder are checked against wheels
made here (pip --no-index), the committed lock against its own file names."""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from deploy import layer

LOCK_LINE = re.compile(
    r"^(?P<name>[\w.-]+)==(?P<version>\S+) --hash=sha256:(?P<sha>[0-9a-f]{64})"
    r"  # (?P<file>\S+\.whl)$"
)


def _locked(text: str) -> dict[str, re.Match[str]]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    matches = [LOCK_LINE.match(line) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches, strict=True) if not m]
    return {canonicalize_name(m["name"]): m for m in matches if m}


def _glibc(platform: str) -> tuple[int, int] | None:
    """(2, 17) for manylinux2014_x86_64 or manylinux_2_17_x86_64; None for another platform."""
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    if not platform.endswith("_x86_64"):
        return None
    head = platform.removesuffix("_x86_64")
    if head in legacy:
        return legacy[head]
    perennial = re.fullmatch(r"manylinux_(\d+)_(\d+)", head)
    return (int(perennial[1]), int(perennial[2])) if perennial else None


def _loads_on_lambda(filename: str) -> bool:
    """Whether one of the wheel's tags is one pip accepts for layer.RUNTIME on layer.PLATFORM."""
    _, _, _, tags = parse_wheel_filename(filename)
    minor = int(layer.RUNTIME.removeprefix("python3."))
    cp = f"cp3{minor}"
    newest = _glibc(layer.PLATFORM)
    assert newest is not None, layer.PLATFORM
    for tag in tags:
        stable = re.fullmatch(r"cp3(\d+)", tag.interpreter)
        abi3 = tag.abi == "abi3" and stable is not None and int(stable[1]) <= minor
        python = (tag.interpreter in (cp, "py3") and tag.abi in (cp, "none")) or abi3
        glibc = _glibc(tag.platform)
        if python and (tag.platform == "any" or (glibc is not None and glibc <= newest)):
            return True
    return False


def test_the_tag_check_refuses_what_failed_the_deploy() -> None:
    """The only cp311 x86_64 Linux wheels numpy 2.4.6, rasterio 1.4.4 and pillow 13.0.0 publish
    need glibc 2.28 (> Amazon Linux 2's 2.26) or musl; their predecessors' load."""
    refused = [
        "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "rasterio-1.4.4-cp311-cp311-manylinux_2_28_x86_64.whl",
        "pillow-13.0.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "pillow-13.0.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        "numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]
    accepted = [
        "numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "rasterio-1.4.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "bcrypt-5.0.0-cp39-abi3-manylinux2014_x86_64.whl",
        "defusedxml-0.7.1-py2.py3-none-any.whl",
    ]
    assert [name for name in refused + accepted if _loads_on_lambda(name)] == accepted


def test_every_locked_wheel_loads_on_the_lambda_runtime() -> None:
    locked = _locked(layer.LOCK.read_text(encoding="utf-8"))
    refused = [m["file"] for m in locked.values() if not _loads_on_lambda(m["file"])]
    assert refused == [], f"no {layer.RUNTIME} {layer.PLATFORM} wheel: {refused}"
    for name, match in locked.items():
        dist, version, _, _ = parse_wheel_filename(match["file"])
        assert (dist, str(version)) == (name, match["version"]), match["file"]


def test_the_lock_is_exactly_the_pinned_requirements() -> None:
    """Every pin locked at its version, and nothing unpinned (a transitive dependency
    requirements-processing.txt forgot): the venv, installed from the pins, is the layer."""
    lines = (line.split("#", 1)[0].strip() for line in layer.REQUIREMENTS.read_text().splitlines())
    pins = {}
    for requirement in (Requirement(line) for line in lines if line):
        (spec,) = requirement.specifier
        assert spec.operator == "==", requirement
        pins[canonicalize_name(requirement.name)] = spec.version
    locked = _locked(layer.LOCK.read_text(encoding="utf-8"))
    stale = "run `.venv/bin/python -m deploy.layer` to re-lock"
    assert {name: m["version"] for name, m in locked.items()} == pins, stale


def test_the_venv_runs_the_locked_wheels() -> None:
    """The tests exercise the builds Lambda gets, not this machine's newer ones (make re-runs
    the install whenever the lock changes)."""
    for name, match in _locked(layer.LOCK.read_text(encoding="utf-8")).items():
        dist = metadata.distribution(name)
        assert dist.version == match["version"], name
        wheel = (dist.read_text("WHEEL") or "").splitlines()
        installed = {line.split(":", 1)[1].strip() for line in wheel if line.startswith("Tag:")}
        assert installed == {str(t) for t in parse_wheel_filename(match["file"])[3]}, name


def test_deploying_from_another_python_is_refused() -> None:
    """Chalice gives the functions the runtime of the Python running it; cp311 wheels do not
    import on python3.12."""
    layer.check_runtime((3, 11))
    with pytest.raises(layer.LayerError, match=r"python3\.12 .* python3\.11 wheels"):
        layer.check_runtime((3, 12))


def _wheel(folder: Path, version: str, tag: str, payload: str) -> Path:
    """A one-module wheel of the distribution `demo`."""
    path = folder / f"demo-{version}-{tag}.whl"
    info = f"demo-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo.py", f"BUILD = {payload!r}\n")
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: demo\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
        files = ("demo.py", f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD")
        zf.writestr(f"{info}/RECORD", "".join(f"{name},,\n" for name in files))
    return path


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local index pip reads instead of PyPI: demo 1.0 for both glibc levels, 2.0 only
    for glibc 2.28 (as numpy 2.4.6)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "1.0", "cp311-cp311-manylinux_2_28_x86_64", "2.28")
    _wheel(wheels, "1.0", "cp311-cp311-manylinux2014_x86_64", "2014")
    _wheel(wheels, "2.0", "cp311-cp311-manylinux_2_28_x86_64", "2.28")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheels


def test_the_lock_picks_the_wheel_lambda_loads_and_the_build_ships_it(
    index: Path, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("demo==1.0\n")
    text = layer.lock(requirements)
    chosen = index / "demo-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    digest = hashlib.sha256(chosen.read_bytes()).hexdigest()
    assert _locked(text)["demo"]["file"] == chosen.name
    assert _locked(text)["demo"]["sha"] == digest

    lock_file = tmp_path / "layer.lock"
    lock_file.write_text(text)
    archive = layer.build(lock_file, tmp_path / "out")
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("python/demo.py") == b"BUILD = '2014'\n"
        # The libexpat rasterio's GDAL needs, in lib/ (Lambda's /opt/lib), with its licence.
        assert zf.read("lib/libexpat.so.1")[:4] == b"\x7fELF"
        assert {"lib/libexpat.so.1", "lib/libexpat.COPYING"} < set(zf.namelist())
        # No entry carries the time of the install (zip times tick every 2 s, so the equality
        # below alone could hold by chance)...
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    # ...so a build from the same lock is the same bytes: a deploy publishes no new version.
    assert layer.build(lock_file, tmp_path / "again").read_bytes() == archive.read_bytes()


def test_a_pin_without_a_wheel_for_lambda_cannot_be_locked(index: Path, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("demo==2.0\n")
    with pytest.raises(layer.LayerError, match=r"to python3\.11 wheels for manylinux2014_x86_64"):
        layer.lock(requirements)


def test_a_lock_naming_other_bytes_is_not_built(index: Path, tmp_path: Path) -> None:
    lock_file = tmp_path / "layer.lock"
    lock_file.write_text(f"demo==1.0 --hash=sha256:{'0' * 64}\n")
    with pytest.raises(layer.LayerError, match=r"could not install layer\.lock"):
        layer.build(lock_file, tmp_path / "out")
    assert not (tmp_path / "out" / "layer.zip").exists()
