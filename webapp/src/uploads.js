// Sending a file to Map Stock: POST v1/maps with its name and size, then the bytes straight to
// S3 (never through the API): one presigned POST for small files, a multipart upload of
// parallel parts for large ones (the API decides by size). A multipart upload is remembered by
// file (resume-store.js), so picking the same file again after a reload or a failure sends only
// the parts S3 does not hold yet.
import { api, ApiError } from "./api.js";
import { completeUpload, PARALLEL, sendParts, uploadPath } from "./multipart.js";
import { findUpload, forgetUpload, rememberUpload } from "./resume-store.js";
import { session } from "./session.js";

const mapPath = (id) => `v1/maps/${encodeURIComponent(id)}`;

const running = new Set(); // {stop}: the uploads in progress in this tab

/** Whether an upload is in progress in this tab. */
export const uploadRunning = () => running.size > 0;

// The maps whose bytes this tab finished sending (sessionStorage: kept across a reload of the
// tab): until S3's event registers the file such a map still awaits its upload, and its page
// must not suggest the upload was interrupted.
const FINISHED = "mapstock.uploaded";
const FINISHED_KEPT = 50;

function finishedIds() {
  try {
    const ids = JSON.parse(sessionStorage.getItem(FINISHED) ?? "[]");
    return Array.isArray(ids) ? ids : [];
  } catch {
    return [];
  }
}

function rememberFinished(mapId) {
  try {
    sessionStorage.setItem(FINISHED, JSON.stringify([...finishedIds().filter((id) => id !== mapId), mapId].slice(-FINISHED_KEPT)));
  } catch {
    // storage refused: the map's page falls back to the cautious wording
  }
}

/** Whether this tab sent every byte of map `mapId`'s file (the storage accepted it). */
export const uploadFinishedHere = (mapId) => finishedIds().includes(mapId);

/**
 * Stop every upload in progress and remove its unfinished map, while the token still works
 * (before a sign-out: afterwards the DELETE would be refused and leave an orphan map).
 * Resolves when they are all stopped; throws nothing.
 */
export async function stopUploads() {
  await Promise.all([...running].map((upload) => upload.stop()));
}

/**
 * Upload `file` with {title, description, visibility} (a resumed upload keeps its map's own).
 * onProgress(sentBytes, totalBytes); onResume({held, total}) when an earlier upload of this
 * file resumes (the parts S3 holds, of all); onStart({method, mapId, expiresAt}) once the map
 * exists ("POST": a cancel removes it, "multipart": it can resume until expiresAt);
 * onOffline(true|false) when the connection drops and returns (a multipart upload waits).
 * Resolves to the map document (status "uploaded" or "awaiting_upload" until S3's event is
 * registered, or later); throws ApiError, or an AbortError when `signal` aborts.
 */
export async function uploadFile(file, fields, { signal, ...options } = {}) {
  const inner = new AbortController();
  const forward = () => inner.abort();
  if (signal?.aborted) inner.abort();
  else signal?.addEventListener("abort", forward, { once: true });
  let finished = null;
  const upload = {
    mapId: null,
    multipart: false,
    discard: false, // stopped for a sign-out: remove the map even when it could resume
    async stop() {
      upload.discard = true;
      inner.abort();
      await finished?.catch(() => {});
    },
  };
  running.add(upload);
  try {
    finished = send(file, fields, upload, { ...options, signal: inner.signal });
    const doc = await finished;
    rememberFinished(upload.mapId ?? doc.id);
    return doc;
  } finally {
    running.delete(upload);
    signal?.removeEventListener("abort", forward);
  }
}

async function send(file, fields, upload, { onProgress = () => {}, onResume = () => {}, onStart = () => {}, onOffline = () => {}, signal, parallel = PARALLEL }) {
  const owner = session.me()?.username ?? "";
  try {
    const resumed = await resume(owner, file, upload, { onProgress, onResume, onStart, onOffline, signal, parallel });
    if (resumed) return resumed;
  } catch (err) {
    await discardIfStopped(owner, file, upload);
    throw err;
  }
  const plan = await api("v1/maps", {
    method: "POST",
    json: { filename: file.name, size: file.size, ...fields },
    signal,
  });
  upload.mapId = plan.map.id;
  if (plan.upload.method === "POST") {
    onStart({ method: "POST", mapId: plan.map.id, expiresAt: plan.upload.expires_at });
    try {
      await presignedPost(plan.upload, file, onProgress, signal);
    } catch (err) {
      // A POST cannot resume: remove the map rather than leave it holding quota for a day
      // (awaited, so a sign-out waits for it while the token still works).
      await api(mapPath(plan.map.id), { method: "DELETE" }).catch(() => {});
      throw err;
    }
    return plan.map;
  }
  if (plan.upload.method === "multipart") {
    const { part_size: partSize, part_count: partCount, expires_at: expiresAt } = plan.upload;
    upload.multipart = true;
    rememberUpload(owner, file, plan.map.id, expiresAt);
    onStart({ method: "multipart", mapId: plan.map.id, expiresAt });
    try {
      return await finish(owner, file, plan.map.id, { partSize, partCount, held: new Map(), onProgress, onOffline, signal, parallel });
    } catch (err) {
      await discardIfStopped(owner, file, upload);
      throw err;
    }
  }
  throw new ApiError(0, "unsupported_upload", `Unknown upload method ${plan.upload.method}.`, null);
}

/** After a stop for a sign-out: abort the multipart upload and remove its map (quietly). */
async function discardIfStopped(owner, file, upload) {
  if (!upload.discard || !upload.multipart || !upload.mapId) return;
  forgetUpload(owner, file);
  await api(uploadPath(upload.mapId), { method: "DELETE" }).catch(() => {});
}

/** Whether picking `file` resumes an earlier upload (its size already counts in the quota). */
export function resumesUpload(file) {
  return Boolean(findUpload(session.me()?.username ?? "", file));
}

/** The missing parts, then complete; the record is forgotten once the map holds the file. */
async function finish(owner, file, mapId, { partSize, partCount, held, onProgress, onOffline, signal, parallel }) {
  const etags = await sendParts({ mapId, file, partSize, partCount, held, parallel, onProgress, onOffline, signal });
  const doc = await completeUpload(mapId, etags, signal, onOffline);
  forgetUpload(owner, file);
  onProgress(file.size, file.size);
  return doc;
}

/**
 * Carry on with the recorded multipart upload of `file`, from the parts the server says S3
 * holds; null when there is none to resume (no record, map gone, finished or made for another
 * file), and a new upload should start. Throws ApiError, AbortError.
 */
async function resume(owner, file, upload, { onProgress, onResume, onStart, onOffline, signal, parallel }) {
  const mapId = findUpload(owner, file);
  if (!mapId) return null;
  let state;
  try {
    state = await api(uploadPath(mapId), { signal });
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 409)) throw err;
    forgetUpload(owner, file);
    // 404: removed or expired. 409: no longer awaiting its upload (then it is another map now,
    // left alone), or its upload expired in storage (then it can only be removed).
    if (err.status === 409) await abandonIfWaiting(mapId, signal);
    return null;
  }
  const partSize = Number(state.part_size);
  const partCount = Number(state.part_count);
  if (Number(state.size) !== file.size || Math.ceil(file.size / partSize) !== partCount) {
    forgetUpload(owner, file);
    await abandonIfWaiting(mapId, signal);
    return null;
  }
  const expected = (n) => Math.min(partSize, file.size - (n - 1) * partSize);
  const held = new Map(
    state.parts.filter((p) => p.part_number >= 1 && p.part_number <= partCount && p.size === expected(p.part_number)).map((p) => [p.part_number, p.etag]),
  );
  // The map keeps the title, description and visibility it was made with: the form after a
  // reload shows its defaults, not a new choice (the map's page edits them).
  upload.mapId = mapId;
  upload.multipart = true;
  onStart({ method: "multipart", mapId, expiresAt: state.expires_at });
  onResume({ held: held.size, total: partCount });
  return finish(owner, file, mapId, { partSize, partCount, held, onProgress, onOffline, signal, parallel });
}

/** Remove map `mapId` when it still waits for its upload (quietly: else it expires). */
async function abandonIfWaiting(mapId, signal) {
  try {
    const doc = await api(mapPath(mapId), { signal });
    if (doc.status === "awaiting_upload") await api(uploadPath(mapId), { method: "DELETE", signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
  }
}

/** The bytes to S3 as a form POST (fields first, then the file), with progress events. */
function presignedPost(upload, file, onProgress, signal) {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", file);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException("Upload cancelled", "AbortError"));
    const xhr = new XMLHttpRequest();
    const stop = () => xhr.abort();
    xhr.open("POST", upload.url);
    // The form's size counts the fields and boundaries too: progress is scaled to the file.
    xhr.upload.addEventListener("progress", (e) => {
      const share = e.lengthComputable && e.total ? e.loaded / e.total : 0;
      onProgress(Math.min(file.size, Math.floor(share * file.size)), file.size);
    });
    xhr.addEventListener("loadend", () => signal?.removeEventListener("abort", stop));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve();
      } else reject(new ApiError(xhr.status, "storage_error", `The storage refused the upload (${xhr.status}).`, null));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", "The upload was interrupted; try again.", null)));
    xhr.addEventListener("abort", () => reject(new DOMException("Upload cancelled", "AbortError")));
    signal?.addEventListener("abort", stop, { once: true });
    xhr.send(form);
  });
}
