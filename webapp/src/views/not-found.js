// Any path the app does not know.
import { h } from "../dom.js";

export async function notFoundView() {
  return {
    title: "Page not found",
    node: h("section", {}, h("h1", { text: "Page not found" }), h("p", {}, "Nothing lives at this address. ", h("a", { href: "./", text: "Browse maps" }))),
  };
}
