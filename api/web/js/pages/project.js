// The project overview for managers: progress by state, agreement between labelers, gold scores, models
// measured against the accepted labels (two side by side, with their precision-recall curves), export.

import { api } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { formatNumber, h, mount, notice, table } from "../dom.js";

export async function render(root, [projectId]) {
  const [project, progress, members, models] = await Promise.all([
    api(`projects/${projectId}`),
    api(`projects/${projectId}/progress`),
    api(`projects/${projectId}/members`),
    api(`projects/${projectId}/models`).catch(() => []),
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
      modelsCard(project, models),
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

// --- Models (issue 13) -------------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const CURVE_COLOURS = ["#0a84ff", "#ff9f0a"];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** Precision against recall at IoU 0.5, one line per evaluation, drawn here (no chart library, no network). */
function curvePlot(evaluations) {
  const size = 200;
  const pad = 28;
  const x = (recall) => pad + recall * size;
  const y = (precision) => pad + (1 - precision) * size;
  const plot = svg("svg", {
    viewBox: `0 0 ${size + 2 * pad} ${size + 2 * pad}`,
    width: size + 2 * pad,
    height: size + 2 * pad,
    role: "img",
    "aria-label": "Precision-recall curves at IoU 0.5",
    "data-curves": evaluations.length,
  });
  plot.append(
    svg("rect", { x: pad, y: pad, width: size, height: size, fill: "none", stroke: "#8e8e93" }),
    svg("text", { x: pad + size / 2, y: size + 2 * pad - 4, "text-anchor": "middle", "font-size": 11 }, "recall"),
    svg("text", { x: 10, y: pad + size / 2, "font-size": 11, transform: `rotate(-90 10 ${pad + size / 2})`, "text-anchor": "middle" }, "precision"),
  );
  evaluations.forEach((evaluation, k) => {
    const { recall, precision } = evaluation.curve;
    if (!precision.length) return;
    const points = precision.map((p, i) => `${x(recall[i]).toFixed(1)},${y(p).toFixed(1)}`).join(" ");
    plot.append(svg("polyline", { points, fill: "none", stroke: CURVE_COLOURS[k], "stroke-width": 2, "data-model": evaluation.model }));
  });
  evaluations.forEach((evaluation, k) => {
    const top = pad + 14 + k * 14;
    plot.append(
      svg("line", { x1: pad + 8, y1: top - 4, x2: pad + 24, y2: top - 4, stroke: CURVE_COLOURS[k], "stroke-width": 2 }),
      svg("text", { x: pad + 28, y: top, "font-size": 11 }, evaluation.model),
    );
  });
  return plot;
}

function comparison(evaluations) {
  const rows = [
    ["AP50", (e) => formatNumber(e.overall.ap50, 3)],
    ["AP50:95", (e) => formatNumber(e.overall.ap50_95, 3)],
    ["precision", (e) => formatNumber(e.overall.precision, 3)],
    ["recall", (e) => formatNumber(e.overall.recall, 3)],
    ["F1", (e) => formatNumber(e.overall.f1, 3)],
    ["predictions shown", (e) => String(e.overall.predictions)],
    ["accepted objects", (e) => String(e.overall.labels)],
    ["accepted unchanged", (e) => String(e.correction.accepted_unchanged)],
    ["edited", (e) => String(e.correction.edited)],
    ["rejected", (e) => String(e.correction.rejected)],
    ["added by people", (e) => String(e.correction.added_by_people)],
    ["s per task with / without", (e) => `${formatNumber(e.correction.seconds_per_task_with_suggestions, 0)} / ${formatNumber(e.correction.seconds_per_task_without, 0)}`],
  ];
  return table(
    ["", ...evaluations.map((e) => e.model)],
    rows.map(([name, value]) => [name, ...evaluations.map(value)]),
  );
}

function modelsCard(project, models) {
  if (!models.length) return null;
  const refs = models.map((m) => m.ref);
  const choose = (id, preferred) =>
    h("select", { id }, refs.map((ref) => h("option", { value: ref, selected: ref === preferred }, ref)));
  const first = choose("model-a", refs[refs.length - 1]);
  const second = choose("model-b", refs.length > 1 ? refs[refs.length - 2] : refs[0]);
  const result = h("div", { id: "model-comparison" });
  const compare = async () => {
    mount(result, "Measuring…");
    try {
      const chosen = [...new Set([first.value, second.value])];
      const evaluations = await Promise.all(
        chosen.map((ref) => api(`projects/${project.id}/models/${encodeURIComponent(ref)}/evaluation`)),
      );
      mount(
        result,
        h("p", { class: "muted" }, "Against the accepted labels of the chips that are done (IoU 0.5, score 0.5)."),
        comparison(evaluations),
        curvePlot(evaluations),
      );
      await setPageMarkings([project.marking, ...evaluations.map((e) => e.banner).filter(Boolean)]);
    } catch (error) {
      mount(result, notice(error.message, "error"));
    }
  };
  return h(
    "section",
    { class: "card", id: "models" },
    h("h2", {}, "Models"),
    table(["model", "registered", "marking"], models.map((m) => [m.ref, m.created_at.slice(0, 10), m.marking])),
    h("div", { class: "row" }, first, second, h("button", { type: "button", dataset: { action: "compare-models" }, onclick: compare }, "Measure")),
    result,
  );
}
