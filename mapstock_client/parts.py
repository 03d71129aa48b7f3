"""Send a multipart upload's parts straight to S3: N in parallel, each streamed from the file
(one chunk per worker in memory, never a whole part), retried with exponential backoff, with
its presigned URL asked for again when it expired or S3 refused it."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from mapstock_client.api import Api, ClientError, map_path
from mapstock_client.progress import Progress

CHUNK = 1024 * 1024
URLS_PER_CALL = 100  # the API's limit
URL_MARGIN_SECONDS = 60  # a URL this close to expiry is asked for again before use
ATTEMPTS = 8  # per part: backoff 0.5, 1, 2, 4, 8, 16, 30 s between them (about a minute)
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
PART_TIMEOUT = httpx.Timeout(120.0, connect=10.0)


class Stopped(Exception):
    """The upload was asked to stop (Ctrl-C, or another part failed for good)."""


@dataclass(frozen=True)
class Layout:
    """Where parts are in the file: `part_count` parts of `part_size` bytes (the last smaller)."""

    size: int
    part_size: int
    part_count: int

    def span(self, number: int) -> tuple[int, int]:
        """(offset, length) of part `number` (1-based)."""
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1-based): doubling from 0.5 s, at most 30 s,
    with jitter so parallel parts do not retry in step."""
    return min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.75, 1.0)


class PartSender:
    """Uploads parts of one multipart upload; `run()` returns {part_number: etag}."""

    def __init__(
        self,
        api: Api,
        map_id: str,
        fd: int,
        layout: Layout,
        progress: Progress,
        parallel: int = 4,
        log: Callable[[str], None] | None = None,
    ):
        self.api, self.map_id, self.fd, self.layout = api, map_id, fd, layout
        self.progress, self.parallel = progress, parallel
        self.log = log or (lambda line: None)
        self.stop = threading.Event()
        self.urls: dict[int, tuple[str, float]] = {}  # part -> (url, monotonic expiry)
        self.url_lock = threading.Lock()
        self.pending: list[int] = []
        # The bearer token must never reach S3: a client of its own, without it.
        self.s3 = httpx.Client(
            timeout=PART_TIMEOUT,
            limits=httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel),
        )

    def url_for(self, number: int) -> str:
        """A fresh URL for part `number`, asked for in batches of up to 100 parts still to go."""
        with self.url_lock:
            known = self.urls.get(number)
            if known and known[1] - time.monotonic() > URL_MARGIN_SECONDS:
                return known[0]
            ahead = [n for n in self.pending if n >= number and n not in self.urls]
            batch = sorted({number, *ahead[: URLS_PER_CALL - 1]})
            doc = self.api.json(
                "POST",
                map_path(self.map_id, "upload", "parts"),
                json={"part_numbers": batch},
                idempotent=True,
            )
            for part in doc["parts"]:
                self.urls[int(part["part_number"])] = (part["url"], _expiry(part["expires_at"]))
            return self.urls[number][0]

    def forget_url(self, number: int) -> None:
        with self.url_lock:
            self.urls.pop(number, None)

    def _body(self, number: int, sent: list[int]) -> Iterator[bytes]:
        offset, length = self.layout.span(number)
        done = 0
        while done < length:
            if self.stop.is_set():
                raise Stopped
            data = os.pread(self.fd, min(CHUNK, length - done), offset + done)
            if not data:
                raise ClientError("the file shrank while it was being uploaded")
            done += len(data)
            sent[0] += len(data)
            self.progress.advance(len(data))
            yield data

    def _put(self, number: int, length: int) -> httpx.Response:
        """One PUT of the part; the progress it made is taken back when it does not succeed."""
        sent = [0]
        try:
            response = self.s3.put(
                self.url_for(number),
                content=self._body(number, sent),
                headers={"Content-Length": str(length)},
            )
        except Stopped:
            self.progress.advance(-sent[0])
            self.log(f"part {number} stopped after {sent[0]} bytes")
            raise
        except BaseException:
            self.progress.advance(-sent[0])
            raise
        if response.status_code != 200:
            self.progress.advance(-sent[0])
        return response

    def send(self, number: int) -> str:
        """PUT one part until S3 takes it; returns its ETag. Raises ClientError, Stopped."""
        length = self.layout.span(number)[1]
        problem = ""
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                self.log(f"part {number}: attempt {attempt - 1} failed ({problem}); retrying")
                self.stop.wait(backoff(attempt - 1))
            if self.stop.is_set():
                raise Stopped
            try:
                response = self._put(number, length)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            etag = response.headers.get("ETag", "").strip('"')
            if response.status_code == 200 and etag:
                self.log(f"part {number} sent ({length} bytes)")
                return etag
            problem = f"S3 answered {response.status_code}: {response.text.strip()[:200]}"
            if response.status_code == 403:
                self.forget_url(number)  # expired (or refused): the next attempt signs anew
            elif response.status_code not in RETRY_STATUSES and response.status_code != 200:
                self.stop.set()  # here, before this worker picks up the next part
                raise ClientError(f"part {number}: {problem}")
        self.stop.set()
        raise ClientError(f"part {number}: gave up after {ATTEMPTS} attempts ({problem})")

    def run(self, numbers: list[int]) -> dict[int, str]:
        """Send `numbers` with `parallel` workers; returns their ETags. On Ctrl-C or a part that
        fails for good, the others stop within a chunk and the exception is raised."""
        self.pending = sorted(numbers)
        etags: dict[int, str] = {}
        pool = cf.ThreadPoolExecutor(self.parallel, thread_name_prefix="part")
        futures = {pool.submit(self.send, n): n for n in self.pending}
        try:
            remaining = set(futures)
            while remaining:
                # A timeout, so Ctrl-C reaches this (main) thread while workers are busy.
                done, remaining = cf.wait(remaining, timeout=0.5, return_when=cf.FIRST_EXCEPTION)
                # A part that failed for good stops the others (Stopped): report its reason.
                failures = [e for e in (f.exception() for f in done) if e is not None]
                real = [e for e in failures if not isinstance(e, Stopped)]
                if failures:
                    raise (real or failures)[0]
                for future in done:
                    etags[futures[future]] = future.result()
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.s3.close()
        return etags


def _expiry(expires_at: str) -> float:
    """An ISO time from the API as a time.monotonic() value (so clock changes do not matter)."""
    moment = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return time.monotonic() + (moment - dt.datetime.now(dt.UTC)).total_seconds()
