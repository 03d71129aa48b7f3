"""What `make destroy` removes besides the stack: the retained maps bucket (emptied first), the
secrets (without the 7-30 day recovery window, so the stage can be deployed again at once)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from deploy.stage import Stage

_GONE = {"NoSuchBucket", "ResourceNotFoundException", "404"}


class TeardownError(RuntimeError):
    """Something of the stage could not be removed (the message names it)."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object and version; returns how many; raises TeardownError on a refusal."""
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        for page in pages:
            keys = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for start in range(0, len(keys), 1000):
                chunk = keys[start : start + 1000]
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                # A batch delete reports refusals per key instead of failing the call.
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise TeardownError(
                        f"cannot delete s3://{bucket}/{first['Key']}: {first['Code']}"
                    )
                removed += len(chunk)
    except ClientError as exc:
        if _code(exc) not in _GONE:
            raise
    return removed


def delete_bucket(s3: Any, bucket: str) -> bool:
    """Remove the (empty) bucket; False when it did not exist."""
    try:
        s3.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in _GONE:
            return False
        raise
    return True


def delete_secrets(secrets: Any, stage: Stage) -> list[str]:
    """Force-delete the stage's secrets that still exist or await deletion; returns their names."""
    deleted = []
    for name in stage.secret_names:
        try:
            secrets.describe_secret(SecretId=name)
        except ClientError as exc:
            if _code(exc) in _GONE:
                continue
            raise
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        deleted.append(name)
    return deleted
