// Building DOM nodes. User text only ever becomes a text node or an attribute value: nothing
// here parses HTML (none of the HTML-parsing sinks of the DOM), so a title like
// "<img src=x onerror=alert(1)>" is shown as those characters.

/**
 * h("a", {href: "maps/1", class: "title", onclick: fn}, "text", otherNode)
 * Attributes: `class`, `text` (textContent), `on<event>` (listeners), booleans (present when
 * true), anything else through setAttribute. Children: nodes, strings, null, arrays.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) el.value = String(value);
    else if (key === "checked" || key === "selected" || key === "disabled" || key === "required" || key === "multiple") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append nodes and strings (as text) to el. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Remove every child of el. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replace el's children. */
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let nextId = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled form control: {row, control}. `control` is an element made by the caller. */
export function field(label, control, hint) {
  control.id ||= uid();
  const parts = [h("label", { for: control.id, text: label }), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId, text: hint }));
  }
  return h("div", { class: "field" }, parts);
}

/** A <select> of [value, label] pairs. */
export function select(options, value, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map(([v, label]) => h("option", { value: v, text: label, selected: v === value })),
  );
}
