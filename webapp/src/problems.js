// How the app tells the reader that something did not work: one wording for every view. A 4xx
// is the reader's to fix and says only the API's message; a 5xx (or an answer that is not the
// contract's) is the service's problem, said in plain words with the request id in small print
// for support; a field the API names ("password: …") gets its message next to that field.
import { ApiError, SERVICE_PROBLEM } from "./api.js";
import { h, uid } from "./dom.js";

/** Whether err is the service's fault (a 5xx, or something no API error describes). */
export function isServiceProblem(err) {
  return !(err instanceof ApiError) || err.status >= 500;
}

/** The sentence for the reader: the API's message for a 4xx (or an unreachable service),
 * the plain SERVICE_PROBLEM for a 5xx (a gateway's "Internal server error" is no help). */
export function problemText(err) {
  if (err instanceof ApiError) return err.status >= 500 ? SERVICE_PROBLEM : err.message;
  return SERVICE_PROBLEM;
}

/** The line for support ("Request id: …"), or null (a 4xx the reader fixes needs none). */
export function supportText(err) {
  return isServiceProblem(err) && err?.requestId ? `Request id: ${err.requestId}` : null;
}

/** One line: the sentence and, only for the service's problems, the request id after it. */
export function errorText(err) {
  return err instanceof ApiError ? err.describe() : SERVICE_PROBLEM;
}

/** The field a 400 names ("title: must be…" -> ["title", "must be…"]), or null. */
export function fieldProblem(err) {
  if (!(err instanceof ApiError) || err.status !== 400) return null;
  const match = /^([a-z_]+): (.+)$/s.exec(err.message ?? "");
  return match ? [match[1], match[2]] : null;
}

/**
 * A failure that stops a page or a list loading: the plain sentence (an alert), a Retry button
 * calling `retry`, the request id in small print. {node, show(err), clear()}.
 */
export function loadFailure(retry) {
  const text = h("p", { class: "error", role: "alert" });
  const support = h("p", { class: "hint support" });
  const button = h("button", {
    type: "button",
    class: "secondary",
    text: "Retry",
    onclick: async () => {
      button.disabled = true;
      try {
        await retry();
      } finally {
        button.disabled = false;
      }
    },
  });
  const node = h("div", { class: "load-failure", hidden: true }, text, button, support);
  return {
    node,
    show(err) {
      text.textContent = problemText(err);
      support.textContent = supportText(err) ?? "";
      support.hidden = !support.textContent;
      node.hidden = false;
    },
    clear() {
      node.hidden = true;
    },
  };
}

/** A whole page in place of one that could not load: heading, failure and Retry. */
export function failurePage(err, retry, heading = "This page could not be loaded") {
  const failure = loadFailure(retry);
  failure.show(err);
  return { title: "Error", node: h("section", { class: "failure-page" }, h("h1", { text: heading }), failure.node) };
}

/** An error line for `controls` (their aria-describedby names it), shown next to them; with
 * `invalid`, the controls are also marked aria-invalid while it shows. */
export function controlError(controls, { invalid = false } = {}) {
  const list = [controls].flat().filter(Boolean);
  const node = h("p", { class: "error", id: uid("error"), role: "alert", hidden: true });
  for (const control of list) {
    const described = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", described ? `${described} ${node.id}` : node.id);
  }
  return {
    node,
    show(err) {
      node.textContent = typeof err === "string" ? err : errorText(err);
      node.hidden = false;
      if (invalid) for (const control of list) control.setAttribute("aria-invalid", "true");
      node.scrollIntoView({ block: "nearest" });
    },
    clear() {
      node.textContent = "";
      node.hidden = true;
      for (const control of list) control.removeAttribute("aria-invalid");
    },
  };
}

/**
 * Errors of a form: `fields` maps the API's field names to their controls (each gets its own
 * line, placed right after the control); anything else goes to `general`. {show(err), clear()}.
 */
export function formErrors(fields, general) {
  const lines = {};
  for (const [name, control] of Object.entries(fields)) {
    lines[name] = controlError(control, { invalid: true });
    control.after(lines[name].node); // the control is in its .field already
  }
  const clear = () => {
    general.clear();
    for (const line of Object.values(lines)) line.clear();
  };
  return {
    clear,
    show(err) {
      clear();
      const named = fieldProblem(err);
      const line = named && lines[named[0]];
      if (!line) return general.show(err);
      line.show(`${named[1].charAt(0).toUpperCase()}${named[1].slice(1)}`);
      fields[named[0]].focus();
      return undefined;
    },
  };
}
