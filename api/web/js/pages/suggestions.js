// A model's suggestions on the chip (issue 13): drawn dashed with their score, apart from human work; a score
// threshold the labeler moves; the current suggestion (the best one shown, or the one clicked) can be accepted
// as it is, accepted to edit, or rejected, and all those shown can be accepted at once. Accepting makes a draft
// annotation of the labeler's on the server, which the page adds to its editor.

import { api } from "../api.js";
import { h } from "../dom.js";
import { mapCoordinates } from "../map/georef.js";
import { colourOf } from "../map/styles.js";

const ol = window.ol;
const geojson = new ol.format.GeoJSON();
const STEP = 0.05;

export class Suggestions {
  /** `onAccepted(annotation, {edit})` adds the new annotation to the page; `say(text, kind)` reports. */
  constructor(chipMap, chipId, { onAccepted, onChange, say }) {
    this.chipMap = chipMap;
    this.chipId = chipId;
    this.onAccepted = onAccepted;
    this.onChange = onChange;
    this.say = say;
    this.threshold = 0.5;
    this.current = null;
    this.styles = new Map();
    this.source = new ol.source.Vector();
    this.layer = new ol.layer.VectorImage({
      source: this.source,
      style: (feature) => this.styleOf(feature),
      imageRatio: 1.5,
      className: "ol-layer suggestions",
    });
    chipMap.map.addLayer(this.layer);
    chipMap.map.on("singleclick", (event) => {
      const hit = chipMap.map.forEachFeatureAtPixel(event.pixel, (f) => f, {
        layerFilter: (layer) => layer === this.layer,
        hitTolerance: 4,
      });
      if (hit) this.pick(hit);
    });
    this.count = h("span", { dataset: { suggestionCount: "" } });
    this.value = h("output", { for: "suggestion-threshold" }, this.threshold.toFixed(2));
    this.slider = h("input", {
      type: "range",
      id: "suggestion-threshold",
      min: "0",
      max: "1",
      step: String(STEP),
      value: String(this.threshold),
      oninput: () => this.setThreshold(Number(this.slider.value)),
    });
  }

  async load() {
    const items = await api(`chips/${this.chipId}/suggestions`);
    for (const item of items) {
      const geometry = geojson.readGeometry(mapCoordinates(item.geometry, this.chipMap.georef.fromLonLat));
      const feature = new ol.Feature(geometry);
      feature.setProperties({ suggestion: item, label_class: item.class, marking: item.marking });
      this.source.addFeature(feature);
    }
    this.refresh();
  }

  /** Every suggestion's marking (they are on screen whether or not the threshold hides them). */
  markings() {
    return this.source.getFeatures().map((f) => f.get("marking"));
  }

  shown() {
    return this.source
      .getFeatures()
      .filter((f) => f.get("suggestion").score >= this.threshold)
      .sort((a, b) => b.get("suggestion").score - a.get("suggestion").score);
  }

  setThreshold(value) {
    this.threshold = Math.min(1, Math.max(0, Math.round(value / STEP) * STEP));
    this.slider.value = String(this.threshold);
    this.refresh();
  }

  pick(feature) {
    this.current = feature;
    this.refresh();
  }

  next() {
    const shown = this.shown();
    if (!shown.length) return;
    const at = shown.indexOf(this.current);
    this.pick(shown[(at + 1) % shown.length]);
  }

  refresh() {
    const shown = this.shown();
    if (!shown.includes(this.current)) this.current = shown[0] || null;
    this.value.textContent = this.threshold.toFixed(2);
    this.count.textContent = `${shown.length} of ${this.source.getFeatures().length} shown`;
    const target = this.chipMap.map.getTargetElement();
    if (target) {
      target.dataset.suggestions = String(shown.length);
      target.dataset.suggestion = this.current ? this.current.get("suggestion").id : "";
    }
    this.layer.changed();
    this.onChange();
  }

  styleOf(feature) {
    const item = feature.get("suggestion");
    if (item.score < this.threshold) return null;
    const current = feature === this.current;
    const key = `${item.class}|${current}|${item.score.toFixed(2)}`;
    if (!this.styles.has(key)) {
      const colour = colourOf(item.class);
      const stroke = new ol.style.Stroke({ color: colour, width: current ? 3 : 1.5, lineDash: [6, 4] });
      this.styles.set(key, [
        new ol.style.Style({
          stroke,
          fill: new ol.style.Fill({ color: current ? `${colour}22` : "rgba(0, 0, 0, 0)" }),
          image: new ol.style.Circle({ radius: current ? 7 : 5, stroke }),
          text: new ol.style.Text({
            text: item.score.toFixed(2),
            font: "12px sans-serif",
            fill: new ol.style.Fill({ color: "#ffffff" }),
            stroke: new ol.style.Stroke({ color: "#000000", width: 3 }),
            offsetY: -12,
            overflow: true,
          }),
        }),
      ]);
    }
    return this.styles.get(key);
  }

  decided(feature) {
    this.source.removeFeature(feature);
    if (this.current === feature) this.current = null;
    this.refresh();
  }

  async accept({ edit = false } = {}) {
    const feature = this.current;
    if (!feature) return this.say("No suggestion shown at this threshold.");
    const annotation = await api(`predictions/${feature.get("suggestion").id}/accept`, { method: "POST" });
    this.decided(feature);
    this.onAccepted(annotation, { edit });
    this.say(edit ? "Accepted: edit it, then save." : "Suggestion accepted.");
  }

  async acceptShown() {
    const shown = this.shown();
    if (!shown.length) return this.say("No suggestion shown at this threshold.");
    const body = await api(`chips/${this.chipId}/suggestions/accept?min_score=${this.threshold}`, { method: "POST" });
    for (const feature of shown) this.source.removeFeature(feature);
    this.current = null;
    this.refresh();
    for (const annotation of body.annotations) this.onAccepted(annotation, { edit: false });
    this.say(`${body.accepted} suggestions accepted.`);
  }

  async reject() {
    const feature = this.current;
    if (!feature) return this.say("No suggestion shown at this threshold.");
    await api(`predictions/${feature.get("suggestion").id}/reject`, { method: "POST" });
    this.decided(feature);
    this.say("Suggestion rejected.");
  }

  /** The side panel's section (nothing when the chip has no suggestions). */
  panel(actions) {
    if (!this.source.getFeatures().length) return null;
    return h(
      "section",
      { class: "suggestions", "aria-label": "Model suggestions" },
      h("h2", {}, "Suggestions"),
      h("label", { for: "suggestion-threshold" }, "Score at least ", this.value),
      this.slider,
      h("p", { class: "muted" }, this.count),
      h("div", { class: "toolbar" }, actions),
    );
  }
}
