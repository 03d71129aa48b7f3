"""A new map's row, made by every upload form (direct, presigned POST, multipart)."""

from __future__ import annotations

from typing import Any

from chalicelib import db, logs, storage
from chalicelib.auth import Caller
from chalicelib.config import get_settings
from chalicelib.web.caller import caller_args


def create_row(
    caller: Caller,
    map_id: str,
    args: dict[str, Any],
    size: int,
    sha256: str | None,
    direct: bool,
    **extra: Any,
) -> dict[str, Any]:
    """api.create_map for any upload form (`extra`: the multipart upload's shape)."""
    settings = get_settings()
    return db.call(
        "api.create_map",
        **caller_args(caller),
        p_id=map_id,
        p_object_key=storage.original_key(map_id),
        **args,
        p_size=size,
        p_sha256=sha256,
        p_direct=direct,
        p_request_id=logs.request_id.get(),
        p_upload_ttl_seconds=extra.pop("p_upload_ttl_seconds", settings.upload_url_ttl_seconds),
        p_default_quota_maps=settings.default_quota_maps,
        p_default_quota_bytes=settings.default_quota_bytes,
        **extra,
    )
