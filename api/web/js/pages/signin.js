// Sign in: first the notice-and-consent banner, accepted; then the OAuth2 password form. The token is kept
// in sessionStorage (gone when the tab closes).

import { api, signIn, signInWithCertificate, token } from "../api.js";
import { h, mount, notice } from "../dom.js";

export async function render(root) {
  token.clear();
  const { text } = await api("auth/notice");
  const accept = h("button", { type: "button", class: "primary", id: "consent-accept" }, "I have read this notice and consent");
  mount(
    root,
    h(
      "section",
      { class: "signin consent", id: "consent" },
      h("h1", {}, "Notice and consent"),
      h("p", { id: "consent-text" }, text),
      accept,
    ),
  );
  accept.addEventListener("click", () => showForm(root));
  accept.focus();
}

function showForm(root) {
  const status = h("div", { class: "status-line" });
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    { class: "signin", onsubmit: submit },
    h("h1", {}, "Sign in to GeoLabel"),
    h("label", { for: "username" }, "User name"),
    username,
    h("label", { for: "password" }, "Password"),
    password,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    location.protocol === "https:"
      ? h("button", { type: "button", id: "certificate-sign-in", onclick: withCertificate }, "Sign in with my certificate")
      : null,
    status,
  );

  async function withCertificate() {
    mount(status, "Signing in…");
    try {
      await signInWithCertificate();
      location.hash = "#/queue";
    } catch (error) {
      mount(status, notice(error.message, "error"));
    }
  }

  async function submit(event) {
    event.preventDefault();
    mount(status, "Signing in…");
    try {
      await signIn(username.value.trim(), password.value);
      location.hash = "#/queue";
    } catch (error) {
      mount(status, notice(error.message, "error"));
    }
  }

  mount(root, form);
  username.focus();
}
