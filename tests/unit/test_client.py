"""The mapstock client's parts that need no stack: private files, part retries against a fake
S3 on loopback (failures, an expired URL, a part damaged on the way), part checksums, checksum
verification, plain progress lines."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import http.server
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mapstock_client import config
from mapstock_client.api import ClientError
from mapstock_client.download import Expected, expected_for, safe_name, save_verified, verify
from mapstock_client.parts import Layout, PartSender
from mapstock_client.progress import PlainProgress

MAP_ID = "3f2a4c1e-0000-4000-8000-000000000001"


def test_token_and_records_are_private(tmp_path, monkeypatch):
    folder = tmp_path / "nested" / "mapstock"
    monkeypatch.setenv("MAPSTOCK_CONFIG", str(folder))
    old = os.umask(0o000)  # the widest umask: the modes must not depend on it
    try:
        written = config.save_token("http://a", "alice", "t0k", 3600)
        config.save_token("http://b", "bob", "t1k", 3600)
    finally:
        os.umask(old)
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert (written.stat().st_mode & 0o777) == 0o600
    assert config.load_token("http://a") == "t0k"
    assert config.load_token("http://b") == "t1k"
    assert config.forget_token("http://a") is True
    assert config.load_token("http://a") is None
    assert config.forget_token("http://a") is False
    assert config.forget_token("http://b") is True
    assert not written.exists()

    data = tmp_path / "map.tif"
    data.write_bytes(b"x" * 10)
    where = config.record_path("http://a", data)
    record = config.new_record("m1", data, data.stat())
    config.save_record(where, record)
    assert (where.stat().st_mode & 0o777) == 0o600
    assert (where.parent.stat().st_mode & 0o777) == 0o700
    assert config.load_record(where) == record
    assert config.same_file(record, data.stat())
    assert config.record_path("http://b", data) != where
    # The same file, changed: the same record, which no longer matches it (the upload it
    # names is stale: aborted, not resumed).
    os.utime(data, ns=(1, 1))
    assert config.record_path("http://a", data) == where
    assert not config.same_file(record, data.stat())
    # A record older than any server keeps an upload is dropped on the next look.
    os.utime(where, (1, 1))
    config.record_path("http://a", data)
    assert not where.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["uploads"]  # no temporary files left


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("file", "{path}: not a folder (the client's folder, $MAPSTOCK_CONFIG)"),
        ("file/sub", "{path}: Not a directory (the client's folder, $MAPSTOCK_CONFIG)"),
        ("/proc/nope", "{path}: No such file or directory (the client's folder, $MAPSTOCK_CONFIG)"),
    ],
)
def test_an_unusable_client_folder_is_one_line_naming_it(
    tmp_path, monkeypatch, capsys, where, said
):
    from mapstock_client.cli import main

    (tmp_path / "file").write_text("not a folder")
    path = where if where.startswith("/") else str(tmp_path / where)
    monkeypatch.setenv("MAPSTOCK_CONFIG", path)
    monkeypatch.setenv("MAPSTOCK_PASSWORD", "whatever it is")
    monkeypatch.setenv("MAPSTOCK_API", "http://127.0.0.1:9")  # never reached: said before
    for args in (["login", "alice"], ["ls"], ["logout"]):
        assert main(args) == 1, args
        out, err = capsys.readouterr()
        assert (out, err) == ("", said.format(path=path) + "\n"), args
    assert (tmp_path / "file").read_text() == "not a folder"


def test_a_local_file_error_is_one_line_naming_the_path(tmp_path, monkeypatch, capsys):
    from mapstock_client import cli

    def unreadable(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "map.tif"))

    monkeypatch.setattr(cli, "cmd_show", unreadable)
    monkeypatch.setenv("MAPSTOCK_CONFIG", str(tmp_path / "config"))
    assert cli.main(["show", MAP_ID]) == 1
    assert capsys.readouterr().err == f"{tmp_path / 'map.tif'}: Permission denied\n"
    moved = OSError(18, "Invalid cross-device link", "a.part", None, "b.tif")
    assert cli.os_error_line(moved) == "a.part -> b.tif: Invalid cross-device link"
    assert cli.os_error_line(OSError("odd")) == "odd"


def test_a_file_the_hasher_cannot_read_is_an_error_not_a_thread_traceback(tmp_path, capsys):
    from mapstock_client.waiting import FileHasher

    hasher = FileHasher(tmp_path / "gone.tif")
    hasher.start()
    with pytest.raises(FileNotFoundError):
        hasher.result()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("status", "line"),
    [
        ("awaiting_upload", "sent a.tif as map M; the server has yet to register it"),
        ("uploaded", "uploaded a.tif as map M; waiting to be processed"),
        ("processing", "uploaded a.tif as map M; being processed"),
        ("ready", "uploaded a.tif as map M; ready"),
        ("rejected", "uploaded a.tif as map M; rejected"),
    ],
)
def test_the_line_after_an_upload_is_true_to_the_status(status, line):
    from mapstock_client.listing import upload_summary

    assert upload_summary("a.tif", {"id": "M", "status": status}) == line


class FakeS3(http.server.BaseHTTPRequestHandler):
    """PUT /partN: scripted answers first (e.g. 500, 403, or "damaged": the bytes arrive
    changed), then 200 with an ETag. As S3, a PUT carrying x-amz-checksum-sha256 is refused
    (400 BadDigest) when the bytes that arrived do not match it."""

    script: dict[int, list[int | str]]
    received: dict[int, bytes]
    checksums: dict[int, str | None]
    active: list[int]  # [PUTs in progress, the most at once]
    lock = threading.Lock()

    def do_PUT(self) -> None:
        number = int(self.path.split("?")[0].removeprefix("/part"))
        length = int(self.headers["Content-Length"])
        with self.lock:
            self.active[0] += 1
            self.active[1] = max(self.active)
        time.sleep(0.02)  # long enough for PUTs to overlap when the client allows it
        body = self.rfile.read(length)
        with self.lock:
            self.active[0] -= 1
        given = self.headers.get("x-amz-checksum-sha256")
        with self.lock:
            answers = self.script.get(number, [])
            status = answers.pop(0) if answers else 200
            if status == "damaged":
                body, status = bytes([body[0] ^ 1]) + body[1:], 200
            if len(body) != length:  # the client stopped half-way: S3 keeps nothing
                status = 400
            if given and given != base64.b64encode(hashlib.sha256(body).digest()).decode():
                status = 400
                reply = b"<Error><Code>BadDigest</Code></Error>"
            else:
                reply = b""
            if status == 200:
                self.received[number] = body
                self.checksums[number] = given
        self.send_response(int(status))
        if status == 200:
            self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')  # noqa: S324
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_s3() -> Iterator[tuple[str, type[FakeS3]]]:
    attributes = {"script": {}, "received": {}, "checksums": {}, "active": [0, 0]}
    handler = type("Handler", (FakeS3,), attributes)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


class FakeApi:
    """POST …/upload/parts as the API answers it: URLs for the asked parts."""

    def __init__(self, base: str, ttl_seconds: float = 900):
        self.base, self.ttl, self.asked = base, ttl_seconds, []
        self.checksums_asked: list[dict[str, str]] = []

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        numbers = kwargs["json"]["part_numbers"]
        checksums = kwargs["json"].get("checksums_sha256", {})
        self.asked.append(numbers)
        self.checksums_asked.append(checksums)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.ttl)
        at = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "parts": [
                {"part_number": n, "url": f"{self.base}/part{n}?try={len(self.asked)}",
                 "headers": {"x-amz-checksum-sha256": checksums[str(n)]} if checksums else {},
                 "expires_at": at}
                for n in numbers
            ]
        }  # fmt: skip


class Counter:
    def __init__(self) -> None:
        self.done = 0
        self.lock = threading.Lock()

    def advance(self, amount: int) -> None:
        with self.lock:
            self.done += amount

    def close(self) -> None:
        pass


def test_parts_are_retried_and_an_expired_url_is_asked_for_again(tmp_path, fake_s3, monkeypatch):
    base, handler = fake_s3
    monkeypatch.setattr("mapstock_client.parts.backoff", lambda attempt: 0.01)
    data = os.urandom(10 * 1000 + 7)
    path = tmp_path / "f"
    path.write_bytes(data)
    layout = Layout(len(data), 1000, 11)
    handler.script.update({2: [500, 503], 5: [403], 7: [403, 500]})
    api, counter, log = FakeApi(base), Counter(), []
    fd = os.open(path, os.O_RDONLY)
    try:
        sender = PartSender(api, MAP_ID, fd, layout, counter, parallel=3, log=log.append)
        etags = sender.run([1, 2, 3, 5, 6, 7, 8, 9, 10, 11])  # 4 is already held
    finally:
        os.close(fd)
    assert sorted(etags) == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    for n, etag in etags.items():
        offset, length = layout.span(n)
        assert handler.received[n] == data[offset : offset + length]
        assert etag == hashlib.md5(data[offset : offset + length]).hexdigest()  # noqa: S324
    assert 4 not in handler.received
    # One batch for all parts, then a fresh URL for each 403 (never for a 500).
    assert api.asked[0] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert sorted(n for batch in api.asked[1:] for n in batch) == [5, 7]
    # Failed attempts do not count: progress ends at exactly what was sent.
    assert counter.done == len(data) - 1000
    assert sum("retrying" in line for line in log) == 5
    assert sum(line.endswith("sent (1000 bytes)") for line in log) == 9


def test_a_part_that_keeps_failing_stops_the_upload(tmp_path, fake_s3, monkeypatch):
    base, handler = fake_s3
    monkeypatch.setattr("mapstock_client.parts.backoff", lambda attempt: 0.01)
    path = tmp_path / "f"
    path.write_bytes(b"y" * 3000)
    handler.script.update({2: [400]})  # not a retryable answer
    fd = os.open(path, os.O_RDONLY)
    try:
        sender = PartSender(FakeApi(base), MAP_ID, fd, Layout(3000, 1000, 3), Counter(), parallel=1)
        with pytest.raises(ClientError, match="part 2: S3 answered 400"):
            sender.run([1, 2, 3])
    finally:
        os.close(fd)
    assert 3 not in handler.received  # the others stopped


def test_parts_carry_their_sha256_read_once_and_a_damaged_part_is_sent_again(
    tmp_path, fake_s3, monkeypatch
):
    base, handler = fake_s3
    monkeypatch.setattr("mapstock_client.parts.backoff", lambda attempt: 0.01)
    monkeypatch.setattr("mapstock_client.parts.CHUNK", 300)  # several reads per part
    data = os.urandom(5 * 1000 + 3)
    path = tmp_path / "f"
    path.write_bytes(data)
    layout = Layout(len(data), 1000, 6)
    handler.script.update({3: ["damaged"], 5: [500]})
    read: list[int] = []
    real_preadv = os.preadv

    def counting_preadv(fd: int, buffers: list[Any], offset: int) -> int:
        got = real_preadv(fd, buffers, offset)
        read.append(got)
        return got

    monkeypatch.setattr("mapstock_client.parts.os.preadv", counting_preadv)
    api, counter, log = FakeApi(base), Counter(), []
    fd = os.open(path, os.O_RDONLY)
    try:
        sender = PartSender(api, MAP_ID, fd, layout, counter, 2, log.append, checksums=True)
        etags = sender.run([1, 2, 3, 4, 5, 6])
    finally:
        os.close(fd)
    for n in range(1, 7):
        offset, length = layout.span(n)
        part = data[offset : offset + length]
        assert handler.received[n] == part
        assert etags[n] == hashlib.md5(part).hexdigest()  # noqa: S324
        assert handler.checksums[n] == base64.b64encode(hashlib.sha256(part).digest()).decode()
    # Each part's URL is signed for its checksum, asked for once the part is read (with those
    # of other parts read by then), again for the damaged one.
    assert sorted(n for batch in api.asked for n in batch) == [1, 2, 3, 3, 4, 5, 6]
    for numbers, checksums in zip(api.asked, api.checksums_asked, strict=True):
        assert set(checksums) == {str(n) for n in numbers}
    # The file is read once, but for the part S3 refused as damaged (read again).
    assert sum(read) == len(data) + 1000
    assert counter.done == len(data)
    assert sum("BadDigest" in line for line in log) == 1
    # Three workers (one reads ahead), never more than two parts on the wire.
    assert handler.active[1] == 2


def test_layout_spans_cover_the_file_exactly():
    layout = Layout(10, 4, 3)
    assert [layout.span(n) for n in (1, 2, 3)] == [(0, 4), (4, 4), (8, 2)]


def _save(data: bytes, encoding: str | None) -> tuple[str, str, bytes]:
    out = io.BytesIO()
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    stored, written = save_verified(chunks, encoding, out)
    return stored, written, out.getvalue()


def test_a_gzip_variant_is_saved_decoded_and_both_checksums_are_checked():
    original = b'{"type": "FeatureCollection", "features": []}' * 50
    variant = gzip.compress(original, mtime=0)
    doc = {
        "sha256": hashlib.sha256(original).hexdigest(),
        "variants": {
            "optimized": {"sha256": hashlib.sha256(variant).hexdigest(), "content_encoding": "gzip"}
        },
    }
    which, expected = expected_for(doc, original=False)
    assert which == "optimized"
    stored, written, saved = _save(variant, expected.encoding)
    assert saved == original
    verify(expected, stored, written)

    tampered = gzip.compress(original.replace(b"[]", b"[1]"), mtime=0)
    stored, written, _ = _save(tampered, expected.encoding)
    with pytest.raises(ClientError, match="checksum_mismatch: the download has SHA-256"):
        verify(expected, stored, written)
    # A variant consistent with itself but not with the original still fails.
    forged = Expected(hashlib.sha256(tampered).hexdigest(), "gzip", doc["sha256"])
    with pytest.raises(ClientError, match="checksum_mismatch: the decoded map"):
        verify(forged, stored, written)
    with pytest.raises(ClientError, match="truncated"):
        _save(variant[:-9], "gzip")
    with pytest.raises(ClientError, match="broken"):
        _save(b"not gzip at all", "gzip")


def test_the_original_is_checked_as_stored():
    data = os.urandom(5000)
    doc = {"sha256": hashlib.sha256(data).hexdigest(), "variants": {"optimized": {"sha256": "0"}}}
    which, expected = expected_for(doc, original=True)
    assert which == "original" and expected == Expected(doc["sha256"])
    stored, written, saved = _save(data, None)
    assert saved == data
    verify(expected, stored, written)
    flipped = bytes([data[0] ^ 1]) + data[1:]
    with pytest.raises(ClientError, match="checksum_mismatch"):
        verify(expected, *_save(flipped, None)[:2])
    assert expected_for({"sha256": "s", "variants": None}, original=False)[0] == "original"


@pytest.mark.parametrize(
    ("name", "safe"),
    [("ortho.tif", "ortho.tif"), ("../../etc/passwd", "passwd"), ("a\\b\\c.kml", "c.kml"),
     (".bashrc", "bashrc"), ("..", "map"), ("", "map")],
)  # fmt: skip
def test_a_server_file_name_stays_in_the_current_folder(name, safe):
    assert safe_name(name) == safe


def test_plain_progress_is_lines_at_each_tenth():
    out = io.StringIO()
    bar = PlainProgress("upload", 1000, out=out)
    for _ in range(100):
        bar.advance(10)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("upload: 100 B of 1000 B (10%), ")
    assert lines[-1].startswith("upload: 1000 B of 1000 B (100%), ")
    assert "\r" not in out.getvalue()


def test_the_console_script_is_installed():
    import shutil
    import sys

    script = Path(sys.executable).parent / "mapstock"
    assert script.is_file() and os.access(script, os.X_OK)
    assert shutil.which("mapstock", path=str(script.parent)) == str(script)
