"""The web application's upload page in headless Chromium against `mapstock upload`, same file,
same local stack, same part size and parallel parts: throughput of each and their ratio.

    .venv/bin/python bench/web_upload.py [--mib 1024] [--part-mib 16] [--runs 2]

Builds the web application (`make webapp`), starts its own local stack (bench/
upload_throughput.py's Stack: `python -m devstack.run` in a throwaway folder, free ports,
MULTIPART_PART_BYTES = the part size), makes a member, signs in with `mapstock login` and on
the web page, writes a file of random bytes in a temporary folder (removed at the end), then
alternately, `--runs` times each:
- browser: Debian's Chromium (Playwright, executable_path), the upload page, `Map file`, then
  `Upload`; timed from the click to the map's page (the upload is complete): POST v1/maps, part
  URLs, 4 parts at a time by XHR PUT, complete. The parts sent and the bar's last value are
  checked (every part once, 100 %).
- mapstock: `mapstock upload FILE --parallel 4`, timed as a process (its start-up included).
Each map is processed and deleted before the next run, so every upload has moto and the CPUs
to itself. Goal: browser >= 0.8x mapstock. moto is Python on loopback and shares the 2 cores
with both clients: the figures measure it as much as the clients.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from upload_throughput import (  # noqa: E402 - bench/ is not a package
    BIN,
    MIB,
    PASSWORD,
    Stack,
    api,
    client_env,
    make_data,
    measured,
    settle,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PART_PUT = re.compile(r"[?&]partNumber=(\d+)")
MAP_URL = re.compile(r"/maps/([0-9a-f-]{36})$")
# Before any page script: the last value the upload's progress bar showed.
LAST_PROGRESS = """
window.__lastProgress = null;
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.tagName === 'PROGRESS' && r.attributeName === 'value') {
      window.__lastProgress = r.target.value;
    }
  }
}).observe(document, {subtree: true, attributes: true});
"""


def browser_run(page: Any, data: Path, part_count: int) -> tuple[float, str]:
    """One upload from the page; (seconds from the click to the map's page, the map id)."""
    sent: list[int] = []

    def on_request(request: Any) -> None:
        match = PART_PUT.search(request.url)
        if request.method == "PUT" and match:
            sent.append(int(match.group(1)))

    page.on("request", on_request)
    page.goto("upload")
    page.get_by_label("Map file").set_input_files(str(data))
    started = time.perf_counter()
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(MAP_URL, timeout=30 * 60 * 1000)
    seconds = time.perf_counter() - started
    page.remove_listener("request", on_request)
    if sorted(sent) != list(range(1, part_count + 1)):
        raise SystemExit(f"the page sent parts {sorted(sent)}, not 1..{part_count} once each")
    last = page.evaluate("() => window.__lastProgress")
    if last != 100:
        raise SystemExit(f"the progress bar ended at {last}, not 100")
    match = MAP_URL.search(page.url)
    assert match
    return seconds, match.group(1)


def mapstock_run(stack: Stack, data: Path, parallel: int) -> float:
    argv = [str(BIN / "mapstock"), "upload", str(data), "--parallel", str(parallel)]
    run = measured(argv, client_env(stack), stack.home)
    if run.code != 0:
        raise SystemExit(f"mapstock upload failed: {run.err[-2000:]}")
    settle(stack, run.out.strip())
    return run.seconds


def chromium_args() -> list[str]:
    args = ["--enable-unsafe-swiftshader", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB (1024)")
    parser.add_argument("--part-mib", type=int, default=16, help="part size in MiB (16)")
    parser.add_argument("--parallel", type=int, default=4, help="mapstock --parallel (4)")
    parser.add_argument("--runs", type=int, default=2, help="uploads per client (2)")
    args = parser.parse_args()
    built = subprocess.run(["make", "-s", "webapp"], cwd=ROOT, capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"make webapp failed:\n{built.stdout}{built.stderr}")
    part = args.part_mib * MIB

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mapstock-web-upload-") as folder:
        data = Path(folder) / "bench.tif"
        make_data(data, args.mib)
        size = data.stat().st_size
        part_count = -(-size // part)
        stack = Stack(part)
        try:
            stack.admin("user", "create", "bench", "--days", "1")
            env = {**client_env(stack), "MAPSTOCK_PASSWORD": PASSWORD}
            login = measured([str(BIN / "mapstock"), "login", "bench"], env, stack.home)
            if login.code != 0:
                raise SystemExit(login.err)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=chromium_args()
                )
                context = browser.new_context(base_url=stack.url)
                context.add_init_script(LAST_PROGRESS)
                page = context.new_page()
                page.goto("sign-in")
                page.get_by_label("Username").fill("bench")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("button", name="Sign out").wait_for()
                times: dict[str, list[float]] = {"browser": [], "mapstock": []}
                for _ in range(args.runs):
                    seconds, map_id = browser_run(page, data, part_count)
                    times["browser"].append(seconds)
                    settle(stack, map_id)
                    times["mapstock"].append(mapstock_run(stack, data, args.parallel))
                browser.close()
            left = api(stack, "GET", "/v1/maps?owner=me")["items"]
            if left:
                raise SystemExit(f"maps left behind: {[m['id'] for m in left]}")
        finally:
            stack.stop()

    print(
        f"{size / MIB:.0f} MiB, {part_count} parts of {args.part_mib} MiB, 4 at a time (browser) "
        f"and --parallel {args.parallel} (mapstock), moto on loopback, {args.runs} runs each "
        "(alternating)"
    )
    best = {}
    for name, runs in times.items():
        rates = [size / MIB / s for s in runs]
        best[name] = max(rates)
        print(
            f"  {name:9s} best {max(rates):6.1f} MiB/s, median {statistics.median(rates):6.1f} "
            f"MiB/s  runs " + ", ".join(f"{s:.1f} s" for s in runs)
        )
    ratio = best["browser"] / best["mapstock"]
    print(f"  browser / mapstock throughput: {ratio:.2f}x (goal >= 0.8)")


if __name__ == "__main__":
    main()
