// Which map a multipart upload of a file went to, so picking the same file again after a reload
// resumes it: localStorage records keyed by the member, the file's name, size and last change
// (all a File tells a page). A record holds a map id and times only: no token, no bytes. The
// server's part list stays the truth; a stale record costs one request and is dropped.
const KEY = "mapstock.uploads";
const MAX_RECORDS = 20;
const MAX_AGE_MS = 7 * 24 * 3600 * 1000; // past any UPLOAD_EXPIRY_HOURS worth keeping

const fileKey = (owner, file) => JSON.stringify([owner, file.name, file.size, file.lastModified]);

function load() {
  try {
    const records = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(records) ? records.filter((r) => r && typeof r.key === "string" && typeof r.mapId === "string") : [];
  } catch {
    return []; // storage disabled or a damaged entry: no resume, uploads still work
  }
}

function store(records) {
  const now = Date.now();
  const kept = records
    .filter((r) => r.expiresAt > now && now - r.savedAt < MAX_AGE_MS)
    .sort((a, b) => b.savedAt - a.savedAt)
    .slice(0, MAX_RECORDS);
  try {
    if (kept.length) localStorage.setItem(KEY, JSON.stringify(kept));
    else localStorage.removeItem(KEY);
  } catch {
    // full or disabled: the upload goes on, it just cannot resume after a reload
  }
}

/** The map id an unfinished upload of `file` by `owner` went to, or null. */
export function findUpload(owner, file) {
  const key = fileKey(owner, file);
  const now = Date.now();
  const record = load().find((r) => r.key === key);
  return record && record.expiresAt > now ? record.mapId : null;
}

/** Remember that `file`'s upload goes to map `mapId` until `expiresAt` (the API's ISO time). */
export function rememberUpload(owner, file, mapId, expiresAt) {
  const key = fileKey(owner, file);
  const expires = Date.parse(expiresAt);
  const record = { key, mapId, savedAt: Date.now(), expiresAt: Number.isFinite(expires) ? expires : Date.now() + 24 * 3600 * 1000 };
  store([record, ...load().filter((r) => r.key !== key)]);
}

/** Forget `file`'s upload (finished, gone, or started afresh). */
export function forgetUpload(owner, file) {
  const key = fileKey(owner, file);
  store(load().filter((r) => r.key !== key));
}
