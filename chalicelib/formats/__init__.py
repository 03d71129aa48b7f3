"""Content inspection for uploaded map files (SQS processing pipeline).

Kept import-light on purpose: the heavy parsers (numpy, tifffile, Pillow, pypdf,
defusedxml, pyshp) are imported inside the inspector functions so that the API
Lambda, which may import this package, does not pay for them at cold start.
"""

from chalicelib.formats.result import REJECTION_CODES, Inspection, Rejected

__all__ = ["REJECTION_CODES", "Inspection", "Rejected"]
