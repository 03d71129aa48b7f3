"""ZIP dispatch: KMZ (a zipped KML) or zipped Shapefile, after the archive is vetted."""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from urllib.parse import unquote

from chalicelib.formats.result import Inspection, Rejected
from chalicelib.formats.xmlgeo import XML_MAX_BYTES, XmlScan
from chalicelib.formats.zipsafe import LimitedReader, open_archive

# KML documents read per KMZ: the main one plus those it links with NetworkLinks (layer
# files, super-overlay tiles). Links past this many are not followed.
MAX_KML_DOCUMENTS = 200


def _is_os_junk(name: str) -> bool:
    # macOS Finder adds AppleDouble twins ("__MACOSX/x/._roads.shp") to every zip it
    # makes; they are not shapefiles/KML and must not make a good upload look broken.
    return name.startswith("__MACOSX/") or posixpath.basename(name).startswith("._")


def _kml_member(files: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    kmls = [(n, i) for n, i in enumerate(files) if i.filename.lower().endswith(".kml")]
    # The KMZ convention: the root "doc.kml"; else the shallowest, and among those the first
    # in the archive (Google Earth reads the first .kml it finds; writers put the main first).
    kmls.sort(key=lambda e: (e[1].filename.lower() != "doc.kml", e[1].filename.count("/"), e[0]))
    return kmls[0][1] if kmls else None


def _linked_member(base: str, href: str) -> str | None:
    """The archive path a NetworkLink href names, relative to the linking document, or None
    for anything else (URLs, absolute paths, paths leaving the archive)."""
    href = unquote(href.split("#", 1)[0].split("?", 1)[0]).replace("\\", "/")
    if not href or ":" in href or href.startswith("/"):
        return None
    path = posixpath.normpath(posixpath.join(posixpath.dirname(base), href))
    return None if path.startswith("../") or path == ".." else path


def _inspect_kmz(
    zf: zipfile.ZipFile, main: zipfile.ZipInfo, files: list[zipfile.ZipInfo]
) -> Inspection:
    """Read the main KML and, breadth first, the KML members it links (each once)."""
    members = {i.filename: i for i in files if i.filename.lower().endswith(".kml")}
    scan = XmlScan(expect="kml")
    queue, seen = [main], {main.filename}
    budget = XML_MAX_BYTES  # all documents together
    while queue:
        member = queue.pop(0)
        if member.flag_bits & 0x1:
            raise Rejected("unsupported_format", "Archive members are encrypted")
        with zf.open(member) as raw:
            # Counting reader: a member inflating past its declared size is caught here,
            # before zipfile's own end-of-member CRC check would notice.
            reader = LimitedReader(raw, member.file_size, budget)
            scan.parse(reader)
            budget -= reader.count
        for href in scan.take_links():
            path = _linked_member(member.filename, href)
            linked = members.get(path) if path else None
            if linked is not None and path not in seen and len(seen) < MAX_KML_DOCUMENTS:
                seen.add(linked.filename)
                queue.append(linked)
    meta = scan.metadata()
    meta["entries"] = len(files)
    return Inspection("kmz", "application/vnd.google-earth.kmz", meta)


def inspect_zip(path: str) -> Inspection:
    """Inspect a ZIP that must be a KMZ or a zipped Shapefile; raises Rejected."""
    from chalicelib.formats.shapefile_zip import inspect_shapefile, shapefile_sets

    with open_archive(path) as zf:
        files = [i for i in zf.infolist() if not i.is_dir() and not _is_os_junk(i.filename)]
        kml = _kml_member(files)
        sets, any_shp = shapefile_sets(files)
        try:
            if kml is not None and (kml.filename.lower() == "doc.kml" or not sets):
                return _inspect_kmz(zf, kml, files)
            if sets:
                return inspect_shapefile(zf, sets)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise Rejected("malformed", "Archive member cannot be read") from exc
    if any_shp:
        raise Rejected("malformed", "Shapefile is missing its .shx or .dbf")
    raise Rejected("unsupported_format", "Archive is neither KMZ nor a zipped Shapefile")
