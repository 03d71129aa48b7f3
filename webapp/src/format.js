// Human formats for sizes, dates and map facts.

// Binary units, labelled as such: the API's limits are powers of 1024 too.
const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

/** 1536 -> "1.5 KiB". */
export function formatBytes(n) {
  if (n === null || n === undefined) return "unknown size";
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** An ISO time as the reader's local date and time. */
export function formatDate(iso, withTime = true) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return withTime
    ? date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })
    : date.toLocaleDateString(undefined, { dateStyle: "medium" });
}

export const FORMATS = [
  ["geotiff", "GeoTIFF"],
  ["tiff", "TIFF"],
  ["png", "PNG"],
  ["jpeg", "JPEG"],
  ["webp", "WebP"],
  ["pdf", "PDF"],
  ["geojson", "GeoJSON"],
  ["kml", "KML"],
  ["kmz", "KMZ"],
  ["gpx", "GPX"],
  ["gpkg", "GeoPackage"],
  ["mbtiles", "MBTiles"],
  ["pmtiles", "PMTiles"],
  ["shapefile", "Shapefile (zip)"],
];
const FORMAT_NAMES = Object.fromEntries(FORMATS);

export const VISIBILITIES = [
  ["private", "Private (only me)"],
  ["members", "Members"],
  ["public", "Public (everyone)"],
];

export const STATUS_TEXT = {
  awaiting_upload: "Waiting for the upload",
  uploaded: "Uploaded, waiting to be processed",
  processing: "Processing",
  ready: "Ready",
  rejected: "Rejected",
  failed: "Failed",
};

export const FINAL_STATUSES = new Set(["ready", "rejected", "failed"]);

/** "geotiff" -> "GeoTIFF"; unknown formats as they are; none yet: detected by processing. */
export function formatName(format, status) {
  if (format) return FORMAT_NAMES[format] ?? String(format);
  return status && !FINAL_STATUSES.has(status) ? "Format detected after processing" : "Unknown format";
}

const VISIBILITY_NAMES = { private: "Private", members: "Members", public: "Public" };

/** "members" -> "Members". */
export function visibilityName(visibility) {
  return VISIBILITY_NAMES[visibility] ?? String(visibility);
}

/** The name a map is shown by: its title, else its file name. */
export function mapName(map) {
  return map.title || map.filename || "Untitled map";
}
