// Upload a map: Map file (picker or drop), title, description, Visibility, then Upload, with a
// progress bar. Checked before sending: signed in, subscription active, quota.
import { ApiError } from "../api.js";
import { field, h, select } from "../dom.js";
import { formatBytes, VISIBILITIES } from "../format.js";
import { announce } from "../live.js";
import { navigate } from "../router.js";
import { session } from "../session.js";
import { resumesUpload, uploadFile } from "../uploads.js";
import { signInRequired } from "./guards.js";

export async function uploadView() {
  if (!session.token()) return signInRequired("upload", "Upload a map");
  const me = session.me() ?? (await session.refresh());
  const fileInput = h("input", { type: "file", name: "file", required: true });
  const title = h("input", { type: "text", name: "title", maxlength: 200 });
  const description = h("textarea", { name: "description", rows: 3, maxlength: 5000 });
  const visibility = select(VISIBILITIES, "private", { name: "visibility" });
  const submit = h("button", { type: "submit", class: "primary", text: "Upload" });
  const cancel = h("button", { type: "button", text: "Cancel", hidden: true, onclick: () => controller?.abort() });
  const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
  const progressText = h("span", { class: "progress-text" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const drop = h("div", { class: "drop-zone" }, field("Map file", fileInput, "GeoTIFF, GeoJSON, KML/KMZ, GPX, GeoPackage, MBTiles, PMTiles, zipped Shapefile, PNG/JPEG/WebP scans, PDF."));
  let controller = null;

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
        cancel.hidden = false;
        try {
          const map = await uploadFile(
            file,
            { title: title.value || undefined, description: description.value || undefined, visibility: visibility.value },
            {
              signal: controller.signal,
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
          else progressText.textContent = "Cancelled: pick the same file again to resume.";
        } finally {
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
    node.append(h("p", { class: "banner warning", text: "Uploading needs an active subscription; yours has ended." }));
  }
  node.append(form);
  return {
    title: "Upload a map",
    node,
    cleanup() {
      controller?.abort();
    },
  };
}
