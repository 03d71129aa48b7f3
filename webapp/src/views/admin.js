// Admin: every user, create one, change a user's role or subscription (v1/users).
import { api, ApiError } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import { formatDate } from "../format.js";
import { announce } from "../live.js";
import { session } from "../session.js";
import { signInRequired } from "./guards.js";

const ROLES = [
  ["member", "Member"],
  ["admin", "Admin"],
];

/** "2026-05-01T00:00:00Z" -> "2026-05-01" for a date input. */
const dateOnly = (iso) => (iso ? String(iso).slice(0, 10) : "");

export async function adminView() {
  if (!session.token()) return signInRequired("admin", "Users");
  if (!session.isAdmin()) {
    return { title: "Users", node: h("section", {}, h("h1", { text: "Users" }), h("p", { text: "Only administrators manage users." })) };
  }
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const tbody = h("tbody");
  const fail = (err) => {
    error.textContent = err instanceof ApiError ? err.describe() : String(err.message ?? err);
    error.hidden = false;
  };

  function userRow(user) {
    const role = select(ROLES, user.role, { "aria-label": `Role of ${user.username}` });
    const until = h("input", { type: "date", value: dateOnly(user.active_until), "aria-label": `Subscription end of ${user.username}` });
    const save = async (changes) => {
      error.hidden = true;
      try {
        const updated = await api(`v1/users/${encodeURIComponent(user.username)}`, { method: "PATCH", json: changes });
        row.replaceWith(userRow(updated));
        announce(`Saved ${updated.username}.`);
      } catch (err) {
        fail(err);
      }
    };
    const row = h(
      "tr",
      { "data-user": user.username },
      h("th", { scope: "row", text: user.username }),
      h("td", {}, role),
      h("td", {}, until),
      h("td", { text: user.active ? "Active" : "Deactivated" }),
      h("td", { text: formatDate(user.created_at, false) }),
      h(
        "td",
        { class: "row" },
        h("button", {
          type: "button",
          class: "secondary",
          text: "Save",
          "aria-label": `Save ${user.username}`,
          onclick: () => {
            // Only what changed: an empty date sent unasked would deactivate the user.
            const changes = {};
            if (role.value !== user.role) changes.role = role.value;
            if (until.value !== dateOnly(user.active_until)) changes.active_until = until.value || null;
            if (Object.keys(changes).length) save(changes);
            else announce(`Nothing to save for ${user.username}.`);
          },
        }),
        h("button", {
          type: "button",
          class: "danger",
          text: "Deactivate",
          "aria-label": `Deactivate ${user.username}`,
          onclick: () => save({ active_until: null }),
        }),
      ),
    );
    return row;
  }

  async function loadUsers() {
    try {
      const doc = await api("v1/users");
      replace(tbody, doc.items.map(userRow));
    } catch (err) {
      fail(err);
    }
  }

  const username = h("input", { type: "text", name: "username", required: true, autocomplete: "off", spellcheck: "false" });
  const password = h("input", { type: "password", name: "password", required: true, autocomplete: "new-password" });
  const role = select(ROLES, "member", { name: "role" });
  const until = h("input", { type: "date", name: "active_until" });
  const created = h("p", { class: "saved", role: "status" });
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        created.textContent = "";
        try {
          const user = await api("v1/users", {
            method: "POST",
            json: { username: username.value, password: password.value, role: role.value, ...(until.value ? { active_until: until.value } : {}) },
          });
          created.textContent = `Created ${user.username}.`;
          form.reset();
          await loadUsers();
        } catch (err) {
          fail(err);
        }
      },
    },
    h("h2", { text: "Create a user" }),
    h("div", { class: "grid" }, field("Username", username), field("Password", password), field("Role", role), field("Subscription ends", until, "Leave empty for no subscription.")),
    h("button", { type: "submit", class: "primary", text: "Create user" }),
    created,
  );
  await loadUsers();
  const node = h(
    "section",
    { class: "admin" },
    h("h1", { text: "Users" }),
    error,
    form,
    h(
      "div",
      { class: "table-wrap", role: "region", "aria-label": "Users", tabindex: "0" },
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden", text: "Every user" }),
        h("thead", {}, h("tr", {}, ["Username", "Role", "Subscription ends", "State", "Created", "Actions"].map((t) => h("th", { scope: "col", text: t })))),
        tbody,
      ),
    ),
  );
  return { title: "Users", node };
}
