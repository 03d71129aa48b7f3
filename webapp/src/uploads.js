// Sending a file to Map Stock: POST v1/maps with its name and size, then the bytes straight to
// S3 with the presigned POST the API answers (never through the API). Multipart uploads (the
// API's answer for large files) are the next step: see `multipartUpload`.
import { api, ApiError } from "./api.js";

/**
 * Upload `file` with {title, description, visibility}; onProgress(sentBytes, totalBytes).
 * Resolves to the map document (status "uploaded" or "awaiting_upload" until S3's event is
 * registered); throws ApiError.
 */
export async function uploadFile(file, fields, { onProgress = () => {}, signal } = {}) {
  const plan = await api("v1/maps", {
    method: "POST",
    json: { filename: file.name, size: file.size, ...fields },
    signal,
  });
  if (plan.upload.method === "POST") {
    await presignedPost(plan.upload, file, onProgress, signal);
    return plan.map;
  }
  if (plan.upload.method === "multipart") return multipartUpload(plan, file, onProgress, signal);
  throw new ApiError(0, "unsupported_upload", `Unknown upload method ${plan.upload.method}.`, null);
}

/** The bytes to S3 as a form POST (fields first, then the file), with progress events. */
function presignedPost(upload, file, onProgress, signal) {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append("file", file);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve();
      } else reject(new ApiError(xhr.status, "storage_error", `The storage refused the upload (${xhr.status}).`, null));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", "The upload was interrupted; try again.", null)));
    xhr.addEventListener("abort", () => reject(new DOMException("Upload cancelled", "AbortError")));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

/** Large files: parts straight to S3 by presigned PUT, resumable (not in this version). */
async function multipartUpload(plan) {
  // The map exists, awaiting its upload: remove it rather than leave it waiting a day.
  await api(`v1/maps/${encodeURIComponent(plan.map.id)}/upload`, { method: "DELETE" }).catch(() => {});
  throw new ApiError(0, "multipart_unsupported", "Files this large need a multipart upload, which this page does not do yet: use the mapstock client.", null);
}
