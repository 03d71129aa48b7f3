// A multipart upload's parts straight from the browser to S3: each part a slice of the File
// (read from disk as it is sent, never whole in memory) PUT to a presigned URL, a few at a
// time, retried with backoff, its URL asked for again when it expired or S3 refused it; the
// ETag S3 answers (the bucket's CORS rule exposes it) then completes the upload.
import { api, ApiError } from "./api.js";

export const PARALLEL = 4; // as the mapstock client; browsers open at most 6 per host anyway
const URLS_PER_CALL = 100; // the API's limit
const URL_MARGIN_MS = 60_000; // a URL this close to expiry is asked for again before use
const ATTEMPTS = 5; // per part: backoff of about 0.5, 1, 2, 4 s between them
const STALL_MS = 60_000; // a PUT that moves no byte for this long is dropped and retried
const RETRY_STATUSES = new Set([0, 403, 408, 429, 500, 502, 503, 504]);

/** The API path of a map's upload resource. */
export const uploadPath = (mapId, ...rest) => ["v1/maps", encodeURIComponent(mapId), "upload", ...rest].join("/");

const aborted = () => new DOMException("Upload cancelled", "AbortError");

function wait(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(aborted());
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}

/**
 * Resolves at once while the browser is online, else on its `online` event (telling
 * onOffline(true), then onOffline(false)); rejects with an AbortError when `signal` aborts.
 * Offline, retries would only burn attempts: the upload waits for the connection instead.
 */
export function whenOnline(signal, onOffline = () => {}) {
  if (navigator.onLine !== false) return Promise.resolve();
  if (signal?.aborted) return Promise.reject(aborted());
  onOffline(true);
  return new Promise((resolve, reject) => {
    const back = () => {
      signal?.removeEventListener("abort", stop);
      onOffline(false);
      resolve();
    };
    const stop = () => {
      window.removeEventListener("online", back);
      reject(aborted());
    };
    window.addEventListener("online", back, { once: true });
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** Milliseconds before retry `attempt` (1-based), doubling, with jitter so parts do not retry in step. */
const backoffMs = (attempt) => Math.min(8000, 500 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 4);

/**
 * One PUT of `blob`; resolves to {status, etag, text} (status 0: network error or stall),
 * rejects with an AbortError when `signal` aborts. onLoaded(bytes sent so far).
 */
function put(url, blob, onLoaded, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let stalled = false;
    let timer = null;
    const watch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        xhr.abort();
      }, STALL_MS);
    };
    const stop = () => xhr.abort();
    const done = (result) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
      resolve(result);
    };
    xhr.open("PUT", url);
    xhr.upload.addEventListener("progress", (e) => {
      watch();
      onLoaded(e.loaded);
    });
    xhr.addEventListener("load", () => done({ status: xhr.status, etag: xhr.getResponseHeader("ETag"), text: xhr.responseText }));
    xhr.addEventListener("error", () => done({ status: 0, etag: null, text: "network error" }));
    xhr.addEventListener("abort", () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
      if (stalled) resolve({ status: 0, etag: null, text: `no progress for ${STALL_MS / 1000} s` });
      else reject(aborted());
    });
    if (signal.aborted) return reject(aborted());
    signal.addEventListener("abort", stop, { once: true });
    watch();
    xhr.send(blob);
  });
}

/**
 * Send the parts of `file` the server does not hold (`held`: part number → ETag, from
 * GET …/upload), `parallel` at a time; resolves to every part's ETag (Map, by part number).
 * onProgress(bytes held + acknowledged + in flight, file size). Throws ApiError when a part
 * fails for good or the API refuses, an AbortError when `signal` aborts; either way the
 * parts S3 took stay there, so the upload can resume.
 */
export async function sendParts({ mapId, file, partSize, partCount, held = new Map(), parallel = PARALLEL, onProgress = () => {}, onOffline = () => {}, signal }) {
  const inner = new AbortController(); // stops the other parts when one fails for good
  const abortInner = () => inner.abort();
  if (signal?.aborted) throw aborted();
  signal?.addEventListener("abort", abortInner, { once: true });

  const span = (n) => [(n - 1) * partSize, Math.min(n * partSize, file.size)];
  const sizeOf = (n) => span(n)[1] - span(n)[0];
  const etags = new Map(held);
  const pending = [];
  for (let n = 1; n <= partCount; n += 1) if (!etags.has(n)) pending.push(n);
  let acknowledged = [...etags.keys()].reduce((sum, n) => sum + sizeOf(n), 0);
  const inFlight = new Map();
  const report = () => {
    let moving = 0;
    for (const bytes of inFlight.values()) moving += bytes;
    onProgress(Math.min(file.size, acknowledged + moving), file.size);
  };

  // Presigned URLs, asked for lazily in batches of up to 100 parts still to go, one batch at a time.
  const urls = new Map();
  const fresh = (n) => (urls.get(n)?.expiresAt ?? 0) - Date.now() > URL_MARGIN_MS;
  let urlQueue = Promise.resolve();
  const urlFor = (n) => {
    const next = urlQueue.then(async () => {
      if (fresh(n)) return urls.get(n).url;
      const ahead = pending.filter((m) => m > n && !fresh(m)).slice(0, URLS_PER_CALL - 1);
      const doc = await api(uploadPath(mapId, "parts"), { method: "POST", json: { part_numbers: [n, ...ahead] }, signal: inner.signal });
      for (const part of doc.parts) urls.set(part.part_number, { url: part.url, expiresAt: Date.parse(part.expires_at) });
      // A skewed clock may make a fresh URL look stale: it is used once anyway (S3 judges).
      return urls.get(n).url;
    });
    urlQueue = next.catch(() => {});
    return next;
  };

  async function sendPart(n) {
    const [start, end] = span(n);
    let problem = "";
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      await whenOnline(inner.signal, onOffline);
      if (attempt > 1) await wait(backoffMs(attempt - 1), inner.signal);
      let url;
      try {
        url = await urlFor(n);
      } catch (err) {
        // Offline: not an attempt (the loop waits for the connection). A network error or a
        // server error may pass; any other refusal (404, 409…) does not.
        if (err instanceof ApiError && err.status === 0 && navigator.onLine === false) {
          attempt -= 1;
          continue;
        }
        if (err instanceof ApiError && (err.status === 0 || err.status >= 500)) {
          problem = err.message;
          continue;
        }
        throw err;
      }
      let result;
      try {
        result = await put(url, file.slice(start, end), (loaded) => {
          inFlight.set(n, loaded);
          report();
        }, inner.signal);
      } finally {
        inFlight.delete(n);
      }
      if (result.status === 200) {
        const etag = (result.etag ?? "").replaceAll('"', "").trim();
        if (!etag) {
          throw new ApiError(0, "storage_error", "The storage did not show the part's ETag to this page (the bucket's CORS rule must expose ETag).", null);
        }
        acknowledged += end - start;
        report();
        return etag;
      }
      if (result.status === 0 && navigator.onLine === false) {
        attempt -= 1; // the connection dropped: wait for it, this was no attempt
        continue;
      }
      problem = result.status ? `the storage answered ${result.status}` : result.text;
      if (result.status === 403) urls.delete(n); // expired or refused: the next attempt signs anew
      // S3 answers 400 RequestTimeout to a sender that paused too long: worth another try.
      const timedOut = result.status === 400 && /RequestTimeout/.test(result.text ?? "");
      if (!RETRY_STATUSES.has(result.status) && !timedOut) {
        throw new ApiError(result.status, "storage_error", `The storage refused part ${n} (${problem}).`, null);
      }
    }
    throw new ApiError(0, "storage_error", `Part ${n} failed ${ATTEMPTS} times (${problem}); pick the same file again to resume.`, null);
  }

  const queue = [...pending];
  let failure = null;
  async function worker() {
    while (queue.length && !failure) {
      const n = queue.shift();
      try {
        etags.set(n, await sendPart(n));
        pending.splice(pending.indexOf(n), 1);
      } catch (err) {
        // The first reason wins; the AbortErrors it causes in the other parts come later.
        failure ??= err;
        inner.abort();
      }
    }
  }
  report();
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, pending.length)) }, worker));
  } finally {
    signal?.removeEventListener("abort", abortInner);
  }
  if (signal?.aborted) throw aborted();
  if (failure) throw failure;
  return etags;
}

/**
 * POST …/upload/complete with every part's ETag; resolves to the map document. An answer lost
 * on the way is retried, and a 409 read from the map's status (an earlier attempt completed
 * it). Throws ApiError (400 when S3's parts do not match: the upload stays resumable).
 */
export async function completeUpload(mapId, etags, signal, onOffline = () => {}) {
  const parts = [...etags.entries()].sort((a, b) => a[0] - b[0]).map(([number, etag]) => ({ part_number: number, etag }));
  for (let attempt = 1; ; attempt += 1) {
    try {
      await whenOnline(signal, onOffline);
      return await api(uploadPath(mapId, "complete"), { method: "POST", json: { parts }, signal });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        const doc = await api(`v1/maps/${encodeURIComponent(mapId)}`, { signal });
        if (doc.status === "awaiting_upload") throw err;
        return doc;
      }
      if (err instanceof ApiError && err.status === 0 && navigator.onLine === false) {
        attempt -= 1; // offline: the next turn waits for the connection
        continue;
      }
      if (!(err instanceof ApiError) || err.status !== 0 || attempt === 3) throw err;
      await wait(1000 * attempt, signal ?? new AbortController().signal);
    }
  }
}
