// The project overview for managers: progress by state, agreement between labelers, gold scores, export.

import { api } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { formatNumber, h, mount, notice, table } from "../dom.js";

export async function render(root, [projectId]) {
  const [project, progress, members] = await Promise.all([
    api(`projects/${projectId}`),
    api(`projects/${projectId}/progress`),
    api(`projects/${projectId}/members`),
  ]);
  const status = h("div", { class: "status-line", id: "status" });
  const byState = Object.entries(progress.tasks.by_state);
  const agreement = progress.agreement;
  const gold = progress.gold;
  mount(
    root,
    h("h1", {}, project.name, " ", h("span", { class: "portion" }, project.marking)),
    h("p", { class: "muted" }, project.description || ""),
    h(
      "div",
      { class: "cards" },
      h(
        "section",
        { class: "card", id: "progress" },
        h("h2", {}, "Progress"),
        h("p", {}, `${progress.chips} chips, ${progress.tasks.total} tasks`),
        h(
          "p",
          { id: "objects", title: "An object labeled on overlapping chips counts once" },
          `${progress.labels.objects} objects labeled (${progress.labels.features} labels)`,
        ),
        table(["state", "tasks"], byState.map(([state, n]) => [state, String(n)])),
      ),
      h(
        "section",
        { class: "card", id: "agreement" },
        h("h2", {}, "Agreement"),
        table(
          ["labelers per chip", "chips compared", "mean agreement", "below threshold"],
          [[agreement.consensus_k, agreement.chips_compared, formatNumber(agreement.mean), agreement.flagged_count]],
        ),
        agreement.flagged.length
          ? table(["chip", "agreement"], agreement.flagged.map((f) => [f.chip_id.slice(0, 8), formatNumber(f.agreement)]))
          : null,
      ),
      h(
        "section",
        { class: "card", id: "gold" },
        h("h2", {}, "Gold scores"),
        h("p", {}, `${gold.chips} gold chips, ${gold.scored_tasks} scored tasks, mean F1 ${formatNumber(gold.f1)}`),
        gold.labelers.length
          ? table(
              ["labeler", "tasks", "precision", "recall", "F1"],
              gold.labelers.map((l) => [l.username, l.tasks, formatNumber(l.precision), formatNumber(l.recall), formatNumber(l.f1)]),
            )
          : null,
      ),
      h(
        "section",
        { class: "card", id: "members" },
        h("h2", {}, "Members"),
        table(["user", "role"], members.map((m) => [m.username, m.role])),
      ),
    ),
    h("h2", {}, "Export"),
    h("p", { class: "muted" }, "GeoJSON of everything in the project you may read, each feature with its portion marking."),
    h("button", { type: "button", class: "primary", dataset: { action: "export" }, onclick: () => exportProject(project, status) }, "Export GeoJSON"),
    status,
  );
  await setPageMarkings([project.marking]);
}

async function exportProject(project, status) {
  mount(status, "Exporting…");
  try {
    const response = await api(`projects/${project.id}/export`, { raw: true, headers: { Accept: "application/geo+json" } });
    const banner = response.headers.get("X-GeoLabel-Banner");
    const count = response.headers.get("X-GeoLabel-Feature-Count");
    const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `${project.name}.geojson` });
    document.body.append(link);
    link.click();
    link.remove();
    mount(status, `Exported ${count} features, marked ${banner}.`);
  } catch (error) {
    mount(status, notice(error.message, "error"));
  }
}
