"""One source for each rule. The OpenAPI document states exactly what the validators enforce:
every JSON body and Field-made query string is probed at and past each documented limit
through the real routes. The database's CHECK constraints say what the Field definitions say.
Every error code the service can send is in errors.CODES, the list the document shows. A map
that reaches a final state ends its job in one place (the maps_end_job trigger)."""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import ROOT, body

# Every JSON body is judged by Field definitions (the `site` fixture holds a valid request of
# each) but these: the multipart upload's part lists are judged against the upload itself (its
# part count, the parts S3 holds), not Field rules: chalicelib/web/routes/multipart.py checks
# them and tests/functional/test_multipart.py tests that.
NOT_FIELD_BODIES = {"uploadPartUrls", "completeUpload"}
# The operations whose query strings are made from Field definitions.
FIELD_QUERIES = {"browseMaps", "downloadMap", "previewMap", "createMap"}
# Valid values beyond letters (a date, a cursor, me-or-a-username, four numbers).
GOOD = {
    "active_until": ["2030-01-01", "2099-12-31T00:00:00Z"],
    "cursor": [
        "WyIyMDI0LTAxLTAxVDAwOjAwOjAwWiIsIjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJd"
    ],
    "owner": ["me", "alice", "a.b@c+d-e_f"],
    "bbox": ["0,0,1,1", "-1.5,.5,2.,3", "-180,-90,180,90"],
    # At the byte limits (8 and 72): the strength rule refuses the one-character fillers.
    "password": ["map room", "\U0001f5fa\U0001f600", "tall pines " * 6 + "by the"],
}
# Values whose grammar the schema can state only in words (its description): no letters pass,
# or no valid value reaches the length cap, or (password) no one-character filler is strong
# enough, so they are probed with GOOD values alone.
GRAMMAR = {"active_until", "cursor", "password"}
# Values that must fail any of the document's patterns.
OFF_PATTERN = ["-a", "a b", "é", "a/b", "g" * 64, "1,2,3", "a,b,c,d", "1e5,0,1,1", " 1,0,1,1"]
# Fillers for a length: 1 byte and 4 bytes a character (byte limits bound characters).
FILLERS = ("a", "\U0001f600", "0", "A")


@pytest.fixture
def site(client, users, monkeypatch):
    """Callers, one user to change, and each operation's valid request: operationId ->
    (method, path, headers, a valid JSON body or query)."""
    from chalicelib import auth

    # Many users are made below; bcrypt's cost is not what is under test.
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    users.create("root", role="admin", days=None)
    users.create("alice")
    users.create("target")
    admin, member = users.headers("root"), users.headers("alice")
    nowhere = f"/v1/maps/{uuid.uuid4()}"  # valid requests end 404: the validator let them by
    bodies = {
        "createToken": ("POST", "/v1/auth/token", {}, {"username": "nobody", "password": "pw"}),
        "createUser": ("POST", "/v1/users", admin, {"username": "u1", "password": "long pw 1"}),
        "updateUser": ("PATCH", "/v1/users/target", admin, {"role": "member"}),
        "createMap": ("POST", "/v1/maps", member, {"filename": "map.tif", "size": 10}),
        "updateMap": ("PATCH", nowhere, member, {"title": "A map"}),
    }
    queries = {
        "browseMaps": ("GET", "/v1/maps", member, {}),
        "downloadMap": ("GET", f"{nowhere}/download", member, {}),
        "previewMap": ("GET", f"{nowhere}/preview", member, {}),
        "createMap": ("POST", "/v1/maps", member, {"filename": "map.tif"}),
    }
    return {"client": client, "bodies": bodies, "queries": queries}


def _spec(client) -> dict[str, Any]:
    return body(client.http.get("/v1/openapi.json"))


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in spec["paths"].values():
        for operation in item.values():
            yield operation["operationId"], operation


def _json_bodies(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op_id: operation["requestBody"]["content"]["application/json"]["schema"]
        for op_id, operation in _operations(spec)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    }


def _send_json(site, op_id: str, doc: dict[str, Any]) -> Any:
    method, path, headers, _ = site["bodies"][op_id]
    return site["client"].http.request(
        method,
        path,
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps(doc, ensure_ascii=False).encode(),
    )


def _send_query(site, op_id: str, params: dict[str, Any]) -> Any:
    method, path, headers, _ = site["queries"][op_id]
    if op_id == "createMap":  # the query of a raw-body upload
        headers = {**headers, "Content-Type": "application/octet-stream"}
        return site["client"].http.post(
            f"{path}?{urlencode(params)}", headers=headers, body=b"x" * 10
        )
    return site["client"].http.request(method, f"{path}?{urlencode(params)}", headers=headers)


def _fill(length: int) -> list[str]:
    return [filler * length for filler in FILLERS] if length >= 0 else []


def _fits(schema: dict[str, Any], value: str) -> bool:
    """Whether a string is valid by the schema's own words."""
    return (
        schema.get("minLength", 0) <= len(value) <= schema["maxLength"]
        and re.search(schema.get("pattern", ""), value) is not None
    )


def _probes(
    name: str, schema: dict[str, Any], text: bool = False
) -> Iterator[tuple[str, list[Any], str]]:
    """(what, values, expected) for one property at and past its documented limits: "each"
    value passes the validator, "some" value does (byte limits bound characters only loosely),
    or "none" does (each is refused naming the property). `text`: a query string's values."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not text:
        yield "null", [None], "each" if "null" in types else "none"
    if "enum" in schema:
        yield "enum", [v for v in schema["enum"] if v is not None], "each"
        yield "not in enum", ["zz-none-of-these", 7], "none"
    elif "integer" in types:
        low, high = schema["minimum"], schema["maximum"]
        yield "minimum and maximum", [low, high], "each"
        yield (
            "past the limits",
            [low - 1, high + 1, 1.5] + ([] if text else [True, str(low)]),
            "none",
        )
    elif "boolean" in types:
        yield "booleans", [True, False], "each"
        yield "not a boolean", ["true", 1], "none"
    else:
        if not text:
            yield "not a string", [7, ["a"]], "none"
        low, high = schema.get("minLength", 0), schema["maxLength"]
        if name in GOOD:
            yield "valid", [v for v in GOOD[name] if _fits(schema, v)], "each"
        if name not in GRAMMAR:
            for limit, length in (("minLength", low), ("maxLength", high)):
                values = [v for v in _fill(length) if _fits(schema, v)]
                if values or "pattern" not in schema:  # else the pattern binds, not the length
                    yield limit, values, "some"
        yield "past the lengths", _fill(low - 1) + _fill(high + 1), "none"
        if "pattern" in schema:
            yield "matches", [v for v in _fill(1) if _fits(schema, v)], "each"
            off = [v for v in OFF_PATTERN if low <= len(v) <= high and not _fits(schema, v)]
            yield "off the pattern", off, "none"


def _refused(response: Any, name: str) -> bool:
    """A 400 naming the property (raw uploads say "query title: ...")."""
    return response.status_code == 400 and body(response)["message"].startswith(
        (f"{name}:", f"query {name}:")
    )


def _judge(send, base: dict[str, Any], name: str, schema: dict[str, Any], text=False) -> list[str]:
    """Where the validator differs from what the schema says, for one property."""
    wrong = []
    for what, values, expected in _probes(name, schema, text):
        outcomes = [(value, send({**base, name: value})) for value in values]
        passed = [value for value, response in outcomes if response.status_code != 400]
        if expected == "each" and len(passed) != len(outcomes):
            wrong.append(f"{name} {what}: refused {[_short(v) for v, _ in outcomes]}")
        if expected == "some" and not passed:
            wrong.append(f"{name} {what}: refused each of {[_short(v) for v, _ in outcomes]}")
        if expected == "none":
            wrong += [
                f"{name} {what}: {_short(value)} got {response.status_code}"
                for value, response in outcomes
                if not _refused(response, name)
            ]
    return wrong


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else f"{text[:20]}…({len(value)})"


def test_every_json_body_is_documented_as_its_fields_judge_it(site):
    schemas = _json_bodies(_spec(site["client"]))
    assert set(schemas) == set(site["bodies"]) | NOT_FIELD_BODIES
    wrong: list[str] = []
    for op_id, (_, _, _, base) in site["bodies"].items():
        schema = schemas[op_id]

        def send(doc, op_id=op_id):
            return _send_json(site, op_id, doc)

        assert send(base).status_code != 400, (op_id, body(send(base)))
        assert schema["additionalProperties"] is False, op_id
        if not _refused(send({**base, "zz_unknown": 1}), "zz_unknown"):
            wrong.append(f"{op_id}: an unknown property passed")
        for name in schema.get("required", []):
            if not _refused(send({k: v for k, v in base.items() if k != name}), name):
                wrong.append(f"{op_id}: {name} is required, yet its absence passed")
        if schema.get("minProperties") and send({}).status_code != 400:
            wrong.append(f"{op_id}: an empty body passed")
        for name, prop in schema["properties"].items():
            wrong += [f"{op_id}: {w}" for w in _judge(send, base, name, prop)]
    assert wrong == []


def test_every_field_made_query_string_is_documented_as_its_fields_judge_it(site):
    wrong: list[str] = []
    for op_id, operation in _operations(_spec(site["client"])):
        if op_id not in FIELD_QUERIES:
            continue
        base = site["queries"][op_id][3]

        def send(params, op_id=op_id):
            as_text = {
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()
            }
            return _send_query(site, op_id, as_text)

        assert send(base).status_code != 400, (op_id, body(send(base)))
        for parameter in operation["parameters"]:
            if parameter["in"] == "query":
                name, schema = parameter["name"], parameter["schema"]
                wrong += [f"{op_id}: {w}" for w in _judge(send, base, name, schema, text=True)]
    assert wrong == []


def test_each_json_body_is_judged_by_the_fields_its_schema_was_made_from(site, monkeypatch):
    """The routes validate with the very Field definitions the document was generated from."""
    from chalicelib.web import fields, routes
    from chalicelib.web.openapi.fields import object_schema

    seen: list[tuple[dict[str, Any], Any]] = []
    real = fields.check_fields

    def spy(doc, definitions, *args, **kwargs):
        seen.append((dict(doc), definitions))
        return real(doc, definitions, *args, **kwargs)

    for module in vars(routes).values():
        if hasattr(module, "check_fields"):
            monkeypatch.setattr(module, "check_fields", spy)
    schemas = _json_bodies(_spec(site["client"]))
    for op_id, (_, _, _, base) in site["bodies"].items():
        seen.clear()
        _send_json(site, op_id, base)
        judged = [definitions for doc, definitions in seen if doc == base]
        assert len(judged) == 1, op_id
        made = object_schema(judged[0], min_properties=schemas[op_id].get("minProperties", 0))
        assert schemas[op_id] == made, op_id


def _checks(sql, table: str) -> dict[str, list[str]]:
    """column -> the CHECK constraint texts that name it."""
    rows = sql.run(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'c' AND conrelid = CAST(:t AS regclass)",
        t=table,
    )
    by_column: dict[str, list[str]] = {}
    for (text,) in rows:
        for column in set(re.findall(r"\(+(?:length\()?(\w+)\)? (?:~|=|>=|<=|>) ", text)):
            by_column.setdefault(column, []).append(text)
    return by_column


def _rule(texts: list[str]) -> dict[str, Any]:
    """What the CHECK constraints on one column say: pattern, enum, length bounds."""
    text = " ".join(texts)
    rule: dict[str, Any] = {}
    if m := re.search(r" ~ '((?:[^']|'')*)'::text", text):
        rule["pattern"] = m.group(1).replace("''", "'")
    if m := re.search(r"= ANY \(ARRAY\[(.*?)\]\)", text):
        rule["enum"] = tuple(re.findall(r"'((?:[^']|'')*)'::text", m.group(1)))
    if m := re.search(r"length\(\w+\) >= (\d+)", text):
        rule["min_length"] = int(m.group(1))
    if m := re.search(r"length\(\w+\) <= (\d+)", text):
        rule["max_length"] = int(m.group(1))
    return rule


def test_the_database_constraints_say_what_the_fields_say(sql):
    from chalicelib import rules
    from chalicelib.web import inputs

    users, maps = _checks(sql, "app.users"), _checks(sql, "app.maps")
    assert _rule(users["username"]) == {"pattern": inputs.USERNAME.pattern}
    assert _rule(users["role"]) == {"enum": inputs.ROLE.choices}
    assert _rule(maps["title"]) == {
        "min_length": inputs.TITLE.min_length,
        "max_length": inputs.TITLE.max_length,
    }
    assert _rule(maps["description"]) == {"max_length": inputs.DESCRIPTION.max_length}
    assert _rule(maps["filename"]) == {
        "min_length": inputs.FILENAME.min_length,
        "max_length": inputs.FILENAME.max_length,
    }
    assert _rule(maps["visibility"]) == {"enum": inputs.VISIBILITY.choices}
    assert _rule(maps["visibility"])["enum"] == inputs.BROWSE_QUERY["visibility"].choices
    assert _rule(maps["status"]) == {"enum": inputs.BROWSE_QUERY["status"].choices}
    for column in ("sha256", "declared_sha256", "variant_sha256"):
        assert _rule(maps[column]) == {"pattern": rules.SHA256_PATTERN}, column
    # What clients may send is the stored form in either case.
    assert inputs.SHA256.pattern == rules.SHA256_PATTERN.replace("a-f", "a-fA-F")
    stored = re.findall(r"'(\w+)'::text", " ".join(maps["part_checksum"]))
    assert tuple(stored) == inputs.PRESIGNED_UPLOAD["checksum_algorithm"].choices


@pytest.mark.parametrize(
    ("username", "role"), [("bad name", "member"), ("-dash", "member"), ("fine", "emperor")]
)
def test_the_database_still_refuses_what_the_validators_refuse(sql, password_hash, username, role):
    from pg8000.exceptions import DatabaseError

    with pytest.raises(DatabaseError) as refused:
        sql.run("SELECT ops.create_user(:u, :h, :r, NULL)", u=username, h=password_hash, r=role)
    assert refused.value.args[0]["C"] == "23514"  # check_violation: a 400 invalid_request
    assert sql.run("SELECT count(*) FROM app.users")[0][0] == 0


def _emitted_codes() -> set[tuple[int | None, str]]:
    """(status or None, code) of every error the service's code can answer with."""
    from chalicelib import errors
    from chalicelib.web import envelope
    from deploy import gateway

    found: set[tuple[int | None, str]] = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            status, code = node.args[0], node.args[1]
            if name in ("ApiError", "error_response") and isinstance(code, ast.Constant):
                number = status.value if isinstance(status, ast.Constant) else None
                found.add((number, code.value))
    found |= {(None, code) for code in errors.SQLSTATE_ERRORS.values()}
    found |= set(envelope._CHALICE_CODES.items())
    found |= {(int(s) if s else None, code) for s, code, _ in gateway.RESPONSES.values()}
    return found


def test_error_codes_come_from_one_list():
    from chalicelib import errors
    from chalicelib.web.openapi.build import SCHEMAS

    assert SCHEMAS["Error"]["properties"]["code"]["enum"] == list(errors.CODES)
    emitted = _emitted_codes()
    assert {code for _, code in emitted} == set(errors.CODES)  # none unlisted, none unused
    for status, code in emitted:
        assert status in (None, errors.CODES[code]), (status, code)
    # Every SQLSTATE a stored function raises is one the table maps.
    raised = set()
    for path in (ROOT / "sql").rglob("*.sql"):
        raised |= set(re.findall(r"app\.raise\('(\w+)'", path.read_text(encoding="utf-8")))
    assert raised and raised <= set(errors.SQLSTATE_ERRORS)


def test_the_names_other_parts_keep_are_the_rules_names():
    from chalicelib import rules
    from chalicelib.formats import raster, xmlgeo
    from chalicelib.previews.render import RENDERERS
    from chalicelib.web.stac.documents import COLLECTIONS
    from mapstock_client import cli

    assert set(RENDERERS) == set(rules.FORMATS)  # each format has a preview renderer
    assert set(COLLECTIONS) <= set(rules.FORMATS)
    assert set(raster._MEDIA) | set(xmlgeo.MEDIA_TYPES) <= set(rules.FORMATS)
    literal = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            named = isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Inspection"
            if named and node.args and isinstance(node.args[0], ast.Constant):
                literal.add(node.args[0].value)
    assert literal and literal <= set(rules.FORMATS)
    assert cli.VISIBILITIES == rules.VISIBILITIES  # the client may not import the service


def _processing_map(sql, users) -> str:
    owner = users.create("owner")["id"]
    map_id = str(uuid.uuid4())
    sql.run(
        "INSERT INTO app.maps (id, owner_id, title, filename, status, declared_size, object_key,"
        " stage, progress, lease_token, lease_until, external_deadline, error_code) "
        "VALUES (:id, :o, 't', 'f.tif', 'processing', 1, :k, 'external', 40, gen_random_uuid(),"
        " now() + interval '1 minute', now() + interval '1 hour', 'old')",
        id=map_id,
        o=owner,
        k=f"maps/{map_id}/original",
    )
    return map_id


def _job(sql, map_id: str) -> list[Any]:
    """The columns a job writes, and the error."""
    return sql.run(
        "SELECT stage, lease_token, lease_until, external_deadline, processed_at IS NOT NULL, "
        "progress, error_code FROM app.maps WHERE id = :id",
        id=map_id,
    )[0]


@pytest.mark.parametrize(
    ("status", "progress", "error"),
    [("ready", 100, None), ("rejected", 40, "old"), ("failed", 40, "old")],
)
def test_reaching_a_final_state_ends_the_job(sql, users, status, progress, error):
    map_id = _processing_map(sql, users)
    sql.run("UPDATE app.maps SET status = :s WHERE id = :id", s=status, id=map_id)
    assert _job(sql, map_id) == [None, None, None, None, True, progress, error]


def test_other_status_changes_keep_the_job(sql, users):
    map_id = _processing_map(sql, users)
    sql.run("UPDATE app.maps SET status = 'uploaded' WHERE id = :id", id=map_id)
    stage, lease, _, deadline, processed, progress, _ = _job(sql, map_id)
    assert (stage, processed, progress) == ("external", False, 40)
    assert lease is not None and deadline is not None


def test_no_pipeline_function_ends_a_job_by_itself(sql):
    """The end-of-job columns are written in one place: app.end_job."""
    copies = sql.run(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname IN ('api', 'pipeline', 'ops', 'app') AND p.proname <> 'end_job' "
        "AND p.prosrc ~ :copy",
        copy=r"(processed_at|external_deadline) = (now\(\)|NULL)\s*(,|WHERE)",
    )
    assert copies == []
