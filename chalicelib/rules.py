"""The data rules, once: limits, patterns and closed sets of names that the HTTP side (fields,
OpenAPI), the admin CLI and auth all read. Where the database guards a rule, its CHECK
constraint (sql/migrations) says the same; tests/functional/test_rules.py compares the two."""

from __future__ import annotations

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
