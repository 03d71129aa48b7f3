// Client-side routes on the history API. Paths are relative to the page's <base> (the app's
// root, "/" locally, "/api/" under an API Gateway stage), so the same code runs under both.
import { failurePage } from "./problems.js";

const routes = [];
let outlet = null;
let current = null; // {cleanup} of the view on screen
let renderCount = 0;
const hooks = { rendered: () => {}, mayLeave: async () => true };

/** Register a view for a pattern such as "maps/:id"; `load(params, query)` returns a view. */
export function route(pattern, load) {
  const names = [];
  const source = pattern
    .split("/")
    .map((part) => {
      if (part.startsWith(":")) {
        names.push(part.slice(1));
        return "([^/]+)";
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  routes.push({ regex: new RegExp(`^${source}$`), names, load });
}

/** The app's root path, from <base href> (ends with "/"). */
export function basePath() {
  return new URL(document.baseURI).pathname;
}

/** The current path relative to the app's root ("" for browse, "maps/ID"…). */
export function appPath() {
  const base = basePath();
  const path = window.location.pathname;
  return path.startsWith(base) ? decodeURI(path.slice(base.length)) : path.replace(/^\//, "");
}

/**
 * Go to a path relative to the app's root (with an optional ?query), once the leave guard
 * agrees (`guard: false` skips it: the session ended, nothing left to keep).
 */
export async function navigate(path, { replace = false, guard = true } = {}) {
  const url = new URL(path, document.baseURI);
  if (url.href === window.location.href && !replace) return render(false);
  if (guard && !(await mayLeave())) return undefined;
  history[replace ? "replaceState" : "pushState"]({}, "", url.href);
  return render(true);
}

/** Re-render the current view (the session changed). */
export function refresh() {
  return render(false);
}

/** `fn()` resolves to false to keep the reader on the page before an in-app navigation
 * (a link, navigate(), Back/Forward): e.g. while an upload runs, which leaving would stop.
 * A view may add its own: its `mayLeave()` (unsaved edits) is asked first. */
export function guardLeaving(fn) {
  hooks.mayLeave = fn;
}

async function mayLeave() {
  if (current?.mayLeave && !(await current.mayLeave())) return false;
  return hooks.mayLeave();
}

/** Called after each render with the view (tests and the shell's nav use it). */
export function onRendered(fn) {
  hooks.rendered = fn;
}

function match(path) {
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (m) return { load: r.load, params: Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
  }
  return null;
}

async function render(moveFocus) {
  renderCount += 1;
  const mine = renderCount;
  const path = appPath();
  const found = match(path) ?? match("*not-found*");
  const query = new URLSearchParams(window.location.search);
  if (current?.cleanup) current.cleanup();
  current = null;
  outlet.setAttribute("aria-busy", "true");
  let view;
  try {
    view = await found.load(found.params, query);
  } catch (err) {
    view = errorView(err);
  }
  if (mine !== renderCount) {
    view.cleanup?.(); // a later navigation won the race
    return;
  }
  current = view;
  outlet.replaceChildren(view.node);
  outlet.removeAttribute("aria-busy");
  document.title = view.title ? `${view.title} · Map Stock` : "Map Stock";
  if (moveFocus) {
    // Focus the new page's heading, so screen readers announce it and Tab starts there.
    const heading = outlet.querySelector("h1");
    const target = heading ?? outlet;
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: false });
    window.scrollTo(0, 0);
  }
  view.ready?.();
  hooks.shown?.();
  hooks.rendered(path, view);
}

/** A view that failed to load: the plain sentence and a Retry that renders it again. */
function errorView(err) {
  return failurePage(err, () => render(false));
}

function isAppLink(anchor, event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return false;
  if (anchor.target && anchor.target !== "_self") return false;
  if (anchor.hasAttribute("download") || anchor.dataset.external !== undefined) return false;
  const url = new URL(anchor.href, document.baseURI);
  if (url.origin !== window.location.origin) return false;
  const base = basePath();
  if (!url.pathname.startsWith(base)) return false;
  const rest = url.pathname.slice(base.length);
  return !rest.startsWith("v1/") && !rest.startsWith("static/") && !rest.startsWith("stac");
}

/** Start routing into `el`. */
export function start(el) {
  outlet = el;
  document.addEventListener("click", async (event) => {
    const anchor = event.target.closest?.("a[href]");
    if (!anchor || !isAppLink(anchor, event)) return;
    event.preventDefault();
    const url = new URL(anchor.href, document.baseURI);
    if (url.href === window.location.href) return;
    if (!(await mayLeave())) return;
    history.pushState({}, "", url.href);
    render(true);
  });
  let shown = { href: window.location.href, state: history.state };
  window.addEventListener("popstate", async () => {
    // The URL has already changed: if the reader stays, the page's URL is put back (as a new
    // entry: the entry Back/Forward went to stays in the history).
    if (window.location.href !== shown.href && !(await mayLeave())) {
      history.pushState(shown.state, "", shown.href);
      return;
    }
    render(true);
  });
  hooks.shown = () => {
    shown = { href: window.location.href, state: history.state };
  };
  return render(false);
}
