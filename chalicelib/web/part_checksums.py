"""S3's per-part SHA-256 checksums of a multipart upload, as the API takes them from clients.

An upload is created with them (`"checksum_algorithm": "SHA256"`) or without; S3 then wants every
part to carry its checksum, or none to (it refuses a part that breaks the upload's choice). The
checksum is signed into the part's presigned URL, because S3 refuses unsigned x-amz-* headers on
presigned requests: a client gives it when it asks for the part's URL and sends it with the PUT as
`x-amz-checksum-sha256`; S3 refuses bytes that do not match it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from chalicelib import errors

HEADER = "x-amz-checksum-sha256"
FIELD = "checksums_sha256"


def is_sha256_base64(value: object) -> bool:
    """True for a SHA-256 digest in canonical base64 (44 characters), as S3 takes it."""
    if not isinstance(value, str) or len(value) != 44:
        return False
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 32 and base64.b64encode(raw).decode() == value


def for_urls(doc: dict[str, Any], numbers: list[int], algorithm: str | None) -> dict[int, str]:
    """The asked parts' checksums to sign into their URLs ({} for an upload without them);
    raises ApiError 400 naming what is wrong."""
    given = doc.get(FIELD)
    if algorithm is None:
        if given is not None:
            raise errors.invalid(
                f"{FIELD}: this upload was created without part checksums (create the map "
                'with "checksum_algorithm": "SHA256" to send them).'
            )
        return {}
    if not isinstance(given, dict):
        raise errors.invalid(
            f"{FIELD}: required for this upload (created with SHA-256 part checksums): "
            '{"<part_number>": "<base64 SHA-256 of the part>", ...}.'
        )
    wanted = {str(n) for n in numbers}
    for name in given:
        if name not in wanted:
            raise errors.invalid(f"{FIELD}: {name[:16]!r} is not one of part_numbers.")
    checksums: dict[int, str] = {}
    for n in numbers:
        value = given.get(str(n))
        if value is None:
            raise errors.invalid(f"{FIELD}: part {n} has none.")
        if not is_sha256_base64(value):
            raise errors.invalid(f"{FIELD}: part {n}'s is not a SHA-256 digest in base64.")
        checksums[n] = value
    return checksums


def headers_for(checksum: str | None) -> dict[str, str]:
    """The headers a part's PUT must carry (those signed into its URL besides Content-Length)."""
    return {HEADER: checksum} if checksum else {}
