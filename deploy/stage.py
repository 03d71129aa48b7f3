"""One Chalice stage as the deploy sees it: names and sizes read from .chalice/config.json, and
that config rendered with the values only the resources stack knows (ARNs, queue URLs)."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / ".chalice" / "config.json"
TEMPLATE_FILE = ROOT / "infra" / "resources.yaml"
APP_NAME = "mapstock"
PROCESSOR = "on_processing_job"
DEAD_LETTER = "on_dead_letter"
# AWS guidance for SQS triggers: visibility timeout >= 6 x the function timeout.
VISIBILITY_FACTOR = 6
# Keys Chalice ignores and deploy/post_deploy.py applies (aws/chalice#1962; SQS trigger scaling).
EPHEMERAL_STORAGE = "lambda_ephemeral_storage"
SQS_MAXIMUM_CONCURRENCY = "sqs_maximum_concurrency"
# "{stack:OutputName}" and "{layer:processing}" in config.json: filled in at deploy time so
# the file holds no account id; Chalice itself never sees them.
PLACEHOLDER = re.compile(r"^\{(stack|layer):([A-Za-z0-9]+)\}$")


class StageError(RuntimeError):
    """The stage is missing from config.json or misses a value the deploy needs."""


@dataclass(frozen=True)
class Function:
    handler: str
    timeout: int
    ephemeral_storage_mb: int | None
    sqs_maximum_concurrency: int | None


@dataclass(frozen=True)
class Stage:
    name: str
    bucket: str
    queue: str
    max_receive_count: int
    functions: dict[str, Function]

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}-dlq"

    @property
    def stack_name(self) -> str:
        return f"{APP_NAME}-{self.name}-resources"

    @property
    def external_queue(self) -> str:
        return f"{APP_NAME}-external-{self.name}"

    @property
    def layer_name(self) -> str:
        return f"{APP_NAME}-{self.name}-processing"

    def visibility_timeout(self, handler: str) -> int:
        """The visibility timeout the queue feeding this handler needs."""
        return VISIBILITY_FACTOR * self.functions[handler].timeout

    @property
    def secret_names(self) -> tuple[str, str, str]:
        """The JWT key, the API's database login and the event functions' database login."""
        prefix = f"{APP_NAME}/{self.name}"
        return (f"{prefix}/jwt-signing-key", f"{prefix}/database", f"{prefix}/pipeline-database")

    def function_name(self, handler: str) -> str:
        """The Lambda name Chalice gives a handler (the API is `api_handler`)."""
        if handler == "api_handler":
            return f"{APP_NAME}-{self.name}"
        return f"{APP_NAME}-{self.name}-{handler}"

    def stack_parameters(self) -> dict[str, str]:
        """The template parameters that come from config.json."""
        return {
            "Stage": self.name,
            "BucketName": self.bucket,
            "ProcessingQueueName": self.queue,
            "ExternalQueueName": self.external_queue,
            "ProcessingVisibilityTimeout": str(self.visibility_timeout(PROCESSOR)),
            "DeadLetterVisibilityTimeout": str(self.visibility_timeout(DEAD_LETTER)),
            "MaxReceiveCount": str(self.max_receive_count),
        }


def read_config(path: Path = CONFIG_FILE) -> dict[str, Any]:
    """The Chalice config document."""
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return config


def function_setting(config: dict[str, Any], stage: str, handler: str, key: str) -> Any:
    """A setting as Chalice resolves it: function in stage, stage, then top level."""
    stage_doc = config.get("stages", {}).get(stage, {})
    function_doc = stage_doc.get("lambda_functions", {}).get(handler, {})
    for doc in (function_doc, stage_doc, config):
        if key in doc:
            return doc[key]
    return None


def environment(config: dict[str, Any], stage: str, handler: str) -> dict[str, str]:
    """The environment a function gets: top level, then stage, then function (Chalice's merge)."""
    stage_doc = config.get("stages", {}).get(stage, {})
    function_doc = stage_doc.get("lambda_functions", {}).get(handler, {})
    return {
        **config.get("environment_variables", {}),
        **stage_doc.get("environment_variables", {}),
        **function_doc.get("environment_variables", {}),
    }


def load_stage(name: str, config: dict[str, Any] | None = None) -> Stage:
    """The stage's deploy view; raises StageError."""
    config = config if config is not None else read_config()
    stage_doc = config.get("stages", {}).get(name)
    if stage_doc is None:
        raise StageError(f"stage {name!r} is not in .chalice/config.json")
    handlers = list(stage_doc.get("lambda_functions", {}))
    missing = {PROCESSOR, DEAD_LETTER} - set(handlers)
    if missing:
        raise StageError(f"stage {name!r} has no lambda_functions entry for {sorted(missing)}")
    env = environment(config, name, PROCESSOR)
    if not env.get("MAPSTOCK_BUCKET") or not env.get("MAPSTOCK_QUEUE"):
        raise StageError(f"stage {name!r} needs MAPSTOCK_BUCKET and MAPSTOCK_QUEUE")
    functions = {
        handler: Function(
            handler=handler,
            timeout=int(function_setting(config, name, handler, "lambda_timeout") or 60),
            ephemeral_storage_mb=function_setting(config, name, handler, EPHEMERAL_STORAGE),
            sqs_maximum_concurrency=function_setting(
                config, name, handler, SQS_MAXIMUM_CONCURRENCY
            ),
        )
        for handler in handlers
    }
    return Stage(
        name=name,
        bucket=env["MAPSTOCK_BUCKET"],
        queue=env["MAPSTOCK_QUEUE"],
        max_receive_count=int(env.get("MAX_RECEIVE_COUNT", "5")),
        functions=functions,
    )


def render_config(
    config: dict[str, Any], stage: str, outputs: dict[str, str], layers: dict[str, str | None]
) -> dict[str, Any]:
    """config.json with the stage's placeholders filled in; raises StageError on an unknown one."""
    # A layer given as None is dropped (deploying before the processing layer exists).
    rendered = copy.deepcopy(config)

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            filled = [fill(v) for v in value]
            return [v for v in filled if v is not None]
        if not isinstance(value, str):
            return value
        match = PLACEHOLDER.match(value)
        if not match:
            return value
        kind, key = match.groups()
        source: dict[str, Any] = outputs if kind == "stack" else layers
        if key not in source:
            raise StageError(f"{value} in stage {stage!r}: the {kind} has no {key!r}")
        return source[key]

    rendered["stages"][stage] = fill(rendered["stages"][stage])
    return rendered
