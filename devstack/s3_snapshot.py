"""Keep the local bucket across restarts: moto holds objects in memory only.

On stop the bucket is copied to `<state>/s3/<bucket>/` (only objects whose ETag changed since the
last copy); on start the copy is put back. Files are named by the SHA-256 of their key, so no
key ever becomes a path. The bucket is versioned and maps are pinned to their object's version:
a restored object gets a new version id, so restore() reports (key, old id, new id) for the
caller to re-pin before any S3 event of the restored objects is handled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1024 * 1024


def _folder(root: Path, bucket: str) -> Path:
    return root / bucket


def _load_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _write_manifest(folder: Path, manifest: dict[str, dict[str, Any]]) -> None:
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, folder / "manifest.json")


def _object_file(folder: Path, key: str) -> Path:
    return folder / "objects" / hashlib.sha256(key.encode()).hexdigest()


def save(s3: Any, bucket: str, root: Path, should_stop: Callable[[], bool]) -> tuple[int, int]:
    """Copy new and changed objects to disk, forget deleted ones; returns (saved, removed)."""
    folder = _folder(root, bucket)
    (folder / "objects").mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(folder)
    listed: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            listed[obj["Key"]] = obj["ETag"]
    saved = 0
    for key, etag in listed.items():
        if manifest.get(key, {}).get("etag") == etag:
            continue
        if should_stop():
            break  # the user asked twice: what is on disk stays a consistent older copy
        target = _object_file(folder, key)
        response = s3.get_object(Bucket=bucket, Key=key)
        tmp = target.with_suffix(".part")
        with open(tmp, "wb") as out:
            for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
                out.write(chunk)
        os.replace(tmp, target)
        manifest[key] = {
            "etag": response["ETag"],
            "version": response.get("VersionId"),
            "content_type": response.get("ContentType") or "binary/octet-stream",
            "metadata": response.get("Metadata") or {},
        }
        saved += 1
    gone = [key for key in manifest if key not in listed]
    for key in gone:
        with contextlib.suppress(FileNotFoundError):
            _object_file(folder, key).unlink()
        del manifest[key]
    _write_manifest(folder, manifest)
    return saved, len(gone)


def restore(s3: Any, bucket: str, root: Path) -> list[dict[str, str | None]]:
    """Put every saved object back into the (empty, freshly started) bucket; returns
    {"key", "old", "new"} version ids for each object restored."""
    folder = _folder(root, bucket)
    manifest = _load_manifest(folder)
    restored: list[dict[str, str | None]] = []
    for key, entry in list(manifest.items()):
        path = _object_file(folder, key)
        if not path.is_file():
            del manifest[key]
            continue
        with open(path, "rb") as body:
            response = s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=entry.get("content_type") or "binary/octet-stream",
                Metadata=entry.get("metadata") or {},
            )
        # A multipart upload's ETag differs from a single PUT's: remember the new one so the
        # next save does not copy the same bytes again.
        entry["etag"] = response["ETag"]
        restored.append({"key": key, "old": entry.get("version"), "new": response.get("VersionId")})
        entry["version"] = response.get("VersionId")
    if manifest or folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _write_manifest(folder, manifest)
    return restored
