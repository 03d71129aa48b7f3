// Admin: every user, create one, change a user's role or subscription (v1/users).
import { api } from "../api.js";
import { field, h, replace, select } from "../dom.js";
import { formatDate } from "../format.js";
import { confirmDialog } from "../confirm.js";
import { announce } from "../live.js";
import { controlError, errorText, formErrors, loadFailure } from "../problems.js";
import { session } from "../session.js";
import { signInRequired } from "./guards.js";

const ROLES = [
  ["member", "Member"],
  ["admin", "Admin"],
];

/** "2026-05-01T00:00:00Z" -> "2026-05-01" for a date input. */
const dateOnly = (iso) => (iso ? String(iso).slice(0, 10) : "");

/** Whether a new "Subscription ends" (a YYYY-MM-DD date, read as its midnight UTC, or null)
 * ends the subscription at once. */
const endsNow = (date) => date === null || Date.parse(`${date}T00:00:00Z`) <= Date.now();

export async function adminView() {
  if (!session.token()) return signInRequired("Users");
  if (!session.isAdmin()) {
    return { title: "Users", node: h("section", {}, h("h1", { text: "Users" }), h("p", { text: "Only administrators manage users." })) };
  }
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const tbody = h("tbody");
  const fail = (err) => {
    error.textContent = errorText(err);
    error.hidden = false;
  };

  /** What a change does, for the confirmation ([] when it needs none). */
  function consequences(user, changes) {
    const self = user.username === session.me()?.username;
    const lines = [];
    if (changes.role === "member") {
      lines.push(
        self
          ? "You will no longer be an administrator: you are signed out at once (everywhere) and sign in again as a member."
          : `${user.username} will no longer be an administrator, and is signed out everywhere.`,
      );
    } else if (changes.role === "admin") {
      lines.push(`${user.username} will manage every user and every map, and is signed out everywhere (the new role applies at the next sign-in).`);
    }
    // Admins are always active: a cleared date, or one already past, deactivates only who is
    // (or becomes) a member.
    if ("active_until" in changes && endsNow(changes.active_until) && (changes.role ?? user.role) === "member" && user.active) {
      lines.push(
        self
          ? "Your subscription ends now: you are signed out and see only public maps and your own."
          : `${user.username}'s subscription ends now: they are signed out, keep their maps, and see only public maps and their own until it is renewed.`,
      );
    }
    return lines;
  }

  function userRow(user) {
    const role = select(ROLES, user.role, { "aria-label": `Role of ${user.username}` });
    const until = h("input", { type: "date", value: dateOnly(user.active_until), "aria-label": `Subscription end of ${user.username}` });
    const isAdmin = user.role === "admin";
    const save = async (changes, question) => {
      error.hidden = true;
      const lines = consequences(user, changes);
      if (lines.length && !(await confirmDialog({ question, text: lines, yes: "Confirm" }))) {
        // Cancelled: the fields show what is saved again, not the change that was refused.
        role.value = user.role;
        until.value = dateOnly(user.active_until);
        announce(`Nothing changed for ${user.username}.`);
        return;
      }
      const self = user.username === session.me()?.username;
      try {
        const updated = await api(`v1/users/${encodeURIComponent(user.username)}`, { method: "PATCH", json: changes });
        if (self && changes.role && changes.role !== user.role) {
          // The change revoked this very token: the session ends here rather than on a 401.
          const notice = "You are no longer an administrator: sign in again.";
          session.expire(notice);
          announce(notice);
          return;
        }
        row.replaceWith(userRow(updated));
        announce(`Saved ${updated.username}.`);
      } catch (err) {
        fail(err);
      }
    };
    // Admins are always active: deactivating one would only clear a date.
    const deactivate = isAdmin
      ? h("span", { class: "hint", text: "Admins are always active." })
      : h("button", {
          type: "button",
          class: "danger",
          text: "Deactivate",
          "aria-label": `Deactivate ${user.username}`,
          disabled: !user.active,
          onclick: () => save({ active_until: null }, `Deactivate ${user.username}?`),
        });
    const cell = (label, ...children) => h("td", { "data-label": label }, ...children);
    const row = h(
      "tr",
      { "data-user": user.username },
      h("th", { scope: "row", text: user.username }),
      cell("Role", role),
      cell("Subscription ends", until),
      cell("State", isAdmin ? "Active (admin)" : user.active ? "Active" : "Deactivated"),
      cell("Created", formatDate(user.created_at, false)),
      cell(
        "Actions",
        h(
          "div",
          { class: "row actions" },
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
              if (Object.keys(changes).length) save(changes, `Change ${user.username}?`);
              else announce(`Nothing to save for ${user.username}.`);
            },
          }),
          deactivate,
        ),
      ),
    );
    return row;
  }

  const loading = loadFailure(() => loadUsers());
  async function loadUsers() {
    loading.clear();
    try {
      const doc = await api("v1/users");
      replace(tbody, doc.items.map(userRow));
    } catch (err) {
      loading.show(err);
    }
  }

  const username = h("input", { type: "text", name: "username", required: true, autocomplete: "off", spellcheck: "false" });
  const password = h("input", { type: "password", name: "password", required: true, autocomplete: "new-password" });
  const role = select(ROLES, "member", { name: "role" });
  const until = h("input", { type: "date", name: "active_until" });
  const created = h("p", { class: "saved", role: "status" });
  const createButton = h("button", { type: "submit", class: "primary", text: "Create user" });
  const createProblem = controlError(createButton);
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        problems.clear();
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
          problems.show(err); // "password: …" next to Password, anything else under the button
        }
      },
    },
    h("h2", { text: "Create a user" }),
    h("div", { class: "grid" }, field("Username", username), field("Password", password), field("Role", role), field("Subscription ends", until, "Leave empty for no subscription.")),
    createButton,
    createProblem.node,
    created,
  );
  const problems = formErrors({ username, password, role, active_until: until }, createProblem);
  await loadUsers();
  const node = h(
    "section",
    { class: "admin" },
    h("h1", { text: "Users" }),
    error,
    form,
    loading.node,
    h(
      "div",
      { class: "table-wrap", role: "region", "aria-label": "Users", tabindex: "0" },
      h(
        "table",
        { class: "users" },
        h("caption", { class: "visually-hidden", text: "Every user" }),
        h("thead", {}, h("tr", {}, ["Username", "Role", "Subscription ends", "State", "Created", "Actions"].map((t) => h("th", { scope: "col", text: t })))),
        tbody,
      ),
    ),
  );
  return { title: "Users", node };
}
