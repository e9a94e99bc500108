// Accounts (admins), clearances (security officers) and project memberships (admins, project managers).

import { api } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { guarded, h, mount, notice, table } from "../dom.js";

function field(id, text, input) {
  input.id = id;
  input.name = id;
  return h("div", {}, h("label", { for: id }, text), input);
}

export async function renderUsers(root, _params, me) {
  const roles = new Set(me.roles);
  const users = await api("users");
  const status = h("div", { class: "status-line", id: "status" });
  const reload = () => renderUsers(root, _params, me);
  const act = (u, action, label, { danger = false, then = reload, ask = null } = {}) =>
    h(
      "button",
      {
        type: "button",
        class: danger ? "danger" : "",
        dataset: { [action.replace(/-./g, (m) => m[1].toUpperCase())]: u.username },
        onclick: guarded(status, async () => {
          // A deactivation says why: its holder is told at sign-in (no silent lock-out).
          const reason = ask ? window.prompt(ask) : null;
          if (ask && !reason?.trim()) return;
          const options = ask ? { method: "POST", json: { reason: reason.trim() } } : { method: "POST" };
          const answer = await api(`users/${encodeURIComponent(u.username)}/${action}`, options);
          await then(answer);
        }),
      },
      label,
    );
  const officerOrAdmin = roles.has("admin") || roles.has("security_officer");
  const locked = (u) => u.locked_until && new Date(u.locked_until) > new Date();
  const rows = users.map((u) => [
    u.username,
    u.clearance,
    u.citizenship,
    u.cui_ok ? "yes" : "no",
    u.roles.join(", "),
    [u.active ? "active" : "deactivated", locked(u) ? " · locked" : "", u.must_change_password ? " · password reset" : ""].join(""),
    h(
      "span",
      { class: "row" },
      roles.has("security_officer") && u.username !== me.username ? clearanceForm(u, status, reload) : null,
      officerOrAdmin && locked(u) ? act(u, "unlock", "Unlock") : null,
      officerOrAdmin && u.active && u.username !== me.username ? act(u, "end-sessions", "End sessions") : null,
      roles.has("admin") && u.username !== me.username
        ? act(u, "reset-password", "Reset password", {
            then: async (answer) => {
              await reload();
              mount(
                document.getElementById("status"),
                notice(`One-time password for ${answer.username}: ${answer.one_time_password} (shown once).`, "info"),
              );
            },
          })
        : null,
      roles.has("admin") && u.active
        ? act(u, "deactivate", "Deactivate", { danger: true, ask: `Why is ${u.username} deactivated? They are told at sign-in.` })
        : null,
      roles.has("admin") && !u.active ? act(u, "reactivate", "Reactivate") : null,
    ),
  ]);
  const grants = roles.has("security_officer") ? await api("users/grants") : [];
  mount(
    root,
    h("h1", {}, "Users"),
    table(["user", "clearance", "citizenship", "CUI", "roles", "status", ""], rows),
    status,
    roles.has("security_officer") ? grantsCard(grants, me, status, reload) : null,
    roles.has("admin") ? createUserForm(status, reload) : null,
  );
  await setPageMarkings([]);
}

/** Say what became of a change: applied, or waiting for a second security officer. */
async function afterChange(result, _status, reload) {
  await reload();
  if (result?.pending_grant) {
    mount(document.getElementById("status"), notice(`Access for ${result.username} awaits a second security officer's approval.`, "info"));
  }
}

// Widening anyone's access takes two security officers: the proposer cannot approve their own proposal.
function grantsCard(grants, me, status, reload) {
  const decide = (grant, verdict) =>
    guarded(status, async () => {
      await api(`users/grants/${grant.id}/${verdict}`, { method: "POST", json: { comment: "" } });
      await reload();
    });
  const rows = grants.map((g) => [
    g.username,
    g.clearance + (g.cui_ok ? " + CUI" : ""),
    g.citizenship,
    g.roles.join(", "),
    g.proposed_by || "",
    g.justification,
    g.proposed_by === me.username
      ? "awaiting another officer"
      : h(
          "span",
          { class: "row" },
          h("button", { type: "button", dataset: { approve: g.username }, onclick: decide(g, "approve") }, "Approve"),
          h("button", { type: "button", class: "danger", dataset: { deny: g.username }, onclick: decide(g, "deny") }, "Deny"),
        ),
  ]);
  return h(
    "section",
    { class: "card", id: "pending-grants" },
    h("h2", {}, "Access awaiting a second security officer"),
    grants.length
      ? table(["user", "clearance", "citizenship", "roles", "proposed by", "justification", ""], rows)
      : notice("Nothing waiting."),
  );
}

function clearanceForm(user, status, reload) {
  const clearance = h("input", { value: user.clearance, size: "18", "aria-label": `clearance of ${user.username}` });
  const citizenship = h("input", { value: user.citizenship, size: "3", "aria-label": `citizenship of ${user.username}` });
  const cui = h("input", { type: "checkbox", checked: user.cui_ok, "aria-label": `CUI for ${user.username}` });
  return h(
    "form",
    {
      class: "row",
      dataset: { clearance: user.username },
      onsubmit: guarded(status, async () => {
        const result = await api(`users/${encodeURIComponent(user.username)}/clearance`, {
          method: "PUT",
          json: { clearance: clearance.value, citizenship: citizenship.value, cui_ok: cui.checked },
        });
        await afterChange(result, status, reload);
      }),
    },
    clearance,
    citizenship,
    h("label", {}, cui, " CUI"),
    h("button", { type: "submit" }, "Set clearance"),
  );
}

function createUserForm(status, reload) {
  const username = h("input", { required: true });
  const password = h("input", { type: "password", autocomplete: "new-password" });
  const clearance = h("input", { value: "UNCLASSIFIED" });
  const citizenship = h("input", { value: "USA", size: "3" });
  const role = h("select", {}, ["", "admin", "security_officer"].map((r) => h("option", { value: r }, r || "no system role")));
  return h(
    "form",
    {
      class: "card",
      id: "create-user",
      onsubmit: guarded(status, async () => {
        const result = await api("users", {
          method: "POST",
          json: {
            username: username.value,
            password: password.value || null,
            clearance: clearance.value,
            citizenship: citizenship.value,
            roles: role.value ? [role.value] : [],
          },
        });
        await afterChange(result, status, reload);
      }),
    },
    h("h2", {}, "New account"),
    field("new-username", "User name", username),
    field("new-password", "Password", password),
    field("new-clearance", "Clearance (level and SCI, e.g. TS//SI/TK)", clearance),
    field("new-citizenship", "Citizenship", citizenship),
    field("new-role", "System role", role),
    h("button", { type: "submit", class: "primary" }, "Create"),
  );
}

export async function renderMembers(root, _params, me) {
  const projects = (await api("projects?limit=1000")).items;
  const status = h("div", { class: "status-line", id: "status" });
  const reload = () => renderMembers(root, _params, me);
  const sections = await Promise.all(projects.map((p) => membersCard(p, status, reload)));
  mount(
    root,
    h("h1", {}, "Memberships"),
    projects.length ? h("div", { class: "cards" }, sections) : notice("No project you can see."),
    status,
  );
  await setPageMarkings(projects.map((p) => p.marking));
}

async function membersCard(project, status, reload) {
  const members = await api(`projects/${project.id}/members`);
  const username = h("input", { required: true, size: "14", "aria-label": "user name" });
  const role = h("select", { "aria-label": "role" }, ["labeler", "reviewer", "manager"].map((r) => h("option", { value: r }, r)));
  const base = `projects/${project.id}/members`;
  return h(
    "section",
    { class: "card", dataset: { project: project.id } },
    h("h2", {}, project.name, " ", h("span", { class: "portion" }, project.marking)),
    table(
      ["user", "role", ""],
      members.map((m) => [
        m.username,
        m.role,
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: guarded(status, async () => {
              await api(`${base}/${encodeURIComponent(m.username)}`, { method: "DELETE" });
              await reload();
            }),
          },
          "Remove",
        ),
      ]),
    ),
    h(
      "form",
      {
        class: "row",
        onsubmit: guarded(status, async () => {
          await api(base, { method: "PUT", json: { username: username.value, role: role.value } });
          await reload();
        }),
      },
      username,
      role,
      h("button", { type: "submit" }, "Add"),
    ),
  );
}
