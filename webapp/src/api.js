// The HTTP API, by relative URLs ("v1/…" resolved against the page's <base>), so the app works
// under an API Gateway stage prefix. Errors surface as ApiError with the contract's
// {code, message, request_id}. The token goes in the Authorization header only: never in a
// URL, never logged.
import { session } from "./session.js";

/** What a 5xx says (a gateway's "Internal server error", an HTML page: no help to a reader). */
export const SERVICE_PROBLEM = "The service had a problem; try again in a moment.";

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }

  /** One line for the reader: a 4xx's message as the API words it (the reader's to fix: no
   * request id); a 5xx in plain words, with the request id for support. */
  describe() {
    if (this.status < 500) return this.message;
    return this.requestId ? `${SERVICE_PROBLEM} (request ${this.requestId})` : SERVICE_PROBLEM;
  }
}

/** Counts API requests (the bench reads it through window.__mapstock). */
export const stats = { requests: 0 };

/**
 * Call the API. `json` is sent as a JSON body; `body` as is (FormData, Blob…).
 * Returns the parsed JSON (null for 204); throws ApiError.
 */
export async function api(path, { method = "GET", json, body, signal, auth = true } = {}) {
  const headers = new Headers({ Accept: "application/json" });
  const token = auth ? session.token() : null;
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  }
  stats.requests += 1;
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: "omit", cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "The service could not be reached; check your connection and retry.", null);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      doc?.code ?? `http_${response.status}`,
      doc?.message ?? `The service answered ${response.status}.`,
      doc?.request_id ?? response.headers.get("X-Request-Id"),
    );
    if (response.status === 401 && token) session.expire();
    throw error;
  }
  return doc;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The map's preview as a short-lived image URL (the API signs it; no token in it). */
export async function previewUrl(id, signal) {
  const doc = await api(`v1/maps/${encodeURIComponent(id)}/preview?redirect=false`, { signal });
  return doc.url;
}

/** Navigate the browser to a short-lived download URL of the map (optimized or original). */
export async function download(id, variant) {
  const doc = await api(`v1/maps/${encodeURIComponent(id)}/download${query({ redirect: "false", variant })}`);
  window.location.assign(doc.url);
  return doc;
}
