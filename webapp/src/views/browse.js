// Browse: the maps the caller may see, as footprints on a map and as a list, in sync. The map's
// view feeds the API's bbox filter (after the reader moves it), Search feeds q, and "Load more"
// follows the API's keyset cursor.
import { api, query } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import { FORMATS, VISIBILITIES } from "../format.js";
import { announce } from "../live.js";
import { createFootprintMap } from "../map.js";
import { session } from "../session.js";
import { mapCard, thumbnailLoader } from "./cards.js";

const PAGE = 100;
const DEBOUNCE_MS = 350;

export async function browseView(params, search) {
  const state = {
    q: search.get("q") ?? "",
    format: search.get("format") ?? "",
    visibility: search.get("visibility") ?? "",
    inView: search.get("in_view") !== "0",
    bbox: null,
    items: [],
    cursor: null,
    request: null,
  };
  let footprintMap = null;
  let moveTimer = null;
  let typingTimer = null;
  let destroyed = false;
  const thumbnails = thumbnailLoader();

  const searchInput = h("input", { type: "search", name: "q", value: state.q, autocomplete: "off", spellcheck: "false" });
  const formatSelect = select([["", "Any format"], ...FORMATS], state.format, { name: "format" });
  const visibilitySelect = select([["", "Any visibility"], ...VISIBILITIES], state.visibility, { name: "visibility" });
  const inViewBox = h("input", { type: "checkbox", name: "in_view", checked: state.inView });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter maps", onsubmit: (e) => { e.preventDefault(); reload(); } },
    field("Search", searchInput),
    field("Format", formatSelect),
    session.token() ? field("Visibility", visibilitySelect) : null,
    h("div", { class: "field checkbox" }, inViewBox, h("label", { for: (inViewBox.id = "in-view"), text: "Only maps in the map view" })),
  );
  const count = h("p", { class: "count", role: "status" });
  const list = h("ol", { class: "map-list", "aria-label": "Maps" });
  const more = h("button", { type: "button", class: "secondary", text: "Load more", hidden: true, onclick: () => load(true) });
  const errorBox = h("p", { class: "error", role: "alert", hidden: true });
  const mapPane = h("div", { class: "map-pane", role: "region", "aria-label": "Footprints map" });
  const node = h(
    "section",
    { class: "browse" },
    h("h1", { class: "visually-hidden-lg", text: "Browse maps" }),
    form,
    h("div", { class: "browse-body" }, mapPane, h("div", { class: "list-pane" }, count, errorBox, list, more)),
  );

  searchInput.addEventListener("input", () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(reload, DEBOUNCE_MS);
  });
  formatSelect.addEventListener("change", reload);
  visibilitySelect.addEventListener("change", reload);
  inViewBox.addEventListener("change", () => {
    state.bbox = inViewBox.checked && footprintMap ? footprintMap.viewBbox() : null;
    reload();
  });

  // Hover and focus in the list light up the footprint; the map's hover lights up the card.
  const highlightCard = (id) => {
    for (const el of list.querySelectorAll(".map-card.highlight")) el.classList.remove("highlight");
    if (id) list.querySelector(`[data-map="${CSS.escape(id)}"]`)?.classList.add("highlight");
  };
  const onCardEvent = (event) => {
    const card = event.target.closest?.(".map-card");
    footprintMap?.highlight(card ? card.dataset.map : null);
  };
  list.addEventListener("mouseover", onCardEvent);
  list.addEventListener("focusin", onCardEvent);
  list.addEventListener("mouseleave", () => footprintMap?.highlight(null));

  function syncUrl() {
    const q = query({ q: state.q, format: state.format, visibility: state.visibility, in_view: state.inView ? "" : "0" });
    const url = new URL(document.baseURI);
    url.search = q;
    history.replaceState(history.state, "", url.href);
  }

  function reload() {
    state.q = searchInput.value.trim();
    state.format = formatSelect.value;
    state.visibility = session.token() ? visibilitySelect.value : "";
    state.inView = inViewBox.checked;
    syncUrl();
    return load(false);
  }

  async function load(append) {
    state.request?.abort();
    const controller = new AbortController();
    state.request = controller;
    errorBox.hidden = true;
    more.disabled = true;
    const params = {
      limit: PAGE,
      q: state.q,
      format: state.format,
      visibility: state.visibility,
      bbox: state.inView && state.bbox ? state.bbox.join(",") : "",
      cursor: append ? state.cursor : "",
    };
    let page;
    try {
      page = await api(`v1/maps${query(params)}`, { signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError" || destroyed) return;
      errorBox.textContent = err.describe ? err.describe() : String(err);
      errorBox.hidden = false;
      more.disabled = false;
      return;
    }
    if (destroyed || controller.signal.aborted) return;
    state.items = append ? state.items.concat(page.items) : page.items;
    state.cursor = page.next_cursor;
    const cards = page.items.map((m) => mapCard(m, thumbnails));
    if (append) list.append(...cards);
    else replace(list, cards);
    more.hidden = !state.cursor;
    more.disabled = false;
    const n = state.items.length;
    count.textContent = n === 0 ? "No maps match." : `${n}${state.cursor ? "+" : ""} map${n === 1 ? "" : "s"}${state.inView && state.bbox ? " in this view" : ""}`;
    performance.mark("mapstock:list-drawn");
    if (footprintMap) drawFootprints();
  }

  async function drawFootprints() {
    await footprintMap.setMaps(state.items);
    performance.mark("mapstock:footprints-drawn");
  }

  async function startMap() {
    try {
      footprintMap = await createFootprintMap(mapPane);
    } catch (err) {
      replace(mapPane, h("p", { class: "error", text: `The map cannot be shown here (${err.message}); the list works without it.` }));
      return;
    }
    if (destroyed) {
      footprintMap.destroy();
      return;
    }
    footprintMap.onHover((id) => {
      highlightCard(id);
      footprintMap.highlight(id);
    });
    footprintMap.onSelect((id) => {
      const card = list.querySelector(`[data-map="${CSS.escape(id)}"]`);
      if (!card) return;
      highlightCard(id);
      footprintMap.highlight(id);
      card.scrollIntoView({ block: "nearest" });
      card.querySelector("a").focus({ preventScroll: true });
      announce(`Selected ${card.querySelector("a").textContent}`);
    });
    footprintMap.onMoveEnd((bbox) => {
      clearTimeout(moveTimer);
      moveTimer = setTimeout(() => {
        const changed = JSON.stringify(bbox) !== JSON.stringify(state.bbox);
        state.bbox = bbox;
        if (state.inView && changed) load(false);
      }, DEBOUNCE_MS);
    });
    if (state.items.length) drawFootprints();
  }

  load(false);
  startMap();
  return {
    title: "Browse maps",
    node,
    cleanup() {
      destroyed = true;
      clearTimeout(moveTimer);
      clearTimeout(typingTimer);
      state.request?.abort();
      thumbnails.disconnect();
      footprintMap?.destroy();
    },
  };
}
