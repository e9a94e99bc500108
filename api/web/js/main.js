// The single-page app: hash routes to page modules. Each page's render(root, params, me) draws into <main>,
// sets the banner from the markings it shows, and may return a cleanup function (timers, key handlers).

import { ApiError, api, signOut, token } from "./api.js";
import { setPageMarkings, showUnclassified } from "./banner.js";
import { h, mount, notice } from "./dom.js";
import * as account from "./pages/account.js";
import * as admin from "./pages/admin.js";
import * as label from "./pages/label.js";
import * as project from "./pages/project.js";
import * as queue from "./pages/queue.js";
import * as releases from "./pages/releases.js";
import * as review from "./pages/review.js";
import * as signin from "./pages/signin.js";

const ROUTES = [
  [/^#\/signin$/, signin.render, false],
  [/^#\/queue$/, queue.render, true],
  [/^#\/label\/([\w-]+)$/, label.render, true],
  [/^#\/review\/([\w-]+)$/, review.render, true],
  [/^#\/project\/([\w-]+)$/, project.render, true],
  [/^#\/admin\/users$/, admin.renderUsers, true],
  [/^#\/admin\/members$/, admin.renderMembers, true],
  [/^#\/account$/, account.render, true],
  [/^#\/releases$/, releases.render, true],
];

const root = document.getElementById("app");
let cleanup = null;
let generation = 0;

function navigation(me) {
  const nav = document.getElementById("nav");
  if (!me) return mount(nav);
  const managed = Object.entries(me.projects).filter(([, role]) => role === "manager");
  const roles = new Set(me.roles);
  return mount(
    nav,
    h("a", { href: "#/queue" }, "My queue"),
    managed.length ? h("a", { href: `#/project/${managed[0][0]}` }, "Project overview") : null,
    roles.has("admin") || roles.has("security_officer") ? h("a", { href: "#/admin/users" }, "Users") : null,
    roles.has("admin") ? h("a", { href: "#/admin/members" }, "Memberships") : null,
    h("a", { href: "#/releases" }, "Releases"),
    h("a", { class: "who", href: "#/account", title: "Your account" }, `${me.username} (${me.clearance})`),
    h("button", { type: "button", onclick: signOut }, "Sign out"),
  );
}

async function route() {
  const mine = ++generation;
  if (cleanup) {
    const previous = cleanup;
    cleanup = null;
    try {
      previous();
    } catch (error) {
      console.error(error);
    }
  }
  const hash = location.hash || "#/queue";
  const match = ROUTES.map(([pattern, render, auth]) => [hash.match(pattern), render, auth]).find(([m]) => m);
  if (!match) {
    location.hash = "#/queue";
    return;
  }
  const [found, render, needsAuth] = match;
  if (needsAuth && !token.get()) {
    location.hash = "#/signin";
    return;
  }
  mount(root, h("p", { class: "muted" }, "Loading…"));
  try {
    const me = needsAuth ? await api("me") : null;
    if (mine !== generation) return;
    if (me?.must_change_password && render !== account.render) {
      location.hash = "#/account"; // after an administrator's reset, nothing else until the password is new
      return;
    }
    navigation(me);
    if (!needsAuth) showUnclassified();
    const result = await render(root, found.slice(1), me);
    if (mine === generation) cleanup = typeof result === "function" ? result : null;
    else if (typeof result === "function") result();
  } catch (error) {
    if (mine !== generation || (error instanceof ApiError && error.status === 401)) return;
    showError(error);
  }
}

/** A page that failed: a hidden item and a missing one look the same (the API answers the same 404). */
export function showError(error) {
  const notFound = error instanceof ApiError && error.status === 404;
  mount(
    root,
    h("h1", {}, notFound ? "Not found" : "Something went wrong"),
    notice(notFound ? "There is nothing here, or it is not yours to see." : error.message, "error"),
    h("p", {}, h("a", { href: "#/queue" }, "Back to my queue")),
  );
  setPageMarkings([]).catch(() => {});
}

window.addEventListener("hashchange", route);
route();
