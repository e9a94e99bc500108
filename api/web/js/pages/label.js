// The labeling view: the chip (with its neighbours for context) in an OpenLayers map, drawing and editing
// tools, class picker, attributes, marking selector, save draft / submit / skip, and keyboard shortcuts.

import { api } from "../api.js";
import { h, mount, notice } from "../dom.js";
import { Editor, TOOLS } from "../map/editor.js";
import { bindShortcuts } from "../shortcuts.js";
import { Drafts } from "./drafts.js";
import { attributesForm, classPicker, markingChoices, markingSelect } from "./panel.js";
import { Suggestions } from "./suggestions.js";
import { bannerUpdater, buildMap, featureOf, loadTask, showPointer } from "./workspace.js";

const HEARTBEAT_MS = 60_000;
const TOOL_KEYS = { select: "s", Polygon: "p", Box: "r", Point: "o", LineString: "l" };

export async function render(root, [taskId], me) {
  const loaded = await loadTask(taskId);
  const { task, chip, project } = loaded;
  const mine = task.state === "in_progress" && task.assignee === me.id;
  const own = loaded.annotations.filter((a) => a.created_by === me.id);
  const choices = await markingChoices([chip.marking, project.marking], me.clearance);

  const mapEl = h("div", { class: "map", id: "map", tabindex: "0" });
  const status = h("div", { class: "status-line", id: "status", role: "status" });
  const coords = h("div", { class: "coords", id: "coords" }, "Move the pointer over the chip.");
  const attributes = h("div", { id: "attributes" });
  const featureCount = h("p", { class: "muted", id: "feature-count" });
  const side = h("aside", { class: "side" });
  mount(
    root,
    h("h1", {}, `Label chip ${chip.id.slice(0, 8)} `, h("span", { class: "portion" }, `${project.name} · ${task.state}`)),
    mine ? null : notice("This task is not leased to you: you can look, not change it.", "error"),
    h("div", { class: "workspace" }, mapEl, side),
  );

  const chipMap = await buildMap(mapEl, loaded);
  let suggestions = null;
  const banner = bannerUpdater(loaded, chipMap, () => (suggestions ? suggestions.markings() : []));
  const drafts = new Drafts(chip.id, chipMap.georef, own);
  const classes = project.classes;
  const defaults = { label_class: classes[0]?.name, marking: choices[0], attributes: {} };

  const say = (text, kind = "") => mount(status, kind ? notice(text, kind) : text);
  const picker = classPicker(classes, (name) => setClass(name));
  const marking = markingSelect(choices, (value) => setMarking(value));

  const editor = new Editor(chipMap, {
    newProps: () => ({ ...defaults, attributes: { ...defaults.attributes } }),
    onChange: () => {
      featureCount.textContent = `${chipMap.source.getFeatures().length} features`;
      banner.soon();
    },
    onSelect: (feature) => showProps(feature),
  });
  editor.load(own.map((a) => featureOf(a, chipMap.georef)));
  drafts.baseline(chipMap.source.getFeatures());
  featureCount.textContent = `${chipMap.source.getFeatures().length} features`;

  suggestions = new Suggestions(chipMap, chip.id, {
    onAccepted: (annotation, { edit }) => {
      const feature = featureOf(annotation, chipMap.georef);
      drafts.adopt(annotation, feature);
      editor.adopt(feature, { select: edit });
    },
    onChange: () => banner.soon(),
    say: (text, kind) => say(text, kind),
  });
  if (mine) await suggestions.load();

  function showProps(feature) {
    const props = feature ? feature.getProperties() : defaults;
    picker.show(props.label_class);
    if (!choices.includes(props.marking)) marking.append(h("option", { value: props.marking }, props.marking));
    marking.value = props.marking;
    const labelClass = classes.find((c) => c.name === props.label_class);
    attributesForm(attributes, labelClass, props.attributes || {}, (values) => setAttributes(values));
  }

  function setClass(name) {
    if (editor.selected()) editor.updateSelected({ label_class: name, attributes: {} });
    else Object.assign(defaults, { label_class: name, attributes: {} });
    showProps(editor.selected());
  }

  function setMarking(value) {
    if (editor.selected()) editor.updateSelected({ marking: value });
    else defaults.marking = value;
    banner.soon();
  }

  function setAttributes(values) {
    if (editor.selected()) editor.updateSelected({ attributes: values });
    else defaults.attributes = values;
  }

  const toolButtons = Object.entries(TOOLS).map(([tool, name]) =>
    h("button", { type: "button", dataset: { tool }, onclick: () => useTool(tool) }, name, h("span", { class: "key" }, TOOL_KEYS[tool])),
  );
  function useTool(tool) {
    editor.setTool(tool);
    for (const b of toolButtons) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    mapEl.focus();
  }
  const snap = h("button", { type: "button", "aria-pressed": "true", dataset: { action: "snap" }, onclick: toggleSnap }, "Snapping");
  function toggleSnap() {
    editor.setSnapping(!editor.snapping);
    snap.setAttribute("aria-pressed", String(editor.snapping));
  }

  async function save(quiet = false) {
    const requests = await drafts.save(chipMap.source.getFeatures());
    if (!quiet) say(requests ? `Draft saved (${requests} changes).` : "Nothing to save.");
  }
  const guard = (action) => async () => {
    try {
      await action();
    } catch (error) {
      say(error.message, "error");
    }
  };
  const saveDraft = guard(() => save());
  const submit = guard(async () => {
    await save(true);
    await api(`tasks/${task.id}/submit`, { method: "POST" });
    say("Submitted.");
    location.hash = "#/queue";
  });
  const skip = guard(async () => {
    await api(`tasks/${task.id}/skip`, { method: "POST" });
    location.hash = "#/queue";
  });

  const suggestionActions = [
    h("button", { type: "button", dataset: { action: "accept-suggestion" }, onclick: guard(() => suggestions.accept()) }, "Accept", h("span", { class: "key" }, "a")),
    h("button", { type: "button", dataset: { action: "accept-shown" }, onclick: guard(() => suggestions.acceptShown()) }, "Accept all shown", h("span", { class: "key" }, "A")),
    h("button", { type: "button", dataset: { action: "edit-suggestion" }, onclick: guard(() => suggestions.accept({ edit: true })) }, "Edit", h("span", { class: "key" }, "e")),
    h("button", { type: "button", class: "danger", dataset: { action: "reject-suggestion" }, onclick: guard(() => suggestions.reject()) }, "Reject", h("span", { class: "key" }, "x")),
  ];

  const actions = mine
    ? h(
        "div",
        { class: "row" },
        h("button", { type: "button", dataset: { action: "save" }, onclick: saveDraft }, "Save draft"),
        h("button", { type: "button", class: "primary", dataset: { action: "submit" }, onclick: submit }, "Submit"),
        h("button", { type: "button", dataset: { action: "skip" }, onclick: skip }, "Skip"),
      )
    : null;
  mount(
    side,
    h("div", { class: "toolbar", role: "toolbar", "aria-label": "Tools" }, toolButtons),
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", dataset: { action: "undo" }, onclick: () => editor.undo() }, "Undo"),
      h("button", { type: "button", dataset: { action: "redo" }, onclick: () => editor.redo() }, "Redo"),
      h("button", { type: "button", class: "danger", dataset: { action: "delete" }, onclick: () => editor.deleteSelected() }, "Delete"),
      snap,
    ),
    suggestions.panel(suggestionActions),
    h("h2", {}, "Class"),
    picker.el,
    h("label", { for: "marking" }, "Marking"),
    marking,
    h("h2", {}, "Attributes"),
    attributes,
    h("h2", {}, "Pointer"),
    coords,
    featureCount,
    actions,
    status,
    h("p", { class: "muted" }, "Press ", h("kbd", {}, "?"), " for keyboard shortcuts."),
  );
  showProps(null);
  useTool("select");
  showPointer(chipMap, coords);

  const shortcuts = [
    ...Object.entries(TOOL_KEYS).map(([tool, key]) => ({ keys: [key], label: `Tool: ${TOOLS[tool]}`, run: () => useTool(tool) })),
    { keys: ["Enter"], label: "Finish the shape being drawn", run: () => editor.finishDrawing() },
    { keys: ["Escape"], label: "Cancel drawing / clear the selection", run: () => editor.abort() },
    { keys: ["Backspace"], label: "Remove the last vertex while drawing, else delete", run: () => (editor.draw ? editor.removeLastPoint() : editor.deleteSelected()) },
    { keys: ["Delete"], label: "Delete the selected feature", run: () => editor.deleteSelected() },
    { keys: ["ctrl+z"], label: "Undo", run: () => editor.undo(), always: true },
    { keys: ["ctrl+shift+z", "ctrl+y"], label: "Redo", run: () => editor.redo(), always: true },
    { keys: ["n"], label: "Snapping on/off", run: toggleSnap },
    { keys: ["1", "2", "3", "4", "5", "6", "7", "8", "9"], label: "Pick class 1-9", run: (e) => classes[Number(e.key) - 1] && setClass(classes[Number(e.key) - 1].name) },
    { keys: ["alt+drag"], label: "Move the selected feature (in Select)", run: () => {} },
  ];
  if (mine) {
    shortcuts.push(
      { keys: ["ctrl+s"], label: "Save draft", run: saveDraft, always: true },
      { keys: ["ctrl+Enter"], label: "Submit", run: submit, always: true },
      { keys: ["shift+k"], label: "Skip this task", run: skip },
      { keys: ["a"], label: "Accept the current suggestion", run: guard(() => suggestions.accept()) },
      { keys: ["shift+a"], label: "Accept every suggestion shown", run: guard(() => suggestions.acceptShown()) },
      { keys: ["e"], label: "Accept the current suggestion to edit it", run: guard(() => suggestions.accept({ edit: true })) },
      { keys: ["x"], label: "Reject the current suggestion", run: guard(() => suggestions.reject()) },
      { keys: ["j"], label: "Next suggestion", run: () => suggestions.next() },
      { keys: ["["], label: "Lower the suggestion threshold", run: () => suggestions.setThreshold(suggestions.threshold - 0.05) },
      { keys: ["]"], label: "Raise the suggestion threshold", run: () => suggestions.setThreshold(suggestions.threshold + 0.05) },
    );
  }
  const unbind = bindShortcuts(shortcuts);
  const heartbeat = mine
    ? setInterval(() => api(`tasks/${task.id}/heartbeat`, { method: "POST" }).catch((e) => say(e.message, "error")), HEARTBEAT_MS)
    : null;
  await banner.now();
  return () => {
    clearInterval(heartbeat);
    unbind();
    editor.dispose();
  };
}
