"""The security review's TIFF bomb through what a job runs: inspect, then optimize under the
job's optimize deadline (as chalicelib.pipeline.process._optimize sets it).

  bomb    45000 x 45000 deflate tiles, every TileOffset pointing at ONE blank tile (62 KB)
  sparse  the same raster written honestly sparse (all tiles offset/count 0, as GDAL does)

Before the fix (commit 2a21175): bomb inspected in 1.25 s, then optimize ran 54.9 s (on a
loaded 2-core host; the review measured 111 s) and threw the COG away as too large.

    .venv/bin/python bench/tiff_bomb.py [--which bomb sparse] [--budget 540]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import rasterio  # noqa: F401 -- imported before timing: the figures are the work, not imports
    import tifffile  # noqa: F401

    from chalicelib.formats.inspect import inspect_file
    from chalicelib.formats.result import Rejected
    from chalicelib.pipeline import process
    from chalicelib.pipeline.budget import Budget
    from tests.hostile_tiffs import shared_tile_bomb, write

    parser = argparse.ArgumentParser()
    parser.add_argument("--which", nargs="+", default=["bomb", "sparse"])
    parser.add_argument("--budget", type=float, default=540.0, help="JOB_BUDGET_SECONDS")
    args = parser.parse_args()
    makers = {"bomb": lambda: shared_tile_bomb(), "sparse": lambda: shared_tile_bomb(sparse=1.0)}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.which:
            path = write(os.path.join(workdir, f"{name}.tif"), makers[name]())
            job = Budget(args.budget)
            started = time.monotonic()
            try:
                found = inspect_file(path)
            except Rejected as exc:
                took = time.monotonic() - started
                print(f"{name}: {os.path.getsize(path)} B, rejected {exc.code} in {took:.2f} s")
                continue
            inspected = time.monotonic() - started
            optimized = process._optimize(path, found, workdir, job)
            total = time.monotonic() - started
            print(
                f"{name}: {os.path.getsize(path)} B, ready in {inspected:.2f} s (inspect), "
                f"optimize {total - inspected:.1f} s, variant "
                f"{optimized.size if optimized else None}"
            )


if __name__ == "__main__":
    main()
