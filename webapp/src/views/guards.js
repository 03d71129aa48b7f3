// What a view shows a guest where a member is needed.
import { h } from "../dom.js";

/** A "sign in first" page that comes back to `path` afterwards. */
export function signInRequired(path, title) {
  return {
    title,
    node: h(
      "section",
      {},
      h("h1", { text: title }),
      h("p", {}, h("a", { href: `sign-in?next=${encodeURIComponent(path)}`, text: "Sign in" }), " to see this page."),
    ),
  };
}
