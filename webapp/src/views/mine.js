// My maps: every map of the signed-in member, whatever its status (waiting for its upload,
// processing, rejected, failed, ready), newest first, refreshed while some are in progress.
// The status filter lives in the URL's query (replaceState), so a reload or Back keeps it.
import { api, query } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import { FINAL_STATUSES, STATUS_TEXT } from "../format.js";
import { loadFailure } from "../problems.js";
import { session } from "../session.js";
import { mapCard, thumbnailLoader } from "./cards.js";
import { signInRequired } from "./guards.js";

const PAGE = 50;
const REFRESH_MS = 3000;

export async function mineView(params, search) {
  if (!session.token()) return signInRequired("My maps");
  const thumbnails = thumbnailLoader();
  const asked = search.get("status") ?? "";
  const statusSelect = select([["", "Any status"], ...Object.entries(STATUS_TEXT)], STATUS_TEXT[asked] ? asked : "", { name: "status" });
  const list = h("ol", { class: "map-list", "aria-label": "My maps" });
  const count = h("p", { class: "count", role: "status" });
  const clearFilter = h("button", { type: "button", class: "link", text: "Show maps of any status", hidden: true, onclick: () => setStatus("") });
  let lastLoad = false; // whether the last load appended: what Retry repeats
  const error = loadFailure(() => load(lastLoad));
  const more = h("button", { type: "button", class: "secondary", text: "Load more", hidden: true, onclick: () => load(true) });
  let items = [];
  let cursor = null;
  let timer = null;
  let destroyed = false;
  let request = null; // the list request in flight: a newer one (filter, refresh, more) aborts it

  function setStatus(value) {
    statusSelect.value = value;
    changed();
  }

  function changed() {
    const url = new URL(document.baseURI);
    url.pathname += "mine";
    url.search = query({ status: statusSelect.value });
    history.replaceState(history.state, "", url.href);
    load(false);
  }

  async function load(append) {
    clearTimeout(timer);
    lastLoad = append;
    request?.abort();
    const controller = new AbortController();
    request = controller;
    error.clear();
    more.disabled = true;
    list.setAttribute("aria-busy", "true");
    const status = statusSelect.value;
    let page;
    try {
      page = await api(`v1/maps${query({ owner: "me", limit: PAGE, status, cursor: append ? cursor : "" })}`, { signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError" || destroyed || controller.signal.aborted) return;
      error.show(err);
      more.disabled = false;
      list.removeAttribute("aria-busy");
      return;
    }
    // Only the newest request's answer is shown (an older one may arrive last).
    if (destroyed || controller.signal.aborted || request !== controller) return;
    request = null;
    items = append ? items.concat(page.items) : page.items;
    cursor = page.next_cursor;
    const cards = page.items.map((m) => mapCard(m, thumbnails, { showStatus: true }));
    if (append) list.append(...cards);
    else replace(list, cards);
    list.removeAttribute("aria-busy");
    more.hidden = !cursor;
    more.disabled = false;
    showCount(status);
    // While anything is on its way, look again (only the first page: what just changed).
    if (!append && items.some((m) => !FINAL_STATUSES.has(m.status))) timer = setTimeout(() => load(false), REFRESH_MS);
  }

  function showCount(status) {
    clearFilter.hidden = true;
    if (items.length) count.textContent = `${items.length}${cursor ? "+" : ""} map${items.length === 1 ? "" : "s"}`;
    else if (status) {
      count.textContent = `None of your maps has the status “${STATUS_TEXT[status] ?? status}”.`;
      clearFilter.hidden = false;
    } else count.textContent = "You have no maps yet.";
  }

  statusSelect.addEventListener("change", changed);
  await load(false);
  const node = h(
    "section",
    { class: "mine" },
    h("div", { class: "row spread" }, h("h1", { text: "My maps" }), session.active() ? h("a", { class: "button primary", href: "upload", text: "Upload a map" }) : null),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, field("Status", statusSelect)),
    h("div", { class: "row" }, count, clearFilter),
    error.node,
    list,
    more,
  );
  return {
    title: "My maps",
    node,
    cleanup() {
      destroyed = true;
      clearTimeout(timer);
      request?.abort();
      thumbnails.disconnect();
    },
  };
}
