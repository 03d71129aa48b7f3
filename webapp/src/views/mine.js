// My maps: every map of the signed-in member, whatever its status (waiting for its upload,
// processing, rejected, failed, ready), newest first, refreshed while some are in progress.
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
  if (!session.token()) return signInRequired("mine", "My maps");
  const thumbnails = thumbnailLoader();
  const statusSelect = select([["", "Any status"], ...Object.entries(STATUS_TEXT)], search.get("status") ?? "", { name: "status" });
  const list = h("ol", { class: "map-list", "aria-label": "My maps" });
  const count = h("p", { class: "count", role: "status" });
  let lastLoad = false; // whether the last load appended: what Retry repeats
  const error = loadFailure(() => load(lastLoad));
  const more = h("button", { type: "button", class: "secondary", text: "Load more", hidden: true, onclick: () => load(true) });
  let items = [];
  let cursor = null;
  let timer = null;
  let destroyed = false;

  async function load(append) {
    clearTimeout(timer);
    lastLoad = append;
    error.clear();
    try {
      const page = await api(`v1/maps${query({ owner: "me", limit: PAGE, status: statusSelect.value, cursor: append ? cursor : "" })}`);
      if (destroyed) return;
      items = append ? items.concat(page.items) : page.items;
      cursor = page.next_cursor;
      const cards = page.items.map((m) => mapCard(m, thumbnails, { showStatus: true }));
      if (append) list.append(...cards);
      else replace(list, cards);
      more.hidden = !cursor;
      count.textContent = items.length ? `${items.length}${cursor ? "+" : ""} map${items.length === 1 ? "" : "s"}` : "You have no maps yet.";
      // While anything is on its way, look again (only the first page: what just changed).
      if (!append && items.some((m) => !FINAL_STATUSES.has(m.status))) timer = setTimeout(() => load(false), REFRESH_MS);
    } catch (err) {
      if (destroyed) return;
      error.show(err);
    }
  }
  statusSelect.addEventListener("change", () => load(false));
  await load(false);
  const node = h(
    "section",
    { class: "mine" },
    h("div", { class: "row spread" }, h("h1", { text: "My maps" }), session.active() ? h("a", { class: "button primary", href: "upload", text: "Upload a map" }) : null),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, field("Status", statusSelect)),
    count,
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
      thumbnails.disconnect();
    },
  };
}
