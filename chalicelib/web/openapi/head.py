"""HEAD operations in the OpenAPI documents: every GET operation again as HEAD (the app answers
HEAD wherever GET is, chalicelib/web/head.py), with GET's parameters, security and statuses and
no response bodies."""

from __future__ import annotations

from typing import Any


def with_head(paths: dict[str, Any]) -> dict[str, Any]:
    """`paths` with a HEAD operation beside each GET one (in place, returned). Raises nothing."""
    for item in paths.values():
        get = item.get("get")
        if get is not None and "head" not in item:
            item["head"] = head_operation(get)
    return paths


def head_operation(get: dict[str, Any]) -> dict[str, Any]:
    """The HEAD twin of a GET operation: its own operationId, the same statuses and headers, no
    content (a HEAD answer has no body; its Content-Length is the GET body's). Raises nothing."""
    operation = {
        **get,
        "operationId": f"{get['operationId']}Head",
        "description": "GET's status and headers without the body.",
        "responses": {
            status: {key: value for key, value in response.items() if key != "content"}
            for status, response in get["responses"].items()
        },
    }
    if "summary" in get:
        operation["summary"] = f"{get['summary']} (headers only)"
    return operation
