"""JSON log lines carrying the request id of the request (or of the map's upload request)."""

from __future__ import annotations

import contextvars
import json
import sys
import time
from typing import Any

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def log(event: str, level: str = "info", **fields: Any) -> None:
    """Write one JSON line to stdout (CloudWatch in Lambda); values must be JSON-able."""
    line = {
        "ts": round(time.time(), 3),
        "level": level,
        "event": event,
        "request_id": request_id.get(),
        **fields,
    }
    sys.stdout.write(json.dumps(line, default=str, ensure_ascii=True) + "\n")
    sys.stdout.flush()
