"""infra/resources.yaml: cfn-lint clean, and the properties the issue asks for are there."""

from __future__ import annotations

import re
from typing import Any

import pytest

from deploy.stage import TEMPLATE_FILE, load_stage


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode.cfn_yaml import load

    loaded: dict[str, Any] = load(str(TEMPLATE_FILE))
    return loaded


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_reports_nothing() -> None:
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE_FILE)
    assert [str(m) for m in matches] == []


def test_bucket_is_private_encrypted_retained_and_tls_only(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["MapsBucket"]
    props = bucket["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # Versioned, so a map is the version it registered; what a delete leaves is expired.
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    noncurrent = rules["remove-noncurrent-versions"]
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert noncurrent["ExpiredObjectDeleteMarker"] is True
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    (statement,) = template["Resources"]["MapsBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_bucket_cors_allows_browser_presigned_post(template: dict[str, Any]) -> None:
    (rule,) = template["Resources"]["MapsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert "POST" in rule["AllowedMethods"]
    assert rule["AllowedOrigins"] == {"Ref": "CorsAllowedOrigins"}


def test_lifecycle_drops_abandoned_and_incomplete_uploads(template: dict[str, Any]) -> None:
    rules = {
        r["Id"]: r
        for r in template["Resources"]["MapsBucket"]["Properties"]["LifecycleConfiguration"][
            "Rules"
        ]
    }
    multipart = rules["abort-incomplete-multipart-uploads"]
    assert multipart["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    abandoned = rules["expire-abandoned-uploads"]
    assert abandoned["Prefix"] == "maps/"
    assert abandoned["TagFilters"] == [{"Key": "mapstock-upload", "Value": "pending"}]
    assert all(r["Status"] == "Enabled" for r in rules.values())


def test_processing_queue_redrives_to_its_dlq_after_five(template: dict[str, Any]) -> None:
    queue = template["Resources"]["ProcessingQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["ProcessingDeadLetterQueue", "Arn"]
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 5
    assert queue["VisibilityTimeout"] == {"Ref": "ProcessingVisibilityTimeout"}
    dlq = template["Resources"]["ProcessingDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert "ExternalQueue" in _of_type(template, "AWS::SQS::Queue")


def test_alarms_watch_the_dead_letter_queue_and_notify(template: dict[str, Any]) -> None:
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 2
    for alarm in alarms.values():
        (dimension,) = alarm["Properties"]["Dimensions"]
        assert dimension["Value"] == {"Fn::GetAtt": ["ProcessingDeadLetterQueue", "QueueName"]}
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_secrets_are_generated_never_given(template: dict[str, Any]) -> None:
    secrets = _of_type(template, "AWS::SecretsManager::Secret")
    assert set(secrets) == {"JwtSecret", "DatabaseSecret", "PipelineDatabaseSecret"}
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]
        assert secret["Properties"]["GenerateSecretString"]["ExcludePunctuation"] is True
    assert not [p for p, v in template["Parameters"].items() if "assword" in p or v.get("NoEcho")]


def test_every_function_has_a_log_group_with_retention(template: dict[str, Any]) -> None:
    stage = load_stage("dev")
    groups = {
        g["Properties"]["LogGroupName"]["Fn::Sub"].replace("${Stage}", "dev")
        for g in _of_type(template, "AWS::Logs::LogGroup").values()
    }
    assert groups == {f"/aws/lambda/{stage.function_name(h)}" for h in stage.functions}


def test_the_api_and_the_pipeline_have_their_own_database_login(template: dict[str, Any]) -> None:
    secrets = _of_type(template, "AWS::SecretsManager::Secret")
    users = {}
    for name in ("DatabaseSecret", "PipelineDatabaseSecret"):
        spec = secrets[name]["Properties"]["GenerateSecretString"]
        assert spec["GenerateStringKey"] == "password"
        users[name] = re.search(
            r'"username": "\$\{(\w+)\}"', spec["SecretStringTemplate"]["Fn::Sub"]
        )[1]
    assert users == {
        "DatabaseSecret": "DatabaseUser",
        "PipelineDatabaseSecret": "PipelineDatabaseUser",
    }
    defaults = {template["Parameters"][p]["Default"] for p in users.values()}
    assert len(defaults) == 2  # two logins, never one holding both roles
    outputs = template["Outputs"]
    assert outputs["PipelineDatabaseSecretArn"]["Value"] == {"Ref": "PipelineDatabaseSecret"}
    assert outputs["DatabaseSecretArn"]["Value"] == {"Ref": "DatabaseSecret"}
