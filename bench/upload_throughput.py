"""`mapstock upload` against boto3's `upload_file`, same moto, same part size and concurrency:
throughput and the client's peak RSS; then the bytes sent again after a Ctrl-C at ~50 %.

    .venv/bin/python bench/upload_throughput.py [--mib 2048] [--part-mib 16] [--parallel 4]
        [--runs 2] [--data PATH] [--sha256-reference] [--no-resume]

Starts its own local stack (`python -m devstack.run`, throwaway state folder, free ports) with
MULTIPART_PART_BYTES = the part size, makes a member, logs in with `mapstock login`, then:
- `mapstock upload FILE --parallel N` (not a terminal: plain progress) and, into a bucket of
  its own on the same moto, boto3 `upload_file` with TransferConfig(multipart_chunksize =
  part size, max_concurrency = N), alternately, `--runs` times each; wall time and peak RSS of
  each client process (wait4). Goals: ours >= 0.9x boto3's throughput; our RSS <= 64 MiB +
  part size x N. mapstock sends each part with its SHA-256 (S3 checks it; moto only hashes
  the parts again when it completes such an upload); boto3 sends CRC32s by default.
  --sha256-reference adds boto3 with ChecksumAlgorithm=SHA256: the same integrity as ours.
- resume: `mapstock upload -v` interrupted (SIGINT) once half the parts are in, then run again;
  bytes sent again = bytes of parts stopped half-way (sent twice) + parts the rerun sent that
  the server already held. Goal: <= one part per parallel stream.
The file (random 64 MiB blocks, repeated) is made once and kept (default in /tmp).
moto is Python on loopback: the figures measure moto as much as the clients.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MIB = 1024 * 1024
BIN = Path(sys.executable).parent
PASSWORD = secrets.token_urlsafe(16)  # a throwaway member of a throwaway stack
BOTO3_UPLOAD = """
import json, os, sys, boto3
from boto3.s3.transfer import TransferConfig
env = json.load(open(sys.argv[1]))
s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"],
                  aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                  region_name=env["AWS_DEFAULT_REGION"])
part = int(sys.argv[4])
config = TransferConfig(multipart_threshold=part, multipart_chunksize=part,
                        max_concurrency=int(sys.argv[5]), use_threads=True)
extra = {"ChecksumAlgorithm": sys.argv[6]} if len(sys.argv) > 6 else {}
size, seen = os.path.getsize(sys.argv[2]), [0]
def sent(amount):  # called from the transfer threads as bytes go out
    seen[0] += amount
    if seen[0] >= size:
        print("upload: all bytes sent (100%)", file=sys.stderr, flush=True)
s3.upload_file(sys.argv[2], sys.argv[3], "bench/object", Config=config, Callback=sent,
               ExtraArgs=extra)
"""


@dataclass
class Run:
    """One client process: exit code, wall seconds, peak RSS (bytes), what it printed, when
    the last byte was handed to the network (its `(100%)` progress line), its CPU seconds."""

    code: int
    seconds: float
    rss: int
    out: str
    err: str
    bytes_done: float | None = None
    cpu: float = 0.0  # user + system seconds of the client


# Peak RSS through a small forked parent: Linux keeps ru_maxrss across fork and exec, so a client
# forked straight from this (large) process would report this process's size.
MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
cpu = usage.ru_utime + usage.ru_stime
open(sys.argv[1], "w").write(f"{usage.ru_maxrss} {cpu}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured(argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run a process to its end; its peak RSS from wait4 (ru_maxrss, KiB on Linux)."""
    with tempfile.TemporaryFile() as out:
        rss_file = Path(tempfile.mktemp(prefix="mapstock-bench-rss-"))  # noqa: S306
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", MEASURE, str(rss_file), *argv],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        lines, bytes_done = [], None
        for line in process.stderr:
            lines.append(line)
            if "(100%)" in line and bytes_done is None:
                bytes_done = time.perf_counter() - started
        code = process.wait()
        seconds = time.perf_counter() - started
        rss_kib, cpu = rss_file.read_text().split()
        rss_file.unlink()
        out.seek(0)
        run = Run(code, seconds, int(rss_kib) * 1024, out.read().decode(), "".join(lines))
        run.bytes_done, run.cpu = bytes_done, float(cpu)
        return run


def make_data(path: Path, mib: int) -> None:
    """A file of `mib` MiB of random 64 MiB blocks, made once."""
    if path.exists() and path.stat().st_size == mib * MIB:
        return
    block = os.urandom(64 * MIB)
    with open(path, "wb") as out:
        for offset in range(0, mib, 64):
            out.write(block[: min(64, mib - offset) * MIB])


class Stack:
    """`python -m devstack.run` in a throwaway folder, as `make run` starts it."""

    def __init__(self, part_bytes: int):
        from devstack.postgres import free_port

        self.home = Path(tempfile.mkdtemp(prefix="mapstock-bench-"))
        os.chmod(self.home, 0o755)  # noqa: S103 - the unprivileged PostgreSQL account
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        api, pg, moto = sorted(ports)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(
            PORT=str(api),
            MAPSTOCK_PG_PORT=str(pg),
            MAPSTOCK_MOTO_PORT=str(moto),
            MAPSTOCK_STATE_DIR=str(self.home / ".local"),
            MULTIPART_PART_BYTES=str(part_bytes),
            MULTIPART_THRESHOLD_BYTES=str(part_bytes),
        )
        self.url = f"http://127.0.0.1:{api}"
        self.log = open(self.home / "run.out", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.run"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while "Map Stock is running" not in (self.home / "run.out").read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the local stack did not start")
            time.sleep(0.2)
        self.env_json = self.home / ".local" / "run" / "env.json"

    def admin(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(PYTHONPATH=str(ROOT), MAPSTOCK_PASSWORD=PASSWORD)
        subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args], cwd=self.home, env=env, check=True
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def client_env(stack: Stack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAPSTOCK_")}
    env.update(MAPSTOCK_API=stack.url, MAPSTOCK_CONFIG=str(stack.home / "client"))
    return env


def api(stack: Stack, method: str, path: str) -> Any:
    import httpx

    token = json.loads((stack.home / "client" / "credentials.json").read_text())[stack.url]
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    response = httpx.request(method, stack.url + path, headers=headers, timeout=60)
    response.raise_for_status()
    return response.json() if response.content else None


def settle(stack: Stack, map_id: str) -> None:
    """Wait until processing is over (it reads the whole object), then delete the map, so the
    next run has moto and the CPUs to itself."""
    while api(stack, "GET", f"/v1/maps/{map_id}")["status"] not in ("ready", "rejected", "failed"):
        time.sleep(1)
    api(stack, "DELETE", f"/v1/maps/{map_id}")


def ours(stack: Stack, data: Path, parallel: int) -> Run:
    argv = [str(BIN / "mapstock"), "upload", str(data), "--parallel", str(parallel)]
    run = measured(argv, client_env(stack), stack.home)
    if run.code != 0:
        raise SystemExit(f"mapstock upload failed: {run.err[-2000:]}")
    settle(stack, run.out.strip())
    return run


def boto3_run(
    stack: Stack, data: Path, part: int, parallel: int, bucket: str, checksum: str = ""
) -> Run:
    argv = [sys.executable, "-c", BOTO3_UPLOAD, str(stack.env_json), str(data), bucket]
    argv += [str(part), str(parallel), *([checksum] if checksum else [])]
    run = measured(argv, dict(os.environ), stack.home)
    if run.code != 0:
        raise SystemExit(f"boto3 upload failed: {run.err[-2000:]}")
    return run


def resume(stack: Stack, data: Path, part: int, parallel: int) -> dict[str, int]:
    """Interrupt at ~50 %, run again; the bytes the two runs sent and sent twice."""
    size = data.stat().st_size
    parts = -(-size // part)
    argv = [str(BIN / "mapstock"), "upload", str(data), "--parallel", str(parallel), "-v"]
    first = subprocess.Popen(
        argv,
        env=client_env(stack),
        cwd=stack.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stderr is not None
    said = []
    for line in first.stderr:
        said.append(line)
        if sum(" sent (" in x for x in said) >= parts // 2:
            first.send_signal(signal.SIGINT)
            break
    said.append(first.communicate(timeout=120)[1])
    log1 = "".join(said)
    if first.returncode != 130:
        raise SystemExit(f"the first run was not interrupted ({first.returncode}): {log1[-500:]}")
    map_id = re.search(r"^map (\S+): multipart", log1, re.M).group(1)  # type: ignore[union-attr]
    held = {
        p["part_number"]: p["size"] for p in api(stack, "GET", f"/v1/maps/{map_id}/upload")["parts"]
    }
    second = measured(argv, client_env(stack), stack.home)
    if second.code != 0:
        raise SystemExit(f"the resumed upload failed: {second.err[-2000:]}")
    sent1 = {int(n): int(b) for n, b in re.findall(r"^part (\d+) sent \((\d+) bytes\)", log1, re.M)}
    stopped = [int(b) for b in re.findall(r"^part \d+ stopped after (\d+) bytes", log1, re.M)]
    sent2 = {
        int(n): int(b) for n, b in re.findall(r"^part (\d+) sent \((\d+) bytes\)", second.err, re.M)
    }
    settle(stack, map_id)
    twice = sum(stopped) + sum(b for n, b in sent2.items() if n in held)
    return {
        "size": size,
        "parts": parts,
        "held_after_interrupt": len(held),
        "first_run_parts": len(sent1),
        "stopped_parts": len(stopped),
        "stopped_bytes": sum(stopped),
        "second_run_parts": len(sent2),
        "second_run_bytes": sum(sent2.values()),
        "sent_twice_bytes": twice,
        "wire_bytes_total": sum(sent1.values()) + sum(stopped) + sum(sent2.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=2048, help="file size in MiB (2048)")
    parser.add_argument("--part-mib", type=int, default=16, help="part size in MiB (16)")
    parser.add_argument("--parallel", type=int, default=4, help="parts at once (4)")
    parser.add_argument("--runs", type=int, default=2, help="uploads per client (2)")
    parser.add_argument("--data", type=Path, help="the file (default /tmp/mapstock-bench-NM.tif)")
    parser.add_argument("--no-resume", action="store_true", help="skip the resume figure")
    parser.add_argument(
        "--sha256-reference", action="store_true", help="also boto3 with SHA-256 part checksums"
    )
    args = parser.parse_args()
    part = args.part_mib * MIB
    data = args.data or Path(tempfile.gettempdir()) / f"mapstock-bench-{args.mib}M.tif"
    make_data(data, args.mib)
    size = data.stat().st_size
    stack = Stack(part)
    try:
        stack.admin("user", "create", "bench", "--days", "1")
        login = measured([str(BIN / "mapstock"), "login", "bench"], {
            **client_env(stack), "MAPSTOCK_PASSWORD": PASSWORD}, stack.home)  # fmt: skip
        if login.code != 0:
            raise SystemExit(login.err)
        import boto3

        env = json.loads(stack.env_json.read_text())
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        s3.create_bucket(Bucket="mapstock-bench")
        results: dict[str, list[Run]] = {"mapstock": [], "boto3": []}
        if args.sha256_reference:
            results["boto3-sha256"] = []
        for _ in range(args.runs):
            results["mapstock"].append(ours(stack, data, args.parallel))
            results["boto3"].append(boto3_run(stack, data, part, args.parallel, "mapstock-bench"))
            s3.delete_object(Bucket="mapstock-bench", Key="bench/object")
            if args.sha256_reference:
                run = boto3_run(stack, data, part, args.parallel, "mapstock-bench", "SHA256")
                results["boto3-sha256"].append(run)
                s3.delete_object(Bucket="mapstock-bench", Key="bench/object")
        print(
            f"{size / MIB:.0f} MiB, parts of {args.part_mib} MiB, {args.parallel} in parallel, "
            f"moto on loopback, {args.runs} runs each (alternating)"
        )
        best = {}
        for name, runs in results.items():
            rates = [size / MIB / r.seconds for r in runs]
            best[name] = max(rates)
            print(
                f"  {name:12s} best {max(rates):6.1f} MiB/s, median "
                f"{statistics.median(rates):6.1f} MiB/s  runs "
                + ", ".join(
                    f"{r.seconds:.1f} s (bytes out at {r.bytes_done or 0:.1f} s)" for r in runs
                )
                + f"  peak RSS {max(r.rss for r in runs) / MIB:.0f} MiB"
                + f"  client CPU {statistics.median(r.cpu for r in runs):.1f} s"
            )
        idle = measured([str(BIN / "mapstock"), "--version"], client_env(stack), stack.home)
        print(f"  mapstock --version alone: peak RSS {idle.rss / MIB:.0f} MiB (imports)")
        budget = 64 + args.part_mib * args.parallel
        rss = max(r.rss for r in results["mapstock"]) / MIB
        print(
            f"  mapstock / boto3 throughput: {best['mapstock'] / best['boto3']:.2f}x "
            "(goal >= 0.9); "
            f"mapstock peak RSS {rss:.0f} MiB (goal <= {budget} MiB)"
        )
        if args.sha256_reference:
            ratio = best["mapstock"] / best["boto3-sha256"]
            print(f"  mapstock / boto3 with SHA-256 part checksums: {ratio:.2f}x")
        if not args.no_resume:
            figures = resume(stack, data, part, args.parallel)
            print(
                f"  resume: interrupted with {figures['held_after_interrupt']} of "
                f"{figures['parts']} parts held; {figures['stopped_parts']} parts stopped "
                f"half-way ({figures['stopped_bytes'] / MIB:.1f} MiB); the rerun sent "
                f"{figures['second_run_parts']} parts ({figures['second_run_bytes'] / MIB:.1f} "
                f"MiB); sent twice: {figures['sent_twice_bytes'] / MIB:.1f} MiB (goal <= "
                f"{args.part_mib * args.parallel} MiB: one part per stream)"
            )
            print(json.dumps(figures))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
