// The review view: the labeler's work on the chip, read-only, with the agreement between replicas where there
// are several, and accept / reject (with a comment saying what to fix).

import { api } from "../api.js";
import { formatNumber, h, mount, notice } from "../dom.js";
import { bindShortcuts } from "../shortcuts.js";
import { bannerUpdater, buildMap, featureOf, loadTask, showPointer } from "./workspace.js";

export async function render(root, [taskId]) {
  const loaded = await loadTask(taskId);
  const { task, chip, project } = loaded;
  const work = loaded.annotations.filter((a) => a.created_by === task.assignee);
  const agreement = await api(`tasks/${task.id}/agreement`).catch(() => null);
  // Which features came from a model's suggestion, and whether the labeler changed them (issue 13).
  const decided = await api(`chips/${chip.id}/suggestions?state=accepted&state=edited`).catch(() => []);
  const origins = new Map(decided.map((s) => [s.annotation_id, s]));

  const mapEl = h("div", { class: "map", id: "map", tabindex: "0" });
  const status = h("div", { class: "status-line", id: "status", role: "status" });
  const coords = h("div", { class: "coords", id: "coords" });
  const comment = h("textarea", { id: "comment", rows: "3", cols: "30", placeholder: "What should the labeler fix?" });
  const side = h("aside", { class: "side" });
  mount(
    root,
    h("h1", {}, `Review chip ${chip.id.slice(0, 8)} `, h("span", { class: "portion" }, `${project.name} · ${task.state}`)),
    h("div", { class: "workspace" }, mapEl, side),
  );
  const chipMap = await buildMap(mapEl, loaded);
  chipMap.source.addFeatures(work.map((a) => featureOf(a, chipMap.georef)));
  const banner = bannerUpdater(loaded, chipMap);

  const decide = (decision) => async () => {
    try {
      await api(`tasks/${task.id}/review`, { method: "POST", json: { decision, comment: comment.value } });
      mount(status, `Task ${decision === "accept" ? "accepted" : "sent back"}.`);
      location.hash = "#/queue";
    } catch (error) {
      mount(status, notice(error.message, "error"));
    }
  };
  const accept = decide("accept");
  const reject = decide("reject");
  mount(
    side,
    h("h2", {}, `Work (${work.length} features)`),
    work.length
      ? h("ul", { class: "work" }, work.map((a) => workItem(a, origins.get(a.id))))
      : h("p", { class: "muted" }, "No features."),
    agreement && agreement.agreement !== null
      ? h("p", {}, `Agreement between labelers: ${formatNumber(agreement.agreement)}${agreement.flagged ? " (below threshold)" : ""}`)
      : null,
    h("h2", {}, "Pointer"),
    coords,
    task.state === "submitted"
      ? h(
          "div",
          {},
          h("label", { for: "comment" }, "Comment (required to reject)"),
          comment,
          h(
            "div",
            { class: "row" },
            h("button", { type: "button", class: "primary", dataset: { action: "accept" }, onclick: accept }, "Accept"),
            h("button", { type: "button", class: "danger", dataset: { action: "reject" }, onclick: reject }, "Reject"),
          ),
        )
      : notice(`This task is ${task.state}: nothing to review.`),
    status,
  );
  showPointer(chipMap, coords);
  const unbind = bindShortcuts(
    task.state === "submitted"
      ? [
          { keys: ["a"], label: "Accept", run: accept },
          { keys: ["x"], label: "Reject (with the comment)", run: reject },
        ]
      : [],
  );
  await banner.now();
  return () => {
    unbind();
    chipMap.map.setTarget(undefined);
  };
}

// One feature of the work under review: class, geometry type and portion marking on a line, where it came from
// if a model proposed it, then every attribute as a name and value that wrap within the panel (a table of four
// columns did not fit in it).
function workItem(annotation, origin) {
  const attributes = Object.entries(annotation.attributes ?? {});
  const proposed = origin
    ? `Suggested by ${origin.model} (score ${formatNumber(origin.score)}), ${origin.state === "edited" ? "changed by the labeler" : "accepted unchanged"}`
    : annotation.prediction_id
      ? "Suggested by a model"
      : null;
  return h(
    "li",
    { dataset: { annotation: annotation.id } },
    h("div", {}, h("strong", {}, annotation.class), ` · ${annotation.geometry.type} `, h("span", { class: "portion" }, annotation.marking)),
    proposed ? h("div", { class: "muted", dataset: { origin: origin ? origin.state : "model" } }, proposed) : null,
    attributes.length
      ? h(
          "dl",
          { class: "attributes" },
          attributes.flatMap(([name, value]) => [
            h("dt", {}, name),
            h("dd", {}, typeof value === "string" ? value : JSON.stringify(value)),
          ]),
        )
      : null,
  );
}
