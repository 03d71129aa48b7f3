""".chalice/policy-*.json grant exactly what each function needs, nothing beyond: the API
presigns and puts only uploads under maps/, the processor reads originals and writes
derivatives, and no one deletes outside the bucket's maps/ prefix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy.stage import ROOT, Stage, load_stage, read_config

STAGES = ("dev", "prod")
CHALICE_DIR = ROOT / ".chalice"
Grant = tuple[str, str, str]  # (action, resource, condition as JSON)


def _grants(policy: dict[str, Any]) -> set[Grant]:
    grants = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement)
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if isinstance(resources, str) else resources:
                condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
                grants.add((action, resource, condition))
    return grants


_VERSIONED = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:ListBucket": "s3:ListBucketVersions",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
}


def _allowed(stage: Stage, handler: str) -> set[Grant]:
    """The list the issue asks for, per function, spelled out."""
    bucket = f"arn:aws:s3:::{stage.bucket}"
    maps, originals = f"{bucket}/maps/*", f"{bucket}/maps/*/original"
    external = f"{bucket}/maps/*/external/*"
    queue, dlq = f"arn:aws:sqs:*:*:{stage.queue}", f"arn:aws:sqs:*:*:{stage.dead_letter_queue}"
    none = "{}"
    prefixed = json.dumps({"StringLike": {"s3:prefix": "maps/*"}}, sort_keys=True)
    consume = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{stage.function_name(handler)}:*"
    grants = {(a, log_group, none) for a in ("logs:CreateLogStream", "logs:PutLogEvents")}
    # Each function reads only its own database login: the API mapstock_api's (and the JWT
    # key), every event function mapstock_pipeline's.
    own_secrets = {
        "api_handler": ("database", "jwt-signing-key"),
    }.get(handler, ("pipeline-database",))
    for secret in own_secrets:
        arn = f"arn:aws:secretsmanager:*:*:secret:mapstock/{stage.name}/{secret}-??????"
        grants.add(("secretsmanager:GetSecretValue", arn, none))
    per_function: dict[str, set[Grant]] = {
        "api_handler": {
            ("s3:PutObject", originals, none),
            # Presigned POSTs carry the pending-upload tag (the lifecycle rule's filter).
            ("s3:PutObjectTagging", originals, none),
            ("s3:GetObject", maps, none),
            ("s3:DeleteObject", maps, none),
            ("s3:ListBucket", bucket, prefixed),
        },
        "on_upload": {
            ("s3:GetObject", originals, none),
            ("s3:DeleteObjectTagging", originals, none),
            ("s3:GetObject", external, none),
            ("s3:DeleteObject", maps, none),
            # Without ListBucket a missing object answers 403, not 404.
            ("s3:ListBucket", bucket, none),
            ("sqs:SendMessage", queue, none),
            ("sqs:GetQueueUrl", queue, none),
        },
        "on_processing_job": {
            *((a, queue, none) for a in consume),
            # A batch out of time queues its unstarted jobs again (handlers.sqs._defer).
            ("sqs:SendMessage", queue, none),
            ("sqs:SendMessage", f"arn:aws:sqs:*:*:{stage.external_queue}", none),
            ("s3:GetObject", originals, none),
            ("s3:DeleteObjectTagging", originals, none),
            ("s3:GetObject", external, none),
            ("s3:PutObject", f"{bucket}/maps/*/optimized", none),
            ("s3:PutObject", f"{bucket}/maps/*/preview", none),
            ("s3:AbortMultipartUpload", f"{bucket}/maps/*/optimized", none),
            ("s3:DeleteObject", external, none),
            # A job whose map was deleted while it ran removes what it wrote after the DELETE.
            ("s3:DeleteObject", f"{bucket}/maps/*/optimized", none),
            ("s3:DeleteObject", f"{bucket}/maps/*/preview", none),
            ("s3:ListBucket", bucket, none),
        },
        "on_dead_letter": {(a, dlq, none) for a in consume},
        "sweeper": {
            ("s3:DeleteObject", maps, none),
            ("s3:ListBucket", bucket, prefixed),
            ("sqs:SendMessage", queue, none),
            ("sqs:GetQueueUrl", queue, none),
        },
        "orphan_sweeper": {("s3:DeleteObject", maps, none), ("s3:ListBucket", bucket, prefixed)},
    }
    own = per_function[handler]
    if handler in ("api_handler", "on_upload", "sweeper", "orphan_sweeper"):
        # Deleting a map's objects aborts its unfinished multipart uploads too.
        own |= {
            ("s3:AbortMultipartUpload", maps, none),
            ("s3:ListBucketMultipartUploads", bucket, none),
        }
    if handler == "api_handler":
        own |= {("s3:ListMultipartUploadParts", originals, none)}  # resume: the held parts
    # The bucket is versioned (a map is the version it registered): each read, delete, list
    # and untag of map objects comes with its version form, on the same resources.
    versioned = {(_VERSIONED[a], r, c) for a, r, c in own if a in _VERSIONED}
    return grants | own | versioned


def _policy(stage: str, handler: str) -> dict[str, Any]:
    doc = read_config()["stages"][stage]["lambda_functions"][handler]
    policy: dict[str, Any] = json.loads((CHALICE_DIR / doc["iam_policy_file"]).read_text())
    return policy


def _functions() -> list[tuple[str, str]]:
    config = read_config()
    return [(s, h) for s in STAGES for h in config["stages"][s]["lambda_functions"]]


@pytest.mark.parametrize(("stage", "handler"), _functions())
def test_policy_grants_exactly_the_list(stage: str, handler: str) -> None:
    granted = _grants(_policy(stage, handler))
    allowed = _allowed(load_stage(stage), handler)
    assert granted - allowed == set(), "grants beyond the list"
    assert allowed - granted == set(), "the function would miss a permission it needs"


@pytest.mark.parametrize(("stage", "handler"), _functions())
def test_nothing_is_deleted_outside_the_map_prefix(stage: str, handler: str) -> None:
    bucket = load_stage(stage).bucket
    for action, resource, _ in _grants(_policy(stage, handler)):
        assert "*" not in action.split(":")[1] and resource != "*"
        if action.startswith("s3:") and "Delete" in action:
            assert resource.startswith(f"arn:aws:s3:::{bucket}/maps/")


def test_every_deployed_function_has_its_own_policy_file() -> None:
    config = read_config()
    assert config["autogen_policy"] is False
    used = set()
    for stage in STAGES:
        functions = config["stages"][stage]["lambda_functions"]
        assert set(functions) == set(load_stage(stage).functions)
        for handler, settings in functions.items():
            assert (CHALICE_DIR / settings["iam_policy_file"]).is_file(), (stage, handler)
            used.add(settings["iam_policy_file"])
    assert {p.name for p in CHALICE_DIR.glob("policy-*.json")} == used
    assert len(used) == len(_functions())


def test_every_handler_of_the_app_is_configured() -> None:
    import ast

    tree = ast.parse((ROOT / "app.py").read_text())
    # Every decorated function of app.py is a Lambda handler (@app.on_*, @app.schedule, ...).
    handlers = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.decorator_list
    }
    for stage in STAGES:
        assert set(load_stage(stage).functions) == {"api_handler", *handlers}


def test_policy_files_are_plain_json() -> None:
    for path in CHALICE_DIR.glob("policy-*.json"):
        doc = json.loads(path.read_text())
        assert doc["Version"] == "2012-10-17"
        assert all("Sid" in s for s in doc["Statement"]), path.name


@pytest.mark.parametrize("stage", STAGES)
def test_every_secret_of_the_stage_is_read_by_someone_and_removed_by_destroy(stage: str) -> None:
    read = {
        resource.split(":secret:")[1].removesuffix("-??????")
        for handler in read_config()["stages"][stage]["lambda_functions"]
        for action, resource, _ in _grants(_policy(stage, handler))
        if action == "secretsmanager:GetSecretValue"
    }
    # teardown.delete_secrets removes stage.secret_names: nothing a function reads is left.
    assert read == set(load_stage(stage).secret_names)
