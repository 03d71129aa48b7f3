// A map as a list item (browse, my maps): thumbnail, title link, format, size, owner,
// visibility, status. Thumbnails load when they scroll into view.
import { previewUrl } from "../api.js";
import { h } from "../dom.js";
import { formatBytes, formatName, mapName, STATUS_TEXT, visibilityName } from "../format.js";
import { session } from "../session.js";

/** Loads thumbnails of list items as they come into view; disconnect() when leaving. */
export function thumbnailLoader() {
  const controller = new AbortController();
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        loadThumbnail(entry.target, controller.signal);
      }
    },
    { rootMargin: "200px" },
  );
  return {
    observe: (img) => observer.observe(img),
    disconnect: () => {
      observer.disconnect();
      controller.abort();
    },
  };
}

async function loadThumbnail(img, signal) {
  const id = img.dataset.map;
  if (!session.token()) {
    // A guest sees public maps only: the preview route's 302 works as an image source.
    img.src = `v1/maps/${encodeURIComponent(id)}/preview`;
    return;
  }
  // A member's request needs the Authorization header, which an <img> cannot send: ask for
  // the short-lived URL (signed, no token in it) and show that.
  try {
    img.src = await previewUrl(id, signal);
  } catch {
    img.classList.add("missing");
  }
}

/** One map as an <li>: the caller wires hover/selection through data-map. */
export function mapCard(map, thumbnails, { showStatus = false } = {}) {
  const name = mapName(map);
  const thumb = map.preview
    ? h("img", { class: "thumb", alt: "", "data-map": map.id, width: 72, height: 72, decoding: "async" })
    : h("div", { class: "thumb none", "aria-hidden": "true", text: map.format ? formatName(map.format).slice(0, 4) : "…" });
  if (map.preview) thumbnails.observe(thumb);
  // User text (title, owner) is isolated (dir=auto, <bdi>): a right-to-left name stays whole.
  return h(
    "li",
    { class: "map-card", "data-map": map.id },
    thumb,
    h(
      "div",
      { class: "card-body" },
      h("a", { class: "card-title", href: `maps/${encodeURIComponent(map.id)}`, dir: "auto", text: name }),
      h(
        "p",
        { class: "card-facts" },
        `${formatName(map.format, map.status)} · ${formatBytes(map.size)} · by `,
        h("bdi", { text: map.owner }),
        " ",
        h("span", { class: `badge vis-${map.visibility}`, text: visibilityName(map.visibility) }),
        showStatus || map.status !== "ready"
          ? h("span", { class: `badge status-${map.status}`, text: STATUS_TEXT[map.status] ?? map.status })
          : null,
      ),
    ),
  );
}
