// The labeling panel: class picker (from the project's schema), marking selector, attributes form.

import { rollUp } from "../banner.js";
import { h, mount } from "../dom.js";

const LEVELS = ["CONFIDENTIAL", "SECRET", "TOP SECRET"];

/**
 * The markings a labeler may give an annotation: from the floor (the roll-up of chip and project) up to the
 * labeler's own access. Candidates are the floor raised to each level (and to the labeler's clearance with its
 * SCI controls), rolled up by the server, which also says which ones the labeler could read back.
 */
export async function markingChoices(floorMarkings, clearance) {
  const floor = await rollUp(floorMarkings);
  const raised = await Promise.all(
    [...LEVELS, clearance].map((level) => rollUp([floor.banner, level]).catch(() => null)),
  );
  const choices = [floor.banner];
  for (const result of raised) {
    if (result && result.readable && !choices.includes(result.banner)) choices.push(result.banner);
  }
  return choices;
}

export function markingSelect(choices, onChange) {
  const select = h(
    "select",
    { id: "marking", name: "marking", onchange: () => onChange(select.value) },
    choices.map((banner) => h("option", { value: banner }, banner)),
  );
  return select;
}

/** One button per class, with its number key. */
export function classPicker(classes, onPick) {
  const buttons = classes.map((c, i) =>
    h(
      "button",
      { type: "button", dataset: { class: c.name }, "aria-pressed": "false", onclick: () => onPick(c.name) },
      c.name,
      i < 9 ? h("span", { class: "key" }, String(i + 1)) : null,
      h("span", { class: "key" }, c.geometry_types.join(", ")),
    ),
  );
  const el = h("div", { class: "classes", role: "group", "aria-label": "Class" }, buttons);
  return {
    el,
    show(name) {
      for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.class === name));
    },
  };
}

/** The attributes form of a class; `onChange(values)` after each edit. Values keep their JSON types. */
export function attributesForm(container, labelClass, values, onChange) {
  const definitions = labelClass ? labelClass.attributes || [] : [];
  if (!definitions.length) {
    mount(container, h("p", { class: "muted" }, "No attributes for this class."));
    return;
  }
  const current = { ...values };
  const fields = definitions.map((def) => {
    const id = `attr-${def.name}`;
    const input = inputFor(def, current[def.name], id);
    input.addEventListener("change", () => {
      const value = valueOf(def, input);
      if (value === null) delete current[def.name];
      else current[def.name] = value;
      onChange({ ...current });
    });
    return h("div", {}, h("label", { for: id }, def.name + (def.required ? " *" : "")), input);
  });
  mount(container, h("form", { class: "attributes", onsubmit: (e) => e.preventDefault() }, fields));
}

function inputFor(def, value, id) {
  if (def.type === "enum") {
    return h(
      "select",
      { id, name: def.name },
      h("option", { value: "" }, "–"),
      (def.values || []).map((v) => h("option", { value: String(v), selected: v === value }, String(v))),
    );
  }
  if (def.type === "boolean") return h("input", { id, name: def.name, type: "checkbox", checked: value === true });
  const numeric = def.type === "number" || def.type === "integer";
  return h("input", {
    id,
    name: def.name,
    type: numeric ? "number" : "text",
    step: def.type === "integer" ? "1" : numeric ? "any" : undefined,
    value: value ?? "",
  });
}

function valueOf(def, input) {
  if (def.type === "boolean") return input.checked;
  if (input.value === "") return null;
  if (def.type === "integer") return Number.parseInt(input.value, 10);
  if (def.type === "number") return Number(input.value);
  if (def.type === "enum") return (def.values || []).find((v) => String(v) === input.value) ?? input.value;
  return input.value;
}
