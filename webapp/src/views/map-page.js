// One map: preview, its footprint on a small map (when it has a bbox), metadata, live status
// while processing, the reason when rejected or failed, downloads, and for its owner (or an
// admin): visibility, title and description, delete with confirmation.
import { api, ApiError, download, previewUrl } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import { FINAL_STATUSES, formatBytes, formatDate, formatName, mapName, STATUS_TEXT, VISIBILITIES, visibilityName } from "../format.js";
import { confirmDialog } from "../confirm.js";
import { announce } from "../live.js";
import { createFootprintMap } from "../map.js";
import { controlError, errorText, failurePage, formErrors } from "../problems.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { uploadFinishedHere } from "../uploads.js";
import { browseLink } from "./browse.js";
import { signInLink } from "./guards.js";

const POLL_MS = [1000, 1000, 2000, 2000, 3000, 5000];

async function loadMapPage(params) {
  const id = params.id;
  let map;
  try {
    map = await api(`v1/maps/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 400)) return notFound();
    throw err;
  }
  let pollTimer = null;
  let polls = 0;
  let destroyed = false;
  let attached = false; // MapLibre needs its container on the page (sized) to start
  let footprintMap = null;
  let footprintStarted = false;
  let unsaved = () => false; // the owner's form has edits not saved yet
  const node = h("article", { class: "map-page" });
  const heading = h("h1", { dir: "auto", text: mapName(map) });
  const statusBox = h("div", { class: "status-box", role: "status", "aria-live": "polite" });
  const previewBox = h("figure", { class: "preview" });
  const facts = h("dl", { class: "facts" });
  const actions = h("div", { class: "actions" });
  const messages = h("p", { class: "error", role: "alert", hidden: true });
  const description = h("p", { class: "description", dir: "auto" });
  const owner = h("section", { class: "owner-tools", "aria-labelledby": "owner-tools-title" });
  const footprintPane = h("div", { class: "footprint-map" });
  const footprint = h("section", { class: "footprint", "aria-labelledby": "footprint-title", hidden: true }, h("h2", { id: "footprint-title", text: "Footprint" }), footprintPane);
  replace(
    node,
    h("p", { class: "crumbs" }, browseLink("Browse")),
    heading,
    description,
    statusBox,
    messages,
    h("div", { class: "map-layout" }, h("div", {}, previewBox, footprint), h("div", {}, actions, facts)),
    owner,
  );

  const canManage = () => {
    const me = session.me();
    return Boolean(me && (me.username === map.owner || me.role === "admin"));
  };

  function showError(err) {
    messages.textContent = errorText(err);
    messages.hidden = false;
  }

  function renderStatus() {
    const parts = [h("span", { class: `badge status-${map.status}`, text: STATUS_TEXT[map.status] ?? map.status })];
    if (map.status === "processing" || map.status === "uploaded") {
      const stage = map.stage ? `stage: ${map.stage}` : "queued";
      parts.push(" ", h("span", { class: "stage", text: stage }));
      if (Number.isFinite(map.progress)) {
        parts.push(" ", h("progress", { max: 100, value: map.progress, "aria-label": "Processing progress" }), ` ${map.progress} %`);
      }
    }
    if (map.status === "awaiting_upload" && canManage()) parts.push(unfinishedUpload(map));
    if (map.error && (map.status === "rejected" || map.status === "failed")) {
      parts.push(h("p", { class: "reason" }, h("strong", { text: "Reason: " }), `${map.error.message} (${map.error.code})`));
    }
    replace(statusBox, parts);
  }

  async function renderPreview() {
    if (!map.preview) {
      replace(previewBox, h("div", { class: "no-preview", text: noPreviewText(map.status) }));
      return;
    }
    const img = h("img", { alt: `Preview of ${mapName(map)}`, width: map.preview.width, height: map.preview.height });
    replace(previewBox, img, h("figcaption", { text: previewCaption(map) }));
    try {
      img.src = await previewUrl(map.id);
    } catch (err) {
      replace(previewBox, h("div", { class: "no-preview", text: `The preview could not be loaded: ${err.message}` }));
    }
  }

  function renderFacts() {
    const md = map.metadata ?? {};
    const rows = [
      ["Format", `${formatName(map.format, map.status)}${map.media_type ? ` (${map.media_type})` : ""}`],
      ["File", map.filename],
      ["Size", formatBytes(map.size)],
      ["Owner", map.owner],
      ["Visibility", visibilityName(map.visibility)],
      ["CRS", md.crs],
      ["Dimensions", md.width && md.height ? `${md.width} × ${md.height} px` : null],
      ["Bands", md.bands],
      ["Resolution", resolutionText(md)],
      ["Features", md.feature_count],
      ["Layers", Array.isArray(md.layers) ? md.layers.map((l) => (typeof l === "string" ? l : l?.name ?? JSON.stringify(l))).join(", ") : md.layers],
      ["Zoom levels", md.minzoom !== undefined || md.maxzoom !== undefined ? `${md.minzoom ?? "?"}–${md.maxzoom ?? "?"}` : null],
      ["Pages", md.pages],
      ["Bounding box", Array.isArray(md.bbox) ? md.bbox.map((v) => Number(v).toFixed(4)).join(", ") : null],
      ["SHA-256", map.sha256],
      ["Optimized", map.variants?.optimized ? `${map.variants.optimized.kind ?? "variant"}, ${formatBytes(map.variants.optimized.size)}` : null],
      ["Uploaded", formatDate(map.uploaded_at)], // none while the upload is unfinished
      ["Processed", formatDate(map.processed_at)],
      ["Downloads", map.download_count],
    ];
    rows.push(...extraFacts(md));
    replace(
      facts,
      rows
        .filter(([, value]) => value !== null && value !== undefined && value !== "")
        .map(([label, value]) => h("div", { class: "fact" }, h("dt", { text: label }), h("dd", { dir: "auto", text: String(value) }))),
    );
  }

  /** The map's bbox on the basemap; no map (no empty box) without a bbox. */
  async function renderFootprint() {
    footprint.hidden = !bboxOf(map);
    if (footprint.hidden || !attached) return;
    if (!footprintStarted) {
      footprintStarted = true;
      try {
        footprintMap = await createFootprintMap(footprintPane, { label: `Footprint of ${mapName(map)} on a world map` });
      } catch (err) {
        replace(footprintPane, h("p", { class: "no-preview", text: `The map cannot be shown here (${err.message}).` }));
        return;
      }
      if (destroyed) return footprintMap.destroy();
      footprintMap.map.scrollZoom.disable(); // the page scrolls over it; buttons and keys zoom
    } else if (!footprintMap) return; // still starting: it then draws the bbox of that time
    footprintMap.fitBbox(bboxOf(map), { maxZoom: 5 }); // out enough to see where it is
    await footprintMap.setMaps([map]);
  }

  function renderActions() {
    if (map.status !== "ready") {
      replace(actions);
      return;
    }
    const hasOptimized = Boolean(map.variants?.optimized);
    const primary = h("button", { type: "button", class: "primary", text: "Download" });
    const original = hasOptimized ? h("button", { type: "button", class: "secondary", text: "Download original" }) : null;
    const problem = controlError([primary, original]);
    const go = (variant) => async (event) => {
      event.target.disabled = true;
      try {
        await download(map.id, variant);
        problem.clear();
        announce("Download started.");
        await refreshDownloads();
      } catch (err) {
        problem.show(err);
      } finally {
        event.target.disabled = false;
      }
    };
    primary.addEventListener("click", go(hasOptimized ? "optimized" : undefined));
    original?.addEventListener("click", go("original"));
    replace(actions, primary, original, problem.node);
  }

  // The count went up with the download URL: shown now, not after a reload.
  async function refreshDownloads() {
    try {
      const next = await api(`v1/maps/${encodeURIComponent(map.id)}`);
      if (destroyed) return;
      map = next;
      renderFacts();
    } catch {
      // the download itself worked; the count catches up on the next visit
    }
  }

  function renderOwnerTools() {
    if (!canManage()) {
      replace(owner);
      return;
    }
    // Visibility is saved with the title and description, by Save: a select stepped through
    // with the arrow keys must not publish the map on the way.
    const visibility = select(VISIBILITIES, map.visibility, { name: "visibility" });
    const title = h("input", { type: "text", name: "title", value: map.title ?? "", maxlength: 200, dir: "auto" });
    const text = h("textarea", { name: "description", rows: 4, maxlength: 5000, dir: "auto" });
    text.value = map.description ?? "";
    const saved = h("span", { class: "saved", role: "status" });
    const save = h("button", { type: "submit", class: "secondary", text: "Save" });
    const saveProblem = controlError(save);
    const changes = () => {
      const out = {};
      if (visibility.value !== map.visibility) out.visibility = visibility.value;
      if (title.value !== (map.title ?? "")) out.title = title.value;
      if (text.value !== (map.description ?? "")) out.description = text.value;
      return out;
    };
    unsaved = () => Object.keys(changes()).length > 0;
    const edit = h(
      "form",
      {
        class: "edit",
        oninput: () => {
          saved.textContent = unsaved() ? "Unsaved changes." : "";
        },
        onsubmit: async (event) => {
          event.preventDefault();
          saved.textContent = "";
          const patch = changes();
          if (!Object.keys(patch).length) {
            saved.textContent = "Nothing to save.";
            return;
          }
          if (patch.visibility === "public" && !(await confirmPublic())) {
            visibility.focus();
            return;
          }
          save.disabled = true;
          try {
            map = await api(`v1/maps/${encodeURIComponent(map.id)}`, { method: "PATCH", json: patch });
            problems.clear();
            heading.textContent = mapName(map);
            description.textContent = map.description ?? "";
            document.title = `${mapName(map)} · Map Stock`;
            renderFacts();
            saved.textContent = "Saved.";
            if (patch.visibility) announce(`Visibility changed to ${visibilityName(map.visibility)}.`);
          } catch (err) {
            problems.show(err); // the fields keep what was chosen and typed
          } finally {
            save.disabled = false;
          }
        },
      },
      field("Visibility", visibility, "Private: only you. Members: every active member. Public: everyone, guests included."),
      field("Title", title),
      field("Description", text),
      h("div", { class: "row" }, save, saved),
      saveProblem.node,
    );
    const problems = formErrors({ visibility, title, description: text }, saveProblem);
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "delete-title" },
      h("h2", { id: "delete-title", text: "Delete this map?" }),
      h("p", {}, "“", h("bdi", { text: mapName(map) }), "” and its files will be removed for good."),
      h(
        "form",
        { method: "dialog", class: "row" },
        h("button", { type: "submit", value: "cancel", class: "secondary", text: "Cancel", autofocus: true }),
        h("button", { type: "submit", value: "delete", class: "danger", text: "Delete map" }),
      ),
    );
    const remove = h("button", { type: "button", class: "danger", text: "Delete", onclick: () => dialog.showModal() });
    const removeProblem = controlError(remove);
    dialog.addEventListener("close", async () => {
      if (dialog.returnValue !== "delete") return;
      try {
        await api(`v1/maps/${encodeURIComponent(map.id)}`, { method: "DELETE" });
        unsaved = () => false; // nothing left to save
        announce("Map deleted.");
        navigate("mine");
      } catch (err) {
        removeProblem.show(err);
      }
    });
    replace(owner, h("h2", { id: "owner-tools-title", text: "Manage" }), edit, remove, removeProblem.node, dialog);
  }

  function render() {
    description.textContent = map.description ?? "";
    renderStatus();
    renderFacts();
    renderActions();
    renderOwnerTools();
    renderPreview();
    renderFootprint();
  }

  async function poll() {
    pollTimer = null;
    try {
      const next = await api(`v1/maps/${encodeURIComponent(map.id)}`);
      if (destroyed) return;
      messages.hidden = true; // a failed look before this one is over
      const statusChanged = next.status !== map.status;
      map = next;
      if (statusChanged) {
        render();
        announce(`Status: ${STATUS_TEXT[map.status] ?? map.status}.`);
      } else renderStatus();
    } catch (err) {
      if (destroyed) return;
      showError(err);
    }
    schedulePoll();
  }

  function schedulePoll() {
    if (destroyed || FINAL_STATUSES.has(map.status)) return;
    pollTimer = setTimeout(poll, POLL_MS[Math.min(polls, POLL_MS.length - 1)]);
    polls += 1;
  }

  // A reload or a closed tab: the browser asks (its own words) while edits are unsaved.
  function warnBeforeUnload(event) {
    if (!unsaved()) return;
    event.preventDefault();
    event.returnValue = "";
  }

  render();
  schedulePoll();
  return {
    title: mapName(map),
    node,
    ready() {
      attached = true;
      renderFootprint();
      window.addEventListener("beforeunload", warnBeforeUnload);
    },
    /** Unsaved edits: asked before an in-app navigation (the router's leave guard). */
    mayLeave() {
      if (!unsaved()) return true;
      return confirmDialog({
        question: "Leave without saving?",
        text: "Your changes to this map's visibility, title or description are not saved.",
        yes: "Leave without saving",
        no: "Stay",
      });
    },
    cleanup() {
      window.removeEventListener("beforeunload", warnBeforeUnload);
      destroyed = true;
      clearTimeout(pollTimer);
      footprintMap?.destroy();
    },
  };
}

/** Resolves to true when the owner confirms that everyone, guests included, may see the map. */
function confirmPublic() {
  return confirmDialog({
    question: "Make this map public?",
    text: "Everyone will see and download it, guests without an account included.",
    yes: "Make public",
    no: "Cancel",
  });
}

const unfinishedNotes = new Map(); // map id -> its note, made once (the status re-renders)

/** For the owner of a map awaiting its upload: how to finish it (a multipart upload resumes
 * from the Upload page until it expires; a single-request one cannot, but right after it
 * succeeded the map also waits here until S3's event registers the file: so never advise
 * deleting it, and when this tab sent the file, say it arrived). */
function unfinishedUpload(map) {
  if (unfinishedNotes.has(map.id)) return unfinishedNotes.get(map.id);
  const note = h("p", { class: "unfinished-upload" }); // filled once the API says which case
  unfinishedNotes.set(map.id, note);
  if (uploadFinishedHere(map.id)) {
    // This tab sent the whole file: it is in storage, only its registration is to come.
    note.append(h("strong", { text: "The file has arrived." }), " It is being registered; processing starts in a moment.");
    return note;
  }
  api(`v1/maps/${encodeURIComponent(map.id)}/upload`)
    .then((upload) => {
      note.append(
        h("strong", { text: "Upload not finished." }),
        " Pick the same file on the ",
        h("a", { href: "upload", text: "Upload page" }),
        ` to resume (expires ${formatDate(upload.expires_at)}).`,
      );
    })
    .catch((err) => {
      // 409: made for a single-request upload, whose bytes may be arriving right now.
      if (!(err instanceof ApiError) || err.status !== 409) return;
      note.append(
        h("strong", { text: "Waiting for the file to arrive." }),
        " If its upload was interrupted it cannot resume: ",
        h("a", { href: "upload", text: "upload the file again" }),
        " (this unfinished map is removed automatically when it expires).",
      );
    });
  return note;
}

/**
 * The map page: at once a "Loading…" page in place of the previous one (its heading takes the
 * focus), then the map's page once the API answers; never raises (errors are shown).
 */
export async function mapPageView(params, search) {
  const heading = h("h1", { text: "Loading map…" });
  let shown = h("section", { class: "loading-page", "aria-busy": "true" }, heading, h("p", { class: "loading", text: "Loading…" }));
  const first = shown;
  let view = null;
  let gone = false;
  // A failure shows a page with Retry, which loads the map again in its place.
  const load = () =>
    loadMapPage(params, search)
      .catch((err) => failurePage(err, load, "The map could not be loaded"))
      .then((loaded) => {
        view = loaded;
        if (gone) return view.cleanup?.();
        const hadFocus = document.activeElement === heading || shown.contains(document.activeElement);
        shown.replaceWith(view.node);
        shown = view.node;
        document.title = `${view.title} · Map Stock`;
        const next = view.node.querySelector("h1");
        if (hadFocus && next) {
          next.setAttribute("tabindex", "-1");
          next.focus();
        }
        view.ready?.();
        return undefined;
      });
  load();
  return {
    title: "Loading map",
    node: first,
    mayLeave: () => view?.mayLeave?.() ?? true,
    cleanup() {
      gone = true;
      view?.cleanup?.();
    },
  };
}

/** "Preview, 256 × 256 px", saying why when its shape differs from the raster's (the preview
 * is drawn with square ground pixels: a raster of non-square pixels changes shape). */
function previewCaption(map) {
  const { width, height } = map.preview;
  const caption = `Preview, ${width} × ${height} px`;
  const md = map.metadata ?? {};
  if (!(md.width > 0 && md.height > 0)) return caption;
  if (Math.abs(width / height - md.width / md.height) <= 0.02 * (md.width / md.height)) return caption;
  const unit = crsUnit(md.crs);
  const square = unit === "°" ? "square degrees" : unit === "m" ? "square metres" : "square ground units";
  return `${caption} (resampled to ${square})`;
}

function noPreviewText(status) {
  if (status === "ready") return "No preview for this map.";
  if (status === "rejected") return "No preview: the file was rejected (see the reason above).";
  if (status === "failed") return "No preview: processing failed (see the reason above).";
  return "The preview appears once the map is processed.";
}

// Metadata shown beyond the contract's keys, with their labels; the others are internal.
const EXTRA_FACTS = {
  compression: "Compression",
  bits_per_sample: "Bits per sample",
  tiled: "Tiled",
  overviews: "Overviews",
  georeferencing: "Georeferencing",
  gcp_count: "Control points",
  nodata: "No-data value",
  geometry_type: "Geometry",
  pdf_version: "PDF version",
  tile_format: "Tile format",
};
const FACT_VALUES = { affine: "Affine transform", gcps: "Ground control points", none: "None", true: "Yes", false: "No" };

function extraFacts(md) {
  return Object.entries(EXTRA_FACTS)
    .filter(([key]) => md[key] !== null && md[key] !== undefined && typeof md[key] !== "object")
    .map(([key, label]) => [label, FACT_VALUES[String(md[key])] ?? md[key]]);
}

const GEOGRAPHIC = new Set([4326, 4269, 4258, 4283, 7844, 4167, 4612, 6668, 4617]);

/** The unit of a CRS's coordinates, as far as its EPSG code tells (UTM and Web Mercator: m). */
function crsUnit(crs) {
  const code = Number(/^EPSG:(\d+)$/.exec(crs ?? "")?.[1]);
  if (GEOGRAPHIC.has(code)) return "°";
  if ((code > 32600 && code < 32661) || (code > 32700 && code < 32761) || (code > 25827 && code < 25839) || code === 3857) return "m";
  return "CRS units";
}

/** [0.001375, 0.00066] in EPSG:4326 -> "0.00137 × 0.00066 ° per pixel". */
function resolutionText(md) {
  const values = (Array.isArray(md.resolution) ? md.resolution : [md.resolution]).map(Number);
  if (md.resolution === undefined || md.resolution === null || !values.every(Number.isFinite)) return null;
  const unit = md.resolution_unit ?? crsUnit(md.crs);
  return `${values.map((v) => String(Number(v.toPrecision(3)))).join(" × ")} ${unit} per pixel`;
}

function notFound() {
  return {
    title: "Map not found",
    node: h(
      "section",
      {},
      h("h1", { text: "Map not found" }),
      h("p", { text: "This map does not exist, or it is not shared with you." }),
      session.token() ? null : h("p", {}, signInLink(), " to see maps shared with members."),
      h("p", {}, browseLink("Browse maps")),
    ),
  };
}

/** The map's bbox [w, s, e, n], or null. */
function bboxOf(map) {
  const box = map.metadata?.bbox;
  return Array.isArray(box) && box.length === 4 && box.every(Number.isFinite) ? box : null;
}
