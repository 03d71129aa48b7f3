"""`mapstock upload`: the upload form picked by size (direct, presigned POST, multipart), and a
multipart upload resumed from the server's list of held parts when run again on the same file."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import httpx

from mapstock_client import config
from mapstock_client.api import Api, ApiError, ClientError, joined, map_path, storage_problem
from mapstock_client.parts import Layout, PartSender
from mapstock_client.progress import progress

DIRECT_MAX_BYTES = 4 * 1024 * 1024  # the contract's MAX_DIRECT_UPLOAD_BYTES default
# Each part of a multipart upload carries its SHA-256, which S3 checks against the bytes it got.
PART_CHECKSUM = "SHA256"
POST_TIMEOUT = httpx.Timeout(None, connect=10.0)  # one POST of up to the multipart threshold


class Interrupted(Exception):
    """Ctrl-C during a multipart upload: what to tell the user about resuming."""


@dataclass
class Request:
    """What `mapstock upload` was asked for."""

    path: Path
    title: str | None = None
    description: str | None = None
    visibility: str | None = None
    parallel: int = 4
    log: Callable[[str], None] = lambda line: None

    def fields(self) -> dict[str, str]:
        described = {
            "title": self.title,
            "description": self.description,
            "visibility": self.visibility,
        }
        return {k: v for k, v in described.items() if v is not None}


def upload(api: Api, req: Request) -> dict[str, Any]:
    """Upload the file; returns the map document. Raises ClientError, ApiError, Interrupted."""
    path = req.path.resolve()
    st = check_file(req.path)
    where = config.record_path(api.base, path)
    record = config.load_record(where)
    if record and not config.same_file(record, st):
        discard_stale(api, req, where, record)
        record = None
    if record:
        doc = resume(api, req, path, st.st_size, where, record)
        if doc is not None:
            return doc
    if st.st_size <= DIRECT_MAX_BYTES:
        try:
            return direct(api, req, path, st.st_size)
        except ApiError as exc:
            if exc.code != "too_large":  # a server with a lower direct limit: use form 2
                raise
    asked = {"filename": path.name, "size": st.st_size, "checksum_algorithm": PART_CHECKSUM}
    created = api.json("POST", "/v1/maps", json={**asked, **req.fields()})
    doc, instructions = created["map"], created["upload"]
    if instructions["method"] == "multipart":
        config.save_record(where, config.new_record(doc["id"], path, st))
        checksums = instructions.get("checksum_algorithm") == PART_CHECKSUM
        req.log(f"map {doc['id']}: multipart, {instructions['part_count']} parts")
        if checksums:
            req.log("each part carries its SHA-256 (S3 refuses bytes that do not match it)")
        layout = Layout(st.st_size, instructions["part_size"], instructions["part_count"])
        return send_parts(api, req, path, doc["id"], layout, {}, where, checksums)
    presigned_post(api, doc["id"], instructions, path, st.st_size)
    return dict(doc)


def check_file(path: Path) -> os.stat_result:
    """The file's stat, checked before any call; raises ClientError for a missing, special or
    empty file (the server would refuse it only once it is sent)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ClientError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ClientError(f"{path}: not a regular file")
    if st.st_size == 0:
        raise ClientError(f"{path}: is empty; there is no map to upload")
    return st


def direct(api: Api, req: Request, path: Path, size: int) -> dict[str, Any]:
    """Form 1: the file in a multipart/form-data POST to the API (small files)."""
    with open(path, "rb") as fh:
        reader = CountingReader(fh, progress("upload", size))
        try:
            files = {"file": (path.name, cast(BinaryIO, reader), "application/octet-stream")}
            created = api.json("POST", "/v1/maps", data=req.fields(), files=files)
        finally:
            reader.progress.close()
    return dict(created["map"])


def presigned_post(
    api: Api, map_id: str, instructions: dict[str, Any], path: Path, size: int
) -> None:
    """Form 2: the bytes straight to S3 in one POST; on failure or Ctrl-C the map is removed
    again (a POST cannot resume), so it does not count against the quota."""
    with open(path, "rb") as fh:
        reader = CountingReader(fh, progress("upload", size))
        try:
            response = httpx.post(
                instructions["url"],
                data=instructions["fields"],
                files={"file": (path.name, cast(BinaryIO, reader), "application/octet-stream")},
                timeout=POST_TIMEOUT,
            )
        except BaseException as exc:
            _remove_quietly(api, map_id)
            if isinstance(exc, httpx.TransportError):
                raise ClientError(f"unavailable: the upload to storage failed: {exc}") from None
            raise
        finally:
            reader.progress.close()
    if not response.is_success:
        _remove_quietly(api, map_id)
        raise ClientError(f"storage refused the upload ({storage_problem(response)})")


def _remove_quietly(api: Api, map_id: str) -> None:
    with contextlib.suppress(ClientError):  # else the server's sweeper removes it
        api.call("DELETE", map_path(map_id))


def discard_stale(api: Api, req: Request, where: Path, record: dict[str, Any]) -> None:
    """Abort the recorded multipart upload of a file that changed since (its parts would
    otherwise wait in S3 for the server's sweep), and say so in one line."""
    map_id = record["map_id"]
    try:
        api.call("DELETE", map_path(map_id, "upload"))
        what = "was discarded"
    except ApiError as exc:
        if exc.status == 404:
            what = "is gone already"  # removed, or expired and swept
        elif exc.status == 409:
            what = "had finished after all; it stays"  # the answer to complete was lost
        else:
            raise
    config.drop_record(where)
    print(
        f"{req.path} changed since its upload was interrupted: the earlier upload "
        f"(map {map_id}) {what}; starting again",
        file=sys.stderr,
    )


def resume(
    api: Api, req: Request, path: Path, size: int, where: Path, record: dict[str, Any]
) -> dict[str, Any] | None:
    """Carry on with the recorded multipart upload from what the server holds; None when it
    cannot be resumed (gone, expired, another shape) and a new upload should start."""
    map_id = record["map_id"]
    try:
        state = api.json("GET", map_path(map_id, "upload"))
    except ApiError as exc:
        if exc.status == 404:  # removed, expired and swept, or another account's
            req.log(f"map {map_id} is gone; starting again")
            config.drop_record(where)
            return None
        if exc.status != 409:
            raise
        doc = api.json("GET", map_path(map_id))
        config.drop_record(where)
        if doc["status"] != "awaiting_upload":  # finished by an earlier run after all
            req.log(f"map {map_id} was already uploaded")
            return dict(doc)
        req.log(joined(f"map {map_id}: {exc}", "starting again"))
        _abort_quietly(api, map_id)
        return None
    layout = Layout(size, int(state["part_size"]), int(state["part_count"]))
    if int(state.get("size", size)) != size or layout.span(layout.part_count)[1] <= 0:
        req.log(f"map {map_id} was made for another file; starting again")
        config.drop_record(where)
        _abort_quietly(api, map_id)
        return None
    held = {
        int(p["part_number"]): str(p["etag"])
        for p in state["parts"]
        if 1 <= int(p["part_number"]) <= layout.part_count
        and int(p["size"]) == layout.span(int(p["part_number"]))[1]
    }
    missing = layout.part_count - len(held)
    print(
        f"resuming map {map_id}: {len(held)} of {layout.part_count} parts already uploaded, "
        f"sending {missing}",
        file=sys.stderr,
    )
    checksums = state.get("checksum_algorithm") == PART_CHECKSUM
    return send_parts(api, req, path, map_id, layout, held, where, checksums)


def _abort_quietly(api: Api, map_id: str) -> None:
    with contextlib.suppress(ClientError):  # else it expires on the server
        api.call("DELETE", map_path(map_id, "upload"))


def send_parts(
    api: Api,
    req: Request,
    path: Path,
    map_id: str,
    layout: Layout,
    held: dict[int, str],
    where: Path,
    checksums: bool = False,
) -> dict[str, Any]:
    """Send the parts the server does not hold (with their SHA-256 when the upload was created
    with part checksums), then complete; returns the map document."""
    missing = [n for n in range(1, layout.part_count + 1) if n not in held]
    already = sum(layout.span(n)[1] for n in held)
    bar = progress("upload", layout.size, already)
    fd = os.open(path, os.O_RDONLY)
    try:
        sender = PartSender(api, map_id, fd, layout, bar, req.parallel, req.log, checksums)
        etags = {**held, **sender.run(missing)}
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: map {map_id} is resumable; run the same command again to resume"
        ) from None
    finally:
        os.close(fd)
        bar.close()
    doc = complete(api, map_id, etags)
    config.drop_record(where)
    return doc


def complete(api: Api, map_id: str, etags: dict[int, str]) -> dict[str, Any]:
    """POST …/upload/complete; an answer lost on the way is recovered from the map's status."""
    parts = [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]
    for attempt in range(1, 4):
        try:
            path = map_path(map_id, "upload", "complete")
            return dict(api.json("POST", path, json={"parts": parts}))
        except ApiError as exc:
            if exc.status != 409:
                raise
            doc = api.json("GET", map_path(map_id))
            if doc["status"] == "awaiting_upload":
                raise
            return dict(doc)  # an earlier attempt completed it
        except ClientError:
            if attempt == 3:
                raise
            time.sleep(attempt)
    raise AssertionError("unreachable")


class CountingReader:
    """A binary file that reports what is read from it (httpx streams multipart files by
    read(); fileno() lets it compute the Content-Length S3 and the API need)."""

    def __init__(self, fh: BinaryIO, bar: Any):
        self.fh, self.progress = fh, bar
        self.name = fh.name

    def fileno(self) -> int:
        return self.fh.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.progress.advance(len(data))
        return data
