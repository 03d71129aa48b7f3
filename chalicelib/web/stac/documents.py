"""STAC documents: the landing page, conformance, collections, and items made from map documents.

Collections are the map formats that can carry a footprint (a map's collection is its format);
plain TIFF and PNG/JPEG/WebP scans never have a bbox, so they are never items. An item's
`datetime` is when its map was added (created_at): the files carry no acquisition time that
every format can give, and it is the keyset the pages walk.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

STAC_VERSION = "1.1.0"
PROJECTION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
COLLECTIONS: dict[str, tuple[str, str]] = {
    "geotiff": (
        "GeoTIFF maps",
        "Georeferenced raster maps; downloads are Cloud-Optimized "
        "GeoTIFFs when processing made one.",
    ),
    "pdf": ("GeoPDF maps", "PDF maps georeferenced on their first page."),
    "geojson": ("GeoJSON maps", "Vector maps as GeoJSON."),
    "kml": ("KML maps", "Vector maps as KML."),
    "kmz": ("KMZ maps", "Vector maps as zipped KML."),
    "gpx": ("GPX tracks", "Tracks, routes and waypoints as GPX."),
    "gpkg": ("GeoPackage maps", "Vector layers and tile sets in GeoPackages."),
    "mbtiles": ("MBTiles tile sets", "Tile sets as MBTiles."),
    "pmtiles": ("PMTiles tile sets", "Tile sets as PMTiles."),
    "shapefile": ("Shapefile maps", "Zipped ESRI Shapefiles."),
}
# What STAC best practice calls these files where the map's own media type is less precise.
_MEDIA_TYPES = {"geotiff": "image/tiff; application=geotiff"}
# numpy dtype names that are STAC data types as they are.
_DATA_TYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16"}
    | {"float32", "float64"}
)
_CRS_CODE = re.compile(r"^[A-Za-z0-9_]+:[A-Za-z0-9_.-]+$")
# Metadata worth a search client's eye, copied under our own prefix.
_OWN_FIELDS = ("feature_count", "pages", "minzoom", "maxzoom", "resolution", "bands")


def _link(rel: str, href: str, media: str = JSON, **extra: Any) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": media, **extra}


def landing(root: str) -> dict[str, Any]:
    """The landing page (a STAC Catalog) at /stac."""
    stac = f"{root}/stac"
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": "mapstock",
        "title": "Map Stock",
        "description": "High-resolution digital maps shared on Map Stock: the maps you may see, "
        "as STAC items with a footprint, a download and the original file.",
        "conformsTo": list(CONFORMANCE),
        "links": [
            _link("self", stac, title="This page"),
            _link("root", stac, title="Map Stock STAC API"),
            _link("conformance", f"{stac}/conformance", title="Conformance classes"),
            _link("data", f"{stac}/collections", title="Collections"),
            _link("search", f"{stac}/search", GEOJSON, method="GET", title="Item search"),
            _link("search", f"{stac}/search", GEOJSON, method="POST", title="Item search"),
            _link("service-desc", f"{stac}/api", OPENAPI, title="OpenAPI 3.0 description"),
            _link("service-doc", f"{stac}/api.html", "text/html", title="API documentation"),
            *(
                _link("child", f"{stac}/collections/{cid}", title=title)
                for cid, (title, _) in COLLECTIONS.items()
            ),
        ],
    }


def conformance() -> dict[str, Any]:
    """The conformance declaration at /stac/conformance."""
    return {"conformsTo": list(CONFORMANCE)}


# The extent of a collection without items the caller may see: the whole world, all time.
EMPTY_EXTENT: dict[str, Any] = {
    "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
    "temporal": {"interval": [[None, None]]},
}


def extent(found: dict[str, Any] | None) -> dict[str, Any]:
    """A collection's STAC extent from api.stac_extents' entry for it (None: no items)."""
    if not found:
        return EMPTY_EXTENT
    return {
        "spatial": {"bbox": [[float(v) for v in found["bbox"]]]},
        "temporal": {"interval": [found["interval"]]},
    }


def collection(root: str, cid: str, extents: dict[str, Any]) -> dict[str, Any]:
    """One collection (a map format), its extent over the items the caller may see
    (`extents`: api.stac_extents' answer for this caller)."""
    stac = f"{root}/stac"
    title, description = COLLECTIONS[cid]
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": cid,
        "title": title,
        "description": description,
        "license": "other",
        "keywords": ["maps", cid],
        "extent": extent(extents.get(cid)),
        "links": [
            _link("self", f"{stac}/collections/{cid}", title=title),
            _link("root", stac, title="Map Stock"),
            _link("parent", stac, title="Map Stock"),
            _link("items", f"{stac}/collections/{cid}/items", GEOJSON, title=f"{title}: items"),
        ],
    }


def collections(root: str, extents: dict[str, Any]) -> dict[str, Any]:
    """Every collection, at /stac/collections (extents as for collection())."""
    stac = f"{root}/stac"
    return {
        "collections": [collection(root, cid, extents) for cid in COLLECTIONS],
        "links": [
            _link("self", f"{stac}/collections", title="Collections"),
            _link("root", stac, title="Map Stock"),
            _link("parent", stac, title="Map Stock"),
        ],
    }


def item(root: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The STAC item of a ready map with a bbox (its map document as api.* functions give it)."""
    stac = f"{root}/stac"
    cid, map_id = doc["format"], doc["id"]
    meta = doc.get("metadata") or {}
    west, south, east, north = (float(v) for v in meta["bbox"])
    properties: dict[str, Any] = {
        "title": doc["title"],
        "datetime": doc["created_at"],
        "created": doc["created_at"],
        "updated": doc["updated_at"],
        "mapstock:owner": doc["owner"],
        "mapstock:visibility": doc["visibility"],
        "mapstock:filename": doc["filename"],
    }
    if doc.get("description"):
        properties["description"] = doc["description"]
    properties.update(_projection(cid, meta))
    properties.update({f"mapstock:{k}": meta[k] for k in _OWN_FIELDS if meta.get(k) is not None})
    assets = _assets(root, doc)
    extensions = [FILE]
    if any(k.startswith("proj:") for k in properties):
        extensions.insert(0, PROJECTION)
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions,
        "id": map_id,
        "collection": cid,
        "geometry": footprint(west, south, east, north),
        "bbox": [west, south, east, north],
        "properties": properties,
        "links": [
            _link("self", f"{stac}/collections/{cid}/items/{map_id}", GEOJSON),
            _link("parent", f"{stac}/collections/{cid}"),
            _link("collection", f"{stac}/collections/{cid}"),
            _link("root", stac),
            _link("alternate", f"{root}/v1/maps/{map_id}", title="Map Stock map document"),
        ],
        "assets": assets,
    }


def footprint(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    """The bbox as a GeoJSON polygon (counter-clockwise), split in two across the antimeridian."""

    def ring(w: float, e: float) -> list[list[list[float]]]:
        return [[[w, south], [e, south], [e, north], [w, north], [w, south]]]

    if west > east:
        return {"type": "MultiPolygon", "coordinates": [ring(west, 180.0), ring(-180.0, east)]}
    return {"type": "Polygon", "coordinates": ring(west, east)}


def _projection(cid: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Projection extension v2 fields the metadata supports: the CRS as AUTHORITY:CODE, the
    native bbox, and for rasters the grid's shape (rows, columns)."""
    out: dict[str, Any] = {}
    crs = meta.get("crs")
    if isinstance(crs, str) and _CRS_CODE.match(crs):
        out["proj:code"] = crs
        native = meta.get("native_bbox")
        if isinstance(native, list) and len(native) == 4:
            out["proj:bbox"] = native
    width, height = meta.get("width"), meta.get("height")
    if cid == "geotiff" and isinstance(width, int) and isinstance(height, int):
        out["proj:shape"] = [height, width]
    return out


def _assets(root: str, doc: dict[str, Any]) -> dict[str, Any]:
    """data (the default download), original (the upload as it came) and thumbnail (the
    preview, when processing drew one)."""
    map_id, cid = doc["id"], doc["format"]
    download = f"{root}/v1/maps/{map_id}/download"
    variants = doc.get("variants") or {}
    original_type = _MEDIA_TYPES.get(cid, doc.get("media_type") or "application/octet-stream")
    original = {
        "href": f"{download}?variant=original",
        "type": original_type,
        "title": f"Original file ({doc['filename']})",
        "roles": ["source"],
        **_file_fields(doc.get("size"), doc.get("sha256")),
    }
    original.update(_raster_fields(cid, doc.get("metadata") or {}))
    optimized = variants.get("optimized")
    if optimized and optimized.get("kind") == "cog":
        data = {
            "href": download,
            "type": optimized.get("media_type") or original_type,
            "title": "Cloud-Optimized GeoTIFF",
            "roles": ["data"],
            **_file_fields(optimized.get("size"), optimized.get("sha256")),
        }
        data.update(_raster_fields(cid, doc.get("metadata") or {}))
    elif optimized:
        # Served with Content-Encoding (gzip): clients get the original's bytes and type; the
        # stored size and checksum are of the compressed object, so they are not given.
        data = {"href": download, "type": original_type, "title": "Download", "roles": ["data"]}
    else:
        data = {**original, "href": download, "title": "Download", "roles": ["data"]}
    assets: dict[str, Any] = {"data": data, "original": original}
    preview = doc.get("preview")
    if isinstance(preview, dict) and preview.get("media_type"):
        assets["thumbnail"] = {
            "href": f"{root}/v1/maps/{map_id}/preview",
            "type": preview["media_type"],
            "title": "Preview",
            "roles": ["thumbnail"],
        }
    return assets


def _file_fields(size: Any, sha256: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(size, int):
        out["file:size"] = size
    if isinstance(sha256, str) and len(sha256) == 64:
        out["file:checksum"] = "1220" + sha256.lower()  # multihash: sha2-256, 32 bytes
    return out


def _raster_fields(cid: str, meta: dict[str, Any]) -> dict[str, Any]:
    """STAC 1.1 common metadata of a raster asset: its pixels' data type and nodata value."""
    out: dict[str, Any] = {}
    if cid != "geotiff":
        return out
    if meta.get("dtype") in _DATA_TYPES:
        out["data_type"] = meta["dtype"]
    if isinstance(meta.get("nodata"), int | float):
        out["nodata"] = meta["nodata"]
    return out


def item_collection(
    root: str, docs: list[dict[str, Any]], links: list[dict[str, Any]]
) -> dict[str, Any]:
    """A page of items (a GeoJSON FeatureCollection) with its links."""
    return {
        "type": "FeatureCollection",
        "features": [item(root, doc) for doc in docs],
        "links": links,
        "numberReturned": len(docs),
    }


def page_links(
    stac: str, self_href: str, next_href: str | None, next_body: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """self and root of a page, and next when there is one (a POST next carries its body)."""
    links = [_link("self", self_href, GEOJSON), _link("root", stac)]
    if next_href is not None:
        extra = {"method": "POST", "body": next_body, "merge": False} if next_body else {}
        links.append(_link("next", next_href, GEOJSON, **extra))
    return links


def query_href(base: str, params: dict[str, Any]) -> str:
    """base?params (lists as comma-separated values, as GET takes them)."""
    flat = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in params.items()}
    return f"{base}?{urlencode(flat)}" if flat else base
