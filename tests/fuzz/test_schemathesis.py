"""Schemathesis against the real API over HTTP (`chalice local`, PostgreSQL, moto).

The schema is loaded from GET /v1/openapi.json on the running server. Every other operation
gets FUZZ_EXAMPLES generated cases (positive and negative, plus schemathesis' coverage cases),
sent as a guest, a member, a lapsed member or an admin, naming maps and users that exist, and
each answer is checked: no 5xx, documented status code, content type and body, invalid input
never accepted, auth never ignored. Every case also replays itself with one kind of broken token
(garbage, forged, expired, revoked, ...), which must be a 401 and never a guest's answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.rules import password_weakness
from tests.conftest import BUCKET, GEOJSON, PASSWORD, QUEUE, Users, drain, multipart
from tests.fuzz.conftest import FuzzSummary, LiveApi, fuzz_examples

IDENTITIES = ("guest", "member", "lapsed", "admin")
USERNAMES = {
    "member": "fuzz-member",
    "other": "fuzz-other",
    "lapsed": "fuzz-lapsed",
    "admin": "fuzz-admin",
    "login": "fuzz-login",
    "revoked": "fuzz-revoked",
}
VICTIMS = ("fuzz-victim-0", "fuzz-victim-1", "fuzz-victim-2")
# What POST /v1/users accepts, drawn to be accepted: a username by the pattern, a password of
# 8-72 bytes (the document can bound only its characters) that the strength rule takes, a date
# or nothing for active_until.
NEW_USER = st.fixed_dictionaries(
    {
        "username": st.from_regex(r"\Azz[A-Za-z0-9][A-Za-z0-9._@+-]{0,20}\Z"),
        "password": st.text(
            st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=8, max_size=40
        ),
    },
    optional={"active_until": st.sampled_from([None, "2030-01-01", "2099-12-31T00:00:00Z"])},
).filter(lambda new: password_weakness(new["password"], new["username"]) is None)
JUNK = b"\x00\x01 definitely not a map \xff" * 8
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    negative_data_rejection,
    ignored_auth,
]
# Rejected by the token check alone, before the request is read.
SYNTACTIC_TOKENS = (
    "garbage",
    "empty_bearer",
    "basic_scheme",
    "forged",
    "expired",
    "wrong_audience",
    "alg_none",
)
# Well signed, but naming a user that is gone or a token version that was revoked: only the
# database knows (see test_stale_token_is_401_even_with_a_bad_body below).
STALE_TOKENS = ("unknown_user", "revoked")
# Below this many examples per operation, some success paths (a DELETE of a seeded map, a valid
# PATCH) may simply not come up, and the test that insists on them would be noise.
MIN_BUDGET_FOR_REACH = 100
# The schema is loaded from GET /v1/openapi.json, and schemathesis never fuzzes the operation the
# schema itself came from.
SCHEMA_OPERATION = "GET /v1/openapi.json"


@dataclass
class World:
    """What exists on the server before fuzzing: users, tokens, maps in every state."""

    api: LiveApi
    spec: dict[str, Any]
    conn: Any  # an owner connection, for checking rows afterwards
    tokens: dict[str, str]
    broken_tokens: dict[str, str]
    kept_maps: list[str]  # read, edited, downloaded: never deleted by the fuzzer
    doomed_maps: list[str]  # what DELETE /v1/maps/{id} gets to delete
    sweep_map: str  # ready and public, out of the fuzzer's reach
    upload_maps: list[str]  # awaiting their multipart upload: part URLs, the held parts
    doomed_uploads: list[str]  # what DELETE /v1/maps/{id}/upload gets to abort

    def security(self, method: str, path: str) -> str:
        """'none', 'optional' or 'required', as the document declares it."""
        requirements = self.spec["paths"][path][method.lower()].get("security", [])
        if not any("bearer" in r for r in requirements):
            return "none"
        return "optional" if {} in requirements else "required"

    def operations(self) -> list[str]:
        return [
            f"{method.upper()} {path}"
            for path, item in self.spec["paths"].items()
            for method in item
            if method != "head"  # not fuzzed: see api_schema
        ]


def _http_upload(api: LiveApi, token: str, data: bytes, name: str, **fields: str) -> dict[str, Any]:
    payload, content_type = multipart(fields, (name, data))
    response = requests.post(
        f"{api.url}/v1/maps",
        data=payload,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["map"]  # type: ignore[no-any-return]


def _multipart(api: LiveApi, token: str) -> str:
    """A map awaiting its multipart upload (no part sent); its id."""
    response = requests.post(
        f"{api.url}/v1/maps",
        json={"filename": "ortho.tif", "size": 300_000, "multipart": True},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["map"]["id"])


def _broken_tokens(secret: str, member_id: str, revoked: tuple[str, int]) -> dict[str, str]:
    """Authorization values that must never pass for a caller, nor silently for a guest."""
    now = int(time.time())
    claims = {"sub": member_id, "ver": 1, "iat": now, "exp": now + 600}
    claims |= {"iss": "mapstock", "aud": "mapstock-api"}

    def signed(**changes: Any) -> str:
        return "Bearer " + jwt.encode({**claims, **changes}, secret, "HS256")

    return {
        "garbage": "Bearer not-a-token",
        "empty_bearer": "Bearer",
        "basic_scheme": "Basic ZnV6ei1tZW1iZXI6cGFzc3dvcmQ=",
        "forged": "Bearer " + jwt.encode(claims, "another-secret-" + "x" * 32, "HS256"),
        "expired": signed(iat=now - 7200, exp=now - 3600),
        "wrong_audience": signed(aud="elsewhere"),
        # {"alg":"none"} with the member's claims and no signature.
        "alg_none": "Bearer "
        + jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
        + "."
        + jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
        + ".",
        "unknown_user": signed(sub=str(uuid.uuid4())),
        "revoked": signed(sub=revoked[0], ver=revoked[1]),
    }


def _make_ready(client: Any, s3: Any, sqs: Any, stack: dict[str, str], ids: list[str]) -> None:
    """Deliver the S3 events and the SQS jobs of these uploads to the real handlers."""
    from tests.events import s3_object_created, sqs_event, sqs_record

    for map_id in ids:
        key = f"maps/{map_id}/original"
        size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
        client.lambda_.invoke("on_upload", s3_object_created(BUCKET, key, size))
    messages = drain(sqs, stack["queue_url"])
    records = [sqs_record(m["Body"], QUEUE, 1, m["MessageId"]) for m in messages]
    result = client.lambda_.invoke("on_processing_job", sqs_event(records)).payload
    assert result == {"batchItemFailures": []}


@pytest.fixture(scope="module")
def world(stack: dict[str, str], live_api: LiveApi, password_hash: str) -> Any:
    """Users, tokens and maps made once for the module (the `sql` fixture would truncate them
    before every test, so this uses its own owner connection)."""
    import boto3
    from chalice.test import Client

    from app import app
    from chalicelib import db

    conn = db.connect(stack["ADMIN_DATABASE_URL"])
    conn.run("TRUNCATE app.maps, app.users, app.login_throttle CASCADE")
    users = Users(conn, password_hash)
    for role, name in USERNAMES.items():
        users.create(name, role="admin" if role == "admin" else "member")
    for name in VICTIMS:
        users.create(name)
    # Generated presigned uploads declare up to 5 GiB each: without room the fuzzer would only
    # ever see quota_exceeded, never the success path.
    conn.run("UPDATE app.users SET quota_maps = 1000000, quota_bytes = 1000000000000000")
    tokens = {role: users.token(name) for role, name in USERNAMES.items()}
    s3 = boto3.client("s3", endpoint_url=stack["AWS_ENDPOINT_URL"])
    sqs = boto3.client("sqs", endpoint_url=stack["AWS_ENDPOINT_URL"])
    drain(sqs, stack["queue_url"])

    # Per owner: a ready map of each visibility, a rejected one, one uploaded but not processed
    # and one awaiting its presigned upload.
    kept: list[str] = []
    uploads: list[str] = []
    to_process: list[str] = []
    for owner in ("member", "other", "lapsed"):
        for visibility in ("private", "members", "public"):
            name = f"{owner}-{visibility}.geojson"
            doc = _http_upload(live_api, tokens[owner], GEOJSON, name, visibility=visibility)
            to_process.append(doc["id"])
        rejected = _http_upload(live_api, tokens[owner], JUNK, "junk.tif", visibility="public")
        to_process.append(rejected["id"])
        waiting = _http_upload(live_api, tokens[owner], GEOJSON, "queued.geojson")  # no event
        presigned = requests.post(
            f"{live_api.url}/v1/maps",
            json={"filename": "big.geojson", "size": 123456, "visibility": "members"},
            headers={"Authorization": f"Bearer {tokens[owner]}"},
            timeout=30,
        )
        assert presigned.status_code == 201, presigned.text
        uploads.append(_multipart(live_api, tokens["member"]))
        kept += [waiting["id"], presigned.json()["map"]["id"], uploads[-1]]
    sweep_map = _http_upload(live_api, tokens["other"], GEOJSON, "s.geojson", visibility="public")
    with Client(app, stage_name="local") as client:
        _make_ready(client, s3, sqs, stack, [*to_process, sweep_map["id"]])
    kept += to_process
    statuses = dict(
        conn.run(
            "SELECT status, count(*) FROM app.maps WHERE id = ANY(CAST(:ids AS uuid[])) GROUP BY 1",
            ids=kept,
        )
    )
    assert statuses == {"ready": 9, "rejected": 3, "uploaded": 3, "awaiting_upload": 6}
    assert _map_status(conn, sweep_map["id"]) == "ready"
    doomed = [
        _http_upload(live_api, tokens[owner], GEOJSON, f"doomed-{i}.geojson")["id"]
        for i, owner in enumerate(["member", "other", "admin"] * 10)
    ]
    doomed_uploads = [_multipart(live_api, tokens[owner]) for owner in ["member", "admin"] * 5]
    # A lapsed subscription: the maps stay, the token stays valid (no version bump through SQL).
    conn.run("UPDATE app.users SET active_until = NULL WHERE username = :u", u=USERNAMES["lapsed"])
    revoked = users.get(USERNAMES["revoked"])
    conn.run(
        "UPDATE app.users SET token_version = token_version + 1 WHERE username = :u",
        u=USERNAMES["revoked"],
    )
    broken = _broken_tokens(
        stack["JWT_SECRET"],
        users.get(USERNAMES["member"])["id"],
        (revoked["id"], revoked["token_version"]),
    )
    served = requests.get(f"{live_api.url}/v1/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("application/json")
    yield World(
        live_api,
        served.json(),
        conn,
        tokens,
        broken,
        kept,
        doomed,
        sweep_map["id"],
        uploads,
        doomed_uploads,
    )
    conn.close()


def _map_status(conn: Any, map_id: str) -> str:
    return str(conn.run("SELECT status FROM app.maps WHERE id = :id", id=map_id)[0][0])


def _config() -> schemathesis.Config:
    budget = fuzz_examples()
    seed = {"seed": int(os.environ["FUZZ_SEED"])} if os.environ.get("FUZZ_SEED") else {}
    return schemathesis.Config.from_dict(
        {
            **seed,
            "generation": {
                "mode": "all",
                "max-examples": budget,
                # A hypothesis database would land in the project folder; runs stay independent.
                "database": "none",
                # Auth is chosen per case (guest, member, lapsed, admin); broken values in
                # Authorization are sent deliberately by the replay below.
                "with-security-parameters": False,
            },
            # A request refused as too large (413, documented for POST /v1/maps) is rejected too.
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": [
                        400,
                        401,
                        403,
                        404,
                        405,
                        406,
                        409,
                        413,
                        415,
                        422,
                        428,
                        429,
                    ]
                }
            },
            "phases": {
                "coverage": {
                    "enabled": True,
                    # Methods the app answers 405 when a path lacks them. chalice local's
                    # http.server has no TRACE or QUERY handler (501), and API Gateway answers
                    # both before the app is reached; OPTIONS is every path's CORS preflight
                    # (204 from chalicelib/web/cors.py, tests/functional/test_cors.py).
                    "unexpected-methods": ["GET", "PUT", "POST", "DELETE", "PATCH"],
                },
                "stateful": {"enabled": False},
            },
        }
    )


def _is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


@pytest.fixture(scope="module")
def api_schema(world: World, fuzz_summary: FuzzSummary) -> Any:
    schema = schemathesis.openapi.from_url(f"{world.api.url}/v1/openapi.json", config=_config())
    fuzz_summary.notes.append(f"schemathesis seed {schema.config.seed} (FUZZ_SEED= replays it)")

    def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
        """Half the valid cases name a real map or user, so the fuzzer reaches success paths."""
        if not isinstance(path_parameters, dict):
            return st.just(path_parameters)  # an operation without path parameters
        value = dict(path_parameters)
        # Only valid values are swapped: a negative case must stay negative.
        if _is_uuid(value.get("map_id")):
            deleting = context.operation.method.upper() == "DELETE"
            pool = world.doomed_maps if deleting else world.kept_maps
            if "/upload" in context.operation.path:  # only multipart maps have one
                pool = world.doomed_uploads if deleting else world.upload_maps
                # Most valid ids become one: few identities may manage a given upload.
                swap = st.sampled_from(pool).map(_with(value, "map_id"))
                return st.one_of(st.just(value), swap, swap, swap)
            return st.one_of(st.just(value), st.sampled_from(pool).map(_with(value, "map_id")))
        if isinstance(value.get("username"), str):
            # Victims only: a new password or role for a token holder would revoke its token.
            return st.one_of(st.just(value), st.sampled_from(VICTIMS).map(_with(value, "username")))
        return st.just(value)

    def flatmap_body(context: Any, body: Any) -> Any:
        """Some valid bodies become ones the server can accept (the real login, a well-formed
        new user), so 2xx answers and their schemas are reached too. Only valid bodies are
        swapped: a negative case must stay negative (a swap that overwrote its one bad field,
        e.g. an object for active_until, would be reported as invalid data accepted)."""
        if not isinstance(body, dict) or not _valid_json_body(context.operation, body):
            return st.just(body)
        if context.operation.path == "/v1/auth/token" and len(body) == 2:
            real = {"username": USERNAMES["login"], "password": PASSWORD}
            return st.one_of(st.just(body), st.just(real))
        if context.operation.path == "/v1/users":
            return st.one_of(st.just(body), NEW_USER.map(lambda new: {**body, **new}))
        if context.operation.path.endswith("/upload/parts"):  # part numbers the map has
            return st.one_of(st.just(body), st.just({"part_numbers": [1, 2]}))
        return st.just(body)

    schema.hook(flatmap_path_parameters)
    schema.hook(flatmap_body)
    return schema


def _valid_json_body(operation: Any, body: dict[str, Any]) -> bool:
    """Whether `body` satisfies the operation's application/json request schema."""
    from jsonschema import Draft202012Validator

    from chalicelib.web.openapi.build import document

    spec = document()["paths"][operation.path][operation.method.lower()]
    content = spec.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return False
    return Draft202012Validator(content["application/json"]["schema"]).is_valid(body)


def _with(value: dict[str, Any], name: str) -> Any:
    return lambda real: {**value, name: real}


def _replay_with_broken_token(world: World, case: Any, response: Any, kind: str) -> None:
    """An invalid, expired or forged token is 401, never served and never a guest's answer."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        return  # an invalid path may not reach the operation at all
    probe = case.derive(
        headers={**(case.headers or {}), "Authorization": world.broken_tokens[kind]}
    )
    answer = probe.call()
    body = answer.json() if answer.content else None
    # Routing may answer an unsupported method or media type before any view reads the token;
    # otherwise the token is the first thing checked.
    allowed = {401, response.status_code} if response.status_code in (405, 415) else {401}
    code = body.get("code") if isinstance(body, dict) else None
    assert answer.status_code in allowed and (
        answer.status_code != 401 or code == "unauthorized"
    ), (
        f"{case.operation.label} with a {kind} token: expected {sorted(allowed)}, got "
        f"{answer.status_code} {answer.text[:300]}\n{probe.as_curl_command()}"
    )


# HEAD runs GET's view and drops the body (chalicelib/web/head.py): fuzzing it would repeat
# every GET case for nothing new, and plain `chalice local` (this server, unlike `make run`'s
# devstack/api_server.py) adds a second Content-Length (0) to a HEAD answer.
# tests/functional/test_head.py and tests/e2e/test_local_stack.py hold HEAD to GET's answers.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(method="HEAD")


def _multipart_negative_body(case: Any) -> bool:
    return (
        (case.media_type or "").startswith("multipart/form-data")
        and case.meta is not None
        and case.meta.is_negative_at(ParameterLocation.BODY)
    )


def _pick(case: Any, options: tuple[str, ...], salt: str) -> str:
    """One of options, decided by the case's content: a replay or a shrink step of the same case
    makes the same choice. (Drawing it with `schema.given` would switch off the coverage phase.)"""
    seen = repr((salt, case.path_parameters, case.query, case.body, case.media_type))
    return options[int(hashlib.sha256(seen.encode()).hexdigest(), 16) % len(options)]


@schema.parametrize()
def test_api_conforms_and_rejects_bad_input(
    case: Any, world: World, fuzz_summary: FuzzSummary
) -> None:
    security = world.security(case.operation.method, case.operation.path)
    if security == "none":
        identities: tuple[str, ...] = ("guest",)
    elif "/upload" in case.operation.path:
        # Only an upload's owner (member) or an admin gets past 404 there; other callers and
        # broken tokens on these routes: tests/functional/test_multipart.py and the sweep below.
        identities = (_pick(case, ("member", "admin"), "identity"),)
    elif case.path_parameters or case.query or case.body is not NOT_SET:
        identities = (_pick(case, IDENTITIES, "identity"),)
    else:
        # Nothing to vary but the caller (GET /v1/me, GET /v1/users): hypothesis sends such a
        # case once, so it goes out as every identity.
        identities = IDENTITIES
    checks = CHECKS
    if _multipart_negative_body(case):
        # Every multipart part is text: a "boolean" title arrives as the valid string "true",
        # so schemathesis cannot tell these bodies from valid ones. The other checks still
        # apply; bad parts are covered by tests/functional/test_bad_input.py.
        checks = [c for c in CHECKS if c is not negative_data_rejection]
    for identity in identities:
        _send(case, identity, security, checks, world, fuzz_summary)


def _send(
    case: Any,
    identity: str,
    security: str,
    checks: list[Any],
    world: World,
    fuzz_summary: FuzzSummary,
) -> None:
    label = case.operation.label
    if security == "required" and identity == "guest":
        identity = "admin" if case.operation.path.startswith("/v1/users") else "member"
    headers = {}
    if identity != "guest":
        headers["Authorization"] = f"Bearer {world.tokens[identity]}"
    fuzz_summary.count(label)
    try:
        response = case.call_and_validate(headers=headers, checks=checks)
        if response.status_code < 400:  # 2xx, or the download's 302
            fuzz_summary.succeeded(label)
        # The contract's envelope, on every answer: a request id and nosniff.
        sent = f"{case.method} as {identity} -> {response.status_code}"
        assert response.headers.get("x-request-id"), f"no X-Request-Id ({sent})"
        assert response.headers.get("x-content-type-options") == ["nosniff"], f"no nosniff ({sent})"
        if security != "none":
            broken = _pick(case, SYNTACTIC_TOKENS + STALE_TOKENS, "token" + identity)
            _replay_with_broken_token(world, case, response, broken)
    except Exception as exc:
        fuzz_summary.fail(label, str(exc).strip().splitlines()[0][:160])
        raise


def test_fuzzing_reached_the_success_paths(world: World, fuzz_summary: FuzzSummary) -> None:
    """The fuzz above is only worth something if it got past the 4xx: every operation answered
    2xx at some point, seeded maps were deleted and downloaded."""
    if not fuzz_summary.cases:
        pytest.skip("reads what test_api_conforms_and_rejects_bad_input did; run the module")
    budget = fuzz_examples()
    fuzz_summary.notes.append(
        f"budget: {budget} generated examples per operation + coverage cases; "
        f"{SCHEMA_OPERATION} is where the schema was loaded from, not fuzzed"
    )
    fuzzed = set(world.operations()) - {SCHEMA_OPERATION}
    assert set(fuzz_summary.cases) == fuzzed
    if budget < MIN_BUDGET_FOR_REACH:
        pytest.skip(f"FUZZ_EXAMPLES={budget}: too few cases to insist on every success path")
    # Login succeeds only with the one real credential, which the hook mixes in. Completing a
    # multipart upload succeeds only once every part's bytes are in S3 with the ETags S3 gave
    # them, which no generated request can know: tests/functional/test_multipart.py covers it.
    unreachable = {"POST /v1/maps/{map_id}/upload/complete"}
    assert set(fuzz_summary.reached) >= fuzzed - unreachable, fuzzed - set(fuzz_summary.reached)
    (left,) = world.conn.run(
        "SELECT count(*) FROM app.maps WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=world.doomed_maps,
    )[0]
    assert left < len(world.doomed_maps), "DELETE never succeeded on a seeded map"
    (downloads,) = world.conn.run(
        "SELECT coalesce(sum(download_count), 0) FROM app.maps "
        "WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=world.kept_maps,
    )[0]
    assert downloads > 0, "no download of a seeded ready map succeeded"


def _sweep_requests(world: World) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    """A well-formed request for every secured operation: (method, url path, JSON body)."""
    ready_public = world.sweep_map
    return {
        "GET /v1/me": ("GET", "/v1/me", None),
        "GET /v1/users": ("GET", "/v1/users", None),
        "POST /v1/users": ("POST", "/v1/users", {"username": "zz-sweep", "password": "map room"}),
        "PATCH /v1/users/{username}": ("PATCH", f"/v1/users/{VICTIMS[0]}", {"role": "member"}),
        "GET /v1/maps": ("GET", "/v1/maps", None),
        "POST /v1/maps": ("POST", "/v1/maps", {"filename": "a.geojson", "size": 10}),
        "GET /v1/maps/{map_id}": ("GET", f"/v1/maps/{ready_public}", None),
        "PATCH /v1/maps/{map_id}": ("PATCH", f"/v1/maps/{ready_public}", {"title": "x"}),
        "DELETE /v1/maps/{map_id}": ("DELETE", f"/v1/maps/{ready_public}", None),
        "GET /v1/maps/{map_id}/download": ("GET", f"/v1/maps/{ready_public}/download", None),
        "GET /v1/maps/{map_id}/preview": ("GET", f"/v1/maps/{ready_public}/preview", None),
        "GET /v1/maps/{map_id}/upload": ("GET", f"/v1/maps/{ready_public}/upload", None),
        "DELETE /v1/maps/{map_id}/upload": ("DELETE", f"/v1/maps/{ready_public}/upload", None),
        "POST /v1/maps/{map_id}/upload/parts": (
            "POST",
            f"/v1/maps/{ready_public}/upload/parts",
            {"part_numbers": [1]},
        ),
        "POST /v1/maps/{map_id}/upload/complete": (
            "POST",
            f"/v1/maps/{ready_public}/upload/complete",
            {"parts": [{"part_number": 1, "etag": "x"}]},
        ),
    }


def test_every_broken_token_is_401_on_every_secured_operation(world: World) -> None:
    """The fuzz replays one token kind per case; this sweeps all of them over every secured
    operation with a well-formed request, deterministically. Optional-auth operations answer a
    guest with 200, so a 401 here proves the token was not silently dropped."""
    sweep = _sweep_requests(world)
    secured = {op for op in world.operations() if world.security(*op.split(" ", 1)) != "none"}
    assert set(sweep) == secured, "a new secured operation needs a request in the sweep"
    for label, (method, path, doc) in sweep.items():
        for kind, value in world.broken_tokens.items():
            answer = requests.request(
                method, world.api.url + path, json=doc, headers={"Authorization": value}, timeout=30
            )
            assert answer.status_code == 401, (label, kind, answer.status_code, answer.text)
            assert answer.json()["code"] == "unauthorized", (label, kind, answer.text)
        if world.security(*label.split(" ", 1)) == "optional":
            guest = requests.request(method, world.api.url + path, timeout=30)
            assert guest.status_code in (200, 302), (label, guest.status_code, guest.text)
    assert _map_status(world.conn, world.sweep_map) == "ready", "a broken token deleted it"


# Regressions for bugs the fuzzer found (both fixed in the app).


@pytest.mark.parametrize("form", ["multipart", "json"])
def test_upload_rejects_invalid_query_on_multipart_and_json(world: World, form: str) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['member']}"}
    url = f"{world.api.url}/v1/maps?visibility=bogus"
    if form == "multipart":
        payload, content_type = multipart({}, ("q.geojson", GEOJSON))
        answer = requests.post(
            url, data=payload, headers={**headers, "Content-Type": content_type}, timeout=30
        )
    else:
        doc = {"filename": "q.geojson", "size": 9}
        answer = requests.post(url, json=doc, headers=headers, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert "visibility" in answer.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "doc"),
    [
        ("POST", "/v1/users", {"username": "zz-x", "password": "short"}),
        ("PATCH", f"/v1/users/{VICTIMS[1]}", {"role": "emperor"}),
        ("POST", "/v1/maps", {"filename": "a.geojson", "size": -1}),
        ("PATCH", "/v1/maps/00000000-0000-4000-8000-000000000000", {"title": 5}),
    ],
)
def test_stale_token_is_401_even_with_a_bad_body(
    world: World, method: str, path: str, doc: dict[str, Any]
) -> None:
    for kind in STALE_TOKENS:
        answer = requests.request(
            method,
            world.api.url + path,
            json=doc,
            headers={"Authorization": world.broken_tokens[kind]},
            timeout=30,
        )
        assert answer.status_code == 401, (kind, answer.status_code, answer.text)
