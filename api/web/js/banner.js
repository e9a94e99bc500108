// The classification banner at the top and bottom of every page: the roll-up of the markings of everything on
// screen, computed by the server (POST /markings/rollup) so the rules live in one place.

import { api } from "./api.js";

let sequence = 0;
/** The latest call's markings (a key) and answer, once painted: the banner shows exactly that. */
let shown = null;

function paint(text, background, foreground, marking) {
  for (const el of document.querySelectorAll("[data-banner]")) {
    el.textContent = text;
    el.classList.remove("banner-pending");
    el.style.backgroundColor = background;
    el.style.color = foreground;
    el.dataset.marking = marking;
  }
}

function pending() {
  for (const el of document.querySelectorAll("[data-banner]")) {
    el.textContent = "MARKING PENDING";
    el.removeAttribute("style");
    el.classList.add("banner-pending");
    el.dataset.marking = "";
  }
}

/** The sign-in page shows no content: nothing to roll up, so UNCLASSIFIED (the roll-up of nothing). */
export function showUnclassified() {
  sequence += 1;
  paint("UNCLASSIFIED", "#007a33", "#ffffff", "UNCLASSIFIED");
}

/**
 * Show the banner for exactly these markings (banner strings of every object on screen). Later calls win over
 * earlier ones still in flight; until the answer arrives the banner says it is pending, never something lower.
 */
export async function setPageMarkings(markings) {
  const unique = [...new Set(markings.filter(Boolean))];
  const key = JSON.stringify([...unique].sort());
  // The banner already shows the roll-up of exactly these markings, and nothing was asked since: keep it
  // (an edit that changes no marking costs no request and no "pending" flash).
  if (shown && shown.sequence === sequence && shown.key === key) return shown.result;
  const mine = ++sequence;
  shown = null;
  pending();
  try {
    const result = await api("markings/rollup", { method: "POST", json: { markings: unique } });
    if (mine === sequence) {
      paint(result.banner, result.colour, result.text_colour, result.banner);
      shown = { sequence: mine, key, result };
    }
    return result;
  } catch (error) {
    if (mine === sequence) {
      for (const el of document.querySelectorAll("[data-banner]")) el.textContent = "MARKING UNKNOWN";
    }
    throw error;
  }
}

/** Roll up markings without touching the banner (for the marking selector's choices). */
export function rollUp(markings) {
  return api("markings/rollup", { method: "POST", json: { markings } });
}
