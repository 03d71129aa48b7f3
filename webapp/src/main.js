// Map Stock's web application: the shell (header, navigation, notices), the session and the
// routes. Plain ES modules, no framework: the app is a handful of views over one JSON API,
// and the only heavy dependency (MapLibre) is loaded when a view shows a map.
import { stats } from "./api.js";
import { confirmDialog } from "./confirm.js";
import { h, replace } from "./dom.js";
import { formatDate } from "./format.js";
import { announce, liveRegion } from "./live.js";
import { ASSETS } from "./map.js";
import * as router from "./router.js";
import { beforeSignOutElsewhere, changedElsewhere, session } from "./session.js";
import { stopUploads, uploadRunning } from "./uploads.js";
import { accountView } from "./views/account.js";
import { adminView } from "./views/admin.js";
import { browseLink, browseView } from "./views/browse.js";
import { mapPageView } from "./views/map-page.js";
import { signInHref, signInLink } from "./views/guards.js";
import { mineView } from "./views/mine.js";
import { notFoundView } from "./views/not-found.js";
import { signInView } from "./views/sign-in.js";
import { uploadView } from "./views/upload.js";

router.route("", browseView);
router.route("maps/:id", mapPageView);
router.route("mine", mineView);
router.route("upload", uploadView);
router.route("admin", adminView);
router.route("sign-in", signInView);
router.route("account", accountView);
router.route("*not-found*", notFoundView);

const nav = h("nav", { "aria-label": "Main" });
// The session's notice (expired…): shown on the page it came on and the next one (the sign-in
// page it leads to), then dropped. {text, path}: path is where it was first drawn.
let notice = null;
const notices = h("div", { class: "notices" });
const main = h("main", { id: "main", tabindex: "-1" });

function navLink(path, label, name = null) {
  const current = router.appPath() === path;
  return h("a", { href: path || "./", "aria-current": current ? "page" : null, "aria-label": name, text: label });
}

function renderChrome() {
  const me = session.me();
  const items = [browseLink("Browse", { "aria-current": router.appPath() === "" ? "page" : null })];
  if (session.token()) {
    items.push(navLink("mine", "My maps"));
    // A member whose subscription ended cannot upload: no link to a form they cannot use
    // (the banner below says why and what to do).
    if (!me || me.active) items.push(navLink("upload", "Upload"));
    if (session.isAdmin()) items.push(navLink("admin", "Admin"));
    // Named for what it leads to, not just whose it is ("alice" alone says nothing).
    items.push(navLink("account", me ? me.username : "Account", me ? `Account: ${me.username}` : null));
    items.push(
      h("button", {
        type: "button",
        class: "link-button",
        text: "Sign out",
        onclick: () => signOut(),
      }),
    );
  } else {
    items.push(signInLink("Sign in", { "aria-current": router.appPath() === "sign-in" ? "page" : null }));
  }
  replace(nav, h("ul", {}, items.map((item) => h("li", {}, item))));
  const banners = [];
  if (me && !me.active) {
    banners.push(
      h(
        "div",
        { class: "banner warning", role: "status", "data-banner": "deactivated" },
        h("strong", { text: "Your subscription has ended" }),
        me.active_until ? ` (on ${formatDate(me.active_until, false)}). ` : ". ",
        "You see and download public maps and your own, as a guest does; uploading and members' maps need an active subscription. Ask an administrator to renew it.",
      ),
    );
  }
  const fresh = session.takeNotice();
  if (fresh) notice = { text: fresh, path: null };
  if (notice) banners.push(h("div", { class: "banner info", role: "status", text: notice.text }));
  replace(notices, banners);
}

function rendered(path) {
  if (notice && notice.path === null) notice.path = path;
  else if (notice && notice.path !== path) notice = null; // moved on: the notice was read
  renderChrome();
}

/** The token stopped working: to the sign-in page, which leads back here. */
function signInAgain(started) {
  const path = router.appPath();
  if (path === "sign-in") return started ? router.refresh() : null;
  const target = signInHref();
  if (started) return router.navigate(target, { guard: false });
  history.replaceState({}, "", new URL(target, document.baseURI).href); // before the first render
  return null;
}

/** Sign out; while an upload runs, ask first, then stop it (and remove its unfinished map)
 * while the token still works: afterwards the API would refuse to remove it. */
async function signOut() {
  if (uploadRunning()) {
    if (!(await confirmStopUpload())) return;
    announce("Stopping the upload…");
    await stopUploads();
  }
  session.signOut();
  announce("Signed out.");
  router.navigate("");
}

/** Resolves to true when the reader chooses to stop the running upload and sign out. */
function confirmStopUpload() {
  return confirmDialog({
    question: "Stop the upload and sign out?",
    text: "An upload is still running. Signing out stops it and removes its unfinished map.",
    yes: "Stop upload and sign out",
    no: "Keep uploading",
  });
}

/** Before an in-app navigation: while an upload runs (leaving the Upload page stops it), ask. */
function mayLeave() {
  if (!uploadRunning()) return Promise.resolve(true);
  return confirmDialog({
    question: "Leave this page?",
    text: "The upload stops. A large file's upload can resume: pick the same file again on the Upload page; a small file's map is removed and it must be uploaded again.",
    yes: "Leave and stop the upload",
    no: "Stay",
  });
}

/** A file dropped where no drop zone takes it would make the browser open it, leaving the app
 * (and any upload in progress): refused everywhere but in a drop zone (which handles it first). */
function guardFileDrops() {
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (event.defaultPrevented || !event.dataTransfer?.types?.includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "none";
    });
  }
}

async function boot() {
  guardFileDrops();
  const root = document.getElementById("app");
  const header = h(
    "header",
    { class: "site-header" },
    h("a", { class: "brand", href: "./" }, h("img", { src: `static/${ASSETS.icon}`, alt: "", width: 28, height: 28 }), "Map Stock"),
    nav,
  );
  replace(
    root,
    h("a", { class: "skip-link", href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    header,
    notices,
    main,
    liveRegion,
  );
  let signedIn = Boolean(session.token());
  let started = false;
  session.onChange(() => {
    renderChrome();
    const now = Boolean(session.token());
    // A 401 or the expiry time: sign in again (a sign-out's button goes where it goes).
    if (signedIn && !now && session.ended()) signInAgain(started);
    // Signed in or out in another tab: the page shown here is redrawn for who is now reading.
    else if (now !== signedIn && started && changedElsewhere()) router.refresh();
    signedIn = now;
  });
  router.onRendered(rendered);
  router.guardLeaving(mayLeave);
  // Signed out in another tab: this tab's uploads stop and their maps go while the token works.
  beforeSignOutElsewhere(async () => {
    if (uploadRunning()) await stopUploads();
  });
  if (session.ended()) signInAgain(started); // the stored token had expired
  if (session.token()) {
    try {
      await session.refresh();
    } catch {
      // a 401 already turned the session into a guest's; anything else: the views say it
    }
  }
  renderChrome();
  started = true;
  await router.start(main);
}

window.__mapstock = { stats, announce };
boot();
