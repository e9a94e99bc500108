// Keyboard shortcuts for a page, and the help overlay ("?") that lists them.

import { h, mount, table } from "./dom.js";

/** "ctrl+z" matches Ctrl-Z (or Cmd-Z on a Mac); "shift+?" is written "?". */
function matches(event, combo) {
  const parts = combo.toLowerCase().split("+");
  const key = parts.pop();
  const ctrl = parts.includes("ctrl");
  const shift = parts.includes("shift");
  const alt = parts.includes("alt");
  if ((event.ctrlKey || event.metaKey) !== ctrl || event.altKey !== alt) return false;
  if (key.length === 1 && !/[a-z0-9]/.test(key)) return event.key === key; // symbols: shift is implied
  if (event.shiftKey !== shift) return false;
  return event.key.toLowerCase() === key;
}

function typing(event) {
  const el = event.target;
  return el instanceof HTMLElement && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

/**
 * Bind `shortcuts` ([{keys: ["ctrl+z"], label, run, always}]) to the document, plus "?" for the help overlay.
 * Shortcuts are ignored while typing in a form field unless `always` is set. Returns the unbinding function.
 */
export function bindShortcuts(shortcuts) {
  const overlay = helpOverlay(shortcuts);
  document.body.append(overlay);
  const all = [
    ...shortcuts,
    { keys: ["?"], label: "Show or hide this help", run: () => (overlay.hidden = !overlay.hidden) },
  ];

  function onKey(event) {
    if (event.key === "Escape" && !overlay.hidden) {
      overlay.hidden = true;
      return;
    }
    for (const shortcut of all) {
      if (typing(event) && !shortcut.always) continue;
      if (shortcut.keys.some((combo) => matches(event, combo))) {
        event.preventDefault();
        shortcut.run(event);
        return;
      }
    }
  }

  document.addEventListener("keydown", onKey);
  return () => {
    document.removeEventListener("keydown", onKey);
    overlay.remove();
  };
}

function helpOverlay(shortcuts) {
  const rows = [...shortcuts, { keys: ["?"], label: "Show or hide this help" }, { keys: ["Escape"], label: "Close" }]
    .map((s) => [s.keys.map((k) => h("kbd", {}, k)), s.label]);
  const dialog = h("div", { class: "dialog", role: "dialog", "aria-label": "Keyboard shortcuts" });
  mount(dialog, h("h2", {}, "Keyboard shortcuts"), table(["keys", "action"], rows));
  const overlay = h("div", { class: "overlay", id: "shortcut-help", hidden: true }, dialog);
  overlay.addEventListener("click", (event) => {
    if (event.target === overlay) overlay.hidden = true;
  });
  return overlay;
}
