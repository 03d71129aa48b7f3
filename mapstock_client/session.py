"""The caller's login: the stored token, refused here when it has expired, and checked with the
server before an upload sends any byte."""

from __future__ import annotations

from mapstock_client import config
from mapstock_client.api import Api, ApiError, ClientError, joined

LOG_IN_FIRST = "unauthorized: Log in first: mapstock login USERNAME"
SUBSCRIPTION_INACTIVE = (  # the server's words, for the same rule (GET /v1/me's "active")
    "subscription_inactive: Your subscription is not active: uploading needs an active "
    "subscription."
)


def api_for(authenticated: bool = True) -> Api:
    """The API, with the stored token; raises ClientError when that login has expired (known
    here from its lifetime: no call needed to learn it)."""
    base = config.api_url()
    session = config.load_session(base) if authenticated else None
    if session and session.expired():
        raise ClientError(
            f"unauthorized: the login of {session.username} at {base} has expired; "
            f"log in again: mapstock login {session.username}"
        )
    return Api(base, session.access_token if session else None)


def check_session(api: Api) -> None:
    """One cheap authenticated call (GET /v1/me) before bytes are sent: a revoked token, or a
    subscription that is not active, is refused now, not after a whole upload. Raises
    ClientError, ApiError."""
    if "Authorization" not in api.http.headers:
        raise ClientError(LOG_IN_FIRST)
    try:
        me = api.json("GET", "/v1/me")
    except ApiError as exc:
        if exc.status != 401:
            raise
        session = config.load_session(api.base)
        who = session.username if session else "USERNAME"
        raise ClientError(joined(str(exc), f"log in again: mapstock login {who}")) from None
    if me.get("active") is False:  # the very rule the server applies to an upload
        raise ClientError(SUBSCRIPTION_INACTIVE)
