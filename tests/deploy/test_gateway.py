"""Gateway responses: API Gateway's own answers (unknown path, too large, throttled) take the
contract's error shape; applying them twice changes nothing the second time."""

from __future__ import annotations

import json

import boto3
from botocore.stub import ANY, Stubber

from deploy import gateway


def test_templates_are_the_contract_error_document():
    for kind, (_status, code, message) in gateway.RESPONSES.items():
        doc = json.loads(gateway.template(code, message))
        assert set(doc) == {"code", "message", "request_id"}, kind
        assert doc["request_id"] == "$context.requestId"
    assert gateway.RESPONSES["MISSING_AUTHENTICATION_TOKEN"][:2] == ("404", "not_found")


def test_apply_sets_each_response_once_then_nothing(tmp_path):
    client = boto3.client(
        "apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stored = []
    with Stubber(client) as stub:
        stub.add_response(
            "get_gateway_responses", {"items": []}, {"restApiId": "abc123", "limit": 500}
        )
        for kind in gateway.RESPONSES:
            stub.add_response(
                "put_gateway_response",
                {},
                {
                    "restApiId": "abc123",
                    "responseType": kind,
                    "responseParameters": ANY,
                    "responseTemplates": ANY,
                    **({"statusCode": ANY} if gateway.RESPONSES[kind][0] else {}),
                },
            )
            status, code, message = gateway.RESPONSES[kind]
            item = {
                "responseType": kind,
                "defaultResponse": False,
                "responseParameters": gateway.HEADERS,
                "responseTemplates": {"application/json": gateway.template(code, message)},
            }
            if status:
                item["statusCode"] = status
            stored.append(item)
        stub.add_response(
            "create_deployment", {"id": "d1"}, {"restApiId": "abc123", "stageName": "api"}
        )
        assert gateway.apply(client, "abc123", "api") == list(gateway.RESPONSES)
        stub.add_response(
            "get_gateway_responses", {"items": stored}, {"restApiId": "abc123", "limit": 500}
        )
        assert gateway.apply(client, "abc123", "api") == []
        stub.assert_no_pending_responses()


def test_rest_api_id_comes_from_chalice_state(tmp_path):
    assert gateway.rest_api_id(tmp_path, "dev") is None
    (tmp_path / "deployed").mkdir()
    (tmp_path / "deployed" / "dev.json").write_text(
        json.dumps(
            {
                "resources": [
                    {"name": "api_handler", "resource_type": "lambda_function"},
                    {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "abc123"},
                ]
            }
        )
    )
    assert gateway.rest_api_id(tmp_path, "dev") == "abc123"
