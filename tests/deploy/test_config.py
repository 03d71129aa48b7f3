""".chalice/config.json: stages, sizes and the timing ratios that keep SQS, Lambda and the
processing lease consistent; the placeholders it leaves to the deploy."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import DEFAULT_JOB_BUDGET_SECONDS
from chalicelib.pipeline.budget import RECORD_RESERVE_SECONDS
from deploy.stage import (
    DEAD_LETTER,
    PROCESSOR,
    StageError,
    environment,
    function_setting,
    load_stage,
    read_config,
    render_config,
)

STAGES = ("dev", "prod")
API_GATEWAY_TIMEOUT = 29  # REST API integration limit, seconds
FULL_VCPU_MB = 1769  # Lambda gives one full vCPU from here: bcrypt is CPU-bound


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return read_config()


def test_local_stage_and_defaults_are_kept(config: dict[str, Any]) -> None:
    local = config["stages"]["local"]["environment_variables"]
    assert local == {
        "MAPSTOCK_BUCKET": "mapstock-maps-local",
        "MAPSTOCK_QUEUE": "mapstock-processing-local",
    }
    assert config["environment_variables"]["MAX_RECEIVE_COUNT"] == "5"
    assert config["environment_variables"]["MAX_DIRECT_UPLOAD_BYTES"] == "4194304"
    # make run's processor gets the deployed one's time (its jobs' budgets are cut by it).
    local_processor = config["stages"]["local"]["lambda_functions"][PROCESSOR]
    for stage in STAGES:
        deployed = config["stages"][stage]["lambda_functions"][PROCESSOR]
        assert local_processor["lambda_timeout"] == deployed["lambda_timeout"]


@pytest.mark.parametrize("stage", STAGES)
def test_queue_visibility_is_six_times_the_consumer_timeout(stage: str) -> None:
    loaded = load_stage(stage)
    params = loaded.stack_parameters()
    for handler, parameter in ((PROCESSOR, "ProcessingVisibilityTimeout"),
                               (DEAD_LETTER, "DeadLetterVisibilityTimeout")):  # fmt: skip
        assert int(params[parameter]) >= 6 * loaded.functions[handler].timeout
        assert 60 <= int(params[parameter]) <= 43200  # the template's bounds


@pytest.mark.parametrize("stage", STAGES)
def test_processing_lease_and_job_budget_fit_the_processor_timeout(stage: str) -> None:
    config = read_config()
    env = environment(config, stage, PROCESSOR)
    timeout = load_stage(stage, config).functions[PROCESSOR].timeout
    # A lease shorter than a run would let a second worker claim a map mid-run.
    assert int(env["PROCESSING_LEASE_SECONDS"]) >= timeout
    # A job's time budget ends before the function does, leaving time to record its outcome.
    job_budget = int(env.get("JOB_BUDGET_SECONDS", DEFAULT_JOB_BUDGET_SECONDS))
    assert job_budget + RECORD_RESERVE_SECONDS < timeout
    assert load_stage(stage, config).max_receive_count == 5


@pytest.mark.parametrize("stage", STAGES)
def test_function_sizes(stage: str) -> None:
    config = read_config()
    setting = function_setting
    assert setting(config, stage, "api_handler", "lambda_memory_size") >= FULL_VCPU_MB
    assert setting(config, stage, "api_handler", "lambda_timeout") < API_GATEWAY_TIMEOUT
    assert setting(config, stage, PROCESSOR, "lambda_ephemeral_storage") == 10240
    assert setting(config, stage, PROCESSOR, "sqs_maximum_concurrency") >= 2
    # Reserved concurrency below the pollers' would bounce SQS messages into the DLQ.
    assert setting(config, stage, PROCESSOR, "reserved_concurrency") is None
    assert setting(config, stage, "sweeper", "reserved_concurrency") == 1
    assert config["stages"][stage]["tags"] == {"stage": stage}


@pytest.mark.parametrize("stage", STAGES)
def test_placeholders_name_stack_outputs_and_render_away(stage: str) -> None:
    from cfnlint.decode.cfn_yaml import load

    from deploy.stage import TEMPLATE_FILE

    outputs = {k: f"value-of-{k}" for k in load(str(TEMPLATE_FILE))["Outputs"]}
    config = read_config()
    rendered = render_config(config, stage, outputs, {"processing": "arn:layer:1"})
    env = environment(rendered, stage, PROCESSOR)
    assert env["PIPELINE_DATABASE_URL_ARN"] == "value-of-PipelineDatabaseSecretArn"
    assert env["EXTERNAL_QUEUE_URL"] == "value-of-ExternalQueueUrl"
    assert environment(rendered, stage, "api_handler")["DATABASE_URL_ARN"] == (
        "value-of-DatabaseSecretArn"
    )
    assert function_setting(rendered, stage, PROCESSOR, "layers") == ["arn:layer:1"]
    assert "{stack:" not in str(rendered["stages"][stage])
    assert "{stack:" in str(config["stages"][stage])  # the repository's copy is untouched


def test_a_missing_layer_is_dropped_and_an_unknown_output_refused() -> None:
    config = read_config()
    outputs = {"ProcessingQueueUrl": "u", "JwtSecretArn": "j"}
    outputs |= {"DatabaseSecretArn": "d", "PipelineDatabaseSecretArn": "p"}
    with pytest.raises(StageError, match="ExternalQueueUrl"):
        render_config(config, "dev", outputs, {"processing": None})
    outputs["ExternalQueueUrl"] = "x"
    rendered = render_config(config, "dev", outputs, {"processing": None})
    assert function_setting(rendered, "dev", PROCESSOR, "layers") == []


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_is_given_only_its_own_database_login(stage: str) -> None:
    """The API connects as mapstock_api's login, every event function as mapstock_pipeline's:
    each environment names one database secret (its policy lets it read only that one)."""
    config = read_config()
    for handler in config["stages"][stage]["lambda_functions"]:
        env = environment(config, stage, handler)
        named = {k: v for k, v in env.items() if "DATABASE_URL" in k}
        if handler == "api_handler":
            assert named == {"DATABASE_URL_ARN": "{stack:DatabaseSecretArn}"}
        else:
            assert named == {"PIPELINE_DATABASE_URL_ARN": "{stack:PipelineDatabaseSecretArn}"}


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(StageError, match="staging"):
        load_stage("staging")
