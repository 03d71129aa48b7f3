"""The processor's Lambda layer (rasterio + rio-cogeo, GDAL inside their wheels): built from
requirements-processing.txt for Lambda's platform, published only when its bytes change."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from deploy.stage import ROOT

REQUIREMENTS = ROOT / "requirements-processing.txt"
RUNTIME = "python3.11"
PLATFORM = "manylinux2014_x86_64"  # Chalice's default lambda_architecture
# Lambda takes a zip inline up to 50 MB; larger ones go through S3 first.
INLINE_LIMIT = 50 * 1024 * 1024
ARTIFACT_PREFIX = "_deploy/layers/"


class LayerError(RuntimeError):
    """The layer could not be built or published."""


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _names_in(requirements: Path) -> set[str]:
    names = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            for stop in "=<>!~[; ":
                line = line.split(stop, 1)[0]
            names.add(_normalise(line))
    return names


def _prune(site: Path, names: set[str]) -> None:
    """Drop distributions the function zip already ships: /var/task wins over /opt anyway."""
    for dist_info in site.glob("*.dist-info"):
        if _normalise(dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]) not in names:
            continue
        record = dist_info / "RECORD"
        for row in record.read_text(encoding="utf-8").splitlines() if record.exists() else []:
            target = site / row.split(",", 1)[0]
            if target.is_file():
                target.unlink()
        shutil.rmtree(dist_info, ignore_errors=True)


def build(
    requirements: Path = REQUIREMENTS,
    out_dir: Path | None = None,
    platforms: tuple[str, ...] = (PLATFORM,),
) -> Path:
    """pip-install the requirements for Lambda into python/ and zip it; raises LayerError."""
    out_dir = out_dir or Path(tempfile.mkdtemp(prefix="mapstock-layer-"))
    site = out_dir / "python"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(site), *(f"--platform={p}" for p in platforms), "--implementation", "cp",
        "--python-version", RUNTIME.removeprefix("python"), "--only-binary=:all:",
        "-r", str(requirements),
    ]  # fmt: skip
    if subprocess.run(command, check=False).returncode != 0:
        raise LayerError(f"pip could not install {requirements.name} for {', '.join(platforms)}")
    _prune(site, _names_in(ROOT / "requirements.txt"))
    archive = out_dir / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(site.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(out_dir).as_posix())
    return archive


def publish(lam: Any, s3: Any, name: str, archive: Path, bucket: str) -> str:
    """The layer version ARN for these bytes (a new version only when they changed)."""
    data = archive.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    marker = f"sha256:{digest}"
    versions = lam.list_layer_versions(LayerName=name).get("LayerVersions", [])
    if versions and versions[0].get("Description") == marker:
        return str(versions[0]["LayerVersionArn"])
    if len(data) <= INLINE_LIMIT:
        content: dict[str, Any] = {"ZipFile": data}
    else:
        key = f"{ARTIFACT_PREFIX}{name}-{digest}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        content = {"S3Bucket": bucket, "S3Key": key}
    published = lam.publish_layer_version(
        LayerName=name,
        Description=marker,
        Content=content,
        CompatibleRuntimes=[RUNTIME],
        CompatibleArchitectures=["x86_64"],
    )
    return str(published["LayerVersionArn"])


def delete_all(lam: Any, name: str) -> int:
    """Delete every version of the layer; returns how many were deleted."""
    deleted = 0
    while True:
        versions = lam.list_layer_versions(LayerName=name).get("LayerVersions", [])
        if not versions:
            return deleted
        for version in versions:
            lam.delete_layer_version(LayerName=name, VersionNumber=version["Version"])
            deleted += 1
