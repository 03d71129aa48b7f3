"""POST /v1/auth/token and GET /v1/me."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import db, errors
from chalicelib.auth import issue_token, verify_password
from chalicelib.config import get_settings
from chalicelib.web.caller import caller_args, client_ip, current_caller
from chalicelib.web.envelope import json_response
from chalicelib.web.fields import check_fields
from chalicelib.web.inputs import LOGIN
from chalicelib.web.request import json_body

bp = Blueprint(__name__)


@bp.route("/auth/token", methods=["POST"], content_types=["application/json"])
def create_token() -> Response:
    """Exchange username + password for an access token; 401 for any wrong credential."""
    request = bp.current_request
    doc = check_fields(json_body(request), LOGIN)
    username, password = doc["username"], doc["password"]
    settings = get_settings()
    lookup = db.call(
        "api.login_lookup",
        p_username=username if _plausible(username) else None,
        p_client_ip=client_ip(request),
        p_window_seconds=settings.login_window_seconds,
        p_max_per_account_ip=settings.login_max_per_account_ip,
        p_max_per_ip=settings.login_max_per_ip,
    )
    if lookup["retry_after"]:
        wait = int(lookup["retry_after"])
        raise errors.ApiError(
            429,
            "too_many_requests",
            f"Too many failed login attempts; retry in {_duration(wait)}.",
            {"Retry-After": str(wait)},
        )
    found = lookup["user"]
    # The bcrypt check runs for unknown users too (against a dummy hash): equal time, equal answer.
    ok = verify_password(password, found["password_hash"] if found else None)
    if not ok or not found:
        raise errors.unauthorized("Wrong username or password.")
    db.call("api.login_succeeded", p_username=username, p_client_ip=client_ip(request))
    token, expires_in = issue_token(str(found["id"]), int(found["token_version"]))
    return json_response({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def _duration(seconds: int) -> str:
    """'45 seconds' or '3 minutes' (rounded up): what a person waits for."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{-(-seconds // 60)} minutes"


def _plausible(username: str) -> bool:
    """A name worth looking up (others cannot exist, and must not reach the database)."""
    if not username or not username.isprintable():
        return False
    try:
        username.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@bp.route("/me", methods=["GET"])
def me() -> Response:
    """The caller's account, usage and quota."""
    caller = current_caller(bp.current_request)
    if caller is None:
        raise errors.unauthorized("Authentication required.")
    settings = get_settings()
    doc = db.call(
        "api.me",
        retry=True,
        **caller_args(caller),
        p_default_quota_maps=settings.default_quota_maps,
        p_default_quota_bytes=settings.default_quota_bytes,
    )
    return json_response(doc)
