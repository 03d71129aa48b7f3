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

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "null");
    if (saved && saved.token && saved.expiresAt > Date.now()) return { ...GUEST, token: saved.token, expiresAt: saved.expiresAt };
    if (saved && saved.token) {
      // Expired while no tab used it: the member is told, as when it expires on screen.
      localStorage.removeItem(KEY);
      return { ...GUEST, notice: SESSION_ENDED, ended: true };
    }
  } catch {
    // a damaged entry is a signed-out session
  }
  return { ...GUEST };
}

function save() {
  if (state.token) localStorage.setItem(KEY, JSON.stringify({ token: state.token, expiresAt: state.expiresAt }));
  else localStorage.removeItem(KEY);
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

// Another tab signed in or out (the event fires in the other tabs only): this one follows, and
// its listeners are told the change came from elsewhere (the page shown must be redrawn: no
// button of this tab leads anywhere).
let external = false;
window.addEventListener("storage", (event) => {
  if (event.key !== KEY && event.key !== null) return;
  const next = load();
  if (next.token === state.token) return;
  state = next;
  external = true;
  const done = () => {
    external = false;
  };
  if (state.token) session.refresh().catch(() => {}).finally(done);
  else {
    changed();
    done();
  }
});

/** True while listeners hear of a sign-in or sign-out made in another tab. */
export function changedElsewhere() {
  return external;
}
