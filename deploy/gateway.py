"""API Gateway answers some requests without calling the API (unknown path, body too large,
throttled): its gateway responses are set to the contract's error shape. Idempotent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# type -> (status, code, message); the message may use API Gateway's own text.
RESPONSES: dict[str, tuple[str, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found", "No such route."),
    "RESOURCE_NOT_FOUND": ("404", "not_found", "No such route."),
    "REQUEST_TOO_LARGE": ("413", "too_large", "The request is too large: use a presigned upload."),
    "UNSUPPORTED_MEDIA_TYPE": ("415", "unsupported_media_type", "$context.error.messageString"),
    "THROTTLED": ("429", "too_many_requests", "Too many requests; retry shortly."),
    "QUOTA_EXCEEDED": ("429", "too_many_requests", "Too many requests; retry later."),
    "DEFAULT_4XX": ("", "invalid_request", "$context.error.messageString"),
    "DEFAULT_5XX": ("", "unavailable", "Service temporarily unavailable, retry shortly."),
}
HEADERS = {
    "gatewayresponse.header.X-Request-Id": "context.requestId",
    "gatewayresponse.header.X-Content-Type-Options": "'nosniff'",
}


def template(code: str, message: str) -> str:
    """The mapping template of one response: the contract's error document."""
    # $context values are inserted by API Gateway; message texts here contain no quotes.
    return json.dumps({"code": code, "message": message, "request_id": "$context.requestId"})


def rest_api_id(state_dir: Path, stage: str) -> str | None:
    """The REST API Chalice recorded for the stage (None before the first deploy)."""
    path = state_dir / "deployed" / f"{stage}.json"
    if not path.exists():
        return None
    for resource in json.loads(path.read_text()).get("resources", []):
        if resource.get("resource_type") == "rest_api":
            return str(resource["rest_api_id"])
    return None


def apply(apigw: Any, api_id: str, stage_name: str) -> list[str]:
    """Set every gateway response; redeploy the stage only when one changed."""
    current = {
        item["responseType"]: item
        for item in apigw.get_gateway_responses(restApiId=api_id, limit=500).get("items", [])
    }
    changed = []
    for kind, (status, code, message) in RESPONSES.items():
        wanted: dict[str, Any] = {
            "responseParameters": HEADERS,
            "responseTemplates": {"application/json": template(code, message)},
        }
        if status:
            wanted["statusCode"] = status
        have = current.get(kind, {})
        if all(have.get(k) == v for k, v in wanted.items()) and not have.get("defaultResponse"):
            continue
        apigw.put_gateway_response(restApiId=api_id, responseType=kind, **wanted)
        changed.append(kind)
    if changed:
        apigw.create_deployment(restApiId=api_id, stageName=stage_name)
    return changed
