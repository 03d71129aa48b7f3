"""Login, tokens (forged, expired, revoked), /me and the admin user routes."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from tests.conftest import PASSWORD, body, login


def test_login_issues_a_working_bearer_token(client, users):
    users.create("alice")
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 200
    doc = body(response)
    assert doc["token_type"] == "Bearer"
    assert 3000 <= doc["expires_in"] <= 3600
    claims = jwt.decode(doc["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub"} <= set(claims)
    assert jwt.get_unverified_header(doc["access_token"])["alg"] == "HS256"
    me = client.http.get("/v1/me", headers={"Authorization": f"Bearer {doc['access_token']}"})
    assert me.status_code == 200
    assert body(me)["username"] == "alice"
    assert body(me)["usage"] == {"maps": 0, "bytes": 0}
    assert body(me)["quota"]["maps"] > 0


def test_login_username_is_case_insensitive(client, users):
    users.create("Bob")
    assert login(client, "bob", PASSWORD).status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(client, users):
    users.create("alice")
    wrong = login(client, "alice", "not the password")
    unknown = login(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in body(r).items() if k != "request_id"}  # noqa: E731
    assert (
        strip(wrong)
        == strip(unknown)
        == {"code": "unauthorized", "message": "Wrong username or password."}
    )
    # Both pay for a full bcrypt check (about 0.2 s at cost 12): no timing oracle.
    started = time.perf_counter()
    login(client, "nobody-here", "x")
    assert time.perf_counter() - started > 0.05


@pytest.mark.parametrize(
    "password",
    ["", "short", "x" * 73, "é" * 37, "x" * 1000, "pass\x00word-long", "\ud800surrogate-pass"],
)
def test_odd_passwords_never_5xx(client, users, password):
    users.create("alice")
    response = client.http.post(
        "/v1/auth/token",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"username": "alice", "password": password}),
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"[]",
        b'{"username": "a"}',
        b'{"username": 1, "password": "x"}',
        b'{"username": "a", "password": "b", "extra": 1}',
        b'{"username": "a", "username": "b"}',
    ],
)
def test_malformed_login_is_400(client, payload):
    response = client.http.post(
        "/v1/auth/token", headers={"Content-Type": "application/json"}, body=payload
    )
    assert response.status_code == 400
    assert body(response)["code"] == "invalid_request"


def _forge(claims, key="a-wrong-key-that-is-long-enough-for-hs256-use", alg="HS256"):
    return jwt.encode(claims, key, algorithm=alg)


def _b64_hs256(claims, key: bytes) -> str:
    # PyJWT refuses PEM keys as HMAC secrets (for this very attack): sign by hand.
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _b64(doc):
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_forged_expired_and_malformed_tokens_are_401(client, users, stack):
    user = users.create("alice")
    now = int(time.time())
    good = {
        "sub": user["id"],
        "ver": user["token_version"],
        "iat": now,
        "exp": now + 600,
        "iss": "mapstock",
        "aud": "mapstock-api",
    }
    secret = stack["JWT_SECRET"]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tokens = {
        "RS256": jwt.encode(good, rsa_key, algorithm="RS256"),
        # RS/HS confusion: HMAC keyed with a public key, as a confused verifier would accept.
        "HS256 keyed with a public key": _b64_hs256(good, public_pem),
        "wrong key": _forge(good),
        "expired": _forge({**good, "iat": now - 7200, "exp": now - 3600}, secret),
        "no exp": _forge({k: v for k, v in good.items() if k != "exp"}, secret),
        "no sub": _forge({k: v for k, v in good.items() if k != "sub"}, secret),
        "no iat": _forge({k: v for k, v in good.items() if k != "iat"}, secret),
        "future iat": _forge({**good, "iat": now + 3600, "exp": now + 7200}, secret),
        "wrong aud": _forge({**good, "aud": "elsewhere"}, secret),
        "wrong iss": _forge({**good, "iss": "elsewhere"}, secret),
        "old version": _forge({**good, "ver": user["token_version"] + 1}, secret),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(good)}.",
        "HS512": _forge(good, secret * 2, "HS512"),
        "garbage": "not.a.token",
        "unknown user": _forge({**good, "sub": "00000000-0000-4000-8000-000000000000"}, secret),
    }
    for name, token in tokens.items():
        response = client.http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert body(response)["code"] == "unauthorized", name
        # An invalid token is never silently a guest, even on public routes.
        assert (
            client.http.get("/v1/maps", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )
    for header in ("Basic YWxpY2U6eA==", "Bearer", "Bearer  ", "token"):
        assert client.http.get("/v1/me", headers={"Authorization": header}).status_code == 401


@pytest.mark.parametrize("ver", [2**31, 2**31 + 1, 2**63, 2**64, -1, -(2**31) - 1, 1.5, "1", None])
def test_a_signed_token_with_a_version_no_user_can_have_is_401(client, users, stack, ver):
    """Signed with the server's own key: a `ver` outside PostgreSQL's integer (or not one) is
    an invalid token, never a database error (was 500: 22003 out of range for integer)."""
    user = users.create("alice")
    now = int(time.time())
    claims = {"sub": user["id"], "ver": ver, "iat": now, "exp": now + 600}
    token = _forge({**claims, "iss": "mapstock", "aud": "mapstock-api"}, stack["JWT_SECRET"])
    auth = {"Authorization": f"Bearer {token}"}
    paths = ["/v1/me", "/v1/maps", f"/v1/maps/{uuid.uuid4()}", "/stac/search"]
    for path in paths:
        response = client.http.get(path, headers=auth)
        assert response.status_code == 401, (path, response.body)
        assert body(response)["code"] == "unauthorized", path
    # The largest version PostgreSQL holds is still a well-formed token: only the user's own
    # version opens the door.
    sql_max = _forge(
        {**claims, "ver": 2**31 - 1, "iss": "mapstock", "aud": "mapstock-api"}, stack["JWT_SECRET"]
    )
    response = client.http.get("/v1/me", headers={"Authorization": f"Bearer {sql_max}"})
    assert (response.status_code, body(response)["message"]) == (
        401,
        "The access token is no longer valid; log in again.",
    )


def test_guest_me_is_401(client):
    response = client.http.get("/v1/me")
    assert response.status_code == 401


def _admin_json(client, users, method, path, doc):
    return getattr(client.http, method)(
        path,
        headers=users.headers("root", **{"Content-Type": "application/json"}),
        body=json.dumps(doc),
    )


def test_admin_creates_and_updates_users(client, users):
    users.create("root", role="admin", days=None)
    created = _admin_json(
        client,
        users,
        "post",
        "/v1/users",
        {"username": "newbie", "password": "long enough pw", "active_until": "2099-01-01"},
    )
    assert created.status_code == 201, created.body
    assert body(created)["username"] == "newbie"
    assert body(created)["active"] is True
    assert "password_hash" not in body(created)
    assert login(client, "newbie", "long enough pw").status_code == 200

    duplicate = _admin_json(
        client, users, "post", "/v1/users", {"username": "NEWBIE", "password": "long enough pw"}
    )
    assert duplicate.status_code == 409
    assert body(duplicate)["code"] == "conflict"

    token = body(login(client, "newbie", "long enough pw"))["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    deactivated = _admin_json(client, users, "patch", "/v1/users/newbie", {"active_until": None})
    assert deactivated.status_code == 200
    assert body(deactivated)["active"] is False
    # Deactivation revokes the tokens issued before it.
    assert client.http.get("/v1/me", headers=bearer).status_code == 401

    changed = _admin_json(
        client, users, "patch", "/v1/users/newbie", {"password": "another long pw"}
    )
    assert changed.status_code == 200
    assert login(client, "newbie", "long enough pw").status_code == 401
    assert login(client, "newbie", "another long pw").status_code == 200
    listed = body(client.http.get("/v1/users", headers=users.headers("root")))["items"]
    assert [u["username"] for u in listed] == ["newbie", "root"]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"username": "x y", "password": "long enough pw"}, "username"),
        ({"username": "ok", "password": "short"}, "password"),
        ({"username": "ok", "password": "x" * 73}, "password"),
        ({"username": "ok", "password": "long enough pw", "role": "god"}, "role"),
        (
            {"username": "ok", "password": "long enough pw", "active_until": "tomorrow"},
            "active_until",
        ),
        ({"username": "ok", "password": "long enough pw", "admin": True}, "admin"),
        ({"username": 5, "password": "long enough pw"}, "username"),
    ],
)
def test_admin_create_user_bad_input(client, users, doc, field):
    users.create("root", role="admin", days=None)
    response = _admin_json(client, users, "post", "/v1/users", doc)
    assert response.status_code == 400
    assert field in body(response)["message"]


WEAK_PASSWORDS = [
    ("password", "too common"),
    ("12345678", "too common"),
    ("Dragon123 ", "too common"),  # case and surrounding spaces do not hide a common one
    ("newbie", "must be 8"),  # the byte length is judged first
    ("NEWBIEnewbie", "contain the username"),
    ("my newbie pass", "contain the username"),
    ("zzzzzzzzzz", "one character repeated"),
    ("123456789012", "run of consecutive"),  # not in the list, found from outside
    ("9876543210987", "run of consecutive"),
    ("OIUYTREWQPOIU", "run of consecutive"),  # a keyboard row, backwards, wrapping
    ("xyzabcdefghi", "run of consecutive"),  # the alphabet wraps round
    ("abcabcabcabc", "short pattern repeated"),
    ("k9!k9!k9!k9!", "short pattern repeated"),
]


@pytest.mark.parametrize("password", ["a long passphrase", "Tr0ub4dor&3", "13579 24680 x"])
def test_passwords_with_no_pattern_pass_the_rule(password):
    from chalicelib.rules import password_weakness

    assert password_weakness(password, "newbie") is None


@pytest.mark.parametrize(("password", "reason"), WEAK_PASSWORDS)
def test_weak_passwords_are_refused_when_created_or_changed(client, users, sql, password, reason):
    users.create("root", role="admin", days=None)
    users.create("newbie")
    before = sql.run("SELECT password_hash FROM app.users WHERE username = 'newbie'")
    # The password is judged before anything else reaches the database (this name is taken).
    created = _admin_json(
        client, users, "post", "/v1/users", {"username": "NewBie", "password": password}
    )
    changed = _admin_json(client, users, "patch", "/v1/users/NEWBIE", {"password": password})
    for response in (created, changed):
        assert response.status_code == 400, response.body
        doc = body(response)
        assert set(doc) == {"code", "message", "request_id"}
        assert doc["code"] == "invalid_request"
        assert doc["message"].startswith("password: ")
        assert reason in doc["message"]
        assert "\n" not in doc["message"]
    assert sql.run("SELECT count(*) FROM app.users")[0][0] == 2
    assert sql.run("SELECT password_hash FROM app.users WHERE username = 'newbie'") == before


def test_a_password_predating_the_strength_rule_still_logs_in(client, users, sql):
    # Only setting a password is judged: an account whose weak password was set before the
    # rule existed can still log in (and then be given a better one).
    from chalicelib.auth import hash_password

    users.create("legacy")
    sql.run(
        "UPDATE app.users SET password_hash = :h WHERE username = 'legacy'",
        h=hash_password("password"),
    )
    assert login(client, "legacy", "password").status_code == 200


def test_members_and_guests_cannot_manage_users(client, users):
    users.create("alice")
    doc = json.dumps({"username": "evil", "password": "long enough pw"})
    as_member = client.http.post(
        "/v1/users",
        headers=users.headers("alice", **{"Content-Type": "application/json"}),
        body=doc,
    )
    assert as_member.status_code == 403
    as_guest = client.http.post("/v1/users", headers={"Content-Type": "application/json"}, body=doc)
    assert as_guest.status_code == 401
    users.create("root", role="admin", days=None)
    assert (
        _admin_json(client, users, "patch", "/v1/users/ghost", {"role": "admin"}).status_code == 404
    )
