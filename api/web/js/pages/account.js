// The signed-in user's own account: change the password (required first after an administrator's reset), and
// the read-only access tokens that QGIS, GDAL and scripts sign in with (HTTP Basic: see README "Connect QGIS").

import { api, signIn } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { h, mount, notice, table } from "../dom.js";

function day(value) {
  return value ? String(value).slice(0, 10) : "never";
}

/** The tokens card: make one (shown once), list them, revoke one. */
function tokensCard(me) {
  const status = h("div", { class: "status-line", id: "token-status", role: "status" });
  const list = h("div", { id: "token-list" });
  const label = h("input", { id: "token-label", maxlength: 100, required: true, placeholder: "QGIS on my workstation" });
  const expires = h("input", { id: "token-expires", type: "date" });
  const shown = h("div", { id: "token-shown" });

  async function refresh() {
    const { items } = await api("me/tokens");
    const rows = items.map((t) => [
      t.label,
      t.state,
      day(t.expires),
      day(t.last_used_at),
      t.state === "active"
        ? h("button", { type: "button", "data-revoke": t.id, onclick: () => revoke(t.id) }, "Revoke")
        : "",
    ]);
    mount(list, rows.length ? table(["Label", "State", "Expires", "Last used", ""], rows) : h("p", {}, "No tokens yet."));
  }

  async function revoke(id) {
    try {
      await api(`me/tokens/${id}`, { method: "DELETE" });
      mount(status, notice("Revoked: it is refused from the next request.", "info"));
      await refresh();
    } catch (error) {
      mount(status, notice(error.message, "error"));
    }
  }

  const form = h(
    "form",
    { class: "card", id: "create-token" },
    h("h2", {}, "Access tokens"),
    h(
      "p",
      {},
      "For QGIS, GDAL and scripts: the token is the password of HTTP Basic, with your user name. It reads what you ",
      "may read (the OGC API, annotations, chips, exports) and writes nothing.",
    ),
    h("label", { for: "token-label" }, "What it is for"),
    label,
    h("label", { for: "token-expires" }, "Expires (empty: the longest allowed)"),
    expires,
    h("div", {}, h("button", { type: "submit", class: "primary" }, "Create token")),
    shown,
    status,
    list,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { label: label.value };
    if (expires.value) body.expires = `${expires.value}T23:59:59Z`;
    try {
      const made = await api("me/tokens", { method: "POST", json: body });
      mount(
        shown,
        notice("Copy it now: it is shown this once. In QGIS, use it as the password of a Basic authentication.", "info"),
        h("p", {}, "User name: ", h("code", {}, me.username), " token: ", h("code", { id: "new-token" }, made.token)),
      );
      label.value = "";
      mount(status);
      await refresh();
    } catch (error) {
      mount(status, notice(error.message, "error"));
    }
  });
  refresh().catch((error) => mount(status, notice(error.message, "error")));
  return form;
}

export async function render(root, _params, me) {
  const status = h("div", { class: "status-line", id: "status", role: "status" });
  const current = h("input", { type: "password", id: "current-password", autocomplete: "current-password", required: true });
  const fresh = h("input", { type: "password", id: "new-password", autocomplete: "new-password", required: true });
  const again = h("input", { type: "password", id: "new-password-again", autocomplete: "new-password", required: true });
  const form = h(
    "form",
    { class: "card", id: "change-password" },
    h("h2", {}, "Change your password"),
    me.must_change_password ? notice("Your password was reset: choose a new one to go on.", "error") : null,
    h("label", { for: "current-password" }, "Current password"),
    current,
    h("label", { for: "new-password" }, "New password (at least 12 characters)"),
    fresh,
    h("label", { for: "new-password-again" }, "New password again"),
    again,
    h("div", {}, h("button", { type: "submit", class: "primary" }, "Change password")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (fresh.value !== again.value) {
      mount(status, notice("The two new passwords differ.", "error"));
      return;
    }
    try {
      await api("me/password", { method: "POST", json: { current_password: current.value, new_password: fresh.value } });
      // Every session ended with the change, this one too: open a new one with the new password.
      await signIn(me.username, fresh.value);
      location.hash = "#/queue";
    } catch (error) {
      mount(status, notice(error.message, "error"));
    }
  });
  mount(root, h("h1", {}, `Account of ${me.username}`), form, me.must_change_password ? null : tokensCard(me));
  await setPageMarkings([]);
}
