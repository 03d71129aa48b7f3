"""JSON Schema (OpenAPI 3.1) generated from Field definitions: request bodies, form parts and
query parameters say exactly what the validators (chalicelib/web/fields.py) check."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from chalicelib.web.fields import Field

_NO_CONTROLS = "No control characters"
_MULTILINE = "Newlines and tabs allowed; no other control characters"
_NOTHING_HIDDEN = ", and no bidirectional or invisible format characters"


def json_schema(field: Field) -> dict[str, Any]:
    """The JSON Schema of one Field's values."""
    schema: dict[str, Any]
    if field.kind == "int":
        schema = {"type": "integer", "minimum": field.minimum, "maximum": field.maximum}
    elif field.kind == "bool":
        schema = {"type": "boolean"}
    elif field.kind == "choice":
        schema = {"type": "string", "enum": list(field.choices)}
    else:
        schema = {"type": "string", **_lengths(field)}
        if field.pattern is not None:
            schema["pattern"] = field.pattern
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"].append(None)
    description = " ".join(filter(None, [_about(field), field.description]))
    if description:
        schema["description"] = description
    return schema


def _lengths(field: Field) -> dict[str, int]:
    """minLength/maxLength in characters; a UTF-8 character is 1 to 4 bytes, so byte limits
    bound the characters too."""
    shortest = max(field.min_length, math.ceil(field.min_bytes / 4))
    longest = (
        field.max_length if field.max_bytes is None else min(field.max_length, field.max_bytes)
    )
    return {"minLength": shortest, "maxLength": longest} if shortest else {"maxLength": longest}


def _about(field: Field) -> str:
    """What the validator refuses beyond what JSON Schema can say (control characters)."""
    if field.kind not in ("str", "text") or field.pattern is not None:
        return ""  # a pattern says all there is
    about = _MULTILINE if field.kind == "text" else _NO_CONTROLS
    return about + (_NOTHING_HIDDEN if field.visible else "") + "."


def object_schema(fields: Mapping[str, Field], min_properties: int = 0) -> dict[str, Any]:
    """A JSON object holding these fields and no others."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: json_schema(field) for name, field in fields.items()},
        "additionalProperties": False,
    }
    required = [name for name, field in fields.items() if field.required]
    if required:
        schema["required"] = required
    if min_properties:
        schema["minProperties"] = min_properties
    return schema


def query_parameters(fields: Mapping[str, Field], only_with: str = "") -> list[dict[str, Any]]:
    """Query parameters; `only_with` names the request form they belong to (then none is
    required: the operation's other forms take no query)."""
    parameters = []
    for name, field in fields.items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "schema": json_schema(field)}
        if only_with:
            parameter["description"] = f"Only with {only_with}."
        elif field.required:
            parameter["required"] = True
        parameters.append(parameter)
    return parameters
