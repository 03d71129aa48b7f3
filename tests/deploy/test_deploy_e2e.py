"""`python -m deploy` end to end against moto + a real PostgreSQL: stack, migrations, layer,
(stand-in) chalice deploy, post-deploy; then a re-run that changes nothing, a JWT rotation and
destroy. Only `chalice deploy|delete` is replaced (tests/deploy/fake_chalice.py)."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from deploy.__main__ import main

FAKE_CHALICE = f"{sys.executable} {Path(__file__).parent / 'fake_chalice.py'}"
STAGE = "dev"
PROCESSOR = "mapstock-dev-on_processing_job"
DEAD_LETTER = "mapstock-dev-on_dead_letter"
FUNCTIONS = ("mapstock-dev", "mapstock-dev-on_upload", PROCESSOR, DEAD_LETTER,
             "mapstock-dev-sweeper", "mapstock-dev-orphan_sweeper")  # fmt: skip


@pytest.fixture
def layer_zip(tmp_path: Path) -> Path:
    archive = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("python/mapstock_layer_probe.py", "PROBE = True\n")
    return archive


def _argv(command: str, database_url: str, state: Path, *extra: str) -> list[str]:
    return [
        command,
        "--stage", STAGE,
        "--chalice", FAKE_CHALICE,
        "--admin-database-url", database_url,
        "--db-sslmode", "disable",
        "--state-dir", str(state),
        *extra,
    ]  # fmt: skip


def _outputs() -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName="mapstock-dev-resources")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}


def _check_resources(outputs: dict[str, str]) -> None:
    sqs = boto3.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=outputs["ProcessingQueueUrl"], AttributeNames=["All"])
    redrive = json.loads(attrs["Attributes"]["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"].endswith(":mapstock-processing-dev-dlq")
    assert int(attrs["Attributes"]["VisibilityTimeout"]) == 6 * 600
    policy = json.loads(boto3.client("s3").get_bucket_policy(Bucket="mapstock-maps-dev")["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix="mapstock-dev-")
    watched = {a["Dimensions"][0]["Value"] for a in alarms["MetricAlarms"]}
    assert watched == {"mapstock-processing-dev-dlq"}
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/mapstock-dev")
    retention = {
        g["logGroupName"].rsplit("/", 1)[1]: g.get("retentionInDays") for g in groups["logGroups"]
    }
    assert retention == dict.fromkeys(FUNCTIONS, 30)


def _check_database(outputs: dict[str, str], api_login: str, pipeline_login: str) -> None:
    from pg8000.native import DatabaseError

    from chalicelib import config, db

    health, sweep_check = "SELECT api.health()", "SELECT pipeline.existing_maps('{}')"
    for output, login, own, other in (
        ("DatabaseSecretArn", api_login, health, sweep_check),
        ("PipelineDatabaseSecretArn", pipeline_login, sweep_check, health),
    ):
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=outputs[output])
        assert json.loads(secret["SecretString"])["username"] == login
        # The URL exactly as a function builds it from the secret (uncached: the test rotates).
        conn = db.connect(config._secret_from_arn.__wrapped__(outputs[output]))
        try:
            assert conn.run("SELECT current_user") == [[login]]
            assert conn.run(own) is not None
            for refused in (other, "SELECT count(*) FROM app.users"):
                with pytest.raises(DatabaseError, match="permission denied"):
                    conn.run(refused)
        finally:
            conn.close()


def _check_functions(outputs: dict[str, str], layer_arn: str) -> None:
    lam = boto3.client("lambda")
    configs = {name: lam.get_function_configuration(FunctionName=name) for name in FUNCTIONS}
    for name, config in configs.items():
        env = config["Environment"]["Variables"]
        databases = {k: v for k, v in env.items() if "DATABASE_URL" in k}
        if name == "mapstock-dev":
            assert databases == {"DATABASE_URL_ARN": outputs["DatabaseSecretArn"]}
        else:
            assert databases == {"PIPELINE_DATABASE_URL_ARN": outputs["PipelineDatabaseSecretArn"]}
        assert env["JWT_SECRET_ARN"] == outputs["JwtSecretArn"]
        assert env["MAPSTOCK_QUEUE_URL"] == outputs["ProcessingQueueUrl"]
        assert not any("{" in value for value in env.values())
    processor = configs.pop(PROCESSOR)
    assert [layer["Arn"] for layer in processor["Layers"]] == [layer_arn]
    external = processor["Environment"]["Variables"]["EXTERNAL_QUEUE_URL"]
    assert external == outputs["ExternalQueueUrl"]
    assert all(not config.get("Layers") for config in configs.values())
    assert configs["mapstock-dev"]["MemorySize"] == 1769


def _check_triggers(outputs: dict[str, str]) -> None:
    lam = boto3.client("lambda")
    for function, queue_arn in ((PROCESSOR, outputs["ProcessingQueueArn"]),
                                (DEAD_LETTER, outputs["DeadLetterQueueArn"])):  # fmt: skip
        (trigger,) = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
        assert trigger["EventSourceArn"] == queue_arn
        assert trigger["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert trigger["BatchSize"] == 10
        assert trigger["ScalingConfig"] == {"MaximumConcurrency": 2}


def _store_directly(bucket: str, key: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(bucket, key, b"map bytes")


def _gone(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError:
        return True
    return False


@pytest.mark.filterwarnings("ignore:Tried to parse AWS..SNS..Subscription")
def test_deploy_is_idempotent_and_destroy_undoes_it(
    aws_env: str, database_url: str, app_role: str, pipeline_role: str, layer_zip: Path,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    state = tmp_path / "chalice-state"
    first = ["--db-user", app_role, "--db-pipeline-user", pipeline_role]
    assert main(_argv("deploy", database_url, state, *first, "--layer-zip", str(layer_zip))) == 0
    outputs = _outputs()
    _check_resources(outputs)
    _check_database(outputs, app_role, pipeline_role)
    layer_arn = boto3.client("lambda").list_layer_versions(LayerName="mapstock-dev-processing")[
        "LayerVersions"
    ][0]["LayerVersionArn"]
    _check_functions(outputs, layer_arn)
    _check_triggers(outputs)
    assert (state / "deployed" / "dev.json").exists()
    out = capsys.readouterr().out
    assert f"FunctionResponseTypes on {PROCESSOR}" in out
    assert f"FunctionResponseTypes on {DEAD_LETTER}" in out

    # Second run: same stack, same layer version, trigger already set, role re-passworded.
    assert main(_argv("deploy", database_url, state, "--layer-zip", str(layer_zip))) == 0
    out = capsys.readouterr().out
    assert "FunctionResponseTypes on" not in out and "ScalingConfig on" not in out
    assert layer_arn.endswith(":1") and f"processing layer {layer_arn}" in out
    assert _outputs() == outputs
    _check_database(outputs, app_role, pipeline_role)

    sm = boto3.client("secretsmanager")
    before = sm.get_secret_value(SecretId=outputs["JwtSecretArn"])["SecretString"]
    assert main(["rotate-jwt", "--stage", STAGE]) == 0
    assert sm.get_secret_value(SecretId=outputs["JwtSecretArn"])["SecretString"] != before
    api = boto3.client("lambda").get_function_configuration(FunctionName="mapstock-dev")
    assert api["Description"].startswith("JWT key rotated")

    # The TLS-only bucket policy refuses moto's plain HTTP; store a map behind its back.
    with pytest.raises(ClientError, match="Forbidden"):
        boto3.client("s3").put_object(Bucket="mapstock-maps-dev", Key="maps/x/original", Body=b"")
    _store_directly("mapstock-maps-dev", "maps/x/original")
    assert main(_argv("destroy", database_url, state)) == 0
    assert not (state / "deployed" / "dev.json").exists()
    assert _gone(boto3.client("s3").head_bucket, Bucket="mapstock-maps-dev")
    assert _gone(boto3.client("sqs").get_queue_url, QueueName="mapstock-processing-dev")
    for secret in ("database", "pipeline-database", "jwt-signing-key"):
        assert _gone(sm.describe_secret, SecretId=f"mapstock/dev/{secret}")
    assert _gone(boto3.client("lambda").get_function, FunctionName="mapstock-dev")
    assert not boto3.client("lambda").list_layer_versions(LayerName="mapstock-dev-processing")[
        "LayerVersions"
    ]
    user = urlsplit(database_url).username
    assert user  # the admin role is untouched: destroy never drops the database
