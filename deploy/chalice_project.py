"""Run Chalice on a copy of the project whose config.json has the stack's values filled in.

The repository's config.json keeps placeholders so it names no account; Chalice's deployed
state (.chalice/deployed/STAGE.json) still lives in the repository, through a symlink, so
every deploy updates the same API and functions."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deploy.stage import ROOT, Stage

# What Chalice packages (app.py, chalicelib/, vendor/, requirements.txt) and reads (.chalice/).
SOURCES = ("app.py", "chalicelib", "vendor", "requirements.txt")
STATE_DIRS = ("deployed", "deployments")
DEFAULT_COMMAND = "chalice"
STATE_DIR = ROOT / ".chalice"


class ChaliceError(RuntimeError):
    """The Chalice command failed (its own output says why)."""


def command_prefix(value: str | None) -> list[str]:
    """The Chalice command to run: $MAPSTOCK_CHALICE, else `chalice` beside this Python."""
    if value:
        return shlex.split(value)
    beside = Path(sys.executable).parent / DEFAULT_COMMAND
    return [str(beside)] if beside.exists() else [DEFAULT_COMMAND]


@contextmanager
def rendered(
    config: dict[str, Any], state_dir: Path = STATE_DIR, root: Path = ROOT
) -> Iterator[Path]:
    """A temporary project directory with this config.json; removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="mapstock-chalice-"))
    try:
        for name in SOURCES:
            source = root / name
            if source.is_dir():
                shutil.copytree(
                    source, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            elif source.exists():
                shutil.copy2(source, work / name)
        chalice_dir = work / ".chalice"
        chalice_dir.mkdir()
        for policy in (root / ".chalice").glob("policy-*.json"):
            shutil.copy2(policy, chalice_dir / policy.name)
        (chalice_dir / "config.json").write_text(json.dumps(config, indent=2))
        for name in STATE_DIRS:
            (state_dir / name).mkdir(parents=True, exist_ok=True)
            (chalice_dir / name).symlink_to(state_dir / name, target_is_directory=True)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(prefix: list[str], project: Path, stage: Stage, *args: str) -> None:
    """Run `chalice ARGS --stage STAGE` in the project; raises ChaliceError."""
    env = {
        **os.environ,
        # app.py names the bucket and queues of its event sources at import time.
        "MAPSTOCK_BUCKET": stage.bucket,
        "MAPSTOCK_QUEUE": stage.queue,
        "MAPSTOCK_DLQ": stage.dead_letter_queue,
    }
    command = [*prefix, "--project-dir", str(project), *args, "--stage", stage.name]
    result = subprocess.run(command, cwd=project, env=env, check=False)
    if result.returncode != 0:
        raise ChaliceError(f"`{' '.join(command[len(prefix) :])}` failed ({result.returncode})")


def has_deployed(stage: Stage, state_dir: Path = STATE_DIR) -> bool:
    """True when Chalice recorded a deployment of this stage."""
    return (state_dir / "deployed" / f"{stage.name}.json").exists()
