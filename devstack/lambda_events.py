"""Lambda's event shapes, built from what S3, SQS and the clock hand over (pure, no I/O)."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from fnmatch import fnmatch
from typing import Any
from urllib.parse import quote_plus, unquote_plus


def s3_key_as_s3_sends_it(key: str) -> str:
    """moto encodes "/" as %2F; S3 leaves it and writes spaces as "+": return S3's form."""
    return quote_plus(unquote_plus(key), safe="/")


def s3_record_matches(source: Any, record: dict[str, Any]) -> bool:
    """Whether an @app.on_s3_event registration (bucket, events, prefix, suffix) wants it."""
    key = unquote_plus(record.get("s3", {}).get("object", {}).get("key", ""))
    return (
        record.get("s3", {}).get("bucket", {}).get("name") == source.bucket
        and any(fnmatch(f"s3:{record.get('eventName', '')}", p) for p in source.events)
        and key.startswith(source.prefix or "")
        and key.endswith(source.suffix or "")
    )


def sqs_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, field for field as the event source mapping builds it."""
    attributes = {}
    for name, value in message.get("MessageAttributes", {}).items():
        attribute = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attributes[name] = attribute
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def failed_message_ids(result: Any, message_ids: set[str]) -> set[str]:
    """The messages to leave for a retry, by Lambda's ReportBatchItemFailures rules."""
    if result is None or result == {}:
        return set()
    if not isinstance(result, dict):
        return set(message_ids)
    failures = result.get("batchItemFailures")
    if not failures:
        return set()
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)  # Lambda fails the whole batch on a malformed report
        failed.add(identifier)
    return failed


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: Any) -> int | None:
    """The period of a Rate / "rate(N unit)" schedule in seconds; None for a cron schedule."""
    text = expression if isinstance(expression, str) else expression.to_string()
    match = _RATE.match(text.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def scheduled_event(rule: str, region: str, account: str = "123456789012") -> dict[str, Any]:
    """The EventBridge "Scheduled Event" a scheduled Lambda receives."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }
