// Building DOM without innerHTML: every text goes through textContent, so nothing from the API is parsed.

/** h("button", {class: "primary", onclick: f}, "Save") -> <button class="primary">Save</button> */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside el. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table from rows of cells (strings or nodes). */
export function table(headers, rows) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", {}, text)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  );
}

/** An event handler that runs ``action`` and shows its error in ``status`` instead of throwing. */
export function guarded(status, action) {
  return async (event) => {
    event?.preventDefault?.();
    try {
      await action();
    } catch (error) {
      mount(status, notice(error.message, "error"));
    }
  };
}

export function notice(text, kind = "") {
  return h("div", { class: `notice ${kind}`.trim(), role: kind === "error" ? "alert" : "status" }, text);
}

export function formatNumber(value, digits = 2) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}
