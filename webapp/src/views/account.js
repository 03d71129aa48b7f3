// The signed-in member's account: role, subscription, usage against quota.
import { h } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";
import { session } from "../session.js";
import { signInRequired } from "./guards.js";

export async function accountView() {
  if (!session.token()) return signInRequired("Your account");
  const me = (await session.refresh()) ?? session.me();
  const row = (label, value) => h("div", { class: "fact" }, h("dt", { text: label }), h("dd", { text: value }));
  const subscription = me.active_until
    ? `${me.active ? "Active until" : "Ended on"} ${formatDate(me.active_until, false)}`
    : me.active
      ? "Active (no end date)"
      : "Not active";
  const node = h(
    "section",
    { class: "account" },
    h("h1", { text: "Your account" }),
    h(
      "dl",
      { class: "facts" },
      row("Username", me.username),
      row("Role", me.role),
      row("Subscription", subscription),
      me.usage ? row("Maps", `${me.usage.maps}${me.quota?.maps ? ` of ${me.quota.maps}` : ""}`) : null,
      me.usage ? row("Storage", `${formatBytes(me.usage.bytes)}${me.quota?.bytes ? ` of ${formatBytes(me.quota.bytes)}` : ""}`) : null,
    ),
  );
  return { title: "Your account", node };
}
