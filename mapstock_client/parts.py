"""Send a multipart upload's parts straight to S3: N in parallel, each read once from the file
into its worker's buffer (hashing it on the way, for uploads with SHA-256 part checksums),
retried with exponential backoff from that buffer, with its presigned URL asked for again when
it expired or S3 refused it."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import datetime as dt
import hashlib
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx

from mapstock_client.api import Api, ClientError, map_path, storage_problem
from mapstock_client.progress import Progress

CHUNK = 1024 * 1024  # read, hashed and handed to the socket in steps of this (progress too)
CHECKSUM_HEADER = "x-amz-checksum-sha256"
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


class Slots:
    """`count` transfer slots, handed to waiting workers in the order they asked (a worker
    that gives one back cannot take it again ahead of one already waiting)."""

    def __init__(self, count: int):
        self.free = count
        self.lock = threading.Lock()
        self.waiting: deque[threading.Event] = deque()

    def acquire(self, stop: threading.Event) -> None:
        """Wait for a slot; raises Stopped once `stop` is set."""
        with self.lock:
            if self.free and not self.waiting:
                self.free -= 1
                return
            turn = threading.Event()
            self.waiting.append(turn)
        while not turn.wait(0.5):
            if stop.is_set():
                with self.lock:
                    if not turn.is_set():
                        self.waiting.remove(turn)
                        raise Stopped
                self.release()  # handed over while giving up: pass it on
                raise Stopped

    def release(self) -> None:
        with self.lock:
            if self.waiting:
                self.waiting.popleft().set()
            else:
                self.free += 1


def backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1-based): doubling from 0.5 s, at most 30 s,
    with jitter so parallel parts do not retry in step."""
    return min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.75, 1.0)


class PartSender:
    """Uploads parts of one multipart upload; `run()` returns {part_number: etag}.

    With `checksums` (an upload created with SHA-256 part checksums) each part's SHA-256 is
    computed while the part is read and signed into its URL, which is therefore asked for once
    the part is read; without, URLs are asked for ahead in batches."""

    def __init__(
        self,
        api: Api,
        map_id: str,
        fd: int,
        layout: Layout,
        progress: Progress,
        parallel: int = 4,
        log: Callable[[str], None] | None = None,
        checksums: bool = False,
    ):
        self.api, self.map_id, self.fd, self.layout = api, map_id, fd, layout
        self.progress, self.parallel, self.checksums = progress, parallel, checksums
        self.log = log or (lambda line: None)
        self.stop = threading.Event()
        # part -> (url, monotonic expiry, headers the PUT must carry)
        self.urls: dict[int, tuple[str, float, dict[str, str]]] = {}
        self.url_lock = threading.Lock()
        self.ask_lock = threading.Lock()  # one request for URLs with checksums at a time
        self.wanted: dict[int, str] = {}  # part -> checksum: read, waiting for a URL
        self.pending: list[int] = []
        self.buffers = threading.local()  # one part-sized buffer per worker, reused
        self.slots = Slots(parallel)  # parts on the wire at once
        # The bearer token must never reach S3: a client of its own, without it.
        self.s3 = httpx.Client(
            timeout=PART_TIMEOUT,
            limits=httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel),
        )

    def url_for(self, number: int, checksum: str | None = None) -> tuple[str, dict[str, str]]:
        """A fresh URL for part `number` and the headers its PUT must carry: with a checksum,
        signed for it (with those of other parts read by then); else asked for in batches of
        up to 100 parts still to go."""
        if checksum is not None:
            return self._signed_for(number, checksum)
        with self.url_lock:
            known = self._fresh(number, None)
            if known:
                return known
            # Every part still without a URL, lowest first: the workers start parts in order,
            # but the one that gets here first need not hold the lowest (its neighbours are a
            # moment behind and would each ask again).
            others = [n for n in self.pending if n != number and n not in self.urls]
            self.urls.update(
                self._ask({"part_numbers": sorted({number, *others[: URLS_PER_CALL - 1]})})
            )
            return self.urls[number][0], self.urls[number][2]

    def _signed_for(self, number: int, checksum: str) -> tuple[str, dict[str, str]]:
        with self.url_lock:
            known = self._fresh(number, checksum)
            if known:
                return known
            self.wanted[number] = checksum
        # One request at a time signs every part waiting by then: this worker's and those of
        # workers that queued behind it meanwhile (one call for several when parts bunch up).
        with self.ask_lock:
            with self.url_lock:
                known = self._fresh(number, checksum)
                if known:
                    return known
                self.wanted[number] = checksum  # again: a failed request may have taken it
                wanted, self.wanted = self.wanted, {}
            numbers = sorted(wanted)
            checksums = {str(n): wanted[n] for n in numbers}
            signed = self._ask({"part_numbers": numbers, "checksums_sha256": checksums})
            with self.url_lock:
                self.urls.update(signed)
                return self.urls[number][0], self.urls[number][2]

    def _fresh(self, number: int, checksum: str | None) -> tuple[str, dict[str, str]] | None:
        """The known URL of a part (signed for `checksum`) unless it expires soon; under
        url_lock."""
        known = self.urls.get(number)
        if not known or known[1] - time.monotonic() <= URL_MARGIN_SECONDS:
            return None
        if checksum is not None and known[2].get(CHECKSUM_HEADER) != checksum:
            return None
        return known[0], known[2]

    def _ask(self, doc: dict[str, Any]) -> dict[int, tuple[str, float, dict[str, str]]]:
        """POST …/upload/parts: {part: (url, monotonic expiry, headers)}."""
        answer = self.api.json(
            "POST", map_path(self.map_id, "upload", "parts"), json=doc, idempotent=True
        )
        return {
            int(part["part_number"]): (
                part["url"],
                _expiry(part["expires_at"]),
                dict(part.get("headers") or {}),
            )
            for part in answer["parts"]
        }

    def forget_url(self, number: int) -> None:
        with self.url_lock:
            self.urls.pop(number, None)

    def _buffer(self) -> bytearray:
        buffer: bytearray | None = getattr(self.buffers, "part", None)
        if buffer is None:
            buffer = self.buffers.part = bytearray(self.layout.part_size)
        return buffer

    def read_part(self, number: int) -> tuple[memoryview, str | None]:
        """Part `number` read once into this worker's buffer, hashed chunk by chunk as it comes
        in when the upload has checksums; (its bytes, its base64 SHA-256 or None). Raises
        ClientError when the file is shorter than it was, Stopped."""
        offset, length = self.layout.span(number)
        view = memoryview(self._buffer())[:length]
        digest = hashlib.sha256() if self.checksums else None
        done = 0
        while done < length:
            if self.stop.is_set():
                raise Stopped
            chunk = view[done : done + CHUNK]
            got = os.preadv(self.fd, [chunk], offset + done)
            if got <= 0:
                raise ClientError("the file shrank while it was being uploaded")
            if digest is not None:
                digest.update(chunk[:got])  # hashlib releases the GIL: workers hash in parallel
            done += got
        checksum = base64.b64encode(digest.digest()).decode() if digest is not None else None
        return view, checksum

    def _body(self, data: memoryview, sent: list[int]) -> Iterator[bytes]:
        """The part in chunks, counted as they go. Slices of the buffer, not copies: httpx
        (h11) takes any bytes-like chunk."""
        for start in range(0, len(data), CHUNK):
            if self.stop.is_set():
                raise Stopped
            chunk = data[start : start + CHUNK]
            sent[0] += len(chunk)
            self.progress.advance(len(chunk))
            yield cast(bytes, chunk)

    @contextlib.contextmanager
    def _on_the_wire(self) -> Iterator[None]:
        """One of the `parallel` transfer slots, held until the PUT's answer is dealt with (so
        a part that fails for good stops the others before a waiting one starts). Raises
        Stopped."""
        self.slots.acquire(self.stop)
        try:
            if self.stop.is_set():
                raise Stopped
            yield
        finally:
            self.slots.release()

    def _put(self, number: int, data: memoryview, url: str, headers: dict[str, str]) -> Any:
        """One PUT of the part; the progress it made is taken back when it does not succeed."""
        sent = [0]
        try:
            response = self.s3.put(
                url,
                content=self._body(data, sent),
                headers={**headers, "Content-Length": str(len(data))},
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
        """Read part `number` once and PUT it until S3 takes it; returns its ETag. Raises
        ClientError, Stopped."""
        data, checksum = self.read_part(number)
        problem = ""
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                self.log(f"part {number}: attempt {attempt - 1} failed ({problem}); retrying")
                self.stop.wait(backoff(attempt - 1))
            if self.stop.is_set():
                raise Stopped
            url, headers = self.url_for(number, checksum)  # signed before its turn comes
            with self._on_the_wire():
                try:
                    response = self._put(number, data, url, headers)
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                    continue
                etag = response.headers.get("ETag", "").strip('"')
                if response.status_code == 200 and etag:
                    self.log(f"part {number} sent ({len(data)} bytes)")
                    return etag
                problem = f"S3 answered {storage_problem(response)}"
                if response.status_code == 403:
                    self.forget_url(number)  # expired (or refused): the next attempt signs anew
                elif _bad_digest(response):
                    # The bytes S3 got are not the ones hashed (damaged on the way, or the file
                    # changed): read the part again and sign its URL for what is read now.
                    self.forget_url(number)
                    data, checksum = self.read_part(number)
                elif response.status_code not in RETRY_STATUSES:
                    self.stop.set()  # before a waiting part takes this slot
                    raise ClientError(f"part {number}: {problem}")
        self.stop.set()
        raise ClientError(f"part {number}: gave up after {ATTEMPTS} attempts ({problem})")

    def run(self, numbers: list[int]) -> dict[int, str]:
        """Send `numbers`, `parallel` at a time; returns their ETags. On Ctrl-C or a part that
        fails for good, the others stop within a chunk and the exception is raised.

        One worker more than there are transfers: while `parallel` parts are on the wire, the
        next one is read, hashed and signed, so no transfer waits for that (memory: one part
        buffer per worker)."""
        self.pending = sorted(numbers)
        etags: dict[int, str] = {}
        pool = cf.ThreadPoolExecutor(self.parallel + 1, thread_name_prefix="part")
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


def _bad_digest(response: httpx.Response) -> bool:
    """S3's answer to bytes that do not match their signed checksum (400 BadDigest)."""
    return response.status_code == 400 and "<Code>BadDigest</Code>" in response.text


def _expiry(expires_at: str) -> float:
    """An ISO time from the API as a time.monotonic() value (so clock changes do not matter)."""
    moment = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return time.monotonic() + (moment - dt.datetime.now(dt.UTC)).total_seconds()
