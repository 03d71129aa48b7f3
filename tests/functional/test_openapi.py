"""GET /v1/openapi.json: a valid OpenAPI 3.1 document that names exactly the app's routes."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from tests.conftest import body


def test_document_is_valid_and_matches_the_routes(client):
    from app import app

    response = client.http.get("/v1/openapi.json")
    assert response.status_code == 200
    spec = body(response)
    validate(spec)
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routed = {
        (re.sub(r"\{(\w+)\}", r"{\1}", path), method)
        for path, methods in app.routes.items()
        for method in methods
    }
    assert documented == routed


def test_every_operation_documents_its_error_shape(client):
    spec = body(client.http.get("/v1/openapi.json"))
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
            if path not in ("/v1/openapi.json",):
                assert errors, f"{method} {path} documents no error"
            for code in errors:
                ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error"
