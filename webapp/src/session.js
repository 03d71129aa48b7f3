// Who is signed in. The access token lives in localStorage, shared by this browser's tabs of
// the app (a link opened in a new tab stays signed in; signing out in one signs out all, through
// the `storage` event) until sign-out or its expiry (TOKEN_TTL_SECONDS, 1 h by default), and in
// no URL, cookie or log; `me` is GET v1/me's answer.
import { api } from "./api.js";

const KEY = "mapstock.session";
/** What the reader is told when the token stops working (a 401, its expiry time). */
export const SESSION_ENDED = "Your session has ended — sign in again.";
const GUEST = { token: null, expiresAt: 0, me: null, notice: null, ended: false };
const listeners = new Set();
let state = load();
let expiryTimer = null;

/** The session stored as `raw` (localStorage's string, or null): a token, a guest, or ended
 * (a 401 or expiry in some tab left an {ended} marker; a token past its time; a damaged entry). */
function parse(raw) {
  let saved;
  try {
    saved = JSON.parse(raw ?? "null");
  } catch {
    return { ...GUEST, notice: SESSION_ENDED, ended: true }; // not JSON: no token to trust
  }
  if (saved && saved.token && saved.expiresAt > Date.now()) return { ...GUEST, token: saved.token, expiresAt: saved.expiresAt };
  // Expired while no tab used it, or ended in another tab: the member is told, as on screen.
  if (saved && (saved.token || saved.ended)) return { ...GUEST, notice: SESSION_ENDED, ended: true };
  return { ...GUEST };
}

/** The stored session; an ended one's entry is removed once read (its notice shows here).
 * `raw` is a storage event's newValue, or by default what localStorage holds now. */
function load(raw = localStorage.getItem(KEY)) {
  const loaded = parse(raw);
  if (loaded.ended && localStorage.getItem(KEY) === raw) localStorage.removeItem(KEY);
  return loaded;
}

function save() {
  if (state.token) localStorage.setItem(KEY, JSON.stringify({ token: state.token, expiresAt: state.expiresAt }));
  else {
    // Ended (401, expiry): a marker the other tabs read from their storage event (its
    // newValue) and tell their reader too; removed at once, as this tab shows the notice.
    if (state.ended) localStorage.setItem(KEY, JSON.stringify({ ended: Date.now() }));
    localStorage.removeItem(KEY);
  }
}

function changed() {
  clearTimeout(expiryTimer);
  if (state.token) {
    expiryTimer = setTimeout(() => session.expire(), Math.max(0, state.expiresAt - Date.now()));
  }
  for (const listener of listeners) listener(state);
}

export const session = {
  /** The bearer token, or null for a guest. */
  token: () => state.token,
  /** v1/me of the signed-in member (null for a guest or before it loads). */
  me: () => state.me,
  /** True for a member whose subscription runs (or an admin). */
  active: () => Boolean(state.me && state.me.active),
  isAdmin: () => Boolean(state.me && state.me.role === "admin"),
  /** True once the token stopped working (401, expiry), until the next sign-in. */
  ended: () => state.ended,
  /** A message for the reader about the session (expired…), shown once. */
  takeNotice() {
    const notice = state.notice;
    state.notice = null;
    return notice;
  },
  onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Store a fresh token (from v1/auth/token) and load v1/me; throws ApiError. */
  async signIn(username, password) {
    const doc = await api("v1/auth/token", { method: "POST", json: { username, password }, auth: false });
    state = { ...GUEST, token: doc.access_token, expiresAt: Date.now() + doc.expires_in * 1000 };
    save();
    await session.refresh();
  },
  /** Reload v1/me (subscription, usage) and tell the listeners. */
  async refresh() {
    if (!state.token) {
      changed();
      return null;
    }
    state.me = await api("v1/me");
    changed();
    return state.me;
  },
  signOut() {
    state = { ...GUEST };
    save();
    changed();
  },
  /** The token stopped working (401, expiry): back to guest, with a notice. */
  expire(notice = SESSION_ENDED) {
    if (!state.token) return;
    state = { ...GUEST, notice, ended: true };
    save();
    changed();
  },
};

// Another tab signed in or out, or its session ended (the event fires in the other tabs only):
// this one follows, and its listeners are told the change came from elsewhere (the page shown
// must be redrawn: no button of this tab leads anywhere). Events are applied one at a time, in
// order, from their own newValue (another tab may have changed the entry since).
let external = false;
const beforeSignOutHooks = new Set();
let following = Promise.resolve();
window.addEventListener("storage", (event) => {
  if (event.key !== KEY && event.key !== null) return;
  const raw = event.key === null ? null : event.newValue;
  following = following.then(() => follow(raw)).catch(() => {});
});

async function follow(raw) {
  if (parse(raw).token === state.token) return;
  if (state.token && !parse(raw).token) {
    // Signed out (or ended) elsewhere: this tab's hooks (stop its uploads, remove their maps)
    // run first, while it still holds the token; afterwards the API would refuse them.
    for (const hook of beforeSignOutHooks) await hook().catch(() => {});
  }
  const next = load(raw);
  if (next.token === state.token) return;
  state = next;
  external = true;
  try {
    if (state.token) await session.refresh().catch(() => {});
    else changed();
  } finally {
    external = false;
  }
}

/** Run `hook` (async) before a sign-out made in another tab applies here, token still held. */
export function beforeSignOutElsewhere(hook) {
  beforeSignOutHooks.add(hook);
  return () => beforeSignOutHooks.delete(hook);
}

/** True while listeners hear of a sign-in or sign-out made in another tab. */
export function changedElsewhere() {
  return external;
}
