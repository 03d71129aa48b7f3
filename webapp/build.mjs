// Builds the web application into chalicelib/site/ (what `chalice deploy` packages):
//   static/NAME.HASH.EXT.gz  content-hashed, served (as NAME.HASH.EXT) as immutable
//   manifest.json            entry names -> hashed files; each file's type, size and gzip size
// Stored gzipped, so the Lambda package carries 0.5 MB instead of 1.9 MB (chalice deploys one
// zip for all six functions); served as text, which the gateway compresses (API Gateway's
// minimum_compression_size, and make run's likewise).
// Deterministic: the same package-lock.json and src/ give the same files, byte for byte.
// Usage: node webapp/build.mjs   (the Makefile runs it after `npm ci`)
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";
import { feature, mesh } from "topojson-client";

const HERE = dirname(fileURLToPath(import.meta.url));
const MODULES = join(HERE, "node_modules");
const SITE = resolve(HERE, "..", "chalicelib", "site");
const WORK = `${SITE}.building`; // built aside, then swapped in: a server never sees half a build
const STATIC = join(WORK, "static");
const TYPES = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".geojson": "application/geo+json",
  ".svg": "image/svg+xml",
};

const hashOf = (bytes) => createHash("sha256").update(bytes).digest("base64url").slice(0, 12).replace(/[-_]/g, "x");
const files = {};

function emit(stem, ext, bytes) {
  const name = `${stem}.${hashOf(bytes)}${ext}`;
  writeFileSync(join(STATIC, name), bytes);
  return name;
}

// Coordinates to 0.01 degree (1 km): the 1:110m outline is coarser than that anyway.
const rounded = (geometry) =>
  JSON.parse(JSON.stringify(geometry, (k, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v)));

// world-atlas keeps rings whole across the antimeridian (d3-geo cuts them when drawing);
// MapLibre draws planar coordinates, so rings and lines are cut here where they jump 360°.
const jumps = (a, b) => Math.abs(a[0] - b[0]) > 180;

/** Where segment a-b (jumping across the antimeridian) meets it: [exit point, entry point]. */
function crossing(a, b) {
  const side = a[0] > 0 ? 180 : -180;
  const bx = b[0] + 2 * side; // b moved next to a
  const t = (side - a[0]) / (bx - a[0]);
  const y = a[1] + t * (b[1] - a[1]);
  return [[side, y], [-side, y]];
}

/** A ring as one or more rings that never cross the antimeridian. */
function cutRing(ring) {
  const open = ring.slice(0, -1);
  const n = open.length;
  const first = open.findIndex((p, i) => jumps(open[(i + n - 1) % n], p));
  if (first < 0) return [ring];
  const pieces = [];
  let piece = null;
  for (let k = 0; k < n; k += 1) {
    const i = (first + k) % n;
    const previous = open[(i + n - 1) % n];
    if (jumps(previous, open[i])) {
      const [exit, entry] = crossing(previous, open[i]);
      if (piece) piece.push(exit);
      else pieces.closing = exit; // the exit of the last piece, reached at the end
      piece = [entry];
      pieces.push(piece);
    }
    piece.push(open[i]);
  }
  // The walk ends where it began (at the first crossing): the last piece exits there.
  piece.push(pieces.closing);
  if (pieces.length === 1) {
    // A ring around a pole (Antarctica): close it along the pole's latitude.
    const pole = piece.reduce((sum, p) => sum + p[1], 0) < 0 ? -90 : 90;
    piece.push([piece[piece.length - 1][0], pole], [piece[0][0], pole]);
  }
  return pieces.map((p) => [...p, p[0]]);
}

/** A line as lines that never cross the antimeridian. */
function cutLine(line) {
  const lines = [[line[0]]];
  for (let i = 1; i < line.length; i += 1) {
    if (jumps(line[i - 1], line[i])) {
      const [exit, entry] = crossing(line[i - 1], line[i]);
      lines[lines.length - 1].push(exit);
      lines.push([entry]);
    }
    lines[lines.length - 1].push(line[i]);
  }
  return lines.filter((l) => l.length > 1);
}

function polygons(geometry) {
  const all = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  // Holes stay with their outer ring (none of the 1:110m holes touch the antimeridian).
  const out = all.flatMap(([outer, ...holes]) => cutRing(outer).map((ring, i) => (i === 0 ? [ring, ...holes] : [ring])));
  return { type: "MultiPolygon", coordinates: out };
}

function lines(geometry) {
  const all = geometry.type === "LineString" ? [geometry.coordinates] : geometry.coordinates;
  return { type: "MultiLineString", coordinates: all.flatMap(cutLine) };
}

function basemap() {
  const land = JSON.parse(readFileSync(join(MODULES, "world-atlas", "land-110m.json"), "utf8"));
  const countries = JSON.parse(readFileSync(join(MODULES, "world-atlas", "countries-110m.json"), "utf8"));
  const shapes = feature(land, land.objects.land);
  const collection = {
    type: "FeatureCollection",
    features: [
      ...(shapes.type === "FeatureCollection" ? shapes.features : [shapes]).map((f) => ({
        type: "Feature",
        properties: { kind: "land" },
        geometry: rounded(polygons(f.geometry)),
      })),
      {
        type: "Feature",
        properties: { kind: "border" },
        geometry: rounded(lines(mesh(countries, countries.objects.countries, (a, b) => a !== b))),
      },
    ],
  };
  return Buffer.from(JSON.stringify(collection));
}

function worker() {
  // MapLibre 6 starts its worker as a module from this URL (setWorkerUrl), same origin: the
  // CSP needs worker-src 'self' only, no blob:. The source-map comment would 404: dropped.
  const code = readFileSync(join(MODULES, "maplibre-gl", "dist", "maplibre-gl-worker.mjs"), "utf8");
  return Buffer.from(code.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"));
}

async function main() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(STATIC, { recursive: true });
  const assets = {
    worker: emit("maplibre-worker", ".js", worker()),
    basemap: emit("world", ".geojson", basemap()),
    icon: emit("icon", ".svg", readFileSync(join(HERE, "src", "icon.svg"))),
  };
  const result = await esbuild.build({
    absWorkingDir: HERE,
    entryPoints: { app: "src/main.js", style: "src/app.css" },
    bundle: true,
    splitting: true, // MapLibre is a chunk of its own, imported when a view shows a map
    format: "esm",
    target: ["es2022"],
    minify: true,
    legalComments: "eof",
    charset: "utf8",
    outdir: STATIC,
    entryNames: "[name].[hash]",
    chunkNames: "chunk.[hash]",
    define: { __MAPSTOCK_ASSETS__: JSON.stringify(assets) },
    metafile: true,
    logLevel: "warning",
  });
  const entries = { ...assets };
  const preload = [];
  for (const [path, output] of Object.entries(result.metafile.outputs)) {
    const name = relative(STATIC, resolve(HERE, path));
    if (output.entryPoint === "src/main.js") entries.app = name;
    else if (output.entryPoint === "src/app.css") entries.style = name;
    // Every chunk (MapLibre's and the small one shared with it) is fetched with the app, not
    // after it: a module's imports are only found once it has arrived, one round trip each.
    else if (name.endsWith(".js")) preload.push(name);
  }
  // Every file written (chunks included); the gzip size is what a browser downloads.
  for (const path of Object.keys(result.metafile.outputs)) files[relative(STATIC, resolve(HERE, path))] = null;
  for (const name of Object.values(assets)) files[name] = null;
  for (const name of Object.keys(files).sort()) {
    const bytes = readFileSync(join(STATIC, name));
    const gz = gzipSync(bytes, { level: 9 });
    writeFileSync(join(STATIC, `${name}.gz`), gz);
    rmSync(join(STATIC, name));
    const ext = name.slice(name.lastIndexOf("."));
    if (!TYPES[ext]) throw new Error(`no content type for ${name}`);
    files[name] = { type: TYPES[ext], bytes: bytes.length, gzip_bytes: gz.length };
  }
  const manifest = { entries, preload, files };
  writeFileSync(join(WORK, "manifest.json"), `${JSON.stringify(manifest, null, 1)}\n`);
  rmSync(SITE, { recursive: true, force: true });
  renameSync(WORK, SITE);
  const total = (key) => Object.values(files).reduce((sum, f) => sum + f[key], 0);
  console.log(`webapp: ${Object.keys(files).length} files, ${total("bytes")} bytes (${total("gzip_bytes")} gzip) in ${relative(process.cwd(), SITE)}/`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
