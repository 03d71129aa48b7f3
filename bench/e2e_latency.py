"""Upload -> `ready` latency against a running local stack, and `make run`'s start/stop times.

Latency (needs `make run` up and a member; the password comes from the environment, never argv):
    MAPSTOCK_PASSWORD=... .venv/bin/python bench/e2e_latency.py --user alice [--url URL] [--runs 20]
Prints median and p90 over the runs of a 1 MiB GeoJSON map, sent directly (multipart to the API)
and through the presigned POST (straight to S3), from the first byte sent to `ready` seen.

Start-up (own throwaway state folder and free ports; nothing of yours is touched):
    .venv/bin/python bench/e2e_latency.py --startup [--runs 3]
Prints the time from `make run` to its ready screen: cold (empty state: initdb and all) and warm.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MIB = 1024 * 1024


def geojson_of(size: int, run: int) -> bytes:
    """A FeatureCollection of points just over `size` bytes, different on every run."""
    feature = (
        '{"type":"Feature","properties":{"n":%d,"run":%d},'
        '"geometry":{"type":"Point","coordinates":[%f,%f]}}'
    )
    parts, total, i = [], 0, 0
    while total < size:
        part = feature % (i, run, 7 + (i % 1000) / 1000, 46 + (i // 1000) / 1000)
        parts.append(part)
        total += len(part) + 1
        i += 1
    return ('{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}").encode()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def one_upload(http: Any, url: str, headers: dict[str, str], data: bytes, presigned: bool) -> float:
    """Seconds from sending the bytes to seeing `ready`; the map is deleted afterwards."""
    started = time.perf_counter()
    if presigned:
        created = http.post(
            f"{url}/v1/maps", headers=headers, json={"filename": "bench.geojson", "size": len(data)}
        )
        created.raise_for_status()
        body = created.json()
        upload = body["upload"]
        posted = http.post(upload["url"], data=upload["fields"], files={"file": ("b", data)})
        posted.raise_for_status()
    else:
        files = {"file": ("bench.geojson", data, "application/geo+json")}
        created = http.post(f"{url}/v1/maps", headers=headers, files=files)
        created.raise_for_status()
        body = created.json()
    map_id = body["map"]["id"]
    while True:
        doc = http.get(f"{url}/v1/maps/{map_id}", headers=headers).json()
        if doc["status"] in ("ready", "rejected", "failed"):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    http.delete(f"{url}/v1/maps/{map_id}", headers=headers)
    if doc["status"] != "ready":
        raise SystemExit(f"map ended {doc['status']}: {doc.get('error')}")
    return elapsed


def latency(url: str, user: str, runs: int, size: int) -> None:
    import requests

    password = os.environ.get("MAPSTOCK_PASSWORD")
    if not password:
        raise SystemExit("set MAPSTOCK_PASSWORD (the member's password)")
    http = requests.Session()
    http.trust_env = False  # loopback only
    token = http.post(f"{url}/v1/auth/token", json={"username": user, "password": password})
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    print(f"{runs} runs, {size / MIB:.1f} MiB GeoJSON, {url}")
    for presigned in (False, True):
        times = [
            one_upload(http, url, headers, geojson_of(size, r), presigned) for r in range(runs)
        ]
        label = "presigned POST" if presigned else "direct upload "
        print(
            f"  {label}  upload -> ready: median {statistics.median(times) * 1000:6.0f} ms, "
            f"p90 {percentile(times, 90) * 1000:6.0f} ms"
        )


def one_start(home: Path, ports: list[int]) -> tuple[float, float]:
    """`make run` until its ready screen, then Ctrl-C until it exits: (start s, stop s)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            "MAPSTOCK_STATE_DIR": str(home / ".local"),
            "PORT": str(ports[0]),
            "MAPSTOCK_PG_PORT": str(ports[1]),
            "MAPSTOCK_MOTO_PORT": str(ports[2]),
        }
    )
    started = time.perf_counter()
    make = subprocess.Popen(
        ["make", "-s", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert make.stdout is not None
    for line in make.stdout:
        if "Map Stock is running" in line:
            break
    else:
        raise SystemExit("make run ended before it was ready")
    ready = time.perf_counter() - started
    stopping = time.perf_counter()
    os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C on the terminal does
    make.communicate(timeout=60)
    return ready, time.perf_counter() - stopping


def startup(runs: int) -> None:
    from devstack.postgres import free_port

    home = Path(tempfile.mkdtemp(prefix="mapstock-bench-"))
    os.chmod(home, 0o755)  # noqa: S103 - the unprivileged PostgreSQL account must reach .local
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    try:
        cold, cold_stop = one_start(home, sorted(ports))
        warm = [one_start(home, sorted(ports)) for _ in range(runs)]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"make run -> ready: cold {cold:.1f} s (first run: initdb, schema, buckets)")
    print(
        f"make run -> ready: warm median {statistics.median(w[0] for w in warm):.1f} s "
        f"over {runs} runs"
    )
    stops = [cold_stop] + [w[1] for w in warm]
    print(f"Ctrl-C -> all stopped: median {statistics.median(stops):.1f} s")
    print(json.dumps({"cold_s": cold, "warm_s": [round(w[0], 2) for w in warm]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("MAPSTOCK_API_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--user", default=os.environ.get("MAPSTOCK_USER"))
    parser.add_argument("--runs", type=int)
    parser.add_argument("--size", type=int, default=MIB, help="map size in bytes (1 MiB)")
    parser.add_argument("--startup", action="store_true", help="time `make run` instead")
    args = parser.parse_args()
    if args.startup:
        startup(args.runs or 3)
    elif not args.user:
        parser.error("--user (or MAPSTOCK_USER) is required")
    else:
        latency(args.url.rstrip("/"), args.user, args.runs or 20, args.size)


if __name__ == "__main__":
    main()
