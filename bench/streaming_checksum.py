"""Files over the spool limit: the streamed SHA-256 (parallel ranged reads, hashed in order,
nothing written) against `openssl dgst -sha256` on the same file. Target: ours >= 0.8x.

  local   ranged.stream_sha256 over pread() of a local file: the pipeline's own overhead
  moto    ranged.stream_sha256 over real S3 ranged GETs to a moto server on loopback (moto's
          own speed bounds this one; reported for reference)

    .venv/bin/python bench/streaming_checksum.py [--size-gib 1] [--repeat 5] [--moto-mib 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.pipeline import ranged  # noqa: E402


def _openssl(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, capture_output=True)
    return time.perf_counter() - started


def _ours(path: Path, size: int) -> float:
    fd = os.open(path, os.O_RDONLY)
    try:
        started = time.perf_counter()
        ranged.stream_sha256(size, lambda s, n: os.pread(fd, n, s), workers=ranged.STREAM_WORKERS)
        return time.perf_counter() - started
    finally:
        os.close(fd)


def _through_moto(path: Path, size: int) -> float:
    import logging

    import boto3

    from devstack import aws

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from devstack.postgres import free_port

    port = free_port()
    server = aws.start_moto(port)
    try:
        os.environ.update(aws.LOCAL_CREDENTIALS)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
        s3.create_bucket(Bucket="bench")
        s3.upload_file(str(path), "bench", "big")

        def read_at(start: int, length: int) -> bytes:
            body = s3.get_object(
                Bucket="bench", Key="big", Range=f"bytes={start}-{start + length - 1}"
            )
            return bytes(body["Body"].read())

        started = time.perf_counter()
        ranged.stream_sha256(size, read_at, workers=ranged.STREAM_WORKERS)
        return time.perf_counter() - started
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--moto-mib", type=int, default=256)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mapstock-bench-stream-"))
    try:
        path = tmp / "big.bin"
        size = int(args.size_gib * 2**30)
        with open(path, "wb") as out:
            block = os.urandom(16 * 2**20)
            for _ in range(size // len(block)):
                out.write(block)
        size = path.stat().st_size
        _openssl(path)  # into the page cache
        theirs, ours = [], []
        for _ in range(args.repeat):  # interleaved
            theirs.append(_openssl(path))
            ours.append(_ours(path, size))
        mb = size / 1e6
        for label, runs in (("openssl dgst -sha256", theirs), ("ranged.stream_sha256", ours)):
            print(
                f"{label:<22} best {min(runs):6.3f} s ({mb / min(runs):6.0f} MB/s)"
                f"  median {statistics.median(runs):6.3f} s"
            )
        print(
            f"ours / openssl: {min(theirs) / min(ours):.2f}x best, "
            f"{statistics.median(theirs) / statistics.median(ours):.2f}x median (target >= 0.8x)"
        )
        if args.moto_mib:
            small = tmp / "moto.bin"
            with open(path, "rb") as src, open(small, "wb") as dst:
                dst.write(src.read(args.moto_mib * 2**20))
            seconds = _through_moto(small, small.stat().st_size)
            print(
                f"through moto (loopback S3), {args.moto_mib} MiB: {seconds:.2f} s "
                f"({small.stat().st_size / 1e6 / seconds:.0f} MB/s)"
            )
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
