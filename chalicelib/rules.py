"""The data rules, once: limits, patterns and closed sets of names that the HTTP side (fields,
OpenAPI), the admin CLI and auth all read. Where the database guards a rule, its CHECK
constraint (sql/migrations) says the same; tests/functional/test_rules.py compares the two."""

from __future__ import annotations

import functools
from pathlib import Path

# Maps: what people see of them.
TITLE_MAX_LENGTH = 200  # app.maps.title: length BETWEEN 1 AND 200
DESCRIPTION_MAX_LENGTH = 5000  # app.maps.description: length <= 5000
FILENAME_MAX_LENGTH = 255  # app.maps.filename: length BETWEEN 1 AND 255 (and 255 UTF-8 bytes)
VISIBILITIES = ("private", "members", "public")  # app.maps.visibility
STATUSES = ("awaiting_upload", "uploaded", "processing", "ready", "rejected", "failed")
# What the format readers (chalicelib/formats) name a recognised file.
FORMATS = (
    "geotiff",
    "tiff",
    "png",
    "jpeg",
    "webp",
    "pdf",
    "geojson",
    "kml",
    "kmz",
    "gpx",
    "gpkg",
    "mbtiles",
    "pmtiles",
    "shapefile",
)
# File name extensions of the map files Map Stock reads (chalicelib/formats/sniff.py decides
# the format from the bytes later): a name that says otherwise (evil.html, r.bin) is refused by
# every upload form before a byte moves, so no download is ever saved under such a name. A
# name without an extension is fine.
MAP_EXTENSIONS = (
    "tif",
    "tiff",
    "gtiff",
    "geotiff",
    "json",
    "geojson",
    "kml",
    "kmz",
    "gpx",
    "gpkg",
    "mbtiles",
    "pmtiles",
    "zip",
    "png",
    "jpg",
    "jpeg",
    "webp",
    "pdf",
)
# A SHA-256 as stored and shown (app.maps.sha256, declared_sha256); clients may send upper case.
SHA256_PATTERN = "^[0-9a-f]{64}$"
# S3's per-part checksums a multipart upload may be created with (app.maps.part_checksum).
PART_CHECKSUM_ALGORITHMS = ("SHA256",)

# Accounts.
USERNAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$"  # app.users.username
USERNAME_MAX_LENGTH = 64  # what the pattern allows
USERNAME_RULE = "1-64 characters of letters, digits and . _ @ + -, starting with a letter or digit."
ROLES = ("member", "admin")  # app.users.role
PASSWORD_MIN_BYTES = 8
PASSWORD_MAX_BYTES = 72  # bcrypt's limit: longer passwords are refused, never truncated
# What makes a new password too easy to guess, refused wherever one is set (admin CLI, POST
# /v1/users, PATCH /v1/users/{username}); logging in still checks only the bytes above, so an
# account whose password predates this rule can still log in and change it.
PASSWORD_RULE = (
    "not one of 20,000 common passwords, "  # noqa: S105 - the rule's wording, not a password
    "not containing the username, not one character or a short pattern repeated, "
    "not a run along the alphabet, the digits or a keyboard row."
)
# Django's list (BSD-3-Clause, see common-passwords.LICENSE): lowercased, one a line, gzip.
COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"
# A username this short is refused as the whole password only: "al" in a password is no hint.
USERNAME_IN_PASSWORD_MIN_LENGTH = 3


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common-password list, read once (lazily: most Lambda calls never set a password)."""
    import gzip

    with gzip.open(Path(__file__).with_name(COMMON_PASSWORDS_FILE), "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


# Keyboard rows a run may follow as well as the alphabet and the digits (wrapping 9 -> 0).
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _is_a_run(folded: str) -> bool:
    """True when every character follows the previous one along a run (either direction)."""
    for run in _RUNS:
        laps = len(folded) // len(run) + 2  # a run wraps round (...890123...)
        if folded in run * laps or folded in run[::-1] * laps:
            return True
    return False


def _repeats_a_short_unit(password: str) -> bool:
    """True when the password is a unit of at most 4 characters written again and again."""
    return any(
        len(password) % size == 0 and password == password[:size] * (len(password) // size)
        for size in range(2, 5)
        if len(password) >= 2 * size
    )


def password_weakness(password: str, username: str) -> str | None:
    """Why `password` is too easy to guess for `username` (one line naming the field), or None."""
    if len(set(password)) <= 1:
        return "password: must not be one character repeated."
    folded, name = password.casefold(), username.casefold()
    if name and (
        name in folded if len(name) >= USERNAME_IN_PASSWORD_MIN_LENGTH else folded == name
    ):
        return "password: must not contain the username."
    if password.strip().lower() in common_passwords():
        return "password: too common (one of 20,000 well-known passwords)."
    if _repeats_a_short_unit(password):
        return "password: must not be a short pattern repeated (such as abcabcabc or 12121212)."
    if _is_a_run(password.casefold()):
        return (
            "password: must not be a run of consecutive characters (such as 123456789 or abcdefgh)."
        )
    return None
