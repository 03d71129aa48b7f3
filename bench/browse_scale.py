"""Browse at scale: seed 1K and 1M maps, time api.browse_maps for every query shape at each.

    .venv/bin/python bench/browse_scale.py [--rows 1000 1000000] [--runs 25] [--depth 10]
        [--callers guest,member,owner[,admin]] [--filters "none,rare q,..."]
        [--database-url URL [--keep] [--reuse]] [--no-check]

Without --database-url (or DATABASE_URL) a private embedded PostgreSQL is started in a temp
folder (shared_buffers 1 GB, a small production server) and removed afterwards. Each size gets
its own database `browse_scale_<rows>`, migrated with sql/ and seeded by set-based SQL (1M maps
in about three minutes):
- users: 5 heavy uploaders own 20 % of the maps, a long tail (rows / 25 users) the rest;
- maps: 92 % ready (55 % public, 20 % members, 25 % private), the rest in the other statuses,
  stored in creation order; titles and descriptions drawn from a 20,000-word vocabulary with
  Zipf-like frequencies (one word in ~40 % of the maps, others in a few out of 10,000);
- bboxes on 90 % of the ready maps: 40 % over Europe, the rest worldwide, sizes log-uniform
  from 0.01 to 20 degrees; created_at over three years, a third of them tied in threes.
Then VACUUM ANALYZE, and for every caller (guest, an active member with a few maps, the
heaviest uploader) x filter (none, a common word, a rare word, a city-sized bbox, Europe,
common word + Europe) x page (first, and page --depth reached by following the cursor):
--runs calls of `SELECT api.browse_maps(...)` through pg8000 as chalicelib.db.call makes them,
alternating between the sizes so that a busy machine slows both alike. Every timed page is
first checked against a plain reference query (same ids, same order).

Prints per size the wall-clock p50/p95 and the p50 of the server backend's own CPU time (read
from /proc when the server runs on this machine: it stays meaningful when other work shares
the cores), the page timed and how many maps match, then the ratios of the largest size to
the smallest. Goal (issue 11 item 5b): every p50 at 1M <= 20 ms and <= 2x its p50 at 1K;
"cpu ok" marks a shape that meets it by CPU time only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.db import connect  # noqa: E402
from chalicelib.migrate import migrate  # noqa: E402

PAGE = 20
VOCABULARY = 20_000
ZIPF_S = 0.8  # word rank r is drawn with probability ~ (r + 1) ** -0.8
COMMON_RANK = 0  # in ~40 % of the maps
RARE_RANK = 9_000  # in ~0.03 % of the maps: ~300 at 1M, none or one at 1K
EUROPE = [-10.0, 35.0, 40.0, 70.0]
CITY = [8.4, 47.3, 8.7, 47.5]  # Zurich
HEAVY_USERS = 5
FORMATS = [
    ("geotiff", 30),
    ("pdf", 15),
    ("geojson", 12),
    ("jpeg", 8),
    ("png", 8),
    ("kml", 6),
    ("gpx", 6),
    ("kmz", 3),
    ("gpkg", 3),
    ("mbtiles", 3),
    ("pmtiles", 2),
    ("shapefile", 2),
    ("tiff", 1),
    ("webp", 1),
]


SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]  # 80


def word_of(rank: int) -> str:
    """The vocabulary's word of this rank: three syllables (no word is a prefix of another)."""
    a, b, c = rank % 80, rank // 80 % 80, rank // 6400
    return SYLLABLES[a * 7 % 80] + SYLLABLES[(b * 13 + a) % 80] + SYLLABLES[c % 80]


def _word_sql(rank: str) -> str:
    """word_of() in SQL, for a rank expression evaluated once."""
    pick = "substr('{}', 1 + 2 * (({{}}) % 80), 2)".format("".join(SYLLABLES))
    return " || ".join(
        pick.format(part)
        for part in (f"{rank} % 80 * 7", f"{rank} / 80 % 80 * 13 + {rank} % 80", f"{rank} / 6400")
    )


# A Zipf draw by the inverse CDF of the continuous approximation: a rank 0 .. VOCABULARY-1.
_A = (VOCABULARY + 1) ** (1 - ZIPF_S) - 1
_ZIPF = (
    f"least({VOCABULARY - 1}, floor(power({_A!r} * random() + 1, {1 / (1 - ZIPF_S)!r}) - 1)::int)"
)
# OFFSET 0 keeps each draw a single value (the subquery is not pulled up and re-evaluated).


def _words_sql(count: str) -> str:
    """`count` Zipf-drawn words joined by spaces."""
    return (
        f"(SELECT string_agg({_word_sql('z.r')}, ' ') "  # noqa: S608 - constants only
        f"FROM (SELECT {_ZIPF} AS r FROM generate_series(1, {count}) OFFSET 0) z)"
    )


# Drawing words costs ~5 us each: maps take their title and description from pools of
# PHRASES texts each (independently drawn, so the pairs stay varied).
PHRASES = 50_000


def _phrases_sql(count: int) -> str:
    """A temp table bench_phrases(k, title, description) of `count` rows."""
    return (
        "CREATE TEMP TABLE bench_phrases AS "  # noqa: S608 - constants only
        f"SELECT k, {_words_sql('2 + k % 4')} AS title, {_words_sql('6 + k % 20')} AS description "
        f"FROM generate_series(0, {count} - 1) AS k; "
        "CREATE UNIQUE INDEX ON bench_phrases (k)"
    )


def _format_sql() -> str:
    """A CASE picking a format with the FORMATS weights from r_format (uniform 0..1)."""
    total, upto, cases = sum(w for _, w in FORMATS), 0, []
    for name, weight in FORMATS[:-1]:
        upto += weight
        cases.append(f"WHEN r_format < {upto / total!r} THEN '{name}'")
    return f"CASE {' '.join(cases)} ELSE '{FORMATS[-1][0]}' END"


_SEED_USERS = """
CREATE TEMP TABLE bench_users AS
SELECT g AS idx, md5('user' || g)::uuid AS id,
       CASE WHEN g < %(heavy)s THEN 'heavy' || g ELSE 'user' || g END AS username
FROM generate_series(0, %(users)s - 1) AS g;
INSERT INTO app.users (id, username, password_hash, role, active_until)
SELECT id, username, 'bench-no-login', 'member',
       now() + CASE WHEN idx %% 10 = 9 THEN interval '-30 days' ELSE interval '365 days' END
FROM bench_users;
INSERT INTO app.users (id, username, password_hash, role, active_until) VALUES
    (md5('bench_member')::uuid, 'bench_member', 'bench-no-login', 'member',
     now() + interval '365 days'),
    (md5('bench_admin')::uuid, 'bench_admin', 'bench-no-login', 'admin', NULL);
"""

# One row per map from generate_series; every random() is drawn once per row in the subquery.
# Rows are stored in creation order, as a live table mostly is.
_SEED_MAPS = """
INSERT INTO app.maps (id, owner_id, title, description, filename, visibility, status,
                      declared_size, size, sha256, format, media_type, metadata, bbox,
                      object_key, created_at, updated_at, uploaded_at, processed_at)
SELECT s.id, u.id, s.title, s.description, s.filename, s.visibility, s.status,
       s.bytes, CASE WHEN s.status = 'ready' THEN s.bytes END,
       CASE WHEN s.status = 'ready' THEN encode(sha256(s.id::text::bytea), 'hex') END,
       CASE WHEN s.status = 'ready' THEN s.format END,
       CASE WHEN s.status = 'ready' THEN 'application/octet-stream' END,
       CASE WHEN s.box IS NULL THEN '{}'::jsonb ELSE jsonb_build_object(
           'crs', 'EPSG:4326', 'bbox', jsonb_build_array((s.box[1])[0], (s.box[1])[1],
                                                        (s.box[0])[0], (s.box[0])[1])) END,
       s.box, 'maps/' || s.id || '/original', s.created, s.created, s.created,
       CASE WHEN s.status = 'ready' THEN s.created + interval '1 minute' END
FROM (
    SELECT md5('map' || g)::uuid AS id,
           CASE WHEN r_owner < 0.2 THEN floor(r_owner / 0.04)::int
                ELSE %(heavy)s
                     + floor((%(users)s - %(heavy)s) * power((r_owner - 0.2) / 0.8, 2))::int
           END AS owner_idx,
           t.title, d.description,
           split_part(t.title, ' ', 1) || '_' || g || '.'
               || (ARRAY['tif', 'pdf', 'json', 'kml'])[1 + g %% 4] AS filename,
           CASE WHEN r_vis < 0.55 THEN 'public' WHEN r_vis < 0.75 THEN 'members'
                ELSE 'private' END AS visibility,
           CASE WHEN r_status < 0.92 THEN 'ready' WHEN r_status < 0.94 THEN 'processing'
                WHEN r_status < 0.95 THEN 'uploaded' WHEN r_status < 0.97 THEN 'awaiting_upload'
                WHEN r_status < 0.99 THEN 'rejected' ELSE 'failed' END AS status,
           (1000 + floor(random() * 500000000))::bigint AS bytes,
           %(format)s AS format,
           CASE WHEN r_status >= 0.92 OR r_box < 0.1 THEN NULL
                ELSE box(point(greatest(-180, cx - w / 2), greatest(-90, cy - h / 2)),
                         point(least(180, cx + w / 2), least(90, cy + h / 2))) END AS box,
           now() - interval '3 years' + ((g / 3) * 3) * (:step * interval '1 second') AS created
    FROM (
        SELECT g, floor(random() * %(phrases)s)::int AS t_k,
               floor(random() * %(phrases)s)::int AS d_k,
               random() AS r_owner, random() AS r_vis, random() AS r_status,
               random() AS r_format, random() AS r_box, w, w * (0.5 + random()) AS h,
               CASE WHEN europe THEN -10 + 50 * random() ELSE -180 + 360 * random() END AS cx,
               CASE WHEN europe THEN 35 + 35 * random() ELSE -60 + 135 * random() END AS cy
        FROM (SELECT g, random() < 0.4 AS europe, 0.01 * power(2000, random()) AS w
              FROM generate_series(1, %(rows)s) AS g) AS raw
    ) AS draws
    JOIN bench_phrases t ON t.k = draws.t_k
    JOIN bench_phrases d ON d.k = draws.d_k
) AS s
JOIN bench_users u ON u.idx = s.owner_idx
ORDER BY s.created, s.id;
"""

# The member owns a few maps of every kind, so its own branch is never empty.
_SEED_MEMBER_MAPS = """
UPDATE app.maps SET owner_id = md5('bench_member')::uuid
WHERE id IN (SELECT md5('map' || g)::uuid FROM generate_series(7, %(rows)s, %(step)s) AS g);
"""


Filter = tuple[str | None, list[float] | None]  # (q, bbox)
Caller = tuple[str, int] | None  # (user id, token version); None for a guest
FILTERS: dict[str, Filter] = {
    "none": (None, None),
    "q": (word_of(COMMON_RANK), None),
    "rare q": (word_of(RARE_RANK), None),
    "small bbox": (None, CITY),
    "Europe": (None, EUROPE),
    "q+Europe": (word_of(COMMON_RANK), EUROPE),
}
CALLER_NAMES = {"guest": None, "member": "bench_member", "owner": "heavy0", "admin": "bench_admin"}

_CALL = (
    "SELECT api.browse_maps(p_caller => :p_caller, p_token_version => :p_token_version, "
    "p_limit => :p_limit, p_after_created => :p_after_created, p_after_id => :p_after_id, "
    "p_q => :p_q, p_format => :p_format, p_visibility => :p_visibility, p_owner => :p_owner, "
    "p_status => :p_status, p_bbox => :p_bbox)"
)

# What the caller may see, written the plain way (app.can_view), for checking pages.
_REFERENCE = """
SELECT m.id::text, count(*) OVER ()
FROM app.maps m, (SELECT (SELECT u FROM app.users u WHERE u.id = :caller::uuid) AS c) AS who
WHERE app.can_view(m, who.c)
  AND (:q::text IS NULL OR m.search @@ app.tsquery_of(:q))
  AND (:bbox::float8[] IS NULL
       OR m.bbox && box(point(:bbox[1], :bbox[2]), point(:bbox[3], :bbox[4])))
ORDER BY m.created_at DESC, m.id DESC OFFSET :skip LIMIT :take
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def seed(url: str, rows: int) -> None:
    """Migrate and fill an empty database with `rows` maps and their owners."""
    conn = connect(url, timeout=3600)
    try:
        migrate(conn)
        conn.run("SET maintenance_work_mem = '512MB'")
        conn.run("SELECT setseed(0.42)")
        users = max(40, rows // 25)
        conn.run(_SEED_USERS % {"users": users, "heavy": HEAVY_USERS})
        phrases = min(rows, PHRASES)
        conn.run(_phrases_sql(phrases))
        # Keys and indexes are built once after the load, as a bulk load does (five times
        # faster); the definitions are the migrations' own, read back from the catalogue.
        constraints = conn.run(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'app.maps'::regclass AND contype IN ('p', 'u', 'f') "
            "ORDER BY contype = 'f' DESC, contype = 'p'"
        )
        indexes = conn.run(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'app.maps'::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)"
        )
        for name, _ in constraints:
            conn.run(f"ALTER TABLE app.maps DROP CONSTRAINT {name}")
        for name, _ in indexes:
            conn.run(f"DROP INDEX {name}")
        conn.run(
            _SEED_MAPS
            % {
                "rows": rows,
                "users": users,
                "heavy": HEAVY_USERS,
                "phrases": phrases,
                "format": _format_sql(),
            },
            step=3 * 365 * 86400 / rows,  # seconds between consecutive maps
        )
        conn.run(_SEED_MEMBER_MAPS % {"rows": rows, "step": max(2, rows // 8)})
        for name, definition in reversed(constraints):
            conn.run(f"ALTER TABLE app.maps ADD CONSTRAINT {name} {definition}")
        for _, definition in indexes:
            conn.run(definition)
        conn.run("VACUUM ANALYZE app.maps")
        conn.run("VACUUM ANALYZE app.users")
    finally:
        conn.close()


def prepare(server_url: str, rows: int, reuse: bool) -> str:
    """The URL of a migrated database holding `rows` maps (seeded now unless reused)."""
    name = f"browse_scale_{rows}"
    url = with_database(server_url, name)
    admin = connect(server_url)
    try:
        exists = admin.run("SELECT 1 FROM pg_database WHERE datname = :d", d=name)
        if exists and reuse:
            conn = connect(url, timeout=3600)
            try:
                if migrate(conn):
                    conn.run("VACUUM ANALYZE app.maps")
                count = conn.run("SELECT count(*) FROM app.maps")[0][0]
            finally:
                conn.close()
            if count == rows:
                print(f"{rows:>9,} maps: reusing {name}", flush=True)
                return url
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.run(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    started = time.perf_counter()
    seed(url, rows)
    print(f"{rows:>9,} maps: seeded in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def drop(server_url: str, rows: int) -> None:
    admin = connect(server_url)
    try:
        admin.run(f'DROP DATABASE IF EXISTS "browse_scale_{rows}" WITH (FORCE)')
    finally:
        admin.close()


@dataclass
class Timing:
    p50: float
    p95: float
    cpu50: float | None  # the server backend's own CPU time (local servers only)
    page: int  # the page timed (1, or how deep the cursor went)
    matches: int | None  # how many maps the caller may see with this filter


def browse_args(caller: Caller, shape: Filter, cursor: dict[str, str] | None) -> dict[str, Any]:
    q, bbox = shape
    return {
        "p_caller": caller[0] if caller else None,
        "p_token_version": caller[1] if caller else None,
        "p_limit": PAGE,
        "p_after_created": cursor["created_at"] if cursor else None,
        "p_after_id": cursor["id"] if cursor else None,
        "p_q": q,
        "p_format": None,
        "p_visibility": None,
        "p_owner": None,
        "p_status": None,
        "p_bbox": bbox,
    }


def check_page(conn: Any, caller: Caller, shape: Filter, page: int, ids: list[str]) -> int:
    """Raise when the page differs from the reference query; returns the total match count."""
    q, bbox = shape
    rows = conn.run(
        _REFERENCE,
        caller=caller[0] if caller else None,
        q=q,
        bbox=bbox,
        skip=(page - 1) * PAGE,
        take=PAGE,
    )
    expected = [r[0] for r in rows]
    if ids != expected:
        raise SystemExit(f"page {page} differs from the reference query: {ids} != {expected}")
    return int(rows[0][1]) if rows else 0


def backend_cpu(conn: Any) -> Path | None:
    """The /proc file holding the backend's on-CPU nanoseconds, when the server is local: its
    CPU time stays meaningful on a busy machine, where the wall-clock time does not."""
    path = Path(f"/proc/{conn.run('SELECT pg_backend_pid()')[0][0]}/schedstat")
    try:
        path.read_text()
    except OSError:
        return None
    return path


def cpu_ms(path: Path | None) -> float:
    return int(path.read_text().split()[0]) / 1e6 if path else 0.0


def follow(conn: Any, caller: Caller, shape: Filter, depth: int) -> tuple[Any, int, list[str]]:
    """(cursor, page number, ids) of page `depth`, or of the last page when there are fewer."""
    cursor, page = None, 1
    while True:
        result = conn.run(_CALL, **browse_args(caller, shape, cursor))[0][0]
        if page == depth or result["next"] is None:
            return cursor, page, [m["id"] for m in result["items"]]
        cursor, page = result["next"], page + 1


def time_shapes(
    urls: dict[int, str], callers: list[str], filters: list[str], runs: int, depth: int, check: bool
) -> dict[int, dict[tuple[str, str, str], Timing]]:
    """Time every shape at every size; a shape's calls alternate between the sizes, so a busy
    machine slows all sizes alike and the ratio stays meaningful."""
    conns = {rows: connect(url, timeout=600) for rows, url in urls.items()}
    cpu_files = {rows: backend_cpu(conn) for rows, conn in conns.items()}
    results: dict[int, dict[tuple[str, str, str], Timing]] = {rows: {} for rows in urls}
    try:
        for name in callers:
            username = CALLER_NAMES[name]
            caller: Caller = None
            if username is not None:
                row = conns[min(urls)].run(
                    "SELECT id::text, token_version FROM app.users WHERE username = :u", u=username
                )
                caller = (row[0][0], row[0][1])
            for label in filters:
                shape = FILTERS[label]
                args: dict[tuple[int, str], dict[str, Any]] = {}
                pages: dict[tuple[int, str], int] = {}
                matches: dict[int, int | None] = {}
                for rows, conn in conns.items():
                    cursor, page, deep_ids = follow(conn, caller, shape, depth)
                    matches[rows] = None
                    if check:
                        first = conn.run(_CALL, **browse_args(caller, shape, None))[0][0]
                        matches[rows] = check_page(
                            conn, caller, shape, 1, [m["id"] for m in first["items"]]
                        )
                        check_page(conn, caller, shape, page, deep_ids)
                    args[(rows, "first")] = browse_args(caller, shape, None)
                    args[(rows, "deep")] = browse_args(caller, shape, cursor)
                    pages[(rows, "first")], pages[(rows, "deep")] = 1, page
                for which in ("first", "deep"):
                    samples: dict[int, list[float]] = {rows: [] for rows in conns}
                    cpu: dict[int, list[float]] = {rows: [] for rows in conns}
                    for run in range(runs + 2):
                        order = list(conns.items())
                        for rows, conn in order if run % 2 else reversed(order):
                            cpu_before = cpu_ms(cpu_files[rows])
                            started = time.perf_counter()
                            conn.run(_CALL, **args[(rows, which)])
                            elapsed = (time.perf_counter() - started) * 1000
                            if run >= 2:  # two warm-up calls
                                samples[rows].append(elapsed)
                                cpu[rows].append(cpu_ms(cpu_files[rows]) - cpu_before)
                    for rows, values in samples.items():
                        results[rows][(name, label, which)] = Timing(
                            statistics.median(values),
                            percentile(values, 95),
                            statistics.median(cpu[rows]) if cpu_files[rows] else None,
                            pages[(rows, which)],
                            matches[rows],
                        )
                print(".", end="", flush=True)
    finally:
        for conn in conns.values():
            conn.close()
    print(flush=True)
    return results


def meets(small: Timing, large: Timing, cpu: bool) -> bool:
    """The goal: p50 at the large size <= 20 ms and <= 2x the p50 at the small size."""
    if cpu:
        if small.cpu50 is None or large.cpu50 is None:
            return False
        return large.cpu50 <= 20 and large.cpu50 <= 2 * small.cpu50
    return large.p50 <= 20 and large.p50 <= 2 * small.p50


def report(sizes: list[int], results: dict[int, dict[tuple[str, str, str], Timing]]) -> str:
    """Print the table; returns how the goal was met: 'wall', 'cpu' or 'no'."""
    small, large = sizes[0], sizes[-1]
    head = f"{'caller':<7} {'filter':<11} {'page':<5}"
    for rows in sizes:
        label = f"{rows:,}"
        head += f" | {label + ' p50':>12} {'p95':>6} {'cpu':>5} {'pg':>3} {'matches':>8}"
    head += " | ratio   cpu  goal"
    print(head)
    print("-" * len(head))
    wall_met = cpu_met = True
    for key in results[small]:
        line = f"{key[0]:<7} {key[1]:<11} {key[2]:<5}"
        for rows in sizes:
            t = results[rows][key]
            matches = "" if t.matches is None else f"{t.matches:,}"
            cpu = "" if t.cpu50 is None else f"{t.cpu50:5.2f}"
            line += f" | {t.p50:12.2f} {t.p95:6.2f} {cpu:>5} {t.page:>3} {matches:>8}"
        a, b = results[small][key], results[large][key]
        cpu_ratio = f"{b.cpu50 / a.cpu50:5.2f}" if a.cpu50 and b.cpu50 else ""
        by_wall, by_cpu = meets(a, b, cpu=False), meets(a, b, cpu=True)
        wall_met &= by_wall
        cpu_met &= by_cpu
        verdict = "ok" if by_wall else "cpu ok" if by_cpu else "MISS"
        line += f" | {b.p50 / a.p50:5.2f} {cpu_ratio:>5}  {verdict}"
        print(line)
    return "wall" if wall_met else "cpu" if cpu_met else "no"


def own_server(root: Path) -> tuple[Any, str]:
    """A private embedded PostgreSQL with shared_buffers of a small production server."""
    from devstack.postgres import LocalPostgres

    server = LocalPostgres(root / "pg")
    url = server.start()
    conn = connect(url)
    conn.run("ALTER SYSTEM SET shared_buffers = '1GB'")
    conn.close()
    server.stop()
    return server, server.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--runs", type=int, default=25, help="timed calls per shape")
    parser.add_argument("--depth", type=int, default=10, help="the deep page's number")
    parser.add_argument("--callers", default="guest,member,owner")
    parser.add_argument("--filters", default=",".join(FILTERS), help="a subset of the filters")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the seeded databases")
    parser.add_argument("--reuse", action="store_true", help="reuse kept databases")
    parser.add_argument("--no-check", action="store_true", help="skip the reference check")
    args = parser.parse_args()
    callers = args.callers.split(",")
    sizes = sorted(args.rows)
    root, server = None, None
    if args.database_url:
        server_url = args.database_url
    else:
        root = Path(tempfile.mkdtemp(prefix="mapstock-bench-pg-"))
        os.chmod(root, 0o755)  # noqa: S103 - the unprivileged server account must reach it
        server, server_url = own_server(root)
    try:
        urls = {rows: prepare(server_url, rows, args.reuse) for rows in sizes}
        results = time_shapes(
            urls, callers, args.filters.split(","), args.runs, args.depth, not args.no_check
        )
        if not (args.keep and args.database_url):
            for rows in sizes:
                drop(server_url, rows)
        print(f"\napi.browse_maps, limit {PAGE}, {args.runs} runs per shape, times in ms")
        met = report(sizes, results)
        print(
            "\ngoal (p50 at the largest size <= 20 ms and <= 2x the smallest):",
            {
                "wall": "met",
                "cpu": "met by the server's CPU time (wall-clock times too noisy here)",
                "no": "NOT met",
            }[met],
        )
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        if server is not None:
            server.stop()
            # The shutdown checkpoint of a million maps can outlast pg_ctl's wait.
            for _ in range(120):
                if server.pid() is None:
                    break
                time.sleep(0.5)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
