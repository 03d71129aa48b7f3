// A confirmation as a modal <dialog> (never window.confirm: it cannot be styled, blocks the
// page, and a browser may suppress it).
import { h } from "./dom.js";

/**
 * Ask `question` with `text`; resolves to true when the reader picks `yes` (Escape and `no`
 * keep things as they are; focus starts on `no`).
 */
export function confirmDialog({ question, text, yes, no = "Cancel" }) {
  const titleId = `confirm-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-labelledby": titleId },
    h("h2", { id: titleId, text: question }),
    [text].flat().map((line) => h("p", { text: line })),
    h(
      "form",
      { method: "dialog", class: "row" },
      h("button", { type: "submit", value: "no", class: "secondary", text: no, autofocus: true }),
      h("button", { type: "submit", value: "yes", class: "danger", text: yes }),
    ),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    dialog.showModal();
  });
}
