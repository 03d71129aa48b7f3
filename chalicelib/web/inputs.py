"""What each operation takes, as Field definitions: the routes validate with them and the
OpenAPI document's request schemas are generated from them (chalicelib/web/openapi/fields.py).
Limits, patterns and names come from chalicelib/rules.py."""

from __future__ import annotations

import dataclasses

from chalicelib import rules
from chalicelib.web.fields import FIRST_YEAR, LAST_YEAR, Field, map_filename, non_blank

# One value each, as every operation that takes it takes it.
TITLE = Field(
    "str",
    min_length=1,
    max_length=rules.TITLE_MAX_LENGTH,
    visible=True,
    refine=non_blank,
    description="Not blank; leading and trailing spaces are dropped.",
)
DESCRIPTION = Field("text", max_length=rules.DESCRIPTION_MAX_LENGTH, visible=True)
VISIBILITY = Field("choice", choices=rules.VISIBILITIES)
FILENAME = Field(
    "str",
    required=True,
    min_length=1,
    max_length=rules.FILENAME_MAX_LENGTH,
    max_bytes=rules.FILENAME_MAX_LENGTH,
    visible=True,
    refine=map_filename,
    description="A plain file name (metadata only, never a path), with no extension or a map "
    f"file's ({', '.join('.' + e for e in rules.MAP_EXTENSIONS)}; others: 415).",
)
USERNAME = Field(
    "str",
    required=True,
    max_length=rules.USERNAME_MAX_LENGTH,
    pattern=rules.USERNAME_PATTERN,
    rule=rules.USERNAME_RULE,
    description=rules.USERNAME_RULE,
)
# A new password (bcrypt's bytes); at most 4096 characters are read before it is judged. Its
# strength (rules.password_weakness) needs the username: the routes check it when hashing.
NEW_PASSWORD = Field(
    "str",
    max_length=4096,
    min_bytes=rules.PASSWORD_MIN_BYTES,
    max_bytes=rules.PASSWORD_MAX_BYTES,
    description=f"{rules.PASSWORD_MIN_BYTES} to {rules.PASSWORD_MAX_BYTES} bytes of UTF-8; "
    + rules.PASSWORD_RULE,
)
ROLE = Field("choice", choices=rules.ROLES)
ACTIVE_UNTIL = Field(
    "date",
    nullable=True,
    max_length=64,
    description="YYYY-MM-DD (midnight UTC) or an ISO 8601 time (UTC without an offset; offsets "
    f"under 16 hours), in years {FIRST_YEAR}-{LAST_YEAR} once in UTC. null: no subscription.",
)
SHA256 = Field(
    "str",
    max_length=64,
    pattern="^[0-9a-fA-F]{64}$",
    rule="must be 64 hexadecimal characters.",
)

# POST /v1/auth/token: types and sizes are checked, content is not (an odd username is just a
# wrong credential, answered 401 like any other).
LOGIN = {
    "username": Field("opaque", required=True, max_length=256),
    "password": Field("opaque", required=True, max_length=4096),
}
# POST /v1/users, PATCH /v1/users/{username}
NEW_USER = {
    "username": USERNAME,
    "password": dataclasses.replace(NEW_PASSWORD, required=True),
    "role": ROLE,
    "active_until": ACTIVE_UNTIL,
}
USER_CHANGE = {"password": NEW_PASSWORD, "role": ROLE, "active_until": ACTIVE_UNTIL}
# PATCH /v1/maps/{map_id}; the descriptive fields of every upload form.
MAP_CHANGE = {"title": TITLE, "description": DESCRIPTION, "visibility": VISIBILITY}
# POST /v1/maps as JSON: a presigned POST or a multipart upload.
PRESIGNED_UPLOAD = {
    **MAP_CHANGE,
    "filename": FILENAME,
    "size": Field("int", required=True, minimum=1),
    "sha256": SHA256,
    "multipart": Field("bool"),
    "checksum_algorithm": Field(
        "choice",
        choices=rules.PART_CHECKSUM_ALGORITHMS,
        description="Multipart uploads only (a presigned POST has no parts; the whole file's "
        "sha256 covers it): create the upload with S3's per-part SHA-256 checksums. Without "
        "it, parts go without.",
    ),
}
# POST /v1/maps as a direct upload: the form's parts beside the file (filename: the file
# part's), or a raw body's (application/octet-stream) query string.
DIRECT_UPLOAD = {**MAP_CHANGE, "filename": FILENAME}

# GET /v1/maps. Every value is at most 500 characters; `bbox` numbers are ASCII, no exponent.
_QUERY_TEXT = 500
_COORDINATE = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
BROWSE_QUERY = {
    "limit": Field("int", minimum=1, maximum=100, max_length=_QUERY_TEXT),
    "cursor": Field("str", max_length=_QUERY_TEXT, description="next_cursor of a page."),
    "q": Field("str", max_length=_QUERY_TEXT, description="Words in title/description/filename."),
    "format": Field("choice", choices=rules.FORMATS, max_length=_QUERY_TEXT),
    "visibility": Field("choice", choices=rules.VISIBILITIES, max_length=_QUERY_TEXT),
    "owner": Field(
        "str",
        max_length=_QUERY_TEXT,
        pattern=rules.USERNAME_PATTERN,  # "me" is one too
        rule="must be 'me' or a username.",
        description="me, or a username.",
    ),
    "status": Field("choice", choices=rules.STATUSES, max_length=_QUERY_TEXT),
    "bbox": Field(
        "str",
        max_length=_QUERY_TEXT,
        pattern=f"^{_COORDINATE},{_COORDINATE},{_COORDINATE},{_COORDINATE}$",
        rule="must be minx,miny,maxx,maxy (four numbers).",
        description="minx,miny,maxx,maxy (WGS84), intersects; minx > maxx crosses longitude 180.",
    ),
}
BROWSE_LIMIT_DEFAULT = 20
# GET /v1/maps/{map_id}/download and /preview.
REDIRECT = Field("choice", choices=("true", "false"), rule="must be true or false.")
DOWNLOAD_QUERY = {
    "redirect": REDIRECT,
    "variant": Field(
        "choice", choices=("original", "optimized"), rule="must be original or optimized."
    ),
}
PREVIEW_QUERY = {"redirect": REDIRECT}
