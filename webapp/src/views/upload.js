// Upload a map: Map file (picker or drop), title, description, Visibility, then Upload, with a
// progress bar. Checked before sending: signed in, subscription active, quota. The member's
// unfinished uploads are listed first (picking the same file resumes a multipart one).
import { api, ApiError } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import { formatBytes, formatDate, mapName, VISIBILITIES } from "../format.js";
import { announce } from "../live.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { resumesUpload, uploadFile } from "../uploads.js";
import { signInRequired } from "./guards.js";

const ACCEPT = [".tif", ".tiff", ".geojson", ".json", ".kml", ".kmz", ".gpx", ".gpkg", ".mbtiles", ".pmtiles", ".zip", ".png", ".jpg", ".jpeg", ".webp", ".pdf"].join(",");
const OFFLINE = "Offline: the upload continues when the connection returns.";

/** What a cancel did, for each kind of upload. */
function cancelledText(started) {
  if (!started) return "Cancelled: nothing was uploaded.";
  if (started.method === "POST") return "Cancelled: the upload stopped and its map was removed.";
  const until = started.expiresAt ? ` (until ${formatDate(started.expiresAt)})` : "";
  return `Cancelled: pick the same file again to resume${until}.`;
}

/** The member's maps still waiting for their upload (from any browser), into `box`. */
async function showUnfinished(box) {
  let items = [];
  try {
    items = (await api("v1/maps?owner=me&status=awaiting_upload&limit=20")).items;
  } catch {
    // the list is a convenience: the form works without it
  }
  box.hidden = items.length === 0;
  replace(
    box,
    h("h2", { id: "unfinished-title", text: "Unfinished uploads" }),
    h("p", { class: "hint", text: "Pick the same file below to resume a large upload where it stopped; a small one starts again. Each map page says until when." }),
    h(
      "ul",
      {},
      items.map((map) => h("li", {}, h("a", { href: `maps/${encodeURIComponent(map.id)}`, text: mapName(map) }), ` — ${map.filename}, ${formatBytes(map.size)}`)),
    ),
  );
}

export async function uploadView() {
  if (!session.token()) return signInRequired("Upload a map");
  const me = session.me() ?? (await session.refresh());
  // `accept` narrows the picker to the formats' usual extensions (its "All files" choice, and
  // a drop, still take any file: the server decides the format from the content).
  const fileInput = h("input", { type: "file", name: "file", required: true, accept: ACCEPT });
  const title = h("input", { type: "text", name: "title", maxlength: 200 });
  const description = h("textarea", { name: "description", rows: 3, maxlength: 5000 });
  const visibility = select(VISIBILITIES, "private", { name: "visibility" });
  const submit = h("button", { type: "submit", class: "primary", text: "Upload" });
  const cancel = h("button", { type: "button", text: "Cancel", hidden: true, onclick: () => controller?.abort() });
  const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
  const progressText = h("span", { class: "progress-text" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const drop = h(
    "div",
    { class: "drop-zone" },
    field("Map file", fileInput, "Choose a file, or drop it here. GeoTIFF, GeoJSON, KML/KMZ, GPX, GeoPackage, MBTiles, PMTiles, zipped Shapefile, PNG/JPEG/WebP scans, PDF."),
  );
  const unfinished = h("section", { class: "unfinished", "aria-labelledby": "unfinished-title", hidden: true });
  let controller = null;
  // Leaving or reloading the page stops the upload: the browser asks first.
  const warnBeforeLeaving = (event) => {
    event.preventDefault();
    event.returnValue = "";
  };

  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
  };

  function problem(file) {
    if (!me?.active) return "Your subscription is not active: uploading needs an active subscription.";
    if (!file) return "Choose a map file first.";
    if (file.size === 0) return "This file is empty.";
    if (resumesUpload(file)) return null; // its map and size already count in the usage
    if (me.quota?.bytes && me.usage && me.usage.bytes + file.size > me.quota.bytes) {
      return `This file (${formatBytes(file.size)}) would exceed your storage quota (${formatBytes(me.usage.bytes)} of ${formatBytes(me.quota.bytes)} used).`;
    }
    if (me.quota?.maps && me.usage && me.usage.maps + 1 > me.quota.maps) return `You have reached your quota of ${me.quota.maps} maps.`;
    return null;
  }

  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer?.files?.length) fileInput.files = e.dataTransfer.files;
  });

  const form = h(
    "form",
    {
      class: "card upload",
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        const file = fileInput.files[0];
        const reason = problem(file);
        if (reason) return fail(reason);
        submit.disabled = true;
        progress.hidden = false;
        progress.value = 0;
        controller = new AbortController();
        let resuming = "";
        let started = null; // {method, expiresAt} once the map exists
        cancel.hidden = false;
        window.addEventListener("beforeunload", warnBeforeLeaving);
        try {
          const map = await uploadFile(
            file,
            { title: title.value || undefined, description: description.value || undefined, visibility: visibility.value },
            {
              signal: controller.signal,
              onStart: (plan) => {
                started = plan;
              },
              onOffline: (offline) => {
                if (!offline) return;
                progressText.textContent = OFFLINE;
                announce(OFFLINE);
              },
              onResume: ({ held, total }) => {
                resuming = `Resuming: ${held} of ${total} parts already uploaded. `;
                announce(resuming);
              },
              onProgress: (sent, total) => {
                const percent = total ? Math.floor((sent / total) * 100) : 0;
                progress.value = percent;
                progressText.textContent = `${resuming}${percent} % (${formatBytes(sent)} of ${formatBytes(total)})`;
              },
            },
          );
          announce("Upload complete: processing starts.");
          navigate(`maps/${encodeURIComponent(map.id)}`);
        } catch (err) {
          if (err.name !== "AbortError") fail(err instanceof ApiError ? err.describe() : String(err.message ?? err));
          else progressText.textContent = cancelledText(started);
          showUnfinished(unfinished);
        } finally {
          window.removeEventListener("beforeunload", warnBeforeLeaving);
          submit.disabled = false;
          cancel.hidden = true;
        }
      },
    },
    drop,
    field("Title", title),
    field("Description", description),
    field("Visibility", visibility),
    h("div", { class: "row" }, submit, cancel, progress, progressText),
    error,
  );
  const node = h("section", { class: "upload-page" }, h("h1", { text: "Upload a map" }));
  if (!me?.active) {
    // No form they cannot use: what happened and who can change it.
    node.append(
      h(
        "div",
        { class: "card upload-closed", "data-upload": "closed" },
        h("h2", { text: "Uploading needs an active subscription" }),
        h("p", { text: `Your subscription ended${me?.active_until ? ` on ${formatDate(me.active_until, false)}` : ""}, so you cannot upload maps. Ask an administrator to renew it.` }),
        h("p", {}, "Your maps stay where they are: ", h("a", { href: "mine", text: "My maps" }), "."),
      ),
    );
    return { title: "Upload a map", node };
  }
  node.append(unfinished, form);
  await showUnfinished(unfinished);
  return {
    title: "Upload a map",
    node,
    cleanup() {
      window.removeEventListener("beforeunload", warnBeforeLeaving);
      controller?.abort();
    },
  };
}
