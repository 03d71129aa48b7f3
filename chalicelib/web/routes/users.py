"""Admin user management: POST /v1/users, PATCH /v1/users/{username}, GET /v1/users."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import db, errors
from chalicelib.auth import Caller, hash_new_password
from chalicelib.web.caller import caller_args, current_caller
from chalicelib.web.envelope import json_response
from chalicelib.web.fields import check_fields
from chalicelib.web.inputs import NEW_USER, USER_CHANGE, USERNAME
from chalicelib.web.request import json_body

bp = Blueprint(__name__)


def _require_caller() -> Caller:
    caller = current_caller(bp.current_request)
    if caller is None:
        raise errors.unauthorized("Authentication required.")
    return caller


@bp.route("/users", methods=["POST"], content_types=["application/json"])
def create_user() -> Response:
    """Admin: create a member or admin."""
    caller = _require_caller()
    doc = check_fields(json_body(bp.current_request), NEW_USER)
    user = db.call(
        "api.create_user",
        **caller_args(caller),
        p_username=doc["username"],
        p_password_hash=hash_new_password(doc["password"], doc["username"]),
        p_role=doc.get("role"),
        p_active_until=doc.get("active_until"),
    )
    return json_response(user, 201)


@bp.route("/users", methods=["GET"])
def list_users() -> Response:
    """Admin: every user."""
    users = db.call("api.list_users", retry=True, **caller_args(_require_caller()))
    return json_response({"items": users})


@bp.route("/users/{username}", methods=["PATCH"], content_types=["application/json"])
def update_user(username: str) -> Response:
    """Admin: change password, role or subscription (active_until null deactivates)."""
    caller = _require_caller()
    doc = check_fields(json_body(bp.current_request), USER_CHANGE)
    if not doc:
        raise errors.invalid("body: give at least one of password, role, active_until.")
    if len(username) > USERNAME.max_length:  # no such user can exist
        raise errors.not_found("User not found.")
    user = db.call(
        "api.update_user",
        retry=True,
        **caller_args(caller),
        p_username=username,
        p_password_hash=(
            hash_new_password(doc["password"], username) if "password" in doc else None
        ),
        p_role=doc.get("role"),
        p_set_active_until="active_until" in doc,
        p_active_until=doc.get("active_until"),
    )
    return json_response(user)
