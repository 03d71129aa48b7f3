"""The pump's Lambda event shapes and outcome rules, and where it runs handlers (no stack
needed)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from chalice.app import CloudWatchEvent, Cron, Rate, SQSEvent

from devstack.lambda_events import (
    failed_message_ids,
    rate_seconds,
    s3_key_as_s3_sends_it,
    s3_record_matches,
    scheduled_event,
    sqs_record,
)

IDS = {"m1", "m2", "m3"}


def test_batch_outcome_follows_lambdas_report_batch_item_failures_rules() -> None:
    assert failed_message_ids(None, IDS) == set()
    assert failed_message_ids({}, IDS) == set()
    assert failed_message_ids({"batchItemFailures": []}, IDS) == set()
    assert failed_message_ids({"batchItemFailures": None}, IDS) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "m2"}]}, IDS) == {"m2"}
    # A malformed report fails the whole batch, as Lambda does.
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, IDS) == IDS
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, IDS) == IDS
    assert failed_message_ids({"batchItemFailures": [{"id": "m1"}]}, IDS) == IDS
    assert failed_message_ids("ok", IDS) == IDS


def test_sqs_record_is_what_the_event_source_mapping_sends() -> None:
    message = {
        "MessageId": "6a1b1c0e-0000-4000-8000-000000000001",
        "ReceiptHandle": "handle-1",
        "MD5OfBody": "d41d8cd98f00b204e9800998ecf8427e",
        "Body": '{"map_id": "x"}',
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1"},
        "MessageAttributes": {
            "kind": {"StringValue": "job", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }
    arn = "arn:aws:sqs:us-east-1:123456789012:q"
    record = sqs_record(message, arn, "us-east-1")
    assert record["messageId"] == message["MessageId"]
    assert record["receiptHandle"] == "handle-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["messageAttributes"]["kind"]["stringValue"] == "job"
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert (record["eventSource"], record["eventSourceARN"]) == ("aws:sqs", arn)
    parsed = list(SQSEvent({"Records": [record]}, None))
    assert parsed[0].body == '{"map_id": "x"}'
    assert parsed[0].receipt_handle == "handle-1"


def test_s3_keys_are_handed_over_as_s3_encodes_them() -> None:
    assert s3_key_as_s3_sends_it("maps%2Fabc%2Foriginal") == "maps/abc/original"
    assert s3_key_as_s3_sends_it("maps/a+b%2Bc") == "maps/a+b%2Bc"


def test_s3_records_are_filtered_like_the_registration() -> None:
    source = SimpleNamespace(
        bucket="maps-bucket", events=["s3:ObjectCreated:*"], prefix="maps/", suffix=None
    )

    def record(key: str, name: str = "ObjectCreated:Post", bucket: str = "maps-bucket") -> dict:
        return {"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}

    assert s3_record_matches(source, record("maps%2Fx%2Foriginal"))
    assert not s3_record_matches(source, record("other/x"))
    assert not s3_record_matches(source, record("maps/x", name="ObjectRemoved:Delete"))
    assert not s3_record_matches(source, record("maps/x", bucket="elsewhere"))


def test_schedules() -> None:
    assert rate_seconds(Rate(5, unit=Rate.MINUTES)) == 300
    assert rate_seconds(Rate(1, unit=Rate.DAYS)) == 86400
    assert rate_seconds("rate(2 hours)") == 7200
    assert rate_seconds(Cron(0, 3, "*", "*", "?", "*")) is None
    event = CloudWatchEvent(scheduled_event("sweeper", "us-east-1"), None)
    assert event.detail_type == "Scheduled Event"
    assert event.resources == ["arn:aws:events:us-east-1:123456789012:rule/sweeper"]


class _NoApp:
    """Stands in for the Invoker (which loads the Chalice app): these tests need no handlers."""

    def __init__(self, region: str):
        self.region = region


def _pump(monkeypatch: Any) -> Any:
    from devstack import pump

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setattr(pump, "Invoker", _NoApp)
    return pump.Pump()


def test_handlers_run_on_the_main_thread_where_time_limits_are_enforced(monkeypatch: Any) -> None:
    """Lambda calls handlers on its main thread; so does the pump, so the processor's SIGALRM
    limits (inspection cap, PDF cap) cut a runaway job short under make run too."""
    from chalicelib.formats.timer import TimeLimitExceeded, time_limit

    pump = _pump(monkeypatch)
    seen: dict[str, Any] = {}

    def runaway_job() -> None:
        seen["main_thread"] = threading.current_thread() is threading.main_thread()
        started = time.monotonic()
        try:
            with time_limit(0.05) as limit:
                while True:
                    time.sleep(0.001)
        except TimeLimitExceeded as exc:
            seen["cut"] = exc.limit is limit and limit.enforced
        seen["seconds"] = time.monotonic() - started

    def worker() -> None:
        seen["delivered"] = pump.call(runaway_job)
        pump.stopping.set()

    pump.workers.append(("test", worker))
    pump.start()
    pump.serve()  # this test's (main) thread serves, as the pump's main() does
    assert seen["delivered"] and seen["main_thread"] and seen["cut"]
    assert seen["seconds"] < 1
    assert not pump.crashed


def test_a_handler_crash_reaches_its_worker_and_stops_the_pump(monkeypatch: Any) -> None:
    pump = _pump(monkeypatch)

    def broken() -> None:
        raise RuntimeError("bug")

    pump.workers.append(("test", lambda: pump.call(broken)))
    pump.start()
    pump.serve()  # returns once the worker's crash has stopped the pump
    assert pump.crashed
    assert pump.call(broken) is False  # stopping: nothing more is run
