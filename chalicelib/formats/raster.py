"""PNG / JPEG / WebP inspection with Pillow: header parsing only, pixels are never decoded."""

from __future__ import annotations

import contextlib
import math
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

from chalicelib.formats.expansion import WHOLE_IMAGE_MAX_RATIO, check_expansion
from chalicelib.formats.result import Inspection, Rejected

MAX_PNG_CHUNKS = 1_000_000  # real PNGs split IDAT into a few thousand chunks at most
PNG_CRC_BLOCK = 1024 * 1024
# Pillow's WebP plugin hands the whole file to libwebp, so WebP needs a size budget.
WEBP_MAX_BYTES = 64 * 1024 * 1024
JPEG_EOI_WINDOW = 4096  # the EOI marker must be this close to the end (trailers exist)
# Map scans run to hundreds of megapixels (an A0 sheet at 300 dpi is ~140 MP), past Pillow's
# decompression-bomb warning (~89 MP), which guards code that decodes; nothing here decodes.
# Refused as too_large: more pixels than MAX_PIXELS, or, past Pillow's threshold, pixels out
# of all proportion to the bytes stored (expansion.WHOLE_IMAGE_MAX_RATIO).
MAX_PIXELS = 2**31  # ~46 000 x 46 000
_BITS_PER_PIXEL = {"1": 1, "I;16": 16, "I;16B": 16, "I": 32, "F": 32}  # else 8 per band

_MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PIL_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def _check_png_chunks(path: str) -> None:
    """Walk the chunk list to IEND verifying every CRC in bounded memory; raises Rejected."""
    with open(path, "rb") as fh:
        fh.seek(8)
        for index in range(MAX_PNG_CHUNKS):
            header = fh.read(8)
            if len(header) < 8:
                raise Rejected("malformed", "PNG is truncated")
            length, ctype = struct.unpack(">I4s", header)
            if length > 0x7FFFFFFF or not ctype.isalpha():
                raise Rejected("malformed", "PNG chunk is invalid")
            if index == 0 and (ctype != b"IHDR" or length != 13):
                raise Rejected("malformed", "PNG does not start with IHDR")
            crc = zlib.crc32(ctype)
            left = length
            while left:
                block = fh.read(min(left, PNG_CRC_BLOCK))
                if not block:
                    raise Rejected("malformed", "PNG is truncated")
                crc = zlib.crc32(block, crc)
                left -= len(block)
            stored = fh.read(4)
            if len(stored) < 4:
                raise Rejected("malformed", "PNG is truncated")
            if struct.unpack(">I", stored)[0] != crc:
                raise Rejected("malformed", "PNG chunk checksum mismatch")
            if ctype == b"IEND":
                return
    raise Rejected("too_large", "PNG has too many chunks")


def _check_jpeg_end(path: str, size: int) -> None:
    with open(path, "rb") as fh:
        fh.seek(max(0, size - JPEG_EOI_WINDOW))
        if b"\xff\xd9" in fh.read(JPEG_EOI_WINDOW):
            return
        # GDAL appends a JPEG's nodata mask (a zlib-compressed bitmask, any size) after the
        # image and then the image's length as a little-endian uint32; GDAL finds the mask by
        # checking that this length ends on the EOI marker, and so do we.
        if size >= 8:
            fh.seek(size - 4)
            end = struct.unpack("<I", fh.read(4))[0]
            if 4 <= end <= size - 4:
                fh.seek(end - 2)
                if fh.read(2) == b"\xff\xd9":
                    return
    raise Rejected("malformed", "JPEG is truncated")


def _check_webp_riff(path: str, size: int) -> None:
    if size > WEBP_MAX_BYTES:
        raise Rejected("too_large", "WebP exceeds the size budget")
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or 8 + struct.unpack("<I", head[4:8])[0] > size:
        raise Rejected("malformed", "WebP is truncated")


def inspect_image(path: str, kind: str) -> Inspection:
    """Inspect a PNG, JPEG or WebP (`kind` from sniff); raises Rejected.

    Images over MAX_PIXELS, or bombs (see chalicelib.formats.expansion), are too_large.
    """
    size = os.path.getsize(path)
    if kind == "png":
        _check_png_chunks(path)
    elif kind == "jpeg":
        _check_jpeg_end(path, size)
    else:
        _check_webp_riff(path, size)

    from PIL import Image, UnidentifiedImageError

    pillow_threshold = Image.MAX_IMAGE_PIXELS or MAX_PIXELS
    try:
        with warnings.catch_warnings(), pillow_pixel_limit(Image, MAX_PIXELS):
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=[_PIL_NAMES[kind]]) as img:
                meta = _image_metadata(img)
                bits = _BITS_PER_PIXEL.get(img.mode, 8 * len(img.getbands()))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too_large", "Image has too many pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Rejected("malformed", "Image header is invalid") from exc
    except (struct.error, IndexError, KeyError, TypeError) as exc:
        raise Rejected("malformed", "Image header is invalid") from exc
    if meta["width"] <= 0 or meta["height"] <= 0:
        raise Rejected("malformed", "Image has no pixels")
    pixels = meta["width"] * meta["height"]
    if pixels > pillow_threshold:
        check_expansion(pixels * bits // 8, size, WHOLE_IMAGE_MAX_RATIO)
    return Inspection(kind, _MEDIA[kind], meta)


@contextlib.contextmanager
def pillow_pixel_limit(image_module: Any, pixels: int) -> Iterator[None]:
    """Pillow's bomb limit (a module global it reads at open) set to `pixels` for one open."""
    previous = image_module.MAX_IMAGE_PIXELS
    image_module.MAX_IMAGE_PIXELS = pixels
    try:
        yield
    finally:
        image_module.MAX_IMAGE_PIXELS = previous


def _image_metadata(img: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "width": int(img.width),
        "height": int(img.height),
        "mode": str(img.mode),
        "bands": len(img.getbands()),
        "frames": int(getattr(img, "n_frames", 1)),
        "bbox": None,
        "crs": None,
    }
    dpi = img.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2:
        values = [float(v) for v in dpi]
        if all(math.isfinite(v) and v > 0 for v in values):
            meta["dpi"] = values
    return meta
