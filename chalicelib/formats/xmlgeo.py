"""KML and GPX inspection: a streaming defusedxml parse that refuses DTDs and entities.

The parser feeds a target object instead of building a tree, and KML <coordinates>
text is consumed piece by piece as expat delivers it, so memory stays flat whatever
the size of a single element; XML_MAX_BYTES only bounds the time spent.

One XmlScan may read several documents (a KMZ's main KML and the KML files it links
with NetworkLinks) and reports their combined counts and extent.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Protocol

from chalicelib.formats import geo
from chalicelib.formats.result import Inspection, Rejected

XML_MAX_BYTES = 512 * 1024 * 1024
READ_CHUNK = 64 * 1024
MAX_DEPTH = 1000  # KML/GPX nest a handful of levels; deeper is hostile
SMALL_TEXT_MAX = 4096  # text kept whole (LatLonBox edges, gx:coord)
COORD_CARRY_MAX = 64 * 1024  # a coordinate tuple is never longer than this
MAX_LINKS = 1000  # NetworkLink targets kept per document (KMZ members to read next)

MEDIA_TYPES = {"kml": "application/vnd.google-earth.kml+xml", "gpx": "application/gpx+xml"}
# Blanks around a comma stay inside a tuple ("8.5, 47.3"); a line break after a trailing
# comma ("8.5,47.3,0,\n8.6,...") still ends it.
_COMMA = re.compile(r"[ \t]*,[ \t]*")
_TOKEN = re.compile(r"\S+")
_BOX_EDGES = ("north", "south", "east", "west")
_LOCATION = ("longitude", "latitude")  # a Model's <Location>; LookAt/Camera views also use them
_SMALL_TEXT = frozenset({*_BOX_EDGES, *_LOCATION, "coord"})
_LINK_PARENTS = frozenset({"Link", "Url"})  # <Url> is KML 2.0's NetworkLink <Link>


class Readable(Protocol):
    """Anything with a binary read(size) (files, size-limited archive members)."""

    def read(self, size: int = -1, /) -> bytes: ...


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _number(text: str | None) -> float:
    value = float(text or "")  # ValueError for junk, mapped to malformed by the caller
    if not math.isfinite(value):
        raise ValueError("non-finite coordinate")
    return value


class _Target:
    """ElementTree parser target: counts features and extends the extent as events arrive."""

    def __init__(self, expect: str | None):
        self.expect = expect
        self.root: str | None = None
        self.stack: list[str] = []
        self.extent = geo.Extent()
        self.counts: dict[str, int] = {}
        self.bounds: list[float] | None = None  # GPX <bounds>, used when there are no points
        self.box: dict[str, float] = {}
        self.location: dict[str, float] = {}
        self.text = ""  # small text of the current element, or the coordinates carry-over
        self.lone: str | None = None  # a longitude whose latitude follows in the next token
        self.lone_comma = False  # ... and the token holding it ended with a comma
        self.href: str | None = None  # text of a NetworkLink's <href>, while inside one
        self.links: list[str] = []

    def begin(self) -> None:
        """Start the next document: counts and extent carry on, the element state does not."""
        self.root = None
        self.stack = []
        self.box, self.location = {}, {}
        self.text, self.lone, self.href = "", None, None

    def _bump(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = _local(tag)
        if self.root is None:
            if name not in ("kml", "gpx") or (self.expect and name != self.expect):
                code = "malformed" if self.expect else "unsupported_format"
                raise Rejected(code, "XML document is not KML or GPX")
            self.root = name
        if len(self.stack) >= MAX_DEPTH:
            raise Rejected("malformed", "XML is nested too deeply")
        self.stack.append(name)
        self.text = ""
        self.lone = None
        if self.root == "kml":
            if name == "href" and len(self.stack) > 2 and self.stack[-3] == "NetworkLink":
                self.href = "" if self.stack[-2] in _LINK_PARENTS else None
        elif self.root == "gpx":
            if name in ("wpt", "trkpt", "rtept"):
                self._bump(name)
                self.extent.add(_number(attrib.get("lon")), _number(attrib.get("lat")))
            elif name == "rpt":  # Garmin route shaping point: the calculated road between rtepts
                self.extent.add(_number(attrib.get("lon")), _number(attrib.get("lat")))
            elif name in ("trk", "rte"):
                self._bump(name)
            elif name == "bounds":
                keys = ("minlon", "minlat", "maxlon", "maxlat")
                self.bounds = [_number(attrib.get(k)) for k in keys]

    def data(self, text: str) -> None:
        if self.root != "kml" or not self.stack:
            return
        name = self.stack[-1]
        if name == "coordinates":
            self._coordinates(self.text + text, final=False)
        elif name in _SMALL_TEXT:
            self.text += text
            if len(self.text) > SMALL_TEXT_MAX:
                raise ValueError("element text too long")
        elif self.href is not None:
            self.href += text
            if len(self.href) > SMALL_TEXT_MAX:
                self.href = None  # no archive member has such a name: not followed

    def _coordinates(self, text: str, final: bool) -> None:
        """Consume whole "lon,lat[,alt]" tuples; keep the possibly cut last one for later."""
        text = _COMMA.sub(",", text)
        cut = end = len(text)
        carry = ""
        if not final:
            # Keep the last token (it may go on in the next piece) and one blank for the
            # blanks after it: a line break there ends a tuple, spaces before a comma do not.
            end = len(text.rstrip())
            cut = end
            while cut and not text[cut - 1].isspace():
                cut -= 1
            if end < len(text):
                carry = "\n" if "\n" in text[end:] else " "
        for token in _TOKEN.finditer(text, 0, cut):
            self._tuples(token.group())
        self.text = text[cut:end] + carry
        if len(self.text) > COORD_CARRY_MAX:
            raise ValueError("coordinate tuple too long")
        if final and self.lone is not None:
            raise ValueError("coordinate tuple needs lon and lat")

    def _tuples(self, token: str) -> None:
        """One whitespace-free token: normally "lon,lat[,alt]", but Google Earth also reads
        "lon,lat,alt," (trailing comma), "lon,\nlat" and "1,2,3,4,5,6" (tuples of three)."""
        parts = token.split(",")
        if self.lone is None and 2 <= len(parts) <= 3 and all(parts):  # the common case
            self.extent.add(_number(parts[0]), _number(parts[1]))
            return
        numbers = [p for p in parts if p]
        if self.lone is not None:
            if not (self.lone_comma or parts[0] == ""):
                raise ValueError("coordinate tuple needs lon and lat")
            numbers.insert(0, self.lone)
            self.lone = None
        for i in range(0, len(numbers), 3):
            group = numbers[i : i + 3]
            if len(group) >= 2:
                self.extent.add(_number(group[0]), _number(group[1]))
            else:  # only ever the last one: its latitude may follow after a comma
                self.lone, self.lone_comma = group[0], parts[-1] == ""

    def end(self, tag: str) -> None:
        name = self.stack.pop()
        if self.root != "kml":
            return
        parent = self.stack[-1] if self.stack else ""
        if name in ("Placemark", "GroundOverlay"):
            self._bump(name)
        elif name == "coordinates":
            self._coordinates(self.text, final=True)
        elif name == "coord":  # gx:Track positions: "lon lat alt"
            parts = self.text.split()
            if len(parts) < 2:
                raise ValueError("gx:coord needs lon and lat")
            self.extent.add(_number(parts[0]), _number(parts[1]))
        elif name in _BOX_EDGES and parent == "LatLonBox":
            self.box[name] = _number(self.text)
        elif name == "LatLonBox":  # GroundOverlay footprint (a georeferenced map image)
            if set(self.box) == set(_BOX_EDGES):
                self.extent.add(self.box["west"], self.box["south"])
                self.extent.add(self.box["east"], self.box["north"])
            self.box = {}
        elif name in _LOCATION and parent == "Location":
            self.location[name] = _number(self.text)
        elif name == "Location":  # where a 3D <Model> stands
            if len(self.location) == 2:
                self.extent.add(self.location["longitude"], self.location["latitude"])
            self.location = {}
        elif name == "href" and self.href is not None:
            href = self.href.strip()
            if href and len(self.links) < MAX_LINKS:
                self.links.append(href)
            self.href = None
        self.text = ""

    def close(self) -> None:
        return None

    def metadata(self) -> dict[str, Any]:
        c = self.counts.get
        native = self.extent.as_list() or self.bounds
        # Longitudes: the shortest arc covering them (across +-180 for tracks or shapes over
        # the Pacific, and for a LatLonBox whose west > east, as KML draws it).
        bbox = self.extent.lonlat_bbox() if self.extent.count else geo.lonlat_bbox(self.bounds)
        meta: dict[str, Any] = {"crs": "EPSG:4326", "bbox": bbox}
        if native is not None and meta["bbox"] is None:
            meta["coordinates_out_of_range"] = True
        if self.root == "kml":
            meta.update(feature_count=c("Placemark", 0), ground_overlays=c("GroundOverlay", 0))
        else:
            meta.update(
                waypoints=c("wpt", 0),
                tracks=c("trk", 0),
                routes=c("rte", 0),
                track_points=c("trkpt", 0),
                route_points=c("rtept", 0),
                feature_count=c("wpt", 0) + c("trk", 0) + c("rte", 0),
            )
        return meta


class XmlScan:
    """Reads one or more KML/GPX documents and reports their combined counts and extent."""

    def __init__(self, expect: str | None = None):
        self._target = _Target(expect)

    def parse(self, source: Readable) -> str:
        """Stream-parse one document from `source`; returns its format; raises Rejected.

        With `expect` set, any other root is malformed (the container promised that format).
        """
        import defusedxml
        from defusedxml.ElementTree import DefusedXMLParser, ParseError

        target = self._target
        target.begin()
        expect = target.expect
        try:
            parser = DefusedXMLParser(
                target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True
            )
            while chunk := source.read(READ_CHUNK):
                parser.feed(chunk)
            parser.close()
        except defusedxml.DefusedXmlException as exc:
            raise Rejected("xml_entities", "XML declares a DTD or entities") from exc
        except (ParseError, LookupError) as exc:  # LookupError: unknown declared encoding
            if target.root is None and not expect:
                raise Rejected("unsupported_format", "File is not a KML or GPX document") from exc
            raise Rejected("malformed", "XML is not well-formed") from exc
        except (ValueError, TypeError) as exc:
            raise Rejected("malformed", "XML has invalid coordinates") from exc
        if target.root is None:
            raise Rejected("malformed" if expect else "unsupported_format", "XML document is empty")
        return target.root

    def take_links(self) -> list[str]:
        """The KML NetworkLink hrefs met since the last call, as written (not resolved)."""
        links, self._target.links = self._target.links, []
        return links

    def metadata(self) -> dict[str, Any]:
        return self._target.metadata()


def parse_xml(source: Readable, expect: str | None = None) -> tuple[str, dict[str, Any]]:
    """Stream-parse KML/GPX from `source`; returns (format, metadata); raises Rejected.

    With `expect` set, any other root is malformed (the container promised that format).
    """
    scan = XmlScan(expect)
    fmt = scan.parse(source)
    return fmt, scan.metadata()


def inspect_xml(path: str) -> Inspection:
    """Inspect an XML file that must be KML or GPX (decided by its root); raises Rejected."""
    if os.path.getsize(path) > XML_MAX_BYTES:
        raise Rejected("too_large", "XML exceeds the size budget")
    with open(path, "rb") as fh:
        fmt, meta = parse_xml(fh)
    return Inspection(fmt, MEDIA_TYPES[fmt], meta)
