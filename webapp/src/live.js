// One polite live region for the whole app: status changes that are not focus moves
// (saved, signed out, "12 maps") are read out without stealing focus.
export const liveRegion = document.createElement("div");
liveRegion.className = "visually-hidden";
liveRegion.setAttribute("aria-live", "polite");
liveRegion.id = "announcer";

/** Say something to screen readers (and nothing on screen). */
export function announce(text) {
  liveRegion.textContent = "";
  // Set after a tick, so a message repeating the last one is still read.
  setTimeout(() => {
    liveRegion.textContent = text;
  }, 50);
}
