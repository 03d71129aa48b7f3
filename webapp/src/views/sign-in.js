// Sign in: username and password for a token (v1/auth/token), shared by this browser's tabs.
import { ApiError } from "../api.js";
import { field, h } from "../dom.js";
import { announce } from "../live.js";
import { navigate } from "../router.js";
import { session } from "../session.js";

export async function signInView(params, search) {
  const username = h("input", { type: "text", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", text: "Sign in" });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          await session.signIn(username.value, password.value);
          announce(`Signed in as ${session.me()?.username ?? username.value}.`);
          navigate(nextPath(search.get("next")));
        } catch (err) {
          error.textContent = err instanceof ApiError ? err.describe() : String(err.message ?? err);
          error.hidden = false;
          password.value = "";
          password.focus();
        } finally {
          submit.disabled = false;
        }
      },
    },
    field("Username", username),
    field("Password", password),
    error,
    submit,
  );
  const node = h(
    "section",
    { class: "sign-in" },
    h("h1", { text: "Sign in" }),
    session.token()
      ? h("p", {}, `You are signed in as ${session.me()?.username ?? "a member"}. `, h("a", { href: "mine", text: "Your maps" }))
      : form,
    h("p", { class: "hint", text: "Accounts are created by an administrator. Guests can browse and download public maps without one." }),
  );
  return { title: "Sign in", node };
}

/** Where to go after signing in: `next` if it is one of the app's own paths (with its query,
 * "./" for browse), never another origin or a scheme; else My maps. */
function nextPath(next) {
  return next && /^(?:\.\/|[a-z][a-z0-9/-]*)(?:\?[^#]*)?$/.test(next) && !next.startsWith("sign-in") ? next : "mine";
}
