"""KML, KMZ, GPX and GeoJSON as third-party software writes them.

tests/samples.py writes its corpus with our own code; acceptance testers upload what Google
Earth Pro, QGIS/GDAL, Garmin BaseCamp/Connect, Strava, Komoot, GPSBabel, geojson.io or ArcGIS
write. Each document below reproduces one writer's layout as faithfully as known (namespaces,
prologs, encodings, indentation, extension elements, coordinate formatting), and the test says
what the inspector must report for it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.formats import geojson, xmlgeo
from chalicelib.formats.inspect import inspect_file
from chalicelib.formats.result import Inspection, Rejected

KML = ("kml", "application/vnd.google-earth.kml+xml")
KMZ = ("kmz", "application/vnd.google-earth.kmz")
GPX = ("gpx", "application/gpx+xml")
GEOJSON = ("geojson", "application/geo+json")


def _inspect(tmp_path: Path, name: str, data: bytes | str) -> Inspection:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    found = inspect_file(str(path))
    # The pipeline stores metadata as JSON: it must serialise strictly (no NaN/Infinity).
    assert json.loads(json.dumps(found.metadata, allow_nan=False)) == found.metadata
    return found


def _check(found: Inspection, kind: tuple[str, str], **meta: Any) -> None:
    assert (found.format, found.media_type) == kind
    for key, want in meta.items():
        got = found.metadata.get(key)
        if key in ("bbox", "native_bbox") and want is not None:
            assert got is not None, f"{key} is missing"
            assert got == pytest.approx(want, abs=1e-9), f"{key}: {got} != {want}"
        else:
            assert got == want, f"{key}: {got!r} != {want!r}"


def _code(tmp_path: Path, name: str, data: bytes | str) -> tuple[str, str]:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    with pytest.raises(Rejected) as caught:
        inspect_file(str(path))
    return caught.value.code, caught.value.message


def _kmz(tmp_path: Path, name: str, members: list[tuple[str, bytes | str]]) -> Inspection:
    """A KMZ written like Google Earth does: deflated members in the given order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members:
            zf.writestr(member, data.encode() if isinstance(data, str) else data)
    return _inspect(tmp_path, name, buf.getvalue())


# Not decoded by the inspector: only a container member, so a valid PNG signature suffices.
_PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64) + b"\xff\xd9"


# --- KML: Google Earth Pro ---------------------------------------------------------------------

GE_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2" '
    'xmlns:kml="http://www.opengis.net/kml/2.2" xmlns:atom="http://www.w3.org/2005/Atom">\n'
)

# Google Earth Pro 7.3 "Save Place As... (.kml)" of a folder: tab indentation, one-line
# coordinates with a trailing space, styles and style maps, a view (LookAt: not data), a
# Region on a NetworkLink (a visibility box, not data), a ScreenOverlay (screen space).
GE_PRO = (
    GE_HEAD
    + """<Document>
	<name>Zürich Ausflug.kml</name>
	<LookAt>
		<longitude>100.0</longitude>
		<latitude>10.0</latitude>
		<altitude>0</altitude>
		<heading>0</heading>
		<tilt>0</tilt>
		<range>5000</range>
		<gx:altitudeMode>relativeToSeaFloor</gx:altitudeMode>
	</LookAt>
	<StyleMap id="m_ylw-pushpin">
		<Pair>
			<key>normal</key>
			<styleUrl>#s_ylw-pushpin</styleUrl>
		</Pair>
		<Pair>
			<key>highlight</key>
			<styleUrl>#s_ylw-pushpin_hl</styleUrl>
		</Pair>
	</StyleMap>
	<Style id="s_ylw-pushpin">
		<IconStyle>
			<scale>1.1</scale>
			<Icon>
				<href>http://maps.google.com/mapfiles/kml/pushpin/ylw-pushpin.png</href>
			</Icon>
			<hotSpot x="20" y="2" xunits="pixels" yunits="pixels"/>
		</IconStyle>
	</Style>
	<Style id="s_ylw-pushpin_hl">
		<IconStyle>
			<scale>1.3</scale>
			<Icon>
				<href>http://maps.google.com/mapfiles/kml/pushpin/ylw-pushpin.png</href>
			</Icon>
			<hotSpot x="20" y="2" xunits="pixels" yunits="pixels"/>
		</IconStyle>
	</Style>
	<Style id="inline">
		<LineStyle>
			<color>ff0000ff</color>
			<width>2</width>
		</LineStyle>
		<PolyStyle>
			<color>7f00ff00</color>
		</PolyStyle>
	</Style>
	<Folder>
		<name>Ausflug</name>
		<open>1</open>
		<Folder>
			<name>Orte</name>
			<Placemark>
				<name>Hauptbahnhof</name>
				<description><![CDATA[<b>Start</b> <coordinates>0,0</coordinates>]]></description>
				<LookAt>
					<longitude>8.540192</longitude>
					<latitude>47.378177</latitude>
					<altitude>0</altitude>
					<heading>-0.0018</heading>
					<tilt>0</tilt>
					<range>1000.5</range>
					<gx:altitudeMode>relativeToSeaFloor</gx:altitudeMode>
				</LookAt>
				<styleUrl>#m_ylw-pushpin</styleUrl>
				<Point>
					<gx:drawOrder>1</gx:drawOrder>
					<coordinates>8.540192,47.378177,0</coordinates>
				</Point>
			</Placemark>
		</Folder>
		<Placemark>
			<name>Route</name>
			<styleUrl>#inline</styleUrl>
			<LineString>
				<tessellate>1</tessellate>
				<coordinates>
					8.540192,47.378177,0 8.543,47.3735,0 8.5475,47.3667,0\x20
				</coordinates>
			</LineString>
		</Placemark>
		<Placemark>
			<name>Park mit See</name>
			<styleUrl>#inline</styleUrl>
			<Polygon>
				<tessellate>1</tessellate>
				<outerBoundaryIs>
					<LinearRing>
						<coordinates>
							8.53,47.36,0 8.56,47.36,0 8.56,47.38,0 8.53,47.38,0 8.53,47.36,0\x20
						</coordinates>
					</LinearRing>
				</outerBoundaryIs>
				<innerBoundaryIs>
					<LinearRing>
						<coordinates>
							8.54,47.365,0 8.55,47.365,0 8.55,47.375,0 8.54,47.365,0\x20
						</coordinates>
					</LinearRing>
				</innerBoundaryIs>
			</Polygon>
		</Placemark>
		<Placemark>
			<name>Aussichtsturm</name>
			<MultiGeometry>
				<Point>
					<altitudeMode>absolute</altitudeMode>
					<coordinates>8.51,47.39,500</coordinates>
				</Point>
				<LineString>
					<extrude>1</extrude>
					<altitudeMode>absolute</altitudeMode>
					<coordinates>
						8.51,47.39,500 8.52,47.395,510\x20
					</coordinates>
				</LineString>
			</MultiGeometry>
		</Placemark>
		<Placemark>
			<name>GPS Track</name>
			<gx:Track>
				<altitudeMode>absolute</altitudeMode>
				<when>2023-06-01T08:00:00Z</when>
				<when>2023-06-01T08:00:05Z</when>
				<gx:coord>8.50 47.35 410</gx:coord>
				<gx:coord>8.505 47.352 412.5</gx:coord>
				<gx:angles>0 0 0</gx:angles>
				<ExtendedData>
					<SchemaData schemaUrl="#TrackSchema">
						<gx:SimpleArrayData name="heartrate">
							<gx:value>120</gx:value>
							<gx:value>121</gx:value>
						</gx:SimpleArrayData>
					</SchemaData>
				</ExtendedData>
			</gx:Track>
		</Placemark>
		<Placemark>
			<name>Zwei Etappen</name>
			<gx:MultiTrack>
				<altitudeMode>clampToGround</altitudeMode>
				<gx:interpolate>1</gx:interpolate>
				<gx:Track>
					<when>2023-06-02T08:00:00Z</when>
					<when>2023-06-02T08:01:00Z</when>
					<gx:coord>8.57 47.37 0</gx:coord>
					<gx:coord>8.575 47.372 0</gx:coord>
				</gx:Track>
				<gx:Track>
					<when>2023-06-02T09:00:00Z</when>
					<gx:coord>8.58 47.374 0</gx:coord>
				</gx:Track>
			</gx:MultiTrack>
		</Placemark>
		<GroundOverlay>
			<name>Alte Karte</name>
			<color>bfffffff</color>
			<Icon>
				<href>http://example.com/alte-karte.jpg</href>
				<viewBoundScale>0.75</viewBoundScale>
			</Icon>
			<LatLonBox>
				<north>47.41</north>
				<south>47.38</south>
				<east>8.56</east>
				<west>8.52</west>
				<rotation>0</rotation>
			</LatLonBox>
		</GroundOverlay>
		<ScreenOverlay>
			<name>Legende</name>
			<Icon><href>http://example.com/legend.png</href></Icon>
			<overlayXY x="0" y="1" xunits="fraction" yunits="fraction"/>
			<screenXY x="0" y="1" xunits="fraction" yunits="fraction"/>
			<size x="0" y="0" xunits="fraction" yunits="fraction"/>
		</ScreenOverlay>
		<NetworkLink>
			<name>Live</name>
			<Region>
				<LatLonAltBox>
					<north>60</north>
					<south>40</south>
					<east>20</east>
					<west>-10</west>
				</LatLonAltBox>
				<Lod><minLodPixels>128</minLodPixels></Lod>
			</Region>
			<Link>
				<href>http://example.com/live.kml</href>
				<refreshMode>onInterval</refreshMode>
				<refreshInterval>60</refreshInterval>
			</Link>
		</NetworkLink>
	</Folder>
</Document>
</kml>
"""
)
GE_PRO_META = {
    "crs": "EPSG:4326",
    "feature_count": 6,
    "ground_overlays": 1,
    "bbox": [8.50, 47.35, 8.58, 47.41],
}


def test_google_earth_pro_kml(tmp_path: Path) -> None:
    _check(_inspect(tmp_path, "ausflug.kml", GE_PRO), KML, **GE_PRO_META)


def test_google_earth_pro_kml_streams_across_tiny_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xmlgeo, "READ_CHUNK", 3)
    _check(_inspect(tmp_path, "ausflug.kml", GE_PRO), KML, **GE_PRO_META)


def test_google_earth_pro_kml_with_crlf_bom_and_no_extension(tmp_path: Path) -> None:
    # Saved again by a Windows editor: BOM, CRLF; uploaded without a file name extension.
    data = b"\xef\xbb\xbf" + GE_PRO.replace("\n", "\r\n").encode()
    _check(_inspect(tmp_path, "upload", data), KML, **GE_PRO_META)


def test_google_earth_3d_model_placemark(tmp_path: Path) -> None:
    # SketchUp / Google Earth "Model" placemark: the position is a <Location>, not coordinates.
    doc = (
        GE_HEAD
        + """<Document>
	<name>Haus</name>
	<Placemark>
		<name>Modell</name>
		<LookAt><longitude>0</longitude><latitude>0</latitude><range>100</range></LookAt>
		<Model id="model_1">
			<altitudeMode>relativeToGround</altitudeMode>
			<Location>
				<longitude>8.5417</longitude>
				<latitude>47.3769</latitude>
				<altitude>0</altitude>
			</Location>
			<Orientation><heading>0</heading><tilt>0</tilt><roll>0</roll></Orientation>
			<Scale><x>1</x><y>1</y><z>1</z></Scale>
			<Link><href>models/haus.dae</href></Link>
		</Model>
	</Placemark>
</Document>
</kml>
"""
    )
    found = _kmz(tmp_path, "haus.kmz", [("doc.kml", doc), ("models/haus.dae", b"<COLLADA/>")])
    _check(found, KMZ, feature_count=1, bbox=[8.5417, 47.3769, 8.5417, 47.3769], entries=2)


# --- KML: coordinate formatting --------------------------------------------------------------

COORDINATE_STYLES = {
    "one-line-trailing-space": "\n\t\t\t\t\t8.1,47.1,0 8.2,47.2,0 8.3,47.3,0 \n\t\t\t\t",
    "one-per-line-tabs": "\n\t\t\t8.1,47.1,0\n\t\t\t8.2,47.2,0\n\t\t\t8.3,47.3,0\n\t\t",
    "tabs-between": "8.1,47.1,0\t8.2,47.2,0\t\t8.3,47.3,0",
    "crlf": "8.1,47.1,0\r\n8.2,47.2,0\r\n8.3,47.3,0\r\n",
    "two-d": "8.1,47.1 8.2,47.2 8.3,47.3",
    "spaces-after-commas": "8.1, 47.1, 0 8.2, 47.2, 0 8.3, 47.3, 0",
    "trailing-comma-per-line": "\n8.1,47.1,0,\n8.2,47.2,0,\n8.3,47.3,0,\n",
    "trailing-comma-space": "8.1,47.1,0, 8.2,47.2,0, 8.3,47.3,0,",
    "trailing-comma-2d-per-line": "\n\t8.1,47.1,\n\t8.2,47.2,\n\t8.3,47.3,\n",
    "comma-only-separators": "8.1,47.1,0,8.2,47.2,0,8.3,47.3,0",  # Google Earth reads 3s
    "line-break-inside-tuple": "8.1,\n47.1,0 8.2,\n47.2,0 8.3,\n47.3,0",
    "exponents-and-signs": "+8.1E0,4.71e1,0 8.2,47.2,-1.5e2 0.83e1,+47.3",
}


@pytest.mark.parametrize("style", sorted(COORDINATE_STYLES))
def test_kml_coordinate_formatting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    doc = (
        GE_HEAD + "<Document><Placemark><LineString><coordinates>"
        f"{COORDINATE_STYLES[style]}</coordinates></LineString></Placemark></Document></kml>"
    )
    # Wherever the reads cut the text (inside numbers, around commas and line breaks).
    for chunk in (xmlgeo.READ_CHUNK, 1, 2, 3, 4, 5, 7, 11):
        monkeypatch.setattr(xmlgeo, "READ_CHUNK", chunk)
        found = _inspect(tmp_path, "c.kml", doc)
        _check(found, KML, feature_count=1, bbox=[8.1, 47.1, 8.3, 47.3])


def test_kml_lone_number_in_coordinates_is_still_malformed(tmp_path: Path) -> None:
    doc = GE_HEAD + "<Placemark><Point><coordinates>8.1</coordinates></Point></Placemark></kml>"
    assert _code(tmp_path, "lone.kml", doc)[0] == "malformed"


def test_kml_long_blank_runs_in_coordinates_stream_in_flat_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xmlgeo, "READ_CHUNK", 7)
    blanks = "\n" + "\t" * (2 * xmlgeo.COORD_CARRY_MAX)
    text = blanks.join(["", "8.1,47.1,0", "8.2, 47.2,0,", ",8.3,47.3", ""])
    doc = GE_HEAD + f"<Placemark><LineString><coordinates>{text}</coordinates></LineString>"
    _check(
        _inspect(tmp_path, "b.kml", doc + "</Placemark></kml>"), KML, bbox=[8.1, 47.1, 8.3, 47.3]
    )


# Google My Maps "Export to KML/KMZ": one tuple per line, indented by the element depth.
MY_MAPS = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
  <Document>
    <name>Velotour</name>
    <description/>
    <Style id="icon-1899-0288D1-normal">
      <IconStyle>
        <color>ffd18802</color>
        <scale>1</scale>
        <Icon>
          <href>images/icon-1.png</href>
        </Icon>
        <hotSpot x="32" xunits="pixels" y="64" yunits="insetPixels"/>
      </IconStyle>
      <LabelStyle>
        <scale>0</scale>
      </LabelStyle>
    </Style>
    <Folder>
      <name>Ebene ohne Titel</name>
      <Placemark>
        <name>Start</name>
        <styleUrl>#icon-1899-0288D1</styleUrl>
        <ExtendedData>
          <Data name="Notiz">
            <value>Treffpunkt</value>
          </Data>
        </ExtendedData>
        <Point>
          <coordinates>
            8.5417,47.3769,0
          </coordinates>
        </Point>
      </Placemark>
      <Placemark>
        <name>Strecke</name>
        <styleUrl>#line-000000-1200-nodesc</styleUrl>
        <LineString>
          <tessellate>1</tessellate>
          <coordinates>
            8.5417,47.3769,0
            8.6012,47.3301,0
            8.7203,47.2514,0
          </coordinates>
        </LineString>
      </Placemark>
    </Folder>
  </Document>
</kml>
"""


def test_google_my_maps_kml_and_kmz(tmp_path: Path) -> None:
    meta = {"feature_count": 2, "bbox": [8.5417, 47.2514, 8.7203, 47.3769]}
    _check(_inspect(tmp_path, "velotour.kml", MY_MAPS), KML, **meta)
    found = _kmz(tmp_path, "velotour.kmz", [("doc.kml", MY_MAPS), ("images/icon-1.png", _PNG)])
    _check(found, KMZ, entries=2, **meta)


def test_network_link_only_kml_is_accepted_without_a_bbox(tmp_path: Path) -> None:
    # My Maps "Keep data up to date with network link KML": nothing but a link (never fetched).
    doc = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
  <NetworkLink>
    <name>Velotour</name>
    <Link>
      <href>https://www.google.com/maps/d/kml?mid=1AbCdEf&amp;lid=xyz</href>
    </Link>
  </NetworkLink>
</kml>
"""
    _check(_inspect(tmp_path, "link.kml", doc), KML, feature_count=0, bbox=None)


# --- KML: namespaces, prefixes, encodings -----------------------------------------------------

OLD_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="{ns}">
<Folder>
  <name>My Places</name>
  <open>1</open>
  <Placemark>
    <name>Zürich</name>
    <LookAt>
      <longitude>8.54</longitude>
      <latitude>47.37</latitude>
      <range>1200</range>
      <tilt>0</tilt>
      <heading>0</heading>
    </LookAt>
    <visibility>1</visibility>
    <styleUrl>root://styleMaps#default+nicon=0x307+hicon=0x317</styleUrl>
    <Point>
      <coordinates>8.540192,47.378177,0</coordinates>
    </Point>
  </Placemark>
  <Placemark>
    <name>Bern</name>
    <Point>
      <coordinates>7.439583,46.948090,0</coordinates>
    </Point>
  </Placemark>
</Folder>
</kml>
"""


@pytest.mark.parametrize(
    "ns",
    [
        "http://earth.google.com/kml/2.0",  # Google Earth 3
        "http://earth.google.com/kml/2.1",  # Google Earth 4.0-4.2
        "http://earth.google.com/kml/2.2",  # Google Earth 4.3 betas
        "http://www.opengis.net/kml/2.2",
    ],
)
def test_kml_old_google_earth_namespaces(tmp_path: Path, ns: str) -> None:
    found = _inspect(tmp_path, "places.kml", OLD_KML.format(ns=ns))
    _check(found, KML, feature_count=2, bbox=[7.439583, 46.94809, 8.540192, 47.378177])


def test_kml_with_explicit_kml_prefix(tmp_path: Path) -> None:
    doc = """<?xml version="1.0" encoding="UTF-8"?>
<kml:kml xmlns:kml="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">
  <kml:Document>
    <kml:name>prefixed</kml:name>
    <kml:Placemark>
      <kml:name>A</kml:name>
      <kml:Point><kml:coordinates>8.5,47.3</kml:coordinates></kml:Point>
    </kml:Placemark>
    <kml:Placemark>
      <kml:name>B</kml:name>
      <kml:LineString><kml:coordinates>8.6,47.4 8.7,47.5</kml:coordinates></kml:LineString>
    </kml:Placemark>
    <kml:GroundOverlay>
      <kml:Icon><kml:href>map.png</kml:href></kml:Icon>
      <kml:LatLonBox><kml:north>47.6</kml:north><kml:south>47.2</kml:south>
        <kml:east>8.8</kml:east><kml:west>8.4</kml:west></kml:LatLonBox>
    </kml:GroundOverlay>
  </kml:Document>
</kml:kml>
"""
    found = _inspect(tmp_path, "prefixed.kml", doc)
    _check(found, KML, feature_count=2, ground_overlays=1, bbox=[8.4, 47.2, 8.8, 47.6])


def test_kml_declared_and_written_in_iso_8859_1(tmp_path: Path) -> None:
    doc = OLD_KML.format(ns="http://www.opengis.net/kml/2.2").replace("UTF-8", "ISO-8859-1")
    doc = doc.replace("My Places", "Orte in der Schweiz: Zürich, Genève, Neuchâtel")
    data = doc.encode("iso-8859-1")
    assert b"\xfc" in data  # really Latin-1 bytes, not UTF-8
    _check(_inspect(tmp_path, "latin1.kml", data), KML, feature_count=2)


def test_kml_declared_and_written_in_windows_1252(tmp_path: Path) -> None:
    doc = OLD_KML.format(ns="http://www.opengis.net/kml/2.2").replace("UTF-8", "windows-1252")
    data = doc.replace("My Places", "Café \u2013 \u201eZürich\u201c").encode("cp1252")
    _check(_inspect(tmp_path, "cp1252.kml", data), KML, feature_count=2)


def test_kml_in_utf16_with_bom(tmp_path: Path) -> None:
    # "Unicode" as Windows tools (Notepad, .NET XmlWriter with Encoding.Unicode) save it.
    doc = OLD_KML.format(ns="http://www.opengis.net/kml/2.2").replace("UTF-8", "UTF-16")
    data = doc.replace("\n", "\r\n").encode("utf-16")  # BOM + little endian
    _check(_inspect(tmp_path, "utf16.kml", data), KML, feature_count=2)


def test_kml_with_bom_and_leading_comment(tmp_path: Path) -> None:
    doc = OLD_KML.format(ns="http://www.opengis.net/kml/2.2")
    head, rest = doc.split("\n", 1)
    data = "\ufeff" + head + "\n<!-- Generated by MapSource -->\n" + rest
    _check(_inspect(tmp_path, "bom.kml", data.encode()), KML, feature_count=2)


# GDAL's KML driver (QGIS "Save Features As... KML", ogr2ogr -f KML): a Schema per layer,
# ExtendedData/SchemaData, per-feature inline Style, one Folder per layer, 2D coordinates.
QGIS_KML = """<?xml version="1.0" encoding="utf-8" ?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document id="root_doc">
<Schema name="strassen" id="strassen">
	<SimpleField name="id" type="int"></SimpleField>
	<SimpleField name="name" type="string"></SimpleField>
	<SimpleField name="laenge" type="float"></SimpleField>
</Schema>
<Folder><name>strassen</name>
  <Placemark>
	<name>Bahnhofstrasse</name>
	<Style><LineStyle><color>ff0000ff</color></LineStyle><PolyStyle><fill>0</fill></PolyStyle></Style>
	<ExtendedData><SchemaData schemaUrl="#strassen">
		<SimpleData name="id">1</SimpleData>
		<SimpleData name="name">Bahnhofstrasse</SimpleData>
		<SimpleData name="laenge">1400.5</SimpleData>
	</SchemaData></ExtendedData>
      <LineString><coordinates>8.539,47.3665 8.5397,47.3699 8.54,47.3766</coordinates></LineString>
  </Placemark>
  <Placemark>
	<ExtendedData><SchemaData schemaUrl="#strassen">
		<SimpleData name="id">2</SimpleData>
	</SchemaData></ExtendedData>
      <MultiGeometry><LineString><coordinates>8.52,47.36 8.53,47.37</coordinates></LineString>\
<LineString><coordinates>8.55,47.38 8.56,47.39</coordinates></LineString></MultiGeometry>
  </Placemark>
  <Placemark>
	<ExtendedData><SchemaData schemaUrl="#strassen">
		<SimpleData name="id">3</SimpleData>
	</SchemaData></ExtendedData>
  </Placemark>
</Folder>
<Folder><name>parzellen</name>
  <Placemark>
      <Polygon><outerBoundaryIs><LinearRing>\
<coordinates>8.5,47.35,410 8.51,47.35,410 8.51,47.36,410 8.5,47.35,410</coordinates>\
</LinearRing></outerBoundaryIs><innerBoundaryIs><LinearRing>\
<coordinates>8.502,47.351,410 8.505,47.351,410 8.505,47.355,410 8.502,47.351,410</coordinates>\
</LinearRing></innerBoundaryIs></Polygon>
  </Placemark>
</Folder>
</Document></kml>
"""


def test_qgis_gdal_kml(tmp_path: Path) -> None:
    found = _inspect(tmp_path, "qgis.kml", QGIS_KML)
    _check(found, KML, feature_count=4, ground_overlays=0, bbox=[8.5, 47.35, 8.56, 47.39])


# --- KMZ --------------------------------------------------------------------------------------


def test_google_earth_kmz_with_images(tmp_path: Path) -> None:
    doc = GE_PRO.replace("http://example.com/alte-karte.jpg", "files/alte-karte.jpg")
    doc = doc.replace(
        "http://maps.google.com/mapfiles/kml/pushpin/ylw-pushpin.png", "files/pin.png"
    )
    members = [("doc.kml", doc), ("files/alte-karte.jpg", _JPEG), ("files/pin.png", _PNG)]
    _check(_kmz(tmp_path, "ausflug.kmz", members), KMZ, entries=3, **GE_PRO_META)


def test_kmz_ground_overlay_only(tmp_path: Path) -> None:
    # Google Earth "Add Image Overlay" saved as KMZ: the scanned map is the only content.
    doc = (
        GE_HEAD
        + """<GroundOverlay>
	<name>Wanderkarte 1950</name>
	<Icon>
		<href>files/wanderkarte.jpg</href>
		<viewBoundScale>0.75</viewBoundScale>
	</Icon>
	<LatLonBox>
		<north>46.62</north>
		<south>46.51</south>
		<east>8.11</east>
		<west>7.93</west>
		<rotation>-1.25</rotation>
	</LatLonBox>
</GroundOverlay>
</kml>
"""
    )
    found = _kmz(tmp_path, "karte.kmz", [("doc.kml", doc), ("files/wanderkarte.jpg", _JPEG)])
    _check(found, KMZ, feature_count=0, ground_overlays=1, bbox=[7.93, 46.51, 8.11, 46.62])


def test_kmz_main_kml_not_named_doc_and_not_first(tmp_path: Path) -> None:
    # Zipped by hand (Windows "Send to compressed folder" lists files/ first).
    members = [
        ("files/foto1.jpg", _JPEG),
        ("files/foto2.jpg", _JPEG),
        ("Wanderung.kml", OLD_KML.format(ns="http://www.opengis.net/kml/2.2")),
    ]
    found = _kmz(tmp_path, "wanderung.kmz", members)
    _check(found, KMZ, feature_count=2, entries=3, bbox=[7.439583, 46.94809, 8.540192, 47.378177])


def test_kmz_of_a_zipped_folder(tmp_path: Path) -> None:
    members = [
        ("Wanderung/", b""),
        ("Wanderung/files/foto1.jpg", _JPEG),
        ("Wanderung/Wanderung.kml", OLD_KML.format(ns="http://www.opengis.net/kml/2.2")),
    ]
    _check(_kmz(tmp_path, "wanderung.kmz", members), KMZ, feature_count=2, entries=2)


def _kml_doc(body: str) -> str:
    return GE_HEAD + f"<Document>\n{body}\n</Document>\n</kml>\n"


def _link(href: str, region: str = "") -> str:
    return f"<NetworkLink><name>{href}</name>{region}<Link><href>{href}</href></Link></NetworkLink>"


def _placemark(coordinates: str) -> str:
    return f"<Placemark><Point><coordinates>{coordinates}</coordinates></Point></Placemark>"


def test_kmz_main_kml_first_in_archive_wins_over_alphabetical_order(tmp_path: Path) -> None:
    # Google Earth reads the first .kml in the archive; here the main file links the other.
    main = _kml_doc(_link("Anhang.kml") + _placemark("8.5,47.3"))
    extra = _kml_doc(_placemark("9.5,46.3"))
    found = _kmz(tmp_path, "t.kmz", [("Tour.kml", main), ("Anhang.kml", extra)])
    _check(found, KMZ, feature_count=2, bbox=[8.5, 46.3, 9.5, 47.3])


def test_kmz_network_links_to_kml_inside_the_archive(tmp_path: Path) -> None:
    # A root document that only links layer documents stored in the same KMZ.
    doc = _kml_doc(
        "<name>Layers</name>"
        + _link("layers/strassen.kml")
        + _link("layers/orte.kml")
        + _link("doc.kml")  # a cycle back to itself
        + _link("http://example.com/extern.kml")  # never fetched
        + _link("../../outside.kml")  # leaves the archive: ignored
        + _link("layers/missing.kml")
    )
    roads = QGIS_KML
    places = _kml_doc(
        _placemark("7.439583,46.94809") + _link("orte-details.kml")  # relative to layers/
    )
    details = _kml_doc(_placemark("6.14,46.2") + _placemark("9.83,46.5"))
    members = [
        ("doc.kml", doc),
        ("layers/strassen.kml", roads),
        ("layers/orte.kml", places),
        ("layers/orte-details.kml", details),
        ("unused.kml", _kml_doc(_placemark("100,10"))),  # not linked: not content
    ]
    found = _kmz(tmp_path, "layers.kmz", members)
    _check(found, KMZ, feature_count=4 + 1 + 2, bbox=[6.14, 46.2, 9.83, 47.39], entries=5)


def test_kmz_super_overlay(tmp_path: Path) -> None:
    # GDAL's KMLSUPEROVERLAY / MapTiler layout: doc.kml -> 0/0/0.kml -> ../../1/x/y.kml tiles.
    def tile(z: int, x: int, y: int, box: tuple[float, float, float, float], links: str) -> str:
        w, s, e, n = box
        latlon = f"<north>{n}</north><south>{s}</south><east>{e}</east><west>{w}</west>"
        return _kml_doc(
            f"<name>{z}/{x}/{y}.kml</name>"
            f"<Region><LatLonAltBox>{latlon}</LatLonAltBox>"
            "<Lod><minLodPixels>128</minLodPixels><maxLodPixels>-1</maxLodPixels></Lod></Region>"
            f"<GroundOverlay><drawOrder>{z}</drawOrder><Icon><href>{y}.png</href></Icon>"
            f"<LatLonBox>{latlon}</LatLonBox></GroundOverlay>{links}"
        )

    region = (
        "<Region><LatLonAltBox><north>47.5</north><south>47</south><east>9</east><west>8</west>"
        "</LatLonAltBox></Region>"
    )
    members = [
        ("doc.kml", _kml_doc(_link("0/0/0.kml", region))),
        ("0/0/0.kml", tile(0, 0, 0, (8, 47, 9, 47.5), _link("../../1/0/0.kml"))),
        ("0/0/0.png", _PNG),
        ("1/0/0.kml", tile(1, 0, 0, (8, 47, 8.5, 47.25), "")),
        ("1/0/0.png", _PNG),
    ]
    found = _kmz(tmp_path, "tiles.kmz", members)
    _check(found, KMZ, feature_count=0, ground_overlays=2, bbox=[8, 47, 9, 47.5], entries=5)


def test_kmz_links_written_as_urls_or_windows_paths(tmp_path: Path) -> None:
    doc = _kml_doc(_link("Meine%20Orte.kml") + _link("ebenen\\seen.kml#layer"))
    members = [
        ("doc.kml", doc),
        ("Meine Orte.kml", _kml_doc(_placemark("8.5,47.3"))),
        ("ebenen/seen.kml", _kml_doc(_placemark("9.1,46.1"))),
    ]
    found = _kmz(tmp_path, "links.kmz", members)
    _check(found, KMZ, feature_count=2, bbox=[8.5, 46.1, 9.1, 47.3])


def test_kmz_broken_linked_kml_is_malformed(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", _kml_doc(_link("a.kml")))
        zf.writestr("a.kml", _kml_doc(_placemark("8.5,47.3"))[:-20])
    assert _code(tmp_path, "broken.kmz", buf.getvalue())[0] == "malformed"


def test_kmz_linked_kml_with_entities_is_refused(tmp_path: Path) -> None:
    evil = (
        '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&x;</name></Placemark></kml>'
    )
    path = tmp_path / "evil.kmz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", _kml_doc(_link("files/x.kml")))
        zf.writestr("files/x.kml", evil)
    assert _code(tmp_path, path.name, buf.getvalue())[0] == "xml_entities"


# --- GPX ---------------------------------------------------------------------------------------

GARMIN_NS = (
    'xmlns="http://www.topografix.com/GPX/1/1" '
    'xmlns:gpxx="http://www.garmin.com/xmlschemas/GpxExtensions/v3" '
    'xmlns:wptx1="http://www.garmin.com/xmlschemas/WaypointExtension/v1" '
    'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"'
)
GARMIN_SCHEMAS = (
    "http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd "
    "http://www.garmin.com/xmlschemas/GpxExtensions/v3 "
    "http://www8.garmin.com/xmlschemas/GpxExtensionsv3.xsd "
    "http://www.garmin.com/xmlschemas/WaypointExtension/v1 "
    "http://www8.garmin.com/xmlschemas/WaypointExtensionv1.xsd "
    "http://www.garmin.com/xmlschemas/TrackPointExtension/v1 "
    "http://www.garmin.com/xmlschemas/TrackPointExtensionv1.xsd"
)

BASECAMP = f"""<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<gpx {GARMIN_NS} creator="BaseCamp" version="1.1" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{GARMIN_SCHEMAS}">

  <metadata>
    <link href="http://www.garmin.com">
      <text>Garmin International</text>
    </link>
    <time>2023-06-01T10:00:00Z</time>
    <bounds maxlat="47.400000" maxlon="8.600000" minlat="47.300000" minlon="8.500000"/>
  </metadata>

  <wpt lat="47.378177" lon="8.540192">
    <ele>408.12</ele>
    <time>2023-06-01T09:00:00Z</time>
    <name>HB</name>
    <sym>Flag, Blue</sym>
    <extensions>
      <gpxx:WaypointExtension>
        <gpxx:DisplayMode>SymbolAndName</gpxx:DisplayMode>
      </gpxx:WaypointExtension>
      <wptx1:WaypointExtension>
        <wptx1:DisplayMode>SymbolAndName</wptx1:DisplayMode>
      </wptx1:WaypointExtension>
    </extensions>
  </wpt>

  <wpt lat="47.351944" lon="8.557222">
    <ele>406</ele>
    <name>Zürihorn</name>
    <sym>Swimming Area</sym>
  </wpt>

  <rte>
    <name>Zum See</name>
    <extensions>
      <gpxx:RouteExtension>
        <gpxx:IsAutoNamed>false</gpxx:IsAutoNamed>
        <gpxx:DisplayColor>Magenta</gpxx:DisplayColor>
      </gpxx:RouteExtension>
    </extensions>
    <rtept lat="47.378177" lon="8.540192">
      <name>HB</name>
      <extensions>
        <gpxx:RoutePointExtension>
          <gpxx:Subclass>000000000000FFFFFFFFFFFFFFFFFFFFFFFF</gpxx:Subclass>
          <gpxx:rpt lat="47.372" lon="8.5389"/>
          <gpxx:rpt lat="47.360" lon="8.5361"/>
        </gpxx:RoutePointExtension>
      </extensions>
    </rtept>
    <rtept lat="47.351944" lon="8.557222">
      <name>Zürihorn</name>
    </rtept>
  </rte>

  <trk>
    <name>2023-06-01 10:00:00</name>
    <extensions>
      <gpxx:TrackExtension>
        <gpxx:DisplayColor>DarkGray</gpxx:DisplayColor>
      </gpxx:TrackExtension>
    </extensions>
    <trkseg>
      <trkpt lat="47.378177" lon="8.540192">
        <ele>408.1</ele>
        <time>2023-06-01T10:00:00Z</time>
        <extensions>
          <gpxtpx:TrackPointExtension>
            <gpxtpx:atemp>21.0</gpxtpx:atemp>
            <gpxtpx:hr>95</gpxtpx:hr>
            <gpxtpx:cad>80</gpxtpx:cad>
          </gpxtpx:TrackPointExtension>
        </extensions>
      </trkpt>
      <trkpt lat="47.370100" lon="8.542300">
        <ele>409.0</ele>
        <time>2023-06-01T10:05:00Z</time>
      </trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="47.355000" lon="8.551000">
        <ele>407.3</ele>
        <time>2023-06-01T10:30:00Z</time>
      </trkpt>
    </trkseg>
  </trk>

</gpx>
"""


def test_garmin_basecamp_gpx(tmp_path: Path) -> None:
    found = _inspect(tmp_path, "basecamp.gpx", BASECAMP)
    _check(
        found,
        GPX,
        crs="EPSG:4326",
        waypoints=2,
        routes=1,
        tracks=1,
        route_points=2,
        track_points=3,
        feature_count=4,
        # The gpxx:rpt shaping points (the calculated road) lie west of the route points.
        bbox=[8.5361, 47.351944, 8.557222, 47.378177],
    )


GARMIN_CONNECT = """<?xml version="1.0" encoding="UTF-8"?>
<gpx creator="Garmin Connect" version="1.1"
  xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/11.xsd"
  xmlns:ns3="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
  xmlns="http://www.topografix.com/GPX/1/1"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xmlns:ns2="http://www.garmin.com/xmlschemas/GpxExtensions/v3">
  <metadata>
    <link href="connect.garmin.com">
      <text>Garmin Connect</text>
    </link>
    <time>2023-06-01T06:12:03.000Z</time>
  </metadata>
  <trk>
    <name>Zürich Laufen</name>
    <type>running</type>
    <trkseg>
      <trkpt lat="47.36675001494586467742919921875" lon="8.54110004566609859466552734375">
        <ele>409.600006103515625</ele>
        <time>2023-06-01T06:12:03.000Z</time>
        <extensions>
          <ns3:TrackPointExtension>
            <ns3:hr>92</ns3:hr>
            <ns3:cad>0</ns3:cad>
          </ns3:TrackPointExtension>
        </extensions>
      </trkpt>
      <trkpt lat="47.3671800084412097930908203125" lon="8.54201998375356197357177734375">
        <ele>409.399993896484375</ele>
        <time>2023-06-01T06:12:09.000Z</time>
        <extensions>
          <ns3:TrackPointExtension>
            <ns3:hr>101</ns3:hr>
            <ns3:cad>78</ns3:cad>
          </ns3:TrackPointExtension>
        </extensions>
      </trkpt>
    </trkseg>
  </trk>
</gpx>"""


def test_garmin_connect_gpx_with_long_decimals(tmp_path: Path) -> None:
    found = _inspect(tmp_path, "activity_11223344.gpx", GARMIN_CONNECT)
    _check(
        found,
        GPX,
        tracks=1,
        track_points=2,
        waypoints=0,
        feature_count=1,
        bbox=[8.54110004566609859, 47.36675001494586, 8.54201998375356197, 47.36718000844121],
    )


STRAVA = f"""<?xml version="1.0" encoding="UTF-8"?>
<gpx creator="StravaGPX" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="{GARMIN_SCHEMAS}" version="1.1" xmlns="http://www.topografix.com/GPX/1/1" \
xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1" \
xmlns:gpxx="http://www.garmin.com/xmlschemas/GpxExtensions/v3">
 <metadata>
  <time>2023-06-01T06:12:03Z</time>
 </metadata>
 <trk>
  <name>Morning Ride</name>
  <type>1</type>
  <trkseg>
   <trkpt lat="47.3667500" lon="8.5411000">
    <ele>409.6</ele>
    <time>2023-06-01T06:12:03Z</time>
    <extensions>
     <gpxtpx:TrackPointExtension>
      <gpxtpx:hr>92</gpxtpx:hr>
      <gpxtpx:cad>0</gpxtpx:cad>
     </gpxtpx:TrackPointExtension>
    </extensions>
   </trkpt>
   <trkpt lat="47.3701000" lon="8.5502000">
    <ele>411.0</ele>
    <time>2023-06-01T06:14:03Z</time>
   </trkpt>
  </trkseg>
 </trk>
</gpx>
"""

STRAVA_ROUTE = """<?xml version="1.0" encoding="UTF-8"?>
<gpx xmlns="http://www.topografix.com/GPX/1/1" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd" \
version="1.1" creator="http://www.strava.com">
 <metadata>
  <name>Uetliberg Loop</name>
  <author>
   <name>Strava</name>
   <link href="https://www.strava.com/athletes/123"/>
  </author>
  <copyright author="OpenStreetMap contributors">
   <year>2023</year>
   <license>https://www.openstreetmap.org/copyright</license>
  </copyright>
  <link href="https://www.strava.com/routes/456"/>
 </metadata>
 <trk>
  <name>Uetliberg Loop</name>
  <link href="https://www.strava.com/routes/456"/>
  <type>cycling</type>
  <trkseg>
   <trkpt lat="47.36675" lon="8.54110">
    <ele>409.6</ele>
   </trkpt>
   <trkpt lat="47.34944" lon="8.49167">
    <ele>869.0</ele>
   </trkpt>
  </trkseg>
 </trk>
</gpx>
"""

KOMOOT = """<?xml version='1.0' encoding='UTF-8'?>
<gpx version="1.1" creator="https://www.komoot.de" xmlns="http://www.topografix.com/GPX/1/1" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">
  <metadata>
    <name>Rund um den Zürichsee</name>
    <author>
      <link href="https://www.komoot.de">
        <text>komoot</text>
        <type>text/html</type>
      </link>
    </author>
  </metadata>
  <trk>
    <name>Rund um den Zürichsee</name>
    <trkseg>
      <trkpt lat="47.366750" lon="8.541100">
        <ele>408.0</ele>
        <time>2023-06-01T06:00:00.000Z</time>
      </trkpt>
      <trkpt lat="47.226200" lon="8.816800">
        <ele>408.5</ele>
        <time>2023-06-01T08:00:00.000Z</time>
      </trkpt>
    </trkseg>
  </trk>
</gpx>
"""


@pytest.mark.parametrize(
    ("name", "doc", "bbox"),
    [
        ("strava-activity", STRAVA, [8.5411, 47.36675, 8.5502, 47.3701]),
        ("strava-route", STRAVA_ROUTE, [8.49167, 47.34944, 8.5411, 47.36675]),
        ("komoot", KOMOOT, [8.5411, 47.2262, 8.8168, 47.36675]),
    ],
)
def test_strava_and_komoot_gpx(tmp_path: Path, name: str, doc: str, bbox: list[float]) -> None:
    found = _inspect(tmp_path, f"{name}.gpx", doc)
    _check(found, GPX, tracks=1, track_points=2, feature_count=1, bbox=bbox)


GPSBABEL_GPX10 = """<?xml version="1.0" encoding="UTF-8"?>
<gpx
version="1.0"
creator="GPSBabel - http://www.gpsbabel.org"
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
xmlns="http://www.topografix.com/GPX/1/0"
xsi:schemaLocation="http://www.topografix.com/GPX/1/0 http://www.topografix.com/GPX/1/0/gpx.xsd">
<time>2023-06-01T10:00:00Z</time>
<bounds minlat="46.948090000" minlon="7.439583000" maxlat="47.378177000" maxlon="8.540192000"/>
<wpt lat="47.378177000" lon="8.540192000">
  <ele>408.000000</ele>
  <name>ZUERICH</name>
  <cmt>Zürich HB</cmt>
  <desc>Zürich HB</desc>
  <sym>Flag</sym>
</wpt>
<rte>
  <name>ZH-BE</name>
  <rtept lat="47.378177000" lon="8.540192000">
    <name>ZUERICH</name>
  </rtept>
  <rtept lat="46.948090000" lon="7.439583000">
    <name>BERN</name>
  </rtept>
</rte>
<trk>
  <name>ACTIVE LOG</name>
  <number>1</number>
<trkseg>
<trkpt lat="47.378177000" lon="8.540192000">
  <ele>408.000000</ele>
  <time>2023-06-01T10:00:00Z</time>
  <course>240.000000</course>
  <speed>22.500000</speed>
</trkpt>
<trkpt lat="46.948090000" lon="7.439583000">
  <ele>540.000000</ele>
  <time>2023-06-01T11:00:00Z</time>
</trkpt>
</trkseg>
</trk>
</gpx>
"""


def test_gpsbabel_gpx_1_0_with_bounds(tmp_path: Path) -> None:
    found = _inspect(tmp_path, "gpsbabel.gpx", GPSBABEL_GPX10)
    _check(
        found,
        GPX,
        waypoints=1,
        routes=1,
        tracks=1,
        route_points=2,
        track_points=2,
        feature_count=3,
        bbox=[7.439583, 46.94809, 8.540192, 47.378177],
    )


def test_gpx_metadata_bounds_do_not_override_points(tmp_path: Path) -> None:
    # Some writers leave <bounds> stale (or world-wide); the points decide when there are any.
    doc = KOMOOT.replace(
        "  </metadata>",
        '    <bounds minlat="-90" minlon="-180" maxlat="90" maxlon="180"/>\n  </metadata>',
    )
    _check(_inspect(tmp_path, "b.gpx", doc), GPX, bbox=[8.5411, 47.2262, 8.8168, 47.36675])


def test_gpx_with_crlf_and_windows_1252(tmp_path: Path) -> None:
    # Older Windows tools (MapSource, OziExplorer converters) declare the ANSI code page.
    doc = GPSBABEL_GPX10.replace('encoding="UTF-8"', 'encoding="windows-1252"')
    data = doc.replace("\n", "\r\n").encode("cp1252")
    assert b"\xfc" in data
    _check(_inspect(tmp_path, "w.gpx", data), GPX, feature_count=3)


def test_gpx_with_utf8_bom(tmp_path: Path) -> None:
    data = "\ufeff" + STRAVA
    _check(_inspect(tmp_path, "bom.gpx", data.encode()), GPX, track_points=2)


def test_gpx_with_very_long_root_attributes(tmp_path: Path) -> None:
    # OsmAnd and some converters declare many namespaces and schema locations: the root start
    # tag alone is longer than the sniffing window.
    extra = " ".join(
        f'xmlns:ext{i}="http://example.com/xmlschemas/Extension{i}/v1"' for i in range(200)
    )
    locations = " ".join(
        f"http://example.com/xmlschemas/Extension{i}/v1 http://example.com/ext{i}.xsd"
        for i in range(200)
    )
    doc = STRAVA.replace(
        'creator="StravaGPX"', f'creator="OsmAnd~ 4.5" {extra} data-loc="{locations}"'
    )
    assert doc.index("<metadata>") > 8192
    _check(_inspect(tmp_path, "long.gpx", doc), GPX, track_points=2)


# --- GeoJSON -----------------------------------------------------------------------------------

# QGIS "Export > Save Features As... GeoJSON" (GDAL's writer, RFC7946=NO): a line per feature.
QGIS_GEOJSON = """{
"type": "FeatureCollection",
"name": "gemeinden",
"crs": { "type": "name", "properties": { "name": "urn:ogc:def:crs:OGC:1.3:CRS84" } },
"features": [
{ "type": "Feature", "properties": { "id": 1, "name": "Zürich", "bfs_nr": 261, \
"flaeche": 87.88 }, "geometry": { "type": "MultiPolygon", "coordinates": [ [ [ [ 8.448, 47.32 ], \
[ 8.625, 47.32 ], [ 8.625, 47.435 ], [ 8.448, 47.435 ], [ 8.448, 47.32 ] ] ] ] } },
{ "type": "Feature", "properties": { "id": 2, "name": "Bern", "bfs_nr": 351, \
"flaeche": null }, "geometry": { "type": "Point", "coordinates": [ 7.439583, 46.94809 ] } },
{ "type": "Feature", "properties": { "id": 3, "name": null, "bfs_nr": null, "flaeche": null }, \
"geometry": null }
]
}
"""


def test_qgis_geojson(tmp_path: Path) -> None:
    found = _inspect(tmp_path, "gemeinden.geojson", QGIS_GEOJSON)
    _check(
        found,
        GEOJSON,
        geojson_type="FeatureCollection",
        feature_count=3,
        geometry_types=["MultiPolygon", "Point"],
        crs="EPSG:4326",
        bbox=[7.439583, 46.94809, 8.625, 47.435],
    )


def test_qgis_geojson_with_crlf_and_bom(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + QGIS_GEOJSON.replace("\n", "\r\n").encode()
    found = _inspect(tmp_path, "gemeinden.geojson", data)
    _check(found, GEOJSON, feature_count=3, bbox=[7.439583, 46.94809, 8.625, 47.435])


def test_overpass_turbo_geojson(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "generator": "overpass-turbo",
        "copyright": "The data included in this document is from www.openstreetmap.org. "
        "The data is made available under ODbL.",
        "timestamp": "2023-06-01T10:00:00Z",
        "features": [
            {
                "type": "Feature",
                "properties": {"@id": "node/123", "amenity": "drinking_water"},
                "geometry": {"type": "Point", "coordinates": [8.5417, 47.3769]},
                "id": "node/123",
            },
            {
                "type": "Feature",
                "properties": {"@id": "way/456", "leisure": "park"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[8.53, 47.36], [8.54, 47.36], [8.54, 47.37], [8.53, 47.36]]],
                },
                "id": "way/456",
            },
        ],
    }
    found = _inspect(tmp_path, "export.geojson", json.dumps(doc, indent=2, ensure_ascii=False))
    _check(found, GEOJSON, feature_count=2, bbox=[8.53, 47.36, 8.5417, 47.3769])


def test_utf16_geojson_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    # Windows PowerShell 5 "ConvertTo-Json | Out-File" writes UTF-16 LE with a BOM.
    code, message = _code(tmp_path, "ps.geojson", QGIS_GEOJSON.encode("utf-16"))
    assert code == "unsupported_format" and "UTF-8" in message


def test_geojson_io_compact(tmp_path: Path) -> None:
    # geojson.io: compact, "coordinates" before "type", numeric feature ids, no crs.
    doc = (
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":'
        '{"coordinates":[[8.5,47.3],[8.6,47.4]],"type":"LineString"},"id":0},{"type":"Feature",'
        '"properties":{"marker-color":"#7e7e7e","name":"x"},"geometry":{"coordinates":'
        '[[[8.4,47.2],[8.45,47.2],[8.45,47.25],[8.4,47.2]]],"type":"Polygon"},"id":1}]}'
    )
    found = _inspect(tmp_path, "map.geojson", doc)
    _check(found, GEOJSON, feature_count=2, bbox=[8.4, 47.2, 8.6, 47.4])


@pytest.mark.parametrize(
    ("doc", "kind", "bbox"),
    [
        ({"type": "Point", "coordinates": [8.5, 47.3, 410.0]}, "Point", [8.5, 47.3, 8.5, 47.3]),
        (
            {"type": "Feature", "id": "a1", "properties": None, "geometry": {
                "type": "Polygon", "coordinates": [[[8, 47, 1], [9, 47, 2], [9, 48, 3], [8, 47, 1]]]
            }},
            "Feature",
            [8, 47, 9, 48],
        ),
        (
            {"type": "GeometryCollection", "geometries": [
                {"type": "Point", "coordinates": [8.5, 47.3]},
                {"type": "GeometryCollection", "geometries": [
                    {"type": "LineString", "coordinates": [[7.5, 46.3], [7.6, 46.4]]}
                ]},
            ]},
            "GeometryCollection",
            [7.5, 46.3, 8.5, 47.3],
        ),
        ({"type": "Feature", "properties": {"a": 1}, "geometry": None}, "Feature", None),
    ],
    ids=["bare-geometry-3d", "single-feature", "geometry-collection", "null-geometry"],
)  # fmt: skip
def test_geojson_top_level_kinds(
    tmp_path: Path, doc: dict[str, Any], kind: str, bbox: list[float] | None
) -> None:
    found = _inspect(tmp_path, "one.json", json.dumps(doc, indent=2))
    _check(found, GEOJSON, geojson_type=kind, feature_count=1, bbox=bbox, crs="EPSG:4326")


def test_geojson_with_top_level_bbox_and_foreign_members(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "bbox": [8.0, 47.0, 9.0, 48.0],
        "title": "Foreign member",
        "features": [
            {
                "type": "Feature",
                "bbox": [8.1, 47.1, 8.1, 47.1],
                "properties": {"nested": {"type": "Point", "coordinates": [100, 10]}},
                "geometry": {"type": "Point", "coordinates": [8.1, 47.1]},
            },
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "LineString", "coordinates": [[8.2, 47.2], [8.9, 47.9]]},
            },
        ],
    }
    found = _inspect(tmp_path, "bbox.geojson", json.dumps(doc))
    _check(found, GEOJSON, feature_count=2, bbox=[8.1, 47.1, 8.9, 47.9])


def test_geojson_empty_geometries_as_gdal_and_shapely_write_them(tmp_path: Path) -> None:
    # RFC 7946 3.1: empty "coordinates" arrays may be read as null geometries.
    features = [
        {"type": "Point", "coordinates": []},
        {"type": "LineString", "coordinates": []},
        {"type": "MultiPolygon", "coordinates": []},
        {"type": "GeometryCollection", "geometries": []},
        {"type": "Point", "coordinates": [8.5, 47.3]},
    ]
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in features],
    }
    found = _inspect(tmp_path, "empty.geojson", json.dumps(doc))
    _check(found, GEOJSON, feature_count=5, bbox=[8.5, 47.3, 8.5, 47.3])


def test_geojson_with_very_large_and_very_long_numbers(tmp_path: Path) -> None:
    doc = (
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"osm_id": 18446744073709551615, "area": 1.7976931348623157e308, '
        '"esri_null": -1.79769313486232E+308, "tiny": 5e-324}, '
        '"geometry": {"type": "Point", "coordinates": '
        "[8.54169400000000000000000000000000012, 4.7376887E1, 4.08e+2]}}]}"
    )
    found = _inspect(tmp_path, "big.geojson", doc)
    _check(found, GEOJSON, feature_count=1, bbox=[8.541694, 47.376887, 8.541694, 47.376887])


def test_geojson_coordinate_overflowing_a_double_is_malformed(tmp_path: Path) -> None:
    doc = '{"type": "Point", "coordinates": [1e400, 47.3]}'
    assert _code(tmp_path, "inf.geojson", doc)[0] == "malformed"


@pytest.mark.parametrize(
    "crs",
    [
        {"type": "name", "properties": {"name": "EPSG:3857"}},
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG:6.18.3:3857"}},
        {"type": "name", "properties": {"name": "urn:x-ogc:def:crs:EPSG:3857"}},
        {"type": "name", "properties": {"name": "http://www.opengis.net/def/crs/EPSG/0/3857"}},
        {"type": "name", "properties": {"name": "epsg:3857"}},
        {"type": "EPSG", "properties": {"code": 3857}},  # GeoJSON 2008 draft (OpenLayers 2)
        {"type": "name", "properties": {"name": "EPSG:900913"}},
    ],
    ids=lambda crs: str(crs["properties"].get("name", crs["properties"].get("code"))),
)
def test_geojson_in_web_mercator_with_legacy_crs(tmp_path: Path, crs: dict[str, Any]) -> None:
    doc = {
        "type": "FeatureCollection",
        "crs": crs,
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "Zürich HB"},
                "geometry": {"type": "Point", "coordinates": [950689.825, 6004022.132]},
            },
            {
                "type": "Feature",
                "properties": {"name": "Bern"},
                "geometry": {"type": "Point", "coordinates": [828170.591, 5933605.151]},
            },
        ],
    }
    meta = _inspect(tmp_path, "merc.geojson", json.dumps(doc, indent=1)).metadata
    assert meta["crs"] == ("EPSG:900913" if "900913" in json.dumps(crs) else "EPSG:3857")
    assert meta["native_bbox"] == [828170.591, 5933605.151, 950689.825, 6004022.132]
    assert meta["bbox"] == pytest.approx([7.439583, 46.94809, 8.540192, 47.378177], abs=1e-6)


def test_gdal_geojson_of_3d_data_names_epsg_4979(tmp_path: Path) -> None:
    # ogr2ogr of 3D lon/lat GeoJSON writes "urn:ogc:def:crs:EPSG::4979" (WGS 84 3D).
    doc = """{
"type": "FeatureCollection",
"name": "punkte",
"crs": { "type": "name", "properties": { "name": "urn:ogc:def:crs:EPSG::4979" } },
"features": [
{ "type": "Feature", "properties": { "id": 2 }, "geometry": { "type": "Point", \
"coordinates": [ 8.5, 47.3, 400.0 ] } }
]
}
"""
    meta = _inspect(tmp_path, "punkte.geojson", doc).metadata
    assert meta["bbox"] == pytest.approx([8.5, 47.3, 8.5, 47.3], abs=1e-9)


GEOJSONL = (
    '{ "type": "Feature", "properties": { "id": 1 }, "geometry": { "type": "Point", '
    '"coordinates": [ 8.5, 47.3 ] } }\n'
    '{ "type": "Feature", "properties": { "id": 2 }, "geometry": null }\n'
)


def test_newline_delimited_geojson_is_a_clear_unsupported_format(tmp_path: Path) -> None:
    # GeoJSONSeq / .geojsonl (GDAL, tippecanoe, BigQuery exports) is a stream of documents, not
    # one GeoJSON object: refused as a format we do not take, not as a corrupt GeoJSON.
    code, message = _code(tmp_path, "punkte.geojsonl", GEOJSONL)
    assert code == "unsupported_format"
    assert "sequence" in message.lower()
    # RFC 8142 record separators (GDAL's .geojsons).
    rs = "".join("\x1e" + line + "\n" for line in GEOJSONL.splitlines())
    assert _code(tmp_path, "punkte.geojsons", rs)[0] == "unsupported_format"


def test_single_feature_per_line_file_with_one_line_is_geojson(tmp_path: Path) -> None:
    found = _inspect(tmp_path, "one.geojsonl", GEOJSONL.splitlines()[0] + "\n")
    _check(found, GEOJSON, geojson_type="Feature", bbox=[8.5, 47.3, 8.5, 47.3])


ESRI_JSON = """{
  "displayFieldName" : "NAME",
  "fieldAliases" : {"OBJECTID" : "OBJECTID", "NAME" : "Name"},
  "geometryType" : "esriGeometryPoint",
  "spatialReference" : {"wkid" : 102100, "latestWkid" : 3857},
  "fields" : [
    {"name" : "OBJECTID", "type" : "esriFieldTypeOID", "alias" : "OBJECTID"},
    {"name" : "NAME", "type" : "esriFieldTypeString", "alias" : "Name", "length" : 50}
  ],
  "features" : [
    {"attributes" : {"OBJECTID" : 1, "NAME" : "Zürich HB"},
     "geometry" : {"x" : 950692.3, "y" : 6003541.5}},
    {"attributes" : {"OBJECTID" : 2, "NAME" : "Bern"},
     "geometry" : {"x" : 828169.6, "y" : 5933987.2}}
  ]
}
"""


def test_esri_json_is_a_clear_unsupported_format(tmp_path: Path) -> None:
    assert _code(tmp_path, "features.json", ESRI_JSON)[0] == "unsupported_format"
    polygons = json.loads(ESRI_JSON)
    polygons["geometryType"] = "esriGeometryPolygon"
    for f in polygons["features"]:
        f["geometry"] = {"rings": [[[1, 2], [3, 4], [5, 6], [1, 2]]]}
    assert _code(tmp_path, "poly.json", json.dumps(polygons))[0] == "unsupported_format"


def test_topojson_is_a_clear_unsupported_format(tmp_path: Path) -> None:
    doc = {
        "type": "Topology",
        "objects": {"a": {"type": "GeometryCollection", "geometries": []}},
        "arcs": [],
        "transform": {"scale": [1, 1], "translate": [0, 0]},
    }
    assert _code(tmp_path, "t.topojson", json.dumps(doc))[0] == "unsupported_format"


def test_geojson_streams_across_tiny_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geojson, "READ_CHUNK", 5)
    data = b"\xef\xbb\xbf" + QGIS_GEOJSON.replace("\n", "\r\n").encode()
    found = _inspect(tmp_path, "gemeinden.geojson", data)
    _check(found, GEOJSON, feature_count=3, bbox=[7.439583, 46.94809, 8.625, 47.435])


# Every writer's output is recognised by content alone, whatever the upload was called.
ALL_TEXT: dict[str, Callable[[], bytes]] = {
    "kml": lambda: GE_PRO.encode(),
    "gpx": lambda: BASECAMP.encode(),
    "geojson": lambda: QGIS_GEOJSON.encode(),
}


@pytest.mark.parametrize("fmt", sorted(ALL_TEXT))
def test_format_is_decided_by_content(tmp_path: Path, fmt: str) -> None:
    assert _inspect(tmp_path, "upload.bin", ALL_TEXT[fmt]()).format == fmt
