// MapLibre, loaded on first use (its chunk is most of the app's bytes), with the offline world
// basemap shipped with the app, and the footprints: ONE GeoJSON source of polygons (a bbox per
// map) and ONE clustered source of points (a map's centre, so tiny maps stay visible at world
// zoom; nearby ones merge into a counted cluster that zooms in on a click), highlighted through
// feature state, never a layer per map. Maps stacked on one spot are picked from a list.
import { h } from "./dom.js";
import { mapName } from "./format.js";

// Hashed file names of the worker, the basemap and the icon, written in by the build.
// eslint-disable-next-line no-undef
export const ASSETS = __MAPSTOCK_ASSETS__;

const COLOR = "#1d4e89";
const HIGHLIGHT = "#d9480f";
const CLUSTER_MAX_ZOOM = 14; // past it, points still together are on (nearly) the same spot
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
  const polygons = [];
  const points = [];
  for (const map of items) {
    const box = map.metadata?.bbox;
    if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) continue;
    const [w, s, e, n] = unwrapped(box);
    const id = numberOf(map.id);
    if (e > w && n > s) {
      polygons.push({
        type: "Feature",
        id,
        properties: { map: map.id },
        geometry: { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
      });
    }
    const middle = (w + e) / 2;
    const lon = middle > 180 ? middle - 360 : middle; // the clustering wants -180..180
    points.push({ type: "Feature", id, properties: { map: map.id }, geometry: { type: "Point", coordinates: [lon, (s + n) / 2] } });
  }
  return { polygons: { type: "FeatureCollection", features: polygons }, points: { type: "FeatureCollection", features: points } };
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
    // The world repeats sideways: a footprint across the antimeridian (drawn past 180) is
    // whole, and the reader pans across 180 as anywhere else.
    renderWorldCopies: true,
    fadeDuration: 0,
  });
  map.getCanvas().setAttribute("aria-label", label);
  if (interactive) map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  // The footprints go in once the style is parsed, not after the basemap has loaded and
  // drawn ("load"): both then load in parallel.
  await new Promise((resolve) => (map.isStyleLoaded() ? resolve() : map.once("style.load", resolve)));
  performance.mark("mapstock:style-loaded");
  const empty = { type: "FeatureCollection", features: [] };
  map.addSource("footprints", { type: "geojson", data: empty });
  map.addSource("points", { type: "geojson", data: empty, cluster: true, clusterRadius: 40, clusterMaxZoom: CLUSTER_MAX_ZOOM });
  map.addLayer({ id: "footprint-fill", type: "fill", source: "footprints", paint: { "fill-color": hoverCase(HIGHLIGHT, COLOR), "fill-opacity": hoverCase(0.35, 0.08) } });
  map.addLayer({ id: "footprint-line", type: "line", source: "footprints", paint: { "line-color": hoverCase(HIGHLIGHT, COLOR), "line-width": hoverCase(2.5, 1) } });
  // Clusters are drawn as HTML buttons (their count needs text, and the offline style has no
  // glyphs; a button is also reachable with the keyboard): the layer shows single maps only.
  map.addLayer({
    id: "footprint-point",
    type: "circle",
    source: "points",
    filter: ["!", ["has", "point_count"]],
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
    this.names = new Map(); // map id -> its name, for the pick list
    this.clusters = new Map(); // cluster id -> its marker on screen
    this.popup = null;
    this.highlighted = null;
    this.handlers = { hover: () => {}, select: () => {}, moveend: () => {} };
    const layers = ["footprint-fill", "footprint-point"];
    const hitsAt = (point) => [...new Set(map.queryRenderedFeatures(point, { layers }).map((f) => f.properties.map))];
    map.on("mousemove", (event) => {
      const id = hitsAt(event.point)[0] ?? null;
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
      const hits = hitsAt(event.point);
      // Footprints on top of each other: the reader picks one, not whichever is drawn last.
      if (hits.length > 1) this.pick(hits, event.lngLat);
      else if (hits.length) this.handlers.select(hits[0]);
    });
    map.on("moveend", (event) => this.handlers.moveend(this.viewBbox(), event));
    map.on("render", () => {
      if (map.getSource("points") && map.isSourceLoaded("points")) this.updateClusters();
    });
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

  /** The clusters in view as buttons showing their count (made and dropped as they change). */
  updateClusters() {
    const seen = new Set();
    for (const feature of this.map.querySourceFeatures("points")) {
      const { cluster_id: id, point_count: count } = feature.properties;
      if (!feature.properties.cluster || seen.has(id)) continue;
      seen.add(id);
      if (this.clusters.has(id)) continue;
      const [lon, lat] = feature.geometry.coordinates;
      const size = count < 10 ? "small" : count < 100 ? "medium" : "large";
      const button = h("button", {
        type: "button",
        class: `cluster ${size}`,
        "aria-label": `${count} maps here: zoom in`,
        "data-count": count,
        text: String(count),
        onclick: (event) => {
          event.stopPropagation();
          this.expand(id, [lon, lat]);
        },
      });
      this.clusters.set(id, new this.maplibregl.Marker({ element: button }).setLngLat([lon, lat]).addTo(this.map));
    }
    for (const [id, marker] of this.clusters) {
      if (seen.has(id)) continue;
      marker.remove();
      this.clusters.delete(id);
    }
  }

  /** Zoom in to where a cluster comes apart; maps still together past CLUSTER_MAX_ZOOM are
   * on one spot: listed to pick from instead. */
  async expand(clusterId, center) {
    const source = this.map.getSource("points");
    const zoom = await source.getClusterExpansionZoom(clusterId);
    if (zoom <= CLUSTER_MAX_ZOOM && this.map.getZoom() < CLUSTER_MAX_ZOOM) {
      this.map.easeTo({ center, zoom, duration: 300 });
      return;
    }
    const leaves = await source.getClusterLeaves(clusterId, Infinity, 0);
    this.pick(leaves.map((f) => f.properties.map), center);
  }

  /** A popup listing maps at one place (links to their pages); focus goes to the first. */
  pick(mapIds, lngLat) {
    this.popup?.remove();
    const links = mapIds.map((id) => h("li", {}, h("a", { href: `maps/${encodeURIComponent(id)}`, dir: "auto", text: this.names.get(id) ?? id })));
    const content = h("div", { class: "pick", role: "group", "aria-label": `${mapIds.length} maps here` }, h("p", { class: "pick-title", text: `${mapIds.length} maps here` }), h("ul", {}, links));
    content.addEventListener("mouseover", (event) => {
      const link = event.target.closest?.("a");
      if (link) this.handlers.hover(decodeURIComponent(link.pathname.split("/").pop()));
    });
    content.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.popup?.remove();
    });
    this.popup = new this.maplibregl.Popup({ maxWidth: "300px", focusAfterOpen: false }).setLngLat(lngLat).setDOMContent(content).addTo(this.map);
    content.querySelector("a")?.focus();
  }

  /** Show these maps' footprints (replaces the previous set); resolves once a frame with
   * them has been drawn (the basemap may still be loading: "idle" marks when all is). */
  setMaps(items) {
    this.highlight(null);
    this.popup?.remove();
    for (const marker of this.clusters.values()) marker.remove(); // their ids change with the data
    this.clusters.clear();
    for (const map of items) this.names.set(map.id, mapName(map));
    const data = footprints(items, (id) => this.numberOf(id));
    this.map.getSource("footprints").setData(data.polygons);
    this.map.getSource("points").setData(data.points);
    this.map.once("idle", () => performance.mark("mapstock:map-idle"));
    return new Promise((resolve) => {
      const drawn = () => {
        // What is drawn, readable from the page (tests, the bench): maps with a footprint.
        this.map.getContainer().dataset.footprints = String(data.points.features.length);
        resolve();
      };
      const onData = (event) => {
        if (!["footprints", "points"].includes(event.sourceId)) return;
        if (!this.map.isSourceLoaded("footprints") || !this.map.isSourceLoaded("points")) return;
        this.map.off("sourcedata", onData);
        this.map.once("render", drawn);
        this.map.triggerRepaint();
      };
      this.map.on("sourcedata", onData);
    });
  }

  /** Highlight one map's footprint and point (null: none). */
  highlight(id) {
    const set = (value) => {
      for (const source of ["footprints", "points"]) this.map.setFeatureState({ source, id: this.highlighted }, { highlight: value });
    };
    if (this.highlighted !== null) set(false);
    this.highlighted = id && this.ids.has(id) ? this.ids.get(id) : null;
    if (this.highlighted !== null) set(true);
    if (this.highlighted !== null) this.map.getContainer().dataset.highlight = id;
    else delete this.map.getContainer().dataset.highlight;
  }

  /** The view as a WGS84 bbox for the API (west > east when it straddles 180), or null when
   * it shows the whole world. */
  viewBbox() {
    const b = this.map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const round = (v) => Math.round(v * 1e5) / 1e5;
    // Longitudes past ±180 (a world copy) are brought back: a view from 170 to 190 is the
    // bbox 170,…,-170, which the API reads as crossing the antimeridian.
    const wrap = (v) => ((((v + 180) % 360) + 360) % 360) - 180;
    const s = clamp(b.getSouth(), -90, 90);
    const n = clamp(b.getNorth(), -90, 90);
    const wholeWidth = b.getEast() - b.getWest() >= 360;
    if (wholeWidth && s <= -80 && n >= 80) return null;
    if (wholeWidth) return [-180, round(s), 180, round(n)];
    let w = wrap(b.getWest());
    let e = wrap(b.getEast());
    if (e === -180) e = 180;
    if (w === 180) w = -180;
    return [round(w), round(s), round(e), round(n)];
  }

  /** The view for a URL: "zoom/lat/lon", rounded to what the eye can tell apart. */
  viewParam() {
    const c = this.map.getCenter().wrap();
    return `${this.map.getZoom().toFixed(2)}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`;
  }

  /** Zoom to a bbox (a map page shows its map's footprint), across 180 as one piece. */
  fitBbox(box, options = {}) {
    const [w, s, e, n] = unwrapped(box);
    if (e > w && n > s) this.map.fitBounds([[w, s], [e, n]], { padding: 24, duration: 0, maxZoom: 12, ...options });
    else this.map.jumpTo({ center: [w, s], zoom: 9 });
  }

  destroy() {
    this.popup?.remove();
    this.map.remove();
  }
}
