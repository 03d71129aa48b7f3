"""Processing throughput: our spool + inspect path against `openssl dgst -sha256` on one 1 GiB file.

The file is an UNCOMPRESSED 3-band uint8 GeoTIFF (gradients + noise, ~1 GiB, written with rasterio
into a temp dir and deleted afterwards); --file PATH uses an existing file instead (kept).
The file is read once first, so every figure is from the page cache; --repeat rounds each run
every case once (interleaved), and the best and median are printed.
Spooled copies go to the temp dir (same filesystem as the source file's temp dir).

  openssl      `openssl dgst -sha256 FILE` (the target: ours >= 0.8x its MB/s)
  ours         pipeline.spool_chunks(1 MiB reads of FILE, limit, tmpdir) + inspect_file
  diagnostics  hash only, copy only

    .venv/bin/python bench/processing_throughput.py [--file PATH] [--size-gib 1] [--repeat 7]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHUNK = 1024 * 1024  # what storage.iter_object yields


def read_chunks(path: str | Path, size: int = CHUNK) -> Iterator[bytes]:
    """A local stand-in for storage.iter_object: the file in `size`-byte reads."""
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="use this file instead of generating one")
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mapstock-bench-tp-"))
    try:
        path = args.file or tmp / "scan.tif"
        if args.file is None:
            from cog import write_scan  # bench/cog.py, on sys.path as this script's folder

            start = time.perf_counter()
            write_scan(path, int(args.size_gib * 2**30), compress=None)
            print(f"generated {path.name} in {time.perf_counter() - start:.1f} s")
        _measure(path, tmp, args.repeat)
    finally:
        shutil.rmtree(tmp)


def _measure(path: Path, tmp: Path, repeat: int) -> None:
    from chalicelib.formats.inspect import inspect_file
    from chalicelib.pipeline.process import spool_chunks

    size = path.stat().st_size
    mb = size / 1e6
    for _ in read_chunks(path):  # warm the page cache: all runs read from memory
        pass
    print(f"file {path} = {size / 2**30:.3f} GiB; {repeat} rounds; MB = 10^6 bytes")

    def pipeline(spool: Callable[..., Any], chunk: int = CHUNK) -> Callable[[], None]:
        def run() -> None:
            spooled = spool(read_chunks(path, chunk), size, str(tmp))
            try:
                inspect_file(spooled.path)
            finally:
                os.unlink(spooled.path)

        return run

    def hash_only() -> None:
        digest = hashlib.sha256()
        for chunk in read_chunks(path):
            digest.update(chunk)

    def copy_only() -> None:
        with open(tmp / "copy", "wb") as out:
            for chunk in read_chunks(path):
                out.write(chunk)
        os.unlink(tmp / "copy")

    openssl = ["openssl", "dgst", "-sha256", str(path)]
    cases: dict[str, Callable[[], Any]] = {
        "openssl dgst -sha256": lambda: subprocess.run(openssl, check=True, capture_output=True),
        "ours: spool_chunks + inspect_file (1 MiB)": pipeline(spool_chunks),
        "ours with 8 MiB chunks": pipeline(spool_chunks, 8 * CHUNK),
        "diag: hashlib.sha256 only (1 MiB reads)": hash_only,
        "diag: read + write only, no hash": copy_only,
        "diag: inspect_file alone": lambda: inspect_file(str(path)),
    }
    # Rounds interleave the cases, so a noisy neighbour slows all of them, not just one.
    times: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(repeat):
        for label, run in cases.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    base = min(times["openssl dgst -sha256"])
    print(f"  {'case':42} {'best':>8} {'median':>8} {'MB/s':>7}  openssl/case")
    for label, seconds in times.items():
        best = min(seconds)
        print(
            f"  {label:42} {best:7.3f}s {statistics.median(seconds):7.3f}s "
            f"{mb / best:7.0f}  {base / best:.2f}x"
        )


if __name__ == "__main__":
    main()
