// My queue: per project, the next task button, my statistics and, for reviewers and managers, the submitted
// tasks waiting for review; then my recent work across projects (GET /me/tasks), with the reviewer's comment
// on rejected tasks and a link back to the ones still mine to work on.

import { api } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { formatNumber, h, mount, notice, table } from "../dom.js";

const REVIEWERS = new Set(["reviewer", "manager"]);
// States of a task its labeler can open and work on again.
const WORKABLE = new Set(["in_progress", "rejected"]);

export async function render(root, _params, me) {
  const entries = Object.entries(me.projects);
  if (!entries.length) {
    mount(root, h("h1", {}, "My queue"), notice("You are not a member of any project yet."));
    await setPageMarkings([]);
    return;
  }
  const markings = [];
  const [sections, recent] = await Promise.all([
    Promise.all(entries.map(([id, role]) => projectSection(id, role, me, markings))),
    recentWork(markings),
  ]);
  mount(root, h("h1", {}, "My queue"), h("div", { class: "cards" }, sections), recent);
  await setPageMarkings(markings);
}

async function recentWork(markings) {
  const page = await api("me/tasks?limit=20");
  for (const task of page.items) markings.push(task.marking);
  const rows = page.items.map((task) => {
    const name = `chip ${task.chip_id.slice(0, 8)}`;
    const link = task.assigned && WORKABLE.has(task.state);
    return [
      task.project_name,
      link
        ? h("a", { href: `#/label/${task.id}`, dataset: { recentTask: task.id } }, name)
        : h("span", { dataset: { recentTask: task.id } }, name),
      task.state.replace("_", " "),
      new Date(task.updated_at).toLocaleString(),
      task.review_comment ? [task.review_comment, h("span", { class: "muted" }, ` (${task.reviewer})`)] : "",
      h("span", { class: "portion" }, task.marking),
      task.assigned && task.state === "rejected" ? appealButton(task) : "",
    ];
  });
  return h(
    "section",
    { class: "recent-work" },
    h("h2", {}, "My recent work"),
    h(
      "p",
      {},
      h("button", { type: "button", dataset: { action: "record" }, onclick: downloadRecord }, "My record (CSV)"),
      h("span", { class: "muted" }, " every task of mine, its time, review and gold score; the acceptance rate"),
    ),
    rows.length
      ? table(["project", "task", "state", "updated", "reviewer's comment", "marking", ""], rows)
      : h("p", { class: "muted" }, "No tasks yet: take one above."),
  );
}

// My own record of work (every task, time on task, reviews, gold scores) as CSV, the banner as its first line.
async function downloadRecord() {
  const response = await api("me/record?format=csv", { raw: true, headers: { Accept: "text/csv" } });
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: "my-record.csv" });
  document.body.append(link);
  link.click();
  link.remove();
}

// A rejection can be appealed once, with a comment: a reviewer other than the one who rejected it decides.
function appealButton(task) {
  const status = h("span", { class: "status-line" });
  const button = h(
    "button",
    {
      type: "button",
      dataset: { appeal: task.id },
      onclick: async () => {
        const comment = window.prompt("Why is the rejection wrong? Another reviewer decides, once.");
        if (!comment?.trim()) return;
        try {
          await api(`tasks/${task.id}/appeal`, { method: "POST", json: { comment: comment.trim() } });
          mount(status, notice("Appealed: another reviewer decides.", "info"));
          button.remove();
        } catch (error) {
          mount(status, notice(error.message, "error"));
        }
      },
    },
    "Appeal",
  );
  return h("span", { class: "row" }, button, status);
}

async function projectSection(projectId, role, me, markings) {
  const project = await api(`projects/${projectId}`);
  markings.push(project.marking);
  const status = h("div", { class: "status-line" });
  const take = h(
    "button",
    { type: "button", class: "primary", dataset: { action: "next-task" }, onclick: () => next(project, status) },
    "Take next task",
  );
  const stats = await api(`projects/${projectId}/stats/${encodeURIComponent(me.username)}`);
  const work = table(
    ["tasks in progress", "submitted", "accepted", "rejected", "acceptance rate"],
    [[
      stats.tasks.in_progress,
      stats.tasks.submitted,
      stats.tasks.accepted,
      stats.tasks.rejected,
      stats.acceptance_rate === null ? "–" : `${formatNumber(stats.acceptance_rate * 100, 0)} %`,
    ]],
  );
  const card = h(
    "section",
    { class: "card", dataset: { project: projectId } },
    h("h2", {}, project.name, " ", h("span", { class: "portion" }, project.marking)),
    h("p", { class: "muted" }, `Your role: ${role}`),
    take,
    status,
    h("h2", {}, "My statistics"),
    work,
  );
  if (REVIEWERS.has(role)) card.append(await reviewList(projectId, markings));
  if (role === "manager") card.append(h("p", {}, h("a", { href: `#/project/${projectId}` }, "Project overview")));
  return card;
}

async function reviewList(projectId, markings) {
  const page = await api(`projects/${projectId}/tasks?state=submitted&limit=20`);
  for (const task of page.items) markings.push(task.marking);
  const rows = page.items.map((task) => [
    h("a", { href: `#/review/${task.id}`, dataset: { review: task.id } }, `chip ${task.chip_id.slice(0, 8)}`),
    task.submitted_at ? new Date(task.submitted_at).toLocaleString() : "",
    h("span", { class: "portion" }, task.marking),
  ]);
  return h(
    "div",
    {},
    h("h2", {}, `To review (${page.total})`),
    rows.length ? table(["task", "submitted", "marking"], rows) : h("p", { class: "muted" }, "Nothing to review."),
  );
}

async function next(project, status) {
  mount(status, "Finding your next task…");
  try {
    const task = await api(`projects/${project.id}/tasks/next`, { method: "POST" });
    if (!task) {
      mount(status, notice("No task for you now."));
      return;
    }
    location.hash = `#/label/${task.id}`;
  } catch (error) {
    mount(status, notice(error.message, "error"));
  }
}
