"""`chalice package --pkg-format terraform` of each stage, as the deploy renders it: it succeeds
offline and holds the expected functions, triggers and settings. (Chalice's CloudFormation
packager refuses on_s3_event, hence Terraform.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy import chalice_project
from deploy.stage import ROOT, load_stage, read_config, render_config

LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:mapstock-processing:7"
OUTPUTS = {
    "ProcessingQueueUrl": "https://sqs.example/123/q",
    "DatabaseSecretArn": "arn:secret:database",
    "PipelineDatabaseSecretArn": "arn:secret:pipeline-database",
    "JwtSecretArn": "arn:secret:jwt",
    "ExternalQueueUrl": "https://sqs.example/123/x",
}


@pytest.fixture(scope="module", params=["dev", "prod"])
def packaged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    stage_name = request.param
    config = render_config(read_config(), stage_name, OUTPUTS, {"processing": LAYER})
    out = tmp_path_factory.mktemp(f"tf-{stage_name}")
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as env:
        # Packaging needs a region name, never a call: nothing leaves the machine.
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        env.delenv("AWS_PROFILE", raising=False)
        with chalice_project.rendered(config, state) as project:
            # Dependencies would be downloaded for Lambda's platform: not what is checked here.
            (project / "requirements.txt").write_text("")
            chalice_project.run(
                chalice_project.command_prefix(None),
                project,
                load_stage(stage_name),
                "package",
                "--pkg-format",
                "terraform",
                str(out),
            )
    assert (out / "deployment.zip").stat().st_size > 0
    yield stage_name, json.loads((out / "chalice.tf.json").read_text())["resource"]


def test_functions_and_their_sizes(packaged: tuple[str, dict[str, Any]]) -> None:
    stage, resources = packaged
    functions = resources["aws_lambda_function"]
    assert set(functions) == set(load_stage(stage).functions)
    api, processor = functions["api_handler"], functions["on_processing_job"]
    assert api["function_name"] == f"mapstock-{stage}"
    assert (api["memory_size"], api["timeout"]) == (1769, 28)
    assert (processor["memory_size"], processor["timeout"]) == (4096, 600)
    assert processor["layers"] == [LAYER]
    assert [name for name, f in functions.items() if f.get("layers")] == ["on_processing_job"]
    assert functions["sweeper"]["reserved_concurrent_executions"] == 1
    assert "reserved_concurrent_executions" not in processor
    for name, function in functions.items():
        env = function["environment"]["variables"]
        # Each function is given only its own role's database login.
        secrets = {k: v for k, v in env.items() if "DATABASE_URL" in k}
        if name == "api_handler":
            assert secrets == {"DATABASE_URL_ARN": OUTPUTS["DatabaseSecretArn"]}
        else:
            assert secrets == {"PIPELINE_DATABASE_URL_ARN": OUTPUTS["PipelineDatabaseSecretArn"]}
        assert env["MAPSTOCK_BUCKET"] == f"mapstock-maps-{stage}"
        assert function["tags"]["stage"] == stage and function["tags"]["app"] == "mapstock"
    assert (
        processor["environment"]["variables"]["EXTERNAL_QUEUE_URL"] == OUTPUTS["ExternalQueueUrl"]
    )


def test_triggers(packaged: tuple[str, dict[str, Any]]) -> None:
    stage, resources = packaged
    (notification,) = resources["aws_s3_bucket_notification"].values()
    assert notification["bucket"] == f"mapstock-maps-{stage}"
    (upload,) = notification["lambda_function"]
    assert upload["filter_prefix"] == "maps/"
    assert upload["events"] == ["s3:ObjectCreated:*"]
    assert "on_upload" in upload["lambda_function_arn"]
    mappings = resources["aws_lambda_event_source_mapping"]
    queues = {
        m["function_name"].split(".")[1]: (m["event_source_arn"].rsplit(":", 1)[1], m["batch_size"])
        for m in mappings.values()
    }
    assert queues == {
        "on_processing_job": (f"mapstock-processing-{stage}", 10),
        "on_dead_letter": (f"mapstock-processing-{stage}-dlq", 10),
    }
    schedules = {
        k: r["schedule_expression"] for k, r in resources["aws_cloudwatch_event_rule"].items()
    }
    assert schedules["sweeper-event"] == "rate(5 minutes)"


def test_roles_carry_the_policy_files_verbatim(packaged: tuple[str, dict[str, Any]]) -> None:
    stage, resources = packaged
    config = read_config()["stages"][stage]["lambda_functions"]
    for handler, settings in config.items():
        policy = json.loads(resources["aws_iam_role_policy"][f"{handler}_role"]["policy"])
        on_disk = json.loads((ROOT / ".chalice" / settings["iam_policy_file"]).read_text())
        assert policy == on_disk, handler
        role = resources["aws_iam_role"][f"{handler}_role"]
        assert role["name"] == f"mapstock-{stage}-{handler}"


def test_package_leaves_the_repository_untouched(packaged: tuple[str, dict[str, Any]]) -> None:
    assert not (ROOT / ".chalice" / "deployments" / "chalice.tf.json").exists()
    assert "{stack:" in (Path(ROOT) / ".chalice" / "config.json").read_text()
