"""What Chalice cannot configure, applied after `chalice deploy` (idempotent): on every SQS
trigger ReportBatchItemFailures (aws/chalice#2029) and the maximum concurrency config.json
asks for; on every function the /tmp size it asks for (aws/chalice#1962)."""

from __future__ import annotations

import time
from typing import Any

from deploy.stage import PROCESSOR, Stage

BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


class PostDeployError(RuntimeError):
    """The deployed functions are not what the post-deploy step expects."""


def sqs_mappings(lam: Any, function: str) -> list[dict[str, Any]]:
    """The function's event source mappings that read an SQS queue."""
    found = lam.list_event_source_mappings(FunctionName=function).get("EventSourceMappings", [])
    return [m for m in found if str(m.get("EventSourceArn", "")).split(":")[2:3] == ["sqs"]]


def _settled(lam: Any, uuid: str, timeout: float = 120) -> dict[str, Any]:
    # A mapping that is Creating/Updating refuses updates: wait for Enabled/Disabled.
    deadline = time.monotonic() + timeout
    while True:
        mapping: dict[str, Any] = lam.get_event_source_mapping(UUID=uuid)
        if mapping.get("State") in (None, "Enabled", "Disabled"):
            return mapping
        if time.monotonic() > deadline:
            raise PostDeployError(f"event source mapping {uuid} stuck in {mapping['State']}")
        time.sleep(2)


def configure_trigger(lam: Any, uuid: str, maximum_concurrency: int | None) -> list[str]:
    """Set one SQS trigger; returns the settings it changed (none on a re-run)."""
    mapping = _settled(lam, uuid)
    update: dict[str, Any] = {}
    if BATCH_ITEM_FAILURES not in mapping.get("FunctionResponseTypes", []):
        update["FunctionResponseTypes"] = [BATCH_ITEM_FAILURES]
    current = mapping.get("ScalingConfig", {}).get("MaximumConcurrency")
    if maximum_concurrency and current != maximum_concurrency:
        # Caps pollers without throttling: reserved concurrency would bounce messages back
        # with a higher receive count and dead-letter healthy jobs.
        update["ScalingConfig"] = {"MaximumConcurrency": maximum_concurrency}
    if update:
        lam.update_event_source_mapping(UUID=uuid, **update)
    return sorted(update)


def ephemeral_storage(lam: Any, function: str, size_mb: int) -> bool:
    """Give the function this /tmp size; True when it changed anything."""
    current = lam.get_function_configuration(FunctionName=function)
    if current.get("EphemeralStorage", {}).get("Size") == size_mb:
        return False
    # Chalice may still be updating the function: Lambda refuses a second update meanwhile.
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    lam.update_function_configuration(FunctionName=function, EphemeralStorage={"Size": size_mb})
    return True


def apply(lam: Any, stage: Stage, processing_queue_arn: str) -> list[str]:
    """Every post-deploy setting of the stage; returns what changed; raises PostDeployError."""
    changed = []
    for handler, settings in stage.functions.items():
        function = stage.function_name(handler)
        mappings = sqs_mappings(lam, function)
        if handler == PROCESSOR and [m["EventSourceArn"] for m in mappings] != [
            processing_queue_arn
        ]:
            raise PostDeployError(f"{function} is not triggered by {processing_queue_arn} alone")
        for mapping in mappings:
            for name in configure_trigger(lam, mapping["UUID"], settings.sqs_maximum_concurrency):
                changed.append(f"{name} on {function}")
        size = settings.ephemeral_storage_mb
        if size and ephemeral_storage(lam, function, size):
            changed.append(f"EphemeralStorage {size} MB on {function}")
    return changed
