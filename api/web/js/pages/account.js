// The signed-in user's own account: change the password (required first after an administrator's reset).

import { api, signIn } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { h, mount, notice } from "../dom.js";

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
  mount(root, h("h1", {}, `Account of ${me.username}`), form);
  await setPageMarkings([]);
}
