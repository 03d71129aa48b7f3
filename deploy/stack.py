"""The resources stack: create or update it idempotently, read its outputs, delete it."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"}
FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
}
# Parameters that only the first deploy must give (the database endpoint, ...): later deploys
# keep the stack's current value unless a new one is passed.
STICKY_PARAMETERS = (
    "DatabaseHost",
    "DatabasePort",
    "DatabaseName",
    "DatabaseUser",
    "PipelineDatabaseUser",
    "DatabaseSslMode",
    "CorsAllowedOrigins",
    "AlarmEmail",
)


class StackError(RuntimeError):
    """The stack could not be brought to a complete state (the message names the reason)."""


def describe(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack's description, or None when there is none; raises ClientError otherwise."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        # CloudFormation answers a plain ValidationError here: its message is the only tell.
        if "does not exist" in str(exc):
            return None
        raise
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return live[0] if live else None


def wait(cfn: Any, name: str, timeout: float = 1800, poll: float = 5) -> dict[str, Any] | None:
    """The stack's description once no longer *_IN_PROGRESS; raises StackError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        stack = describe(cfn, name)
        if stack is None or not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise StackError(f"{name} still {stack['StackStatus']} after {timeout:.0f} s")
        time.sleep(poll)


def _failure_reason(cfn: Any, name: str) -> str:
    events = cfn.describe_stack_events(StackName=name).get("StackEvents", [])
    for event in events:
        if event.get("ResourceStatus", "").endswith("_FAILED"):
            return f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '?')}"
    return "see the stack's events"


def ensure(
    cfn: Any, name: str, template: str, parameters: dict[str, str], tags: dict[str, str]
) -> dict[str, str]:
    """Create the stack or update it to this template; returns its outputs; raises StackError."""
    stack = wait(cfn, name)
    if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        # A first create that failed leaves a stack that can only be deleted.
        cfn.delete_stack(StackName=name)
        stack = wait(cfn, name)
    # Re-sent as values rather than UsePreviousValue: same effect (none is NoEcho), and moto
    # cannot resolve UsePreviousValue for a parameter that was left at its default.
    previous = {p["ParameterKey"]: p["ParameterValue"] for p in (stack or {}).get("Parameters", [])}
    merged = {k: previous[k] for k in STICKY_PARAMETERS if k in previous} | parameters
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in merged.items()]
    args = {
        "StackName": name,
        "TemplateBody": template,
        "Parameters": params,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    updating = stack is not None
    if stack is None:
        if "DatabaseHost" not in parameters:
            raise StackError("the first deploy of a stage needs the database host (--db-host)")
        cfn.create_stack(**args, OnFailure="ROLLBACK")
    else:
        try:
            cfn.update_stack(**args)
        except ClientError as exc:
            # Same ValidationError code as real errors; "nothing to do" is success here.
            if "No updates are to be performed" not in str(exc):
                raise
            updating = False
    final = wait(cfn, name)
    if final is None or final["StackStatus"] not in DONE:
        status = final["StackStatus"] if final else "DELETED"
        raise StackError(f"{name} ended {status}: {_failure_reason(cfn, name)}")
    if updating and final["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE":
        raise StackError(f"{name} update rolled back: {_failure_reason(cfn, name)}")
    return outputs(final)


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    """OutputKey -> OutputValue."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def delete(cfn: Any, name: str) -> bool:
    """Delete the stack and wait; False when there was none; raises StackError."""
    if wait(cfn, name) is None:
        return False
    cfn.delete_stack(StackName=name)
    final = wait(cfn, name)
    if final is not None:
        raise StackError(f"{name} ended {final['StackStatus']}: {_failure_reason(cfn, name)}")
    return True
