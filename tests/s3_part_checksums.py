"""moto, made to treat multipart uploads' SHA-256 part checksums as S3 documents it (moto 5
accepts any x-amz-checksum-sha256 on UploadPart, reports none in ListParts and checks none on
CompleteMultipartUpload).

As S3 does, once `install()`ed (in this process, where the tests' moto server runs):
- UploadPart to an upload created with ChecksumAlgorithm=SHA256 needs x-amz-checksum-sha256, and
  an upload created without refuses it (400 InvalidRequest, "Checksum Type mismatch");
- a checksum that does not match the bytes is 400 BadDigest, and the part is not stored;
- ListParts reports each part's ChecksumSHA256;
- CompleteMultipartUpload of such an upload needs every part's ChecksumSHA256, equal to the one
  stored (400 InvalidRequest when missing, InvalidPart when different).
Checksums of other algorithms (boto3's CRC32) are left to moto.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

from defusedxml import minidom
from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response

HEADER = "x-amz-checksum-sha256"
_saved: dict[str, Any] = {}


def _multipart(response: S3Response) -> Any:
    upload_id = response._get_param("uploadId")
    return response.backend.get_bucket(response.bucket_name).multiparts[upload_id]


def _algorithm(multipart: Any) -> str | None:
    algorithm = multipart.metadata.get("x-amz-checksum-algorithm")
    return str(algorithm).upper() if algorithm else None


def _upload_part(self: S3Response) -> Any:
    multipart = _multipart(self)
    given = self.headers.get(HEADER)
    sha256 = _algorithm(multipart) == "SHA256"
    if sha256 and not given:
        raise S3ClientError(
            "InvalidRequest",
            "Checksum Type mismatch occurred, expected checksum Type: sha256, "
            "actual checksum Type: null",
        )
    if given and not sha256:
        raise S3ClientError(
            "InvalidRequest",
            "Checksum Type mismatch occurred, expected checksum Type: null, "
            "actual checksum Type: sha256",
        )
    if given:
        actual = base64.b64encode(hashlib.sha256(self.body).digest()).decode()
        if actual != given:
            raise S3ClientError(
                "BadDigest", "The SHA256 you specified did not match the calculated checksum."
            )
    result = _saved["upload_part"](self)
    if given:
        number = self._get_int_param("partNumber")
        multipart.parts[number].mapstock_sha256 = given
    return result


def _list_parts(self: S3Response) -> Any:
    status, headers, body = _saved["list_parts"](self)
    multipart = _multipart(self)
    if _algorithm(multipart) != "SHA256":
        return status, headers, body
    text = body.decode() if isinstance(body, bytes) else body

    def with_checksum(match: re.Match[str]) -> str:
        part = multipart.parts[int(match.group(1))]
        checksum = getattr(part, "mapstock_sha256", "")
        return f"{match.group(0)}<ChecksumSHA256>{checksum}</ChecksumSHA256>"

    text = re.sub(r"<PartNumber>(\d+)</PartNumber>", with_checksum, text)
    return status, headers, text.encode() if isinstance(body, bytes) else text


def _complete_body(self: S3Response, body: bytes) -> Iterator[tuple[int, str]]:
    multipart = _multipart(self)
    if _algorithm(multipart) == "SHA256":
        for node in minidom.parseString(body).getElementsByTagName("Part"):
            number = int(node.getElementsByTagName("PartNumber")[0].firstChild.wholeText)  # type: ignore[union-attr]
            given = node.getElementsByTagName("ChecksumSHA256")
            if not given:
                raise S3ClientError(
                    "InvalidRequest",
                    "The upload was created using a sha256 checksum. The complete request "
                    f"must include the checksum for each part. It was missing for part {number} "
                    "in the request.",
                )
            part = multipart.parts.get(number)
            stored = getattr(part, "mapstock_sha256", None)
            if stored != given[0].firstChild.wholeText:  # type: ignore[union-attr]
                raise S3ClientError(
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part may not "
                    "have been uploaded, or the specified entity tag may not match the part's "
                    "entity tag.",
                )
    yield from _saved["_complete_multipart_body"](self, body)


def install() -> None:
    """Make moto's S3 check SHA-256 part checksums (idempotent); undo with uninstall()."""
    if _saved:
        return
    for name, replacement in (
        ("upload_part", _upload_part),
        ("list_parts", _list_parts),
        ("_complete_multipart_body", _complete_body),
    ):
        _saved[name] = getattr(S3Response, name)
        setattr(S3Response, name, replacement)


def uninstall() -> None:
    """moto as it comes again."""
    for name, original in _saved.items():
        setattr(S3Response, name, original)
    _saved.clear()
