"""The Lambda side of the pump: the app loaded as `chalice local` loads it, and its handlers
invoked with Lambda's events, context and outcome rules (retries, partial batch failures)."""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

from devstack.lambda_events import (
    failed_message_ids,
    s3_key_as_s3_sends_it,
    s3_record_matches,
    sqs_record,
)

ROOT = Path(__file__).resolve().parent.parent
STAGE = "local"
KIND_CLASSES = {"s3": "S3EventConfig", "sqs": "SQSEventConfig", "schedule": "ScheduledEventConfig"}


def log(event: str, level: str = "info", **fields: Any) -> None:
    """One JSON line, in the same shape as the app's own log lines."""
    from chalicelib import logs

    logs.log(event, level, **fields)


class Invoker:
    """Calls the app's registered handlers; not thread-safe (callers take turns)."""

    def __init__(self, region: str):
        from chalice.cli.factory import CLIFactory

        self.region = region
        self.config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name=STAGE)
        self.app = self.config.chalice_app  # imports app.py with the stage's variables set

    def registrations(self, kind: str) -> list[Any]:
        """The app's event sources of one kind: s3, sqs or schedule."""
        return [s for s in self.app.event_sources if type(s).__name__ == KIND_CLASSES[kind]]

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Call a registered handler with a Lambda-like context and the function's environment."""
        from chalice.local import LambdaContext

        scoped = self.config.scope(STAGE, name)
        os.environ.update(scoped.environment_variables)
        context = LambdaContext(
            name,
            memory_size=scoped.lambda_memory_size or 128,
            max_runtime_ms=(scoped.lambda_timeout or 60) * 1000,
        )
        return self.app.handler_map[name](event, context)

    def deliver_s3(self, sources: list[Any], message: dict[str, Any]) -> bool:
        """Invoke every matching S3 handler, one record per event as S3 does; True when all ran."""
        try:
            body = json.loads(message["Body"])
        except ValueError:
            log("pump_s3_malformed", "error", message_id=message.get("MessageId"))
            return True  # no retry can fix it
        if body.get("Event") == "s3:TestEvent":
            return True  # S3 posts one when the notification is configured
        ok = True
        for record in body.get("Records", []):
            obj = record.get("s3", {}).get("object", {})
            obj["key"] = s3_key_as_s3_sends_it(obj.get("key", ""))
            for source in (s for s in sources if s3_record_matches(s, record)):
                started, delivered = time.monotonic(), True
                try:
                    self.invoke(source.name, {"Records": [record]})
                except Exception:
                    traceback.print_exc()
                    delivered = ok = False
                ms = round((time.monotonic() - started) * 1000)
                log("pump_s3_delivered", handler=source.name, key=obj["key"], ok=delivered, ms=ms)
        return ok

    def deliver_sqs(self, sqs: Any, name: str, url: str, arn: str, messages: list[Any]) -> None:
        """Invoke the handler with the batch; delete only the messages that succeeded."""
        records = [sqs_record(m, arn, self.region) for m in messages]
        ids = {r["messageId"] for r in records}
        sent = min(int(m["Attributes"].get("SentTimestamp", 0)) for m in messages)
        queued_ms = round(time.time() * 1000) - sent if sent else None  # time spent waiting
        started = time.monotonic()
        try:
            failed = failed_message_ids(self.invoke(name, {"Records": records}), ids)
        except Exception:
            # A function error fails the whole batch: every message comes back after its timeout.
            traceback.print_exc()
            failed = set(ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            result = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            for problem in result.get("Failed", []):
                log("pump_delete_failed", "error", code=problem.get("Code"))
        log(
            "pump_sqs_delivered",
            handler=name,
            records=len(records),
            failed=len(failed),
            queued_ms=queued_ms,
            ms=round((time.monotonic() - started) * 1000),
        )
