"""Ready maps with bboxes straight into app.maps, set-based (as processing would leave them), for
the STAC tests: hundreds of items in one statement instead of hundreds of uploads."""

from __future__ import annotations

import datetime as dt
from typing import Any

MEDIA = {
    "geotiff": "image/tiff",
    "geojson": "application/geo+json",
    "gpx": "application/gpx+xml",
    "kml": "application/vnd.google-earth.kml+xml",
    "gpkg": "application/geopackage+sqlite3",
    "pdf": "application/pdf",
}
FORMATS = ("geotiff", "geojson", "gpx", "geotiff", "kml", "gpkg", "pdf")
VISIBILITIES = ("public", "members", "private")

_SEED = """
WITH s AS (
    SELECT i, gen_random_uuid() AS id,
           (:formats::text[])[1 + i % cardinality(:formats::text[])] AS fmt,
           (:visibilities::text[])[1 + (i / 2) % 3] AS vis,
           (:owners::uuid[])[1 + (i / 6) % cardinality(:owners::uuid[])] AS owner,
           ((i * 37) % 340 - 170)::float8 AS w, ((i * 53) % 160 - 80)::float8 AS s,
           (1 + i % 5)::float8 AS dx, (1 + i % 3)::float8 AS dy,
           :start::timestamptz + i * :step::interval AS t
    FROM generate_series(1, :n) AS i
)
INSERT INTO app.maps (id, owner_id, title, description, filename, visibility, status,
                      declared_size, size, sha256, format, media_type, metadata, bbox,
                      object_key, created_at, updated_at, uploaded_at, processed_at)
SELECT id, owner, :prefix || ' ' || i, CASE WHEN i % 4 = 0 THEN '' ELSE 'Seeded for STAC' END,
       'seed-' || i || '.' || fmt, vis, 'ready', 100 + i, 100 + i,
       encode(sha256(convert_to(id::text, 'UTF8')), 'hex'), fmt,
       (:media::jsonb) ->> fmt,
       jsonb_build_object('bbox', jsonb_build_array(w, s, w + dx, s + dy), 'crs', 'EPSG:4326')
           || CASE WHEN fmt = 'geotiff' THEN jsonb_build_object(
                  'width', 100 + i, 'height', 50 + i, 'bands', 3, 'dtype', 'uint8',
                  'native_bbox', jsonb_build_array(w, s, w + dx, s + dy))
              ELSE jsonb_build_object('feature_count', i) END,
       box(point(w, s), point(w + dx, s + dy)), 'maps/' || id || '/original', t, t, t, t
FROM s
RETURNING id::text, format, visibility, owner_id::text, created_at
"""


def seed_items(
    conn: Any,
    owners: list[str],
    n: int,
    start: dt.datetime,
    step: str = "1 hour",
    prefix: str = "Seeded map",
    formats: tuple[str, ...] = FORMATS,
) -> list[dict[str, Any]]:
    """Insert n ready maps (formats, visibilities and owners in turn; bboxes spread over the
    world; created_at = start + i * step); returns id, format, visibility, owner, created_at."""
    import json

    rows = conn.run(
        _SEED,
        formats=list(formats),
        visibilities=list(VISIBILITIES),
        owners=owners,
        start=start,
        step=step,
        n=n,
        prefix=prefix,
        media=json.dumps(MEDIA),
    )
    keys = ("id", "format", "visibility", "owner", "created_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]
