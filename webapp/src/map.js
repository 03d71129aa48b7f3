// MapLibre, loaded on first use (its chunk is most of the app's bytes), with the offline world
// basemap shipped with the app, and the footprints layer: ONE GeoJSON source for every map in
// the list (a polygon per bbox and a point at its centre, so tiny maps stay visible at world
// zoom), highlighted through feature state, never a layer per map.

// Hashed file names of the worker, the basemap and the icon, written in by the build.
// eslint-disable-next-line no-undef
export const ASSETS = __MAPSTOCK_ASSETS__;

const COLOR = "#1d4e89";
const HIGHLIGHT = "#d9480f";
let library = null;

/** An asset's absolute URL (workers and MapLibre's fetches want absolute ones). */
export function assetUrl(name) {
  return new URL(`static/${name}`, document.baseURI).href;
}

/** The MapLibre module, imported once; its worker from our own origin (CSP worker-src 'self'). */
export function loadMapLibre() {
  library ??= import("maplibre-gl").then((maplibregl) => {
    maplibregl.setWorkerUrl(assetUrl(ASSETS.worker));
    performance.mark("mapstock:maplibre-loaded");
    return maplibregl;
  });
  return library;
}

/** The basemap: an online style when the server names one, else the shipped world outline. */
export function basemapStyle() {
  const online = document.querySelector('meta[name="mapstock-basemap-style"]')?.getAttribute("content");
  if (online) return online;
  return {
    version: 8,
    sources: {
      // Tiled up to zoom 5 only: the 1:110m outline has no more detail to give.
      world: { type: "geojson", data: assetUrl(ASSETS.basemap), attribution: "Natural Earth", maxzoom: 5, tolerance: 0.5 },
    },
    layers: [
      { id: "ocean", type: "background", paint: { "background-color": "#dce9f2" } },
      // The outline is the coast (the cuts along the antimeridian fall on the world's edge).
      { id: "land", type: "fill", source: "world", filter: ["==", ["get", "kind"], "land"], paint: { "fill-color": "#f4f1e8", "fill-outline-color": "#9aa8b5" } },
      { id: "borders", type: "line", source: "world", filter: ["==", ["get", "kind"], "border"], paint: { "line-color": "#b9b2a3", "line-width": 0.6 } },
    ],
  };
}

function hoverCase(on, off) {
  return ["case", ["boolean", ["feature-state", "highlight"], false], on, off];
}

/**
 * The footprints of maps as features: [polygon?, point] per map with a bbox. A bbox across the
 * antimeridian (west > east, RFC 7946 section 5.2) is drawn unwrapped, its east past 180:
 * MapLibre draws longitudes past 180 on the next world copy, so the footprint stays in one
 * piece and its point sits in its middle, not on the far side of the world.
 */
export function footprints(items, numberOf) {
  const features = [];
  for (const map of items) {
    const box = map.metadata?.bbox;
    if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) continue;
    const [w, s, e, n] = unwrapped(box);
    const id = numberOf(map.id);
    if (e > w && n > s) {
      features.push({
        type: "Feature",
        id,
        properties: { map: map.id },
        geometry: { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
      });
    }
    const middle = (w + e) / 2;
    const lon = middle > 180 ? middle - 360 : middle;
    features.push({ type: "Feature", id, properties: { map: map.id }, geometry: { type: "Point", coordinates: [lon, (s + n) / 2] } });
  }
  return { type: "FeatureCollection", features };
}

/** [w, s, e, n] with e past 180 when the bbox crosses the antimeridian (w > e). */
export function unwrapped([w, s, e, n]) {
  return w > e ? [w, s, e + 360, n] : [w, s, e, n];
}

/** A view as kept in a URL, "zoom/lat/lon" (OpenStreetMap's order), or null if it is not one. */
export function parseView(text) {
  const [zoom, lat, lon] = String(text ?? "").split("/").map((v) => (v === "" ? NaN : Number(v)));
  if (![zoom, lat, lon].every(Number.isFinite) || zoom < 0 || zoom > 18 || Math.abs(lat) > 85 || Math.abs(lon) > 180) return null;
  return { zoom, center: [lon, lat] };
}

/**
 * A map of footprints in `container` (at `view`, from parseView, else the world). Resolves once
 * the style has loaded. Events: onHover(mapId|null), onSelect(mapId), onMoveEnd(bbox|null).
 */
export async function createFootprintMap(container, { label = "Map of the maps' footprints", interactive = true, view = null } = {}) {
  const maplibregl = await loadMapLibre();
  const map = new maplibregl.Map({
    container,
    style: basemapStyle(),
    center: view?.center ?? [10, 30],
    zoom: view?.zoom ?? 0.8,
    minZoom: 0,
    maxZoom: 18,
    interactive,
    attributionControl: { compact: true },
    renderWorldCopies: false,
    fadeDuration: 0,
  });
  map.getCanvas().setAttribute("aria-label", label);
  if (interactive) map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  // The footprints go in once the style is parsed, not after the basemap has loaded and
  // drawn ("load"): both then load in parallel.
  await new Promise((resolve) => (map.isStyleLoaded() ? resolve() : map.once("style.load", resolve)));
  performance.mark("mapstock:style-loaded");
  map.addSource("footprints", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  const polygons = ["==", ["geometry-type"], "Polygon"];
  map.addLayer({ id: "footprint-fill", type: "fill", source: "footprints", filter: polygons, paint: { "fill-color": hoverCase(HIGHLIGHT, COLOR), "fill-opacity": hoverCase(0.35, 0.08) } });
  map.addLayer({ id: "footprint-line", type: "line", source: "footprints", filter: polygons, paint: { "line-color": hoverCase(HIGHLIGHT, COLOR), "line-width": hoverCase(2.5, 1) } });
  map.addLayer({
    id: "footprint-point",
    type: "circle",
    source: "footprints",
    filter: ["==", ["geometry-type"], "Point"],
    paint: { "circle-color": hoverCase(HIGHLIGHT, COLOR), "circle-radius": hoverCase(7, 4), "circle-stroke-color": "#fff", "circle-stroke-width": 1 },
  });
  const footprintMap = new FootprintMap(map, maplibregl);
  // The map on screen, for scripts that drive the page (the browser tests aim the mouse with it).
  window.__mapstock = { ...window.__mapstock, map: footprintMap };
  return footprintMap;
}

class FootprintMap {
  constructor(map, maplibregl) {
    this.map = map;
    this.maplibregl = maplibregl;
    this.ids = new Map(); // map id -> feature number
    this.mapIds = [];
    this.highlighted = null;
    this.handlers = { hover: () => {}, select: () => {}, moveend: () => {} };
    const layers = ["footprint-fill", "footprint-point"];
    map.on("mousemove", (event) => {
      const hit = map.queryRenderedFeatures(event.point, { layers })[0];
      const id = hit ? hit.properties.map : null;
      map.getCanvas().style.cursor = id ? "pointer" : "";
      if (id !== this.hoveredByPointer) {
        this.hoveredByPointer = id;
        this.handlers.hover(id);
      }
    });
    map.on("mouseout", () => {
      this.hoveredByPointer = null;
      this.handlers.hover(null);
    });
    map.on("click", (event) => {
      const hit = map.queryRenderedFeatures(event.point, { layers })[0];
      if (hit) this.handlers.select(hit.properties.map);
    });
    map.on("moveend", (event) => this.handlers.moveend(this.viewBbox(), event));
  }

  numberOf(id) {
    if (!this.ids.has(id)) {
      this.ids.set(id, this.mapIds.length);
      this.mapIds.push(id);
    }
    return this.ids.get(id);
  }

  onHover(fn) {
    this.handlers.hover = fn;
  }

  onSelect(fn) {
    this.handlers.select = fn;
  }

  onMoveEnd(fn) {
    this.handlers.moveend = fn;
  }

  /** Show these maps' footprints (replaces the previous set); resolves once a frame with
   * them has been drawn (the basemap may still be loading: "idle" marks when all is). */
  setMaps(items) {
    this.highlight(null);
    const data = footprints(items, (id) => this.numberOf(id));
    const source = this.map.getSource("footprints");
    source.setData(data);
    this.map.once("idle", () => performance.mark("mapstock:map-idle"));
    return new Promise((resolve) => {
      const drawn = () => {
        // What is drawn, readable from the page (tests, the bench): maps with a footprint.
        this.map.getContainer().dataset.footprints = String(new Set(data.features.map((f) => f.id)).size);
        resolve();
      };
      const onData = (event) => {
        if (event.sourceId !== "footprints" || !this.map.isSourceLoaded("footprints")) return;
        this.map.off("sourcedata", onData);
        this.map.once("render", drawn);
        this.map.triggerRepaint();
      };
      this.map.on("sourcedata", onData);
    });
  }

  /** Highlight one map's footprint (null: none). */
  highlight(id) {
    if (this.highlighted !== null) this.map.setFeatureState({ source: "footprints", id: this.highlighted }, { highlight: false });
    this.highlighted = id && this.ids.has(id) ? this.ids.get(id) : null;
    if (this.highlighted !== null) this.map.setFeatureState({ source: "footprints", id: this.highlighted }, { highlight: true });
    if (this.highlighted !== null) this.map.getContainer().dataset.highlight = id;
    else delete this.map.getContainer().dataset.highlight;
  }

  /** The view as a WGS84 bbox for the API, or null when it shows the whole world. */
  viewBbox() {
    const b = this.map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const round = (v) => Math.round(v * 1e5) / 1e5;
    const w = clamp(b.getWest(), -180, 180);
    const e = clamp(b.getEast(), -180, 180);
    const s = clamp(b.getSouth(), -90, 90);
    const n = clamp(b.getNorth(), -90, 90);
    if (w <= -180 && e >= 180 && s <= -80 && n >= 80) return null;
    return [round(w), round(s), round(e), round(n)];
  }

  /** The view for a URL: "zoom/lat/lon", rounded to what the eye can tell apart. */
  viewParam() {
    const c = this.map.getCenter();
    return `${this.map.getZoom().toFixed(2)}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`;
  }

  /** Zoom to a bbox (a map page shows its map's footprint). */
  fitBbox(box, options = {}) {
    const [w, s, e, n] = unwrapped(box);
    if (e > w && n > s) this.map.fitBounds([[w, s], [e, n]], { padding: 24, duration: 0, maxZoom: 12, ...options });
    else this.map.jumpTo({ center: [w, s], zoom: 9 });
  }

  destroy() {
    this.map.remove();
  }
}
