"""Processing throughput end to end through S3 (moto server on loopback): the processor's
spool (GET streamed in 1 MiB chunks, SHA-256, temp file) of one object, vs the local-stream
figure of bench/processing_throughput.py. moto serves objects from Python, so this measures
moto as much as the processor: it is a floor, not what S3 in AWS gives.

    .venv/bin/python bench/moto_throughput.py [MiB]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    from devstack import aws
    from devstack.postgres import free_port

    port = free_port()
    server = aws.start_moto(port)
    os.environ.update(
        aws.LOCAL_CREDENTIALS,
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        MAPSTOCK_BUCKET="mapstock-bench",
        DATABASE_URL="postgresql://unused/x",
    )
    try:
        from chalicelib import storage
        from chalicelib.pipeline.process import spool

        storage.client().create_bucket(Bucket="mapstock-bench")
        data = os.urandom(1024 * 1024) * mib  # a repeated random MiB: hashing cost is the same
        storage.client().put_object(
            Bucket="mapstock-bench",
            Key="maps/bench/original",
            Body=data,
            ContentType="application/octet-stream",
        )
        del data
        times = []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(3):
                started = time.perf_counter()
                spooled = spool("maps/bench/original", mib * 1024 * 1024, tmp)
                times.append(time.perf_counter() - started)
                os.unlink(spooled.path)
        best, median = min(times), statistics.median(times)
        print(
            f"{mib} MiB through moto: best {best:.2f} s ({mib * 1.048576 / best:.0f} MB/s), "
            f"median {median:.2f} s, 3 runs"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
