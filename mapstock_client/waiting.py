"""`--wait`: follow a map until its final status, and check its SHA-256 against the local file
(hashed in the background while the upload runs)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mapstock_client.api import Api, map_path

FINAL = ("ready", "rejected", "failed")


class FileHasher(threading.Thread):
    """SHA-256 of a file, computed on a thread of its own (hashlib releases the GIL)."""

    def __init__(self, path: Path):
        super().__init__(daemon=True, name="sha256")
        self.path = path
        self.hexdigest: str | None = None
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                self.hexdigest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:  # handed to the caller: a thread's traceback would reach stderr
            self.error = exc

    def result(self) -> str | None:
        """The file's SHA-256; raises the OSError reading it met."""
        self.join()
        if self.error is not None:
            raise self.error
        return self.hexdigest


def wait_final(api: Api, map_id: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Poll the map (0.5 s, growing to 5 s) until ready, rejected or failed; returns it."""
    interval, shown = 0.5, ""
    while True:
        doc: dict[str, Any] = api.json("GET", map_path(map_id))
        where = doc["status"] + (f" ({doc['stage']})" if doc.get("stage") else "")
        if where != shown:
            log(f"map {map_id}: {where}")
            shown = where
        if doc["status"] in FINAL:
            return doc
        time.sleep(interval)
        interval = min(interval * 1.5, 5.0)
