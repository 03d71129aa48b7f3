// Browse: the maps the caller may see, as footprints on a map and as a list, in sync. The map's
// view feeds the API's bbox filter (unless it shows the whole world), Search feeds q, and "Load
// more" follows the API's keyset cursor. The view and the filters live in the URL's query
// (replaceState), so a reload or Back lands on the same view and the same list.
import { api, query } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import { FORMATS, VISIBILITIES } from "../format.js";
import { announce } from "../live.js";
import { loadFailure } from "../problems.js";
import { createFootprintMap, parseView } from "../map.js";
import { session } from "../session.js";
import { mapCard, thumbnailLoader } from "./cards.js";

const PAGE = 100;
const DEBOUNCE_MS = 350;
const LAST_BROWSE = "mapstock.browse"; // sessionStorage: this tab's last browse query

/** The browse page as this tab last showed it (search, filters, map view), else plain "./". */
export function lastBrowseHref() {
  let search = null;
  try {
    search = sessionStorage.getItem(LAST_BROWSE);
  } catch {
    // storage refused (privacy settings): plain browse
  }
  return search && search.startsWith("?") ? `./${search}` : "./";
}

function rememberBrowse(search) {
  try {
    sessionStorage.setItem(LAST_BROWSE, search);
  } catch {
    // storage refused: the Browse links lead to plain browse
  }
}

/** A link back to this tab's last browse page; its href is renewed when it is used (browse
 * keeps its URL up to date by replaceState, after the link was made). */
export function browseLink(text, attrs = {}) {
  const link = h("a", { ...attrs, href: lastBrowseHref(), text });
  const renew = () => link.setAttribute("href", lastBrowseHref());
  // "click" runs before the router's document listener reads the href (the event bubbles).
  for (const type of ["pointerenter", "pointerdown", "focus", "click"]) link.addEventListener(type, renew);
  return link;
}

export async function browseView(params, search) {
  const state = {
    q: search.get("q") ?? "",
    format: search.get("format") ?? "",
    visibility: search.get("visibility") ?? "",
    inView: search.get("in_view") !== "0",
    view: parseView(search.get("view")) ? search.get("view") : "",
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
  rememberBrowse(window.location.search);

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
  // Maps without a bbox (scans, plain PDFs) cannot be "in the view": said while that filter is on.
  const viewNote = h(
    "p",
    { class: "hint view-note", hidden: true },
    h("span"),
    " ",
    h("button", { type: "button", class: "link", text: "Show all maps", onclick: () => { inViewBox.checked = false; reload(); } }),
  );
  const list = h("ol", { class: "map-list", "aria-label": "Maps" });
  const more = h("button", { type: "button", class: "secondary", text: "Load more", hidden: true, onclick: () => load(true) });
  let lastLoad = false; // whether the last load appended: what Retry repeats
  const failure = loadFailure(() => load(lastLoad));
  const mapPane = h("div", { class: "map-pane", role: "region", "aria-label": "Footprints map" });
  const node = h(
    "section",
    { class: "browse" },
    h("h1", { class: "visually-hidden-lg", text: "Browse maps" }),
    form,
    h("div", { class: "browse-body" }, mapPane, h("div", { class: "list-pane" }, count, viewNote, failure.node, list, more)),
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
    const q = query({ q: state.q, format: state.format, visibility: state.visibility, in_view: state.inView ? "" : "0", view: state.view });
    const url = new URL(document.baseURI);
    url.search = q;
    history.replaceState(history.state, "", url.href);
    rememberBrowse(q);
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
    lastLoad = append;
    failure.clear();
    more.disabled = true;
    // What is on screen is not the answer yet: said (count, aria-busy) and shown (dimmed).
    list.setAttribute("aria-busy", "true");
    if (!append) {
      count.textContent = "Loading maps…";
      viewNote.hidden = true;
    }
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
      failure.show(err);
      more.disabled = false;
      list.removeAttribute("aria-busy");
      if (!append) count.textContent = "";
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
    list.removeAttribute("aria-busy");
    showCount();
    performance.mark("mapstock:list-drawn");
    if (footprintMap) drawFootprints();
  }

  function showCount() {
    const n = state.items.length;
    const byView = Boolean(state.inView && state.bbox);
    if (n) count.textContent = `${n}${state.cursor ? "+" : ""} map${n === 1 ? "" : "s"}${byView ? " in this view" : ""}`;
    else count.textContent = byView ? "No maps in this view." : "No maps match.";
    viewNote.hidden = !byView;
    viewNote.firstChild.textContent = n
      ? "Maps without a location (scans, plain PDFs) are listed only when the map shows the whole world."
      : "Zoom out, or list maps everywhere, those without a location included:";
  }

  async function drawFootprints() {
    await footprintMap.setMaps(state.items);
    performance.mark("mapstock:footprints-drawn");
  }

  async function startMap(restoring) {
    await new Promise((resolve) => setTimeout(resolve)); // the router has put the page in place
    try {
      footprintMap = await createFootprintMap(mapPane, { view: parseView(state.view) });
    } catch (err) {
      replace(mapPane, h("p", { class: "error", text: `The map cannot be shown here (${err.message}); the list works without it.` }));
      if (restoring) load(false);
      return;
    }
    if (destroyed) {
      footprintMap.destroy();
      return;
    }
    if (restoring) {
      state.bbox = footprintMap.viewBbox();
      load(false);
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
        state.view = footprintMap.viewParam();
        syncUrl();
        if (state.inView && changed) load(false);
      }, DEBOUNCE_MS);
    });
    if (state.items.length) drawFootprints();
  }

  // A view from the URL filters the first page too: the list waits for the map's bbox.
  const restoring = Boolean(state.view && state.inView);
  list.setAttribute("aria-busy", "true");
  count.textContent = "Loading maps…";
  if (!restoring) load(false);
  startMap(restoring);
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
