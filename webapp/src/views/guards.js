// What a view shows a guest where a member is needed, and the way to sign in from anywhere.
import { h } from "../dom.js";
import { appPath } from "../router.js";

/** The sign-in page's path, leading back to where the reader is now (path and query; the
 * sign-in page checks `next` is one of the app's own paths). */
export function signInHref() {
  const path = appPath();
  if (path === "sign-in") return `sign-in${window.location.search}`; // keeps its own next
  return `sign-in?next=${encodeURIComponent(`${path || "./"}${window.location.search}`)}`;
}

/** A link to the sign-in page that comes back here. Its href is renewed when it is used: the
 * page's URL changes under it (browse keeps its search and view there by replaceState). */
export function signInLink(text = "Sign in", attrs = {}) {
  const link = h("a", { ...attrs, href: signInHref(), text });
  const renew = () => link.setAttribute("href", signInHref());
  // "click" runs before the router's document listener reads the href (the event bubbles).
  for (const type of ["pointerenter", "pointerdown", "focus", "click"]) link.addEventListener(type, renew);
  return link;
}

/** A "sign in first" page that comes back to this page (with its query) afterwards. */
export function signInRequired(title) {
  return {
    title,
    node: h("section", {}, h("h1", { text: title }), h("p", {}, signInLink(), " to see this page.")),
  };
}
