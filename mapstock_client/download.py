"""`mapstock download`: stream a map to a temporary file next to its target, check its SHA-256,
then move it into place (a failed or tampered download never takes the target's name)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mapstock_client.api import Api, ClientError, map_path, storage_problem
from mapstock_client.progress import progress

CHUNK = 1024 * 1024
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class Expected:
    """What the saved bytes must hash to: the stored object's SHA-256 (`stored`) and, for a
    gzip-encoded variant, the decoded map's (`decoded`, the original's)."""

    stored: str
    encoding: str | None = None
    decoded: str | None = None


def expected_for(doc: dict[str, Any], original: bool) -> tuple[str, Expected]:
    """The variant to ask for and the checksums it must match."""
    optimized = (doc.get("variants") or {}).get("optimized")
    if original or not optimized:
        return "original", Expected(str(doc["sha256"]))
    encoding = optimized.get("content_encoding")
    return "optimized", Expected(
        str(optimized["sha256"]), encoding, str(doc["sha256"]) if encoding else None
    )


def safe_name(filename: str) -> str:
    """The map's file name as a plain name in the current folder: no folders, no hidden file."""
    name = Path(filename.replace("\\", "/")).name.replace("\0", "").lstrip(".")
    return name or "map"


def target_for(doc: dict[str, Any], output: str | None) -> Path:
    """-o FILE (replaced: the user named it), else the map's name in -o FOLDER (FOLDER/ is
    made) or here, never overwritten; raises ClientError when that name is taken, OSError."""
    if output is None:
        chosen = Path(safe_name(doc["filename"]))
    elif output.endswith("/") or Path(output).is_dir():
        Path(output).mkdir(parents=True, exist_ok=True)
        chosen = Path(output) / safe_name(doc["filename"])
    else:
        return Path(output)
    if chosen.exists() or chosen.is_symlink():
        raise ClientError(f"{chosen} already exists; choose where with -o PATH")
    return chosen


def save_verified(chunks: Iterable[bytes], encoding: str | None, out: Any) -> tuple[str, str]:
    """Write `chunks` (as stored) to `out`, decoded when gzip-encoded; returns the SHA-256 of
    the stored bytes and of what was written. Raises ClientError for a broken gzip stream."""
    stored, written = hashlib.sha256(), hashlib.sha256()
    decoder = zlib.decompressobj(wbits=31) if encoding == "gzip" else None
    try:
        for chunk in chunks:
            stored.update(chunk)
            data = decoder.decompress(chunk) if decoder else chunk
            written.update(data)
            out.write(data)
        if decoder:
            tail = decoder.flush()
            written.update(tail)
            out.write(tail)
            if not decoder.eof:
                raise ClientError("checksum_mismatch: the gzip stream is truncated")
    except zlib.error as exc:
        raise ClientError(f"checksum_mismatch: the gzip stream is broken ({exc})") from None
    return stored.hexdigest(), written.hexdigest()


def verify(expected: Expected, stored: str, written: str) -> None:
    """Raises ClientError unless the bytes are the ones the map document names."""
    if stored != expected.stored:
        raise ClientError(
            f"checksum_mismatch: the download has SHA-256 {stored}, the map {expected.stored}; "
            "nothing was saved"
        )
    if expected.decoded is not None and written != expected.decoded:
        raise ClientError(
            f"checksum_mismatch: the decoded map has SHA-256 {written}, the original "
            f"{expected.decoded}; nothing was saved"
        )


def _temporary(target: Path) -> Any:
    """The temporary file next to `target`; raises ClientError naming the folder when it cannot
    be made there (missing, not a folder, not writable)."""
    folder = target.parent if str(target.parent) else Path(".")
    try:
        # Closed, and renamed or removed, by download().
        return tempfile.NamedTemporaryFile(
            dir=folder, prefix=f".{target.name}.", suffix=".part", delete=False
        )
    except OSError as exc:
        raise ClientError(f"{folder}: {exc.strerror or exc}") from None


def download(api: Api, map_id: str, output: str | None, original: bool) -> Path:
    """Download a map (optimized variant unless `original`) and check it; returns its path.
    Raises ClientError (a local file error too: one line naming the path), ApiError."""
    doc = api.json("GET", map_path(map_id))
    variant, expected = expected_for(doc, original)
    try:
        target = target_for(doc, output)
    except OSError as exc:  # -o FOLDER/ that cannot be made
        raise ClientError(f"{exc.filename or output}: {exc.strerror or exc}") from None
    # Where it goes is settled before the link is asked for (which counts as a download).
    tmp = _temporary(target)
    try:
        link = api.json(
            "GET", map_path(map_id, "download"), params={"redirect": "false", "variant": variant}
        )
        with tmp, httpx.stream("GET", link["url"], timeout=TIMEOUT) as response:
            if response.status_code != 200:
                response.read()
                raise ClientError(f"storage answered {storage_problem(response)}")
            size = int(response.headers.get("Content-Length") or 0)
            bar = progress("download", size)
            try:
                # iter_raw: the bytes as stored (a gzip variant is not decoded by httpx, whatever
                # Content-Encoding says), decoded here, so both checksums can be checked.
                chunks = _counted(response.iter_raw(CHUNK), bar)
                stored, written = save_verified(chunks, expected.encoding, tmp)
            finally:
                bar.close()
        verify(expected, stored, written)
        os.chmod(tmp.name, 0o666 & ~_umask())  # as any new file, not the temp file's 0600
        os.replace(tmp.name, target)
    except BaseException as exc:
        tmp.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp.name)
        if isinstance(exc, OSError):
            # A full disk, a target that is a folder: said of the target, not the temp file.
            raise ClientError(f"{target}: {exc.strerror or exc}; nothing was saved") from None
        if isinstance(exc, httpx.TransportError):
            raise ClientError(f"unavailable: the download from storage failed: {exc}") from None
        raise
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _counted(chunks: Iterable[bytes], bar: Any) -> Iterable[bytes]:
    for chunk in chunks:
        bar.advance(len(chunk))
        yield chunk
