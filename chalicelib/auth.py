"""Passwords (bcrypt), access tokens (PyJWT, HS256) and who is calling."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import bcrypt
import jwt

from chalicelib import errors
from chalicelib.config import get_settings, jwt_secret
from chalicelib.rules import PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES, password_weakness

BCRYPT_ROUNDS = 12
ISSUER = "mapstock"
AUDIENCE = "mapstock-api"
ALGORITHM = "HS256"
# app.users.token_version is a PostgreSQL integer: a claim outside it could never match a user
# (and would make the database refuse the query), so it is an invalid token like any other.
TOKEN_VERSION_MAX = 2**31 - 1
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A real cost-12 hash of a random throwaway password: unknown users are checked against it, so a
# wrong username costs the same time as a wrong password.
DUMMY_HASH = b"$2b$12$WVUClW97wQd.k3W0cyn.5e1GystI/l6OQyRMk789k/./4VfErQ5EW"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the user's id and the token version it was issued with."""

    user_id: str
    token_version: int


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable, or None."""
    if "\x00" in password:
        return "password: must not contain NUL characters."
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        return "password: must be valid Unicode text."
    if size < PASSWORD_MIN_BYTES or size > PASSWORD_MAX_BYTES:
        return f"password: must be {PASSWORD_MIN_BYTES} to {PASSWORD_MAX_BYTES} bytes (UTF-8)."
    return None


def new_password_problem(password: str, username: str) -> str | None:
    """Why `password` cannot be set for `username` (malformed or too easy to guess), or None."""
    return password_problem(password) or password_weakness(password, username)


def hash_new_password(password: str, username: str) -> str:
    """bcrypt hash of a password being set for `username`; raises ApiError 400 when it is
    malformed or too easy to guess (rules.password_weakness)."""
    problem = new_password_problem(password, username)
    if problem:
        raise errors.invalid(problem)
    return hash_password(password)


def hash_password(password: str) -> str:
    """bcrypt hash of an acceptable password; raises ApiError 400 otherwise."""
    problem = password_problem(password)
    if problem:
        raise errors.invalid(problem)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when password matches; always spends one bcrypt check, even for unknown users."""
    usable = password_problem(password) is None and password_hash is not None
    candidate = password.encode("utf-8") if usable else b"not-a-possible-password"
    try:
        ok = bcrypt.checkpw(candidate, password_hash.encode("ascii") if usable else DUMMY_HASH)  # type: ignore[union-attr]
    except ValueError:
        return False
    return ok and usable


def issue_token(user_id: str, token_version: int) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    settings = get_settings()
    now = int(time.time())
    claims = {
        "sub": user_id,
        "ver": token_version,
        "iat": now,
        "exp": now + settings.token_ttl_seconds,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, jwt_secret(), algorithm=ALGORITHM), settings.token_ttl_seconds


def decode_token(token: str) -> Caller:
    """The caller a token names; raises ApiError 401 for anything forged, expired or malformed."""
    try:
        claims = jwt.decode(
            token,
            jwt_secret(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=5,
        )
    except jwt.PyJWTError:
        raise errors.unauthorized("The access token is invalid or expired.") from None
    version = claims.get("ver")
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 0 <= version <= TOKEN_VERSION_MAX
        or not isinstance(claims["sub"], str)
        or not _UUID.match(claims["sub"])
        or claims["iat"] > time.time() + 60
    ):
        raise errors.unauthorized("The access token is invalid or expired.")
    return Caller(user_id=str(claims["sub"]), token_version=version)


def caller_from_header(authorization: str | None) -> Caller | None:
    """None for a guest (no header); the Caller for a valid bearer token; 401 otherwise."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.unauthorized("Authorization must be 'Bearer <access_token>'.")
    return decode_token(token.strip())
