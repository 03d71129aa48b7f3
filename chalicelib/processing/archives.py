"""ZIP dispatch: KMZ (a zipped KML) or zipped Shapefile, after the archive is vetted."""

from __future__ import annotations

import posixpath
import zipfile
import zlib

from chalicelib.processing.result import Inspection, Rejected
from chalicelib.processing.xmlgeo import XML_MAX_BYTES, parse_xml
from chalicelib.processing.zipsafe import LimitedReader, open_archive


def _is_os_junk(name: str) -> bool:
    # macOS Finder adds AppleDouble twins ("__MACOSX/x/._roads.shp") to every zip it
    # makes; they are not shapefiles/KML and must not make a good upload look broken.
    return name.startswith("__MACOSX/") or posixpath.basename(name).startswith("._")


def _kml_member(files: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    kmls = [i for i in files if i.filename.lower().endswith(".kml")]
    # The KMZ convention: the root "doc.kml"; else the shallowest, then alphabetical.
    kmls.sort(key=lambda i: (i.filename.lower() != "doc.kml", i.filename.count("/"), i.filename))
    return kmls[0] if kmls else None


def _inspect_kmz(zf: zipfile.ZipFile, member: zipfile.ZipInfo, entries: int) -> Inspection:
    if member.flag_bits & 0x1:
        raise Rejected("unsupported_format", "Archive members are encrypted")
    with zf.open(member) as raw:
        # Counting reader: a member inflating past its declared size is caught here,
        # before zipfile's own end-of-member CRC check would notice.
        reader = LimitedReader(raw, member.file_size, XML_MAX_BYTES)
        _fmt, meta = parse_xml(reader, expect="kml")
    meta["entries"] = entries
    return Inspection("kmz", "application/vnd.google-earth.kmz", meta)


def inspect_zip(path: str) -> Inspection:
    """Inspect a ZIP that must be a KMZ or a zipped Shapefile; raises Rejected."""
    from chalicelib.processing.shapefile_zip import inspect_shapefile, shapefile_sets

    with open_archive(path) as zf:
        files = [i for i in zf.infolist() if not i.is_dir() and not _is_os_junk(i.filename)]
        kml = _kml_member(files)
        sets, any_shp = shapefile_sets(files)
        try:
            if kml is not None and (kml.filename.lower() == "doc.kml" or not sets):
                return _inspect_kmz(zf, kml, len(files))
            if sets:
                return inspect_shapefile(zf, sets)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise Rejected("malformed", "Archive member cannot be read") from exc
    if any_shp:
        raise Rejected("malformed", "Shapefile is missing its .shx or .dbf")
    raise Rejected("unsupported_format", "Archive is neither KMZ nor a zipped Shapefile")
