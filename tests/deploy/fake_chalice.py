"""Stands in for `chalice deploy|delete` against moto (which has no API Gateway deploy path):
reads the project and its config.json through Chalice's own Config and app, then creates the
roles, functions and SQS trigger Chalice would, so the steps after it meet real resources.

    python tests/deploy/fake_chalice.py --project-dir DIR deploy|delete --stage STAGE
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _app(project: Path) -> Any:
    sys.path.insert(0, str(project))
    from app import app  # the project's, with MAPSTOCK_BUCKET/QUEUE as the deploy exported

    return app


def _handlers(app: Any) -> list[str]:
    return ["api_handler", *(source.name for source in app.event_sources)]


def _function_config(doc: dict[str, Any], stage: str, handler: str) -> Any:
    from chalice.config import Config

    return Config(chalice_stage=stage, function_name=handler, config_from_disk=doc)


def _function_name(stage: str, handler: str) -> str:
    return f"mapstock-{stage}" if handler == "api_handler" else f"mapstock-{stage}-{handler}"


def deploy(project: Path, stage: str) -> dict[str, Any]:
    doc = json.loads((project / ".chalice" / "config.json").read_text())
    app = _app(project)
    iam, lam, sqs = boto3.client("iam"), boto3.client("lambda"), boto3.client("sqs")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as zf:
        zf.write(project / "app.py", "app.py")
    record: dict[str, Any] = {"stage": stage, "functions": {}}
    for handler in _handlers(app):
        config = _function_config(doc, stage, handler)
        name = _function_name(stage, handler)
        role_name = f"mapstock-{stage}-{handler}"
        policy = (project / ".chalice" / config.iam_policy_file).read_text()
        try:
            role_arn = iam.create_role(
                RoleName=role_name, AssumeRolePolicyDocument=json.dumps(TRUST)
            )["Role"]["Arn"]
        except ClientError:
            role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        iam.put_role_policy(RoleName=role_name, PolicyName=role_name, PolicyDocument=policy)
        settings = {
            "Role": role_arn,
            "MemorySize": config.lambda_memory_size,
            "Timeout": config.lambda_timeout,
            "Environment": {"Variables": config.environment_variables},
            "Layers": config.layers or [],
        }
        try:
            lam.get_function(FunctionName=name)
            lam.update_function_configuration(FunctionName=name, **settings)
        except lam.exceptions.ResourceNotFoundException:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Handler="app.app",
                Code={"ZipFile": code.getvalue()},
                Tags=config.tags,
                **settings,
            )
        if config.reserved_concurrency is not None:
            lam.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=config.reserved_concurrency
            )
        record["functions"][handler] = name
    for source in app.event_sources:
        if type(source).__name__ != "SQSEventConfig":
            continue
        url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        name = _function_name(stage, source.name)
        if not lam.list_event_source_mappings(FunctionName=name, EventSourceArn=arn)[
            "EventSourceMappings"
        ]:
            # Chalice creates the trigger without FunctionResponseTypes (aws/chalice#2029).
            lam.create_event_source_mapping(
                EventSourceArn=arn, FunctionName=name, BatchSize=source.batch_size
            )
    return record


def delete(project: Path, stage: str) -> None:
    state = project / ".chalice" / "deployed" / f"{stage}.json"
    record = json.loads(state.read_text())
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    for handler, name in record["functions"].items():
        for mapping in lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
        lam.delete_function(FunctionName=name)
        role_name = f"mapstock-{stage}-{handler}"
        iam.delete_role_policy(RoleName=role_name, PolicyName=role_name)
        iam.delete_role(RoleName=role_name)
    state.unlink()


def main() -> int:
    cli = argparse.ArgumentParser()
    cli.add_argument("--project-dir", type=Path, required=True)
    cli.add_argument("command", choices=("deploy", "delete"))
    cli.add_argument("--stage", required=True)
    args = cli.parse_args()
    state = args.project_dir / ".chalice" / "deployed" / f"{args.stage}.json"
    if args.command == "deploy":
        record = deploy(args.project_dir, args.stage)
        state.write_text(json.dumps(record))
    else:
        delete(args.project_dir, args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
