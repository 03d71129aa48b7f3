"""Who is calling: the bearer token's member (or a guest), and the client address."""

from __future__ import annotations

from typing import Any

from chalice.app import Request

from chalicelib.auth import Caller, caller_from_header


def current_caller(request: Request) -> Caller | None:
    """The caller of this request (None for a guest); raises ApiError 401 for a bad token."""
    return caller_from_header(request.headers.get("authorization"))


def client_ip(request: Request) -> str | None:
    """The client address API Gateway saw (never a client-supplied header)."""
    identity = (request.context or {}).get("identity") or {}
    source = identity.get("sourceIp")
    return str(source)[:64] if source else None


def caller_args(caller: Caller | None) -> dict[str, Any]:
    """The (p_caller, p_token_version) pair every api.* function takes."""
    if caller is None:
        return {"p_caller": None, "p_token_version": None}
    return {"p_caller": caller.user_id, "p_token_version": caller.token_version}
