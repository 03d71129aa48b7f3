"""What one stored-function call costs against a bare `SELECT 1` on the same connection.

Times `db.call('api.get_map', …)` (a public map read by a guest: the function's cheapest real
path) the way the route makes it (literals inlined, one simple-query message, the document
returned as the JSON text the route sends on), next to the same call decoded into a dict,
pg8000's parameterised run() (unnamed prepare/bind/execute) and a named prepared statement,
all against a bare `SELECT 1`, the cases taking turns in blocks of calls. Target: the route's
db.call p50 <= 2.5x SELECT 1.

    .venv/bin/python bench/db_roundtrip.py [calls]      (DATABASE_URL, else an embedded server)
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib import db  # noqa: E402
from chalicelib.migrate import migrate  # noqa: E402
from devstack.postgres import LocalPostgres  # noqa: E402

ROUNDS = 10  # blocks of calls per case, the cases taking turns


def _timings(cases: dict[str, Callable[[], Any]], calls: int) -> dict[str, list[float]]:
    """`calls` timings of each case, made in ROUNDS blocks per case, the cases taking turns
    block by block: each call still runs in a tight loop of its own kind (as it did when each
    case ran all its calls at once), while a burst of load from other work on the machine
    lands on every case alike and the ratios hold. (Alternating call by call would not do:
    each SELECT 1 would then follow a heavier call and measure ~1.6x slower.)"""
    for run in cases.values():
        for _ in range(200):  # warm the connection, the plan cache and the CPU
            run()
    samples: dict[str, list[float]] = {label: [] for label in cases}
    block = max(1, calls // ROUNDS)
    for _ in range(ROUNDS):
        for label, run in cases.items():
            for _ in range(block):
                started = time.perf_counter()
                run()
                samples[label].append((time.perf_counter() - started) * 1000)
    return samples


def _seed(conn: Any) -> str:
    owner = uuid.uuid4()
    map_id = uuid.uuid4()
    conn.run(
        "INSERT INTO app.users (id, username, password_hash) VALUES (:id, :name, 'x')",
        id=owner,
        name=f"bench{owner.hex[:8]}",
    )
    conn.run(
        "INSERT INTO app.maps (id, owner_id, title, filename, visibility, status, declared_size,"
        " size, object_key) VALUES (:id, :owner, 'Bench', 'bench.tif', 'public', 'ready', 1, 1,"
        " :key)",
        id=map_id,
        owner=owner,
        key=f"maps/{map_id}/original",
    )
    return str(map_id)


def measure(url: str, calls: int) -> None:
    os.environ["DATABASE_URL"] = url
    conn = db.connect(url)
    migrate(conn)
    map_id = _seed(conn)
    args = {"p_caller": None, "p_token_version": None, "p_id": map_id}
    prepared = conn.prepare(
        "SELECT api.get_map(p_caller => :p_caller, p_token_version => :p_token_version,"
        " p_id => :p_id)"
    )
    cases: dict[str, Callable[[], Any]] = {
        "SELECT 1 (simple query)": lambda: conn.run("SELECT 1"),
        "db.call api.get_map (as the route: text)": lambda: db.call(
            "api.get_map", as_text=True, **args
        ),
        "db.call api.get_map decoded to a dict": lambda: db.call("api.get_map", **args),
        "parameterised run() api.get_map": lambda: conn.run(
            "SELECT api.get_map(p_caller => :p_caller, p_token_version => :p_token_version,"
            " p_id => :p_id)",
            **args,
        ),
        "named prepared statement api.get_map": lambda: prepared.run(**args),
    }
    p50 = {}
    for label, samples in _timings(cases, calls).items():
        p50[label] = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        n = len(samples)
        print(f"{label:<44} p50 {p50[label]:6.3f} ms   p90 {p90:6.3f} ms   (n={n})")
    base = p50["SELECT 1 (simple query)"]
    for label in list(cases)[1:]:
        print(f"{label:<44} {p50[label] / base:4.2f}x SELECT 1")
    print("target: db.call as the route makes it <= 2.50x SELECT 1")
    conn.close()


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    if os.environ.get("DATABASE_URL"):
        measure(os.environ["DATABASE_URL"], calls)
        return
    root = Path(tempfile.mkdtemp(prefix="mapstock-bench-pg-"))
    os.chmod(root, 0o755)  # noqa: S103 - the unprivileged server account must reach it
    server = LocalPostgres(root / "pg")
    try:
        measure(server.start(), calls)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)  # each run's cluster is ~47 MB


if __name__ == "__main__":
    main()
