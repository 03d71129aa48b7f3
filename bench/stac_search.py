"""GET /stac/search p50 at 1,000 and at 1,000,000 maps: the first page and a deep next page;
and GET /stac/collections (every collection's extent over the caller's items).

Two databases, 1K and 1M maps, seeded set-based (generate_series; the non-constraint indexes
dropped during the big load and rebuilt after, then VACUUM ANALYZE): formats, visibilities
(40% private, 30% members, 30% public), 1,000 owners, small bboxes all over the world,
created_at over three years. Each
case goes through the real route in-process (chalice.test Client: parameters, api.stac_search,
item documents, links) as a guest and as an active member who owns maps. A deep page is the
next link from the middle of the keyset (what following ~50,000 next links reaches). The two
sizes' requests alternate one by one (two warm connection pools), so that load from elsewhere
on a shared machine weighs on both alike.
Target: every case's p50 at 1M <= 2x its p50 at 1K.

    .venv/bin/python bench/stac_search.py [calls]      (DATABASE_URL, else an embedded server)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import db  # noqa: E402
from chalicelib.migrate import migrate  # noqa: E402
from chalicelib.web.routes.maps import encode_cursor  # noqa: E402
from devstack.postgres import LocalPostgres  # noqa: E402

SIZES = (1_000, 1_000_000)
OWNERS = 1_000
SEED_USERS = """
INSERT INTO app.users (id, username, password_hash, active_until)
SELECT gen_random_uuid(), 'bench' || i, 'x', now() + interval '1 year'
FROM generate_series(1, :owners::int) AS i
ON CONFLICT DO NOTHING
"""
# Rows numbered from :first: the 1M table is the 1K table plus 999,000 more of the same kind.
SEED_MAPS = """
WITH o AS (SELECT array_agg(id ORDER BY username) AS ids FROM app.users
           WHERE username LIKE 'bench%'),
     s AS (
    SELECT i, gen_random_uuid() AS id,
           (ARRAY['geotiff','geojson','gpx','kml','kmz','gpkg','pdf','mbtiles','pmtiles',
                  'shapefile'])[1 + (hashint4(i) & 1023) % 10] AS fmt,
           CASE WHEN (hashint4(i + 7) & 1023) < 410 THEN 'private'
                WHEN (hashint4(i + 7) & 1023) < 717 THEN 'members' ELSE 'public' END AS vis,
           1 + (hashint4(i + 13) & 65535) % :owners::int AS owner_no,
           -180 + ((hashint4(i + 17) & 65535) / 65536.0) * 355 AS w,
           -85 + ((hashint4(i + 19) & 65535) / 65536.0) * 165 AS s,
           0.1 + ((hashint4(i + 23) & 255) / 256.0) * 4.9 AS d,
           timestamptz '2022-01-01' + (hashint4(i + 29) & 1073741823) * interval '0.088 s' AS t
    FROM generate_series(:first::int, :last::int) AS i)
INSERT INTO app.maps (id, owner_id, title, filename, visibility, status, declared_size, size,
                      sha256, format, media_type, metadata, bbox, object_key, created_at,
                      updated_at, processed_at)
SELECT s.id, o.ids[s.owner_no], 'Bench map ' || s.i, 'bench.' || s.fmt, s.vis, 'ready', 1000, 1000,
       md5(s.i::text) || md5(s.i::text), s.fmt, 'application/octet-stream',
       jsonb_build_object('bbox', jsonb_build_array(s.w, s.s, s.w + s.d, s.s + s.d),
                          'crs', 'EPSG:4326'),
       box(point(s.w, s.s), point(s.w + s.d, s.s + s.d)), 'maps/' || s.id || '/original',
       s.t, s.t, s.t
FROM s, o
"""
CASES: dict[str, dict[str, str]] = {
    "all items": {"limit": "10"},
    "bbox (Europe) + datetime (2023)": {
        "limit": "10",
        "bbox": "-10,35,30,70",
        "datetime": "2023-01-01T00:00:00Z/2023-12-31T23:59:59Z",
    },
    "bbox (a city, few matches)": {"limit": "10", "bbox": "2.2,48.8,2.5,49.0"},
    "collections=geotiff": {"limit": "10", "collections": "geotiff"},
}


def _seed(conn: Any, first: int, last: int) -> None:
    big = last - first > 100_000
    started = time.perf_counter()
    conn.run(SEED_USERS, owners=OWNERS)
    rebuild: list[str] = []
    if big:  # loading into the indexes row by row costs minutes more than rebuilding them
        rebuild = [
            r[1]
            for r in conn.run(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'app'"
                " AND tablename = 'maps' AND indexname NOT IN"
                " (SELECT conname FROM pg_constraint WHERE conrelid = 'app.maps'::regclass)"
            )
        ]
        names = conn.run(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'app' AND tablename = 'maps'"
            " AND indexname NOT IN"
            " (SELECT conname FROM pg_constraint WHERE conrelid = 'app.maps'::regclass)"
        )
        for (name,) in names:
            conn.run(f'DROP INDEX app."{name}"')
    conn.run("SET maintenance_work_mem = '512MB'")
    conn.run(SEED_MAPS, first=first, last=last, owners=OWNERS)
    for statement in rebuild:
        conn.run(statement)
    conn.run("VACUUM ANALYZE app.maps")
    count = conn.run("SELECT count(*) FROM app.maps")[0][0]
    print(f"seeded maps {first}..{last} in {time.perf_counter() - started:.1f} s ({count} rows)")


def _deep_cursor(conn: Any) -> str:
    """The cursor after the middle row of the keyset (every map is ready with a bbox)."""
    total = conn.run("SELECT count(*) FROM app.maps")[0][0]
    created, map_id = conn.run(
        "SELECT app.iso(created_at), id::text FROM app.maps"
        " ORDER BY created_at DESC, id DESC OFFSET :n LIMIT 1",
        n=total // 2,
    )[0]
    return encode_cursor({"created_at": created, "id": map_id})


def _samples(client: Any, path: str, headers: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.http.get(path, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.body
    return elapsed, len(json.loads(response.body)["features"])


def _collections(client: Any, headers: dict[str, str]) -> tuple[float, int]:
    """A GET /stac/collections: ms, and how many collections have items (a computed extent)."""
    started = time.perf_counter()
    response = client.http.get("/stac/collections", headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.body
    found = json.loads(response.body)["collections"]
    return elapsed, sum(c["extent"]["temporal"]["interval"] != [[None, None]] for c in found)


def _pool_for(url: str) -> Any:
    """A connection pool on `url`, warmed (db.call takes idle connections without settings)."""
    os.environ["DATABASE_URL"] = url
    from chalicelib import config

    config.get_settings.cache_clear()
    pool = db._Pool(url, db.POOL_SIZE)

    def this_pool(schema: str) -> Any:  # db's pools are per URL now: pin this one
        return pool

    db._pool = this_pool  # type: ignore[assignment]
    db.call("api.health")
    return this_pool


def _measure(urls: dict[int, str], calls: int) -> dict[int, dict[tuple[str, str, str], Any]]:
    """Every case at every size, the sizes' requests interleaved one by one, so that load from
    elsewhere on the machine weighs on both alike."""
    from chalice.test import Client

    from app import app
    from chalicelib.auth import issue_token

    setup = {}
    for size, url in urls.items():
        conn = db.connect(url, timeout=600)
        member_id, version = conn.run(
            "SELECT id::text, token_version FROM app.users WHERE username = 'bench1'"
        )[0]
        token = issue_token(member_id, version)[0]
        setup[size] = (_pool_for(url), {"Authorization": f"Bearer {token}"}, _deep_cursor(conn))
        conn.close()
    out: dict[int, dict[tuple[str, str, str], Any]] = {size: {} for size in urls}
    # The app's access log lines still get written (part of a request's cost), just not shown.
    with (
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(sink),
        Client(app, stage_name="local") as client,
    ):
        for who in ("guest", "member"):
            for case, query in CASES.items():
                for page in ("first page", "deep page"):
                    times: dict[int, list[float]] = {size: [] for size in urls}
                    counts = {}
                    for n in range(calls + calls // 10):
                        for size, (pool, member, deep) in setup.items():
                            db._pool = pool
                            extra = {"cursor": deep} if page == "deep page" else {}
                            path = "/stac/search?" + urlencode({**query, **extra})
                            headers = {"Host": "bench.local", **(member if who == "member" else {})}
                            elapsed, counts[size] = _samples(client, path, headers)
                            if n >= calls // 10:  # the first tenth warms caches and plans
                                times[size].append(elapsed)
                    for size in urls:
                        out[size][(who, case, page)] = (
                            statistics.median(times[size]),
                            counts[size],
                        )
            times = {size: [] for size in urls}
            for n in range(calls + calls // 10):
                for size, (pool, member, _) in setup.items():
                    db._pool = pool
                    headers = {"Host": "bench.local", **(member if who == "member" else {})}
                    elapsed, counts[size] = _collections(client, headers)
                    if n >= calls // 10:
                        times[size].append(elapsed)
            for size in urls:
                out[size][(who, "GET /stac/collections", "-")] = (
                    statistics.median(times[size]),
                    counts[size],
                )
    return out


def run(url: str, calls: int) -> None:
    os.environ.update({"JWT_SECRET": secrets.token_urlsafe(32), "AWS_DEFAULT_REGION": "x"})
    admin = db.connect(url, timeout=3600)
    urls = {}
    for size in SIZES:
        name = f"mapstock_stac_{size}"
        admin.run(f'DROP DATABASE IF EXISTS "{name}"')
        admin.run(f'CREATE DATABASE "{name}"')
        urls[size] = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
        conn = db.connect(urls[size], timeout=3600)  # the 1M load is one long statement
        migrate(conn)
        _seed(conn, 1, size)
        # One collection extent bound: a one-row scan of its maps_stac_* index (migration 016).
        plan = conn.run(
            "EXPLAIN SELECT min(app.west_0_360(m.bbox)) FROM app.maps m WHERE m.format = 'gpx'"
            " AND m.visibility = 'public' AND m.status = 'ready' AND m.bbox IS NOT NULL"
        )
        print(f"{size} maps, one extent bound:", " / ".join(r[0].strip() for r in plan[:3]))
        conn.close()
    results = _measure(urls, calls)
    small, large = SIZES
    print(
        f"\nGET /stac/search p50 (ms), {calls} calls each, 1K and 1M interleaved;"
        " target: 1M <= 2x 1K"
    )
    print(f"{'caller':<7} {'query':<33} {'page':<10} {'1K':>8} {'1M':>8} {'ratio':>6}  items")
    worst = 0.0
    for key, (p_small, n_small) in results[small].items():
        p_large, n_large = results[large][key]
        ratio = p_large / p_small
        worst = max(worst, ratio)
        print(
            f"{key[0]:<7} {key[1]:<33} {key[2]:<10} {p_small:8.2f} {p_large:8.2f} "
            f"{ratio:5.2f}x  {n_small}/{n_large}"
        )
    print(f"worst ratio {worst:.2f}x ({'met' if worst <= 2 else 'NOT met'})")
    for size in SIZES:
        admin.run(f'DROP DATABASE IF EXISTS "mapstock_stac_{size}" WITH (FORCE)')
    admin.close()


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    if os.environ.get("DATABASE_URL"):
        run(os.environ["DATABASE_URL"], calls)
        return
    root = Path(tempfile.mkdtemp(prefix="mapstock-bench-pg-"))
    os.chmod(root, 0o755)  # noqa: S103 - the unprivileged server account must reach it
    server = LocalPostgres(root / "pg")
    try:
        run(server.start(), calls)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
