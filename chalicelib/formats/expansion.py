"""Decompression bombs: how far stored image bytes can plausibly expand when decoded.

One rule for every reader that accepts compressed pixels (TIFF tiles and strips, PNG/JPEG/WebP
files): the bytes a file stores for its pixels must be at least the decoded size divided by the
codec's maximum ratio, else it claims more pixels than its bytes can hold and is too_large.
"""

from __future__ import annotations

from chalicelib.formats.result import Rejected

# Decoded bytes per stored byte that a codec can reach at best (a blank block), with a margin.
# Measured with GDAL 3.x on blank 512/1024-px tiles of uint8/float32/float64 (best level):
#   deflate   946-1028   (theoretical ~1032: 258-byte matches in ~2 bits)
#   lzw       299-1157   (TIFF's 12-bit LZW fills its table at ~1365:1, then must clear)
#   packbits  64         (exactly: 128 bytes from a 2-byte run)
#   zstd      10486-30728 (an RLE block holds 128 KiB in 4 bytes: 32768:1)
#   lzma      1598-6223,  webp 1489-1633,  jpeg 249-254 (standard tables)
#   lerc      3745-119837 (a constant tile is stored as its header alone, whatever its size)
# Uncompressed data must be stored in full: fewer bytes than the pixels is a truncated file.
TIFF_MAX_RATIO = {
    "none": 1,
    "packbits": 64,
    "deflate": 1100,
    "lzw": 2048,
    "jpeg": 4096,  # arithmetic coding or tuned Huffman tables go past the standard ones
    "zstd": 65536,
    "lzma": 65536,
    "webp": 65536,
    "lerc": 2**24,  # header-only constant tiles: there is no ratio to hold them to
    "lerc_deflate": 2**24,
    "lerc_zstd": 2**24,
}
# Codecs not listed (CCITT fax, JBIG, JPEG 2000, JPEG XL, ...): a blank G4 row is one bit.
DEFAULT_MAX_RATIO = 65536
# PNG/JPEG/WebP read whole by Pillow: past Pillow's own bomb threshold (~89 MP) they are held
# to this, far under deflate's ~1032:1; even a sparse line-map scan stays well below it.
WHOLE_IMAGE_MAX_RATIO = 256

TOO_LARGE_MESSAGE = "Image decodes to far more pixels than its size can hold"


def max_ratio(codec: str) -> int:
    """The most decoded bytes per stored byte a TIFF codec (as tiff.py names it) can give."""
    return TIFF_MAX_RATIO.get(codec, DEFAULT_MAX_RATIO)


def min_stored_bytes(decoded: int, codec: str) -> float:
    """The fewest bytes `decoded` bytes of pixels can be stored in with `codec`."""
    return decoded / max_ratio(codec)


def check_expansion(decoded: int, stored: int, ratio: float) -> None:
    """Raises Rejected (too_large) when `decoded` bytes of pixels exceed `ratio` x `stored`."""
    if decoded > ratio * stored:
        raise Rejected("too_large", TOO_LARGE_MESSAGE)
