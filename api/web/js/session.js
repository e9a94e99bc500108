// The sign-in session as the page sees it: the short token is renewed while the session lives, telling the
// server how long ago the user last gave input; a minute before the idle limit the page warns; when the
// session has ended the page asks for the password in place, over the view the user is in, and then the
// request that found it ended goes through. Nothing the user drew leaves the page's memory meanwhile (no
// browser storage: that would be marked data at rest on the workstation).

import { h } from "./dom.js";

const TOKEN_KEY = "geolabel.token";
const SESSION_KEY = "geolabel.session";
const API = "/api/v1";
const TICK_MS = 1000;

let lastInput = Date.now();
let renewing = null;
let reauthenticating = null;
let timer = null;
let warning = null;

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  clear: () => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SESSION_KEY);
  },
};

function info() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

/** Keep a token answer ({access_token, expires_in, session}) and start watching the session. */
export function keep(answer, username) {
  sessionStorage.setItem(TOKEN_KEY, answer.access_token);
  const previous = info();
  sessionStorage.setItem(
    SESSION_KEY,
    JSON.stringify({
      username: username || previous?.username,
      expiresAt: Date.now() + answer.expires_in * 1000,
      lifetime: answer.expires_in * 1000,
      idleMs: (answer.session?.idle_seconds ?? 900) * 1000,
    }),
  );
  watch();
}

async function post(path, body, bearer) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const response = await fetch(`${API}/${path}`, { method: "POST", headers, body: JSON.stringify(body ?? {}) });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, answer };
}

/** Sign in with a name and password (JSON: a page of another origin could not send it). */
export async function signIn(username, password) {
  const { ok, status, answer } = await post("auth/token", { username, password });
  if (!ok) throw Object.assign(new Error(answer.detail || "sign-in failed"), { status, code: answer.code });
  lastInput = Date.now(); // signing in is input; a renewal is not
  keep(answer, username);
  return answer;
}

/** Sign in with the client certificate the browser presented (a PKI smart card), when GeoLabel serves TLS. */
export async function signInWithCertificate() {
  const { ok, status, answer } = await post("auth/certificate", {});
  if (!ok) throw Object.assign(new Error(answer.detail || "sign-in failed"), { status, code: answer.code });
  lastInput = Date.now();
  keep(answer, null);
  return answer;
}

/** A fresh token for the session, if it still lives; false when it has ended. */
export function renew() {
  if (!renewing) {
    const current = token.get();
    const idle = Math.floor((Date.now() - lastInput) / 1000);
    renewing = (current ? post("auth/renew", { idle_seconds: idle }, current) : Promise.resolve({ ok: false }))
      .then(({ ok, answer }) => {
        if (ok) keep(answer);
        return ok;
      })
      .catch(() => false)
      .finally(() => {
        renewing = null;
      });
  }
  return renewing;
}

export async function signOut() {
  const current = token.get();
  stopWatching();
  token.clear();
  if (current) await post("auth/logout", {}, current).catch(() => {});
  location.hash = "#/signin";
}

function stopWatching() {
  if (timer) clearInterval(timer);
  timer = null;
  warning?.remove();
  warning = null;
}

function noteInput() {
  lastInput = Date.now();
  if (warning) {
    warning.remove();
    warning = null;
  }
}

for (const kind of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart"]) {
  window.addEventListener(kind, noteInput, { capture: true, passive: true });
}

function watch() {
  if (!timer) timer = setInterval(tick, TICK_MS);
}

function tick() {
  const session = info();
  if (!session || !token.get() || reauthenticating) return;
  const now = Date.now();
  const idleFor = now - lastInput;
  if (idleFor >= session.idleMs) {
    // The session has ended for inactivity: lock the view until the password is given again.
    reauthenticate();
    return;
  }
  const left = session.idleMs - idleFor;
  if (left <= Math.min(60_000, session.idleMs / 3)) showWarning(Math.ceil(left / 1000));
  // Renew once two thirds of the token's life are gone.
  if (session.expiresAt - now < session.lifetime / 3) renew();
}

function showWarning(seconds) {
  if (!warning) {
    warning = h("div", { class: "session-warning", id: "session-warning", role: "alert" });
    document.body.append(warning);
  }
  warning.textContent = `You will be signed out in ${seconds} s for inactivity: move the pointer or press a key to stay.`;
}

/**
 * Ask for the password in place, over the current view; resolves once a new session is open. The page
 * underneath, and whatever the user drew on it, stays as it was.
 */
export function reauthenticate() {
  if (reauthenticating) return reauthenticating;
  stopWatching();
  const username = info()?.username || "";
  reauthenticating = new Promise((resolve) => {
    const password = h("input", {
      type: "password",
      id: "reauth-password",
      autocomplete: "current-password",
      required: true,
      "aria-label": "password",
    });
    const status = h("div", { class: "status-line", role: "status" });
    const form = h(
      "form",
      { class: "dialog", id: "reauth" },
      h("h2", {}, "Your session has ended"),
      h("p", {}, `Enter the password of ${username} to go on where you were. Nothing you drew is lost.`),
      password,
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "primary" }, "Continue"),
        h("button", { type: "button", id: "reauth-signout", onclick: () => signOut() }, "Sign out"),
      ),
      status,
    );
    const overlay = h("div", { class: "overlay lock", id: "reauth-overlay" }, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = "Signing in…";
      try {
        await signIn(username, password.value);
        overlay.remove();
        reauthenticating = null;
        resolve();
      } catch (error) {
        status.textContent = error.message;
        password.select();
      }
    });
    document.body.append(overlay);
    password.focus();
  });
  return reauthenticating;
}

if (token.get()) watch();
