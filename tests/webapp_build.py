"""The web application's build for the tests: `make webapp` (npm ci + webapp/build.mjs, a no-op
when up to date), once per machine at a time, so tests never run against a stale build."""

from __future__ import annotations

import fcntl
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "chalicelib" / "site"


def ensure_built() -> dict[str, Any]:
    """Build if needed (under a lock: two test workers may ask at once); the manifest."""
    lock_path = ROOT / ".local" / "webapp-build.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            ["make", "-s", "webapp"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if result.returncode != 0:
        pytest.fail(f"make webapp failed (Node.js + npm needed):\n{result.stdout}{result.stderr}")
    return dict(json.loads((SITE / "manifest.json").read_text()))
