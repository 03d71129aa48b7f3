"""The web application's browse page with 1,000 maps, in headless Chromium.

    .venv/bin/python bench/web_browse.py [--maps 1000] [--runs 5] [--url URL]

Starts the local stack (`python -m devstack.run`, as `make run` does) in a temp folder, seeds
--maps ready public maps straight into its database (bboxes over the world, 40 % in Europe;
one shared preview image in its S3), then opens the browse page --runs times, each in a fresh
browser context (cold cache: every asset downloaded), and prints per run and as the median:
- list drawn / footprints drawn / map idle: ms from navigation start to the app's
  performance marks (the first page's cards in the DOM; the first frame drawn with its
  footprints; MapLibre "idle": the basemap loaded and drawn too);
- browser CPU: CPU seconds all Chromium processes spent on the visit (on a busy machine the
  wall times stretch, this does not);
- JS + CSS bytes shipped as they crossed the wire (gzip; the MapLibre worker included) and
  the other assets (the basemap, the icon);
- API requests (v1/…) made until footprints are drawn, thumbnails included;
then, in one context, "Load more" until every map is listed and drawn: how long the last page
took to draw, and the number of footprints on the map.
Goal (issue 15): footprints and list drawn <= 1.5 s locally. Uses Debian's /usr/bin/chromium.
With --url, uses an already running stack (no seeding: its maps as they are).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.postgres import free_port  # noqa: E402

READY_LINE = "Map Stock is running"
FORMATS = ["geotiff", "pdf", "geojson", "jpeg", "png", "kml", "gpx", "gpkg", "mbtiles"]
PREVIEW_KEY = "bench/preview.png"


def start_stack(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m devstack.run` on free ports with its state in `home`; (process, url)."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "MAPSTOCK_PG_PORT": str(free_port()),
        "MAPSTOCK_MOTO_PORT": str(free_port()),
        "MAPSTOCK_STATE_DIR": str(home / ".local"),
    }
    env.pop("DATABASE_URL", None)
    out = home / "run.out"
    with open(out, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.run"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while READY_LINE not in out.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"the stack did not start:\n{out.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}"


def preview_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 192), (244, 241, 232))
    draw = ImageDraw.Draw(image)
    for i in range(0, 256, 16):
        draw.line([(i, 0), (255 - i, 191)], fill=(29, 78, 137), width=2)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def seed(env: dict[str, str], maps: int) -> None:
    """`maps` ready public maps of one member, each with a bbox and the shared preview."""
    import boto3

    from chalicelib.db import connect

    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    s3.put_object(Bucket=env["MAPSTOCK_BUCKET"], Key=PREVIEW_KEY, Body=preview_png())
    rng = random.Random(42)
    rows = []
    for i in range(maps):
        europe = rng.random() < 0.4
        cx = rng.uniform(-10, 40) if europe else rng.uniform(-175, 175)
        cy = rng.uniform(35, 70) if europe else rng.uniform(-55, 70)
        w = 0.01 * 2000 ** rng.random()
        h = w * (0.5 + rng.random())
        box = [
            max(-180, cx - w / 2),
            max(-90, cy - h / 2),
            min(180, cx + w / 2),
            min(90, cy + h / 2),
        ]
        rows.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "title": f"Survey sheet {i:04d}",
                "format": FORMATS[i % len(FORMATS)],
                "size": rng.randint(10_000, 500_000_000),
                "box": [round(v, 5) for v in box],
                "age": maps - i,
            }
        )
    conn = connect(env["DATABASE_URL"])
    try:
        owner = str(uuid.uuid4())
        conn.run(
            "INSERT INTO app.users (id, username, password_hash, role, active_until) "
            "VALUES (:id, 'bench_owner', 'bench-no-login', 'member', now() + interval '1 year')",
            id=owner,
        )
        conn.run(
            """
            INSERT INTO app.maps (id, owner_id, title, description, filename, visibility, status,
                declared_size, size, sha256, format, media_type, metadata, bbox, object_key,
                preview_key, preview_width, preview_height, preview_media_type, preview_size,
                created_at, updated_at, uploaded_at, processed_at)
            SELECT (r->>'id')::uuid, :owner, r->>'title', 'Seeded by bench/web_browse.py',
                lower(replace(r->>'title', ' ', '_')) || '.bin', 'public', 'ready',
                (r->>'size')::bigint, (r->>'size')::bigint,
                encode(sha256((r->>'id')::bytea), 'hex'),
                r->>'format', 'application/octet-stream',
                jsonb_build_object('crs', 'EPSG:4326', 'bbox', r->'box'),
                box(point((r->'box'->>0)::float8, (r->'box'->>1)::float8),
                    point((r->'box'->>2)::float8, (r->'box'->>3)::float8)),
                'maps/' || (r->>'id') || '/original',
                :preview, 256, 192, 'image/png', 1000,
                now() - (r->>'age')::int * interval '1 minute',
                now() - (r->>'age')::int * interval '1 minute',
                now() - (r->>'age')::int * interval '1 minute',
                now() - (r->>'age')::int * interval '1 minute'
            FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r
            """,
            owner=owner,
            preview=PREVIEW_KEY,
            rows=json.dumps(rows),
        )
        conn.run("ANALYZE app.maps")
    finally:
        conn.close()


def browser_cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) of this process's Chromium descendants by process type
    ("gpu-process" is SwiftShader's software WebGL here, "renderer" the page, its workers
    included): what a visit costs in CPU, whatever else shares the cores."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
            command = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (
            int(fields[1]),
            command,
            (int(fields[11]) + int(fields[12])) / ticks,
        )
    me, totals = os.getpid(), {}
    for pid, (_, command, cpu) in stats.items():
        parent, hops = pid, 0
        while parent in stats and parent != me and hops < 64:
            parent, hops = stats[parent][0], hops + 1
        if parent != me or pid == me or "chromium" not in command:
            continue
        kind = re.search(r"--type=(\S+)", command)
        name = kind.group(1) if kind and kind.group(1) in ("gpu-process", "renderer") else "other"
        totals[name] = totals.get(name, 0.0) + cpu
    return totals


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in ("gpu-process", "renderer", "other")}


def measure_cold(browser: Any, url: str) -> dict[str, Any]:
    """One cold visit of the browse page: marks, bytes, requests, CPU."""
    cpu_before = browser_cpu_seconds()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    seen: list[dict[str, Any]] = []
    drawn = {"done": False}

    def on_response(response: Any) -> None:
        if drawn["done"]:
            return
        path = response.url[len(url) :]
        length = response.headers.get("content-length")
        seen.append({"path": path, "bytes": int(length) if length else 0})

    context.on("response", on_response)
    page.goto(url + "/")
    page.wait_for_function(
        "() => performance.getEntriesByName('mapstock:footprints-drawn').length > 0",
        timeout=60_000,
    )
    page.wait_for_function(
        "() => performance.getEntriesByName('mapstock:map-idle').length > 0", timeout=60_000
    )
    page.wait_for_timeout(300)  # thumbnails of the cards in view ask just after the first draw
    drawn["done"] = True
    marks = page.evaluate(
        """() => Object.fromEntries(['list-drawn', 'maplibre-loaded', 'style-loaded',
            'footprints-drawn', 'map-idle'].map((name) =>
            [name, performance.getEntriesByName('mapstock:' + name)[0].startTime]))"""
    )
    cards = page.locator(".map-card").count()
    footprints = int(page.locator(".map-pane").get_attribute("data-footprints") or 0)
    cpu = _cpu_delta(cpu_before, browser_cpu_seconds())
    context.close()
    static = [s for s in seen if s["path"].startswith("/static/")]
    return {
        "list_ms": marks["list-drawn"],
        "footprints_ms": marks["footprints-drawn"],
        "idle_ms": marks["map-idle"],
        "cpu_s": sum(cpu.values()),
        "gpu_s": cpu["gpu-process"],
        "maplibre_ms": marks["maplibre-loaded"],
        "style_ms": marks["style-loaded"],
        "js_css_bytes": sum(s["bytes"] for s in static if s["path"].endswith((".js", ".css"))),
        "other_static_bytes": sum(
            s["bytes"] for s in static if not s["path"].endswith((".js", ".css"))
        ),
        "api_requests": sum(1 for s in seen if s["path"].startswith("/v1/")),
        "all_requests": len(seen),
        "cards": cards,
        "footprints": footprints,
    }


def measure_load_all(browser: Any, url: str) -> dict[str, Any]:
    """Load more until every map is listed; the last page's draw time, footprints on the map."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_function(
        "() => performance.getEntriesByName('mapstock:footprints-drawn').length > 0"
    )
    more = page.get_by_role("button", name="Load more")
    pages, last_ms = 1, 0.0
    while more.is_visible():
        before = page.evaluate(
            "() => performance.getEntriesByName('mapstock:footprints-drawn').length"
        )
        started = time.perf_counter()
        more.click()
        page.wait_for_function(
            "(n) => performance.getEntriesByName('mapstock:footprints-drawn').length > n",
            arg=before,
            timeout=60_000,
        )
        last_ms = (time.perf_counter() - started) * 1000
        pages += 1
    result = {
        "pages": pages,
        "cards": page.locator(".map-card").count(),
        "footprints": int(page.locator(".map-pane").get_attribute("data-footprints") or 0),
        "last_page_ms": last_ms,
    }
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="an already running stack (no seeding)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        sys.exit("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    subprocess.run(["make", "-s", "webapp"], cwd=ROOT, check=True)
    home = Path(tempfile.mkdtemp(prefix="mapstock-bench-web-"))
    os.chmod(home, 0o755)  # noqa: S103 - the unprivileged PostgreSQL account must reach .local
    process = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            process, url = start_stack(home)
            env = json.loads((home / ".local" / "run" / "env.json").read_text())
            started = time.perf_counter()
            seed(env, args.maps)
            print(f"seeded {args.maps} maps in {time.perf_counter() - started:.1f} s")
        with sync_playwright() as playwright:
            launch_args = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader"]
            if os.geteuid() == 0:
                launch_args.append("--no-sandbox")
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=launch_args
            )
            measure_cold(browser, url)  # warm-up: the server's first requests import the app
            runs = [measure_cold(browser, url) for _ in range(args.runs)]
            everything = measure_load_all(browser, url)
            browser.close()
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)

    print(f"\nbrowse page, {args.runs} cold visits (fresh context each), ms from navigation start:")
    header = (
        "run  list drawn  MapLibre loaded  style parsed  footprints drawn  map idle  "
        "browser CPU (GPU)  JS+CSS gzip  other assets  API requests  requests"
    )
    print(header)
    for i, r in enumerate(runs, 1):
        print(
            f"{i:>3}  {r['list_ms']:>10.0f}  {r['maplibre_ms']:>15.0f}  {r['style_ms']:>12.0f}  "
            f"{r['footprints_ms']:>16.0f}  {r['idle_ms']:>8.0f}  "
            f"{r['cpu_s']:>5.2f} s ({r['gpu_s']:.2f} s)  "
            f"{r['js_css_bytes']:>11,}  {r['other_static_bytes']:>12,}  "
            f"{r['api_requests']:>12}  {r['all_requests']:>8}"
        )
    med = {
        k: statistics.median(r[k] for r in runs)
        for k in ("list_ms", "footprints_ms", "idle_ms", "cpu_s", "gpu_s")
    }
    first = runs[0]
    print(
        f"median: list drawn {med['list_ms']:.0f} ms, footprints drawn "
        f"{med['footprints_ms']:.0f} ms (goal <= 1500 ms), map idle {med['idle_ms']:.0f} ms, "
        f"browser CPU {med['cpu_s']:.2f} s (of which software WebGL {med['gpu_s']:.2f} s); "
        f"first page: {first['cards']} cards, "
        f"{first['footprints']} footprints; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"load more to the end: {everything['pages']} pages, {everything['cards']} cards, "
        f"{everything['footprints']} footprints on one source; the last page drawn in "
        f"{everything['last_page_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
