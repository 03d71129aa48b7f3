"""Runs the real handlers in a separate process (its own DB connection), as a second Lambda
container would: used to race duplicated events."""

from __future__ import annotations

import json
import sys


def deliver(kind: str, event_json: str) -> str:
    """Invoke one handler's logic with an event; returns its result as JSON."""
    from chalicelib.handlers import s3, sqs

    event = json.loads(event_json)
    if kind == "s3":
        return json.dumps(s3.register_uploads(event))
    try:
        return json.dumps(sqs.process_batch(event))
    except sqs.BatchFailed:
        return json.dumps({"all_failed": True})


if __name__ == "__main__":
    print(deliver(sys.argv[1], sys.stdin.read()))
