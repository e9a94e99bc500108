// Editing tools on the chip map: draw polygons, rectangles, points and lines; select, move vertices, delete;
// snapping; undo/redo. The page decides what a new feature's class, marking and attributes are.

import { History } from "./history.js";
import { styleFor } from "./styles.js";

const ol = window.ol;
let nextUid = 1;

export const TOOLS = {
  select: "Select / edit",
  Polygon: "Polygon",
  Box: "Rectangle",
  Point: "Point",
  LineString: "Line",
};

/**
 * Translate (alt+drag) without its hover test: OpenLayers' Translate hit-tests the layers on every pointer
 * move to show a grab cursor, with hundreds of features a canvas read per move. It can only move a selected
 * feature with alt held, so it looks only then.
 */
class AltTranslate extends ol.interaction.Translate {
  constructor(options) {
    super(options);
    this.selection = options.features;
  }

  handleMoveEvent(event) {
    if (this.selection.getLength() && ol.events.condition.altKeyOnly(event)) {
      super.handleMoveEvent(event);
    } else {
      event.map.getViewport().classList.remove("ol-grab", "ol-grabbing");
    }
  }
}

export class Editor {
  /**
   * `newProps()` gives the properties of a feature about to be drawn; `onChange()` runs after every change
   * (drawing, editing, deleting, undo) and `onSelect(feature|null)` when the selection changes.
   */
  constructor(chipMap, { newProps, onChange, onSelect }) {
    this.map = chipMap.map;
    this.source = chipMap.source;
    this.newProps = newProps;
    this.onChange = onChange;
    this.onSelect = onSelect;
    this.tool = "select";
    this.snapping = true;
    this.select = new ol.interaction.Select({
      layers: [chipMap.vector],
      style: (feature) => styleFor(feature, true),
      hitTolerance: 4,
    });
    this.select.on("select", () => this.onSelect(this.selected()));
    this.modify = new ol.interaction.Modify({ features: this.select.getFeatures() });
    this.modify.on("modifyend", () => this.changed());
    this.translate = new AltTranslate({ features: this.select.getFeatures(), condition: ol.events.condition.altKeyOnly });
    this.translate.on("translateend", () => this.changed());
    this.snap = new ol.interaction.Snap({ source: this.source });
    // The neighbouring chips' labels in the overlap: snapped to, never changed.
    this.contextSnap = new ol.interaction.Snap({ source: chipMap.contextSource });
    this.draw = null;
    this.history = new History(this.source, () => {
      this.select.getFeatures().clear();
      this.onSelect(null);
      this.onChange();
    });
    this.setTool("select");
  }

  /** Give loaded features their undo identity; history starts here. */
  load(features) {
    for (const feature of features) feature.set("uid", nextUid++);
    this.source.addFeatures(features);
    this.history.reset();
  }

  /** A feature saved elsewhere (a suggestion accepted): added, undoable, and selected to edit if asked. */
  adopt(feature, { select = false } = {}) {
    feature.set("uid", nextUid++);
    this.source.addFeature(feature);
    this.changed();
    if (select) {
      this.setTool("select");
      this.select.getFeatures().clear();
      this.select.getFeatures().push(feature);
      this.onSelect(feature);
    }
  }

  selected() {
    const features = this.select.getFeatures().getArray();
    return features.length ? features[0] : null;
  }

  changed() {
    this.history.record();
    this.onChange();
  }

  setTool(tool) {
    this.tool = tool;
    for (const interaction of [this.draw, this.select, this.modify, this.translate, this.snap, this.contextSnap]) {
      if (interaction) this.map.removeInteraction(interaction);
    }
    this.draw = null;
    if (tool === "select") {
      this.map.addInteraction(this.select);
      this.map.addInteraction(this.modify);
      this.map.addInteraction(this.translate);
    } else {
      this.select.getFeatures().clear();
      this.onSelect(null);
      const box = tool === "Box";
      this.draw = new ol.interaction.Draw({
        source: this.source,
        type: box ? "Circle" : tool,
        geometryFunction: box ? ol.interaction.Draw.createBox() : undefined,
        stopClick: true,
      });
      this.draw.on("drawend", (event) => {
        event.feature.setProperties({ uid: nextUid++, annotation_id: null, version: null, ...this.newProps() });
        // The source gets the feature after this event: record once it is there.
        setTimeout(() => this.changed(), 0);
      });
      this.map.addInteraction(this.draw);
    }
    // Snap must be added after the interactions it serves.
    if (this.snapping) {
      this.map.addInteraction(this.snap);
      this.map.addInteraction(this.contextSnap);
    }
  }

  setSnapping(on) {
    this.snapping = on;
    this.setTool(this.tool);
  }

  /** Finish the sketch being drawn (Enter), or abandon it (Escape). */
  finishDrawing() {
    if (this.draw) this.draw.finishDrawing();
  }

  abort() {
    if (this.draw) this.draw.abortDrawing();
    else {
      this.select.getFeatures().clear();
      this.onSelect(null);
    }
  }

  removeLastPoint() {
    if (this.draw) this.draw.removeLastPoint();
  }

  deleteSelected() {
    const features = [...this.select.getFeatures().getArray()];
    if (!features.length) return;
    this.select.getFeatures().clear();
    for (const feature of features) this.source.removeFeature(feature);
    this.onSelect(null);
    this.changed();
  }

  /** A property of the selected feature changed (class, marking, attributes). */
  updateSelected(props) {
    const feature = this.selected();
    if (!feature) return;
    feature.setProperties(props);
    this.changed();
  }

  undo() {
    return this.history.undo();
  }

  redo() {
    return this.history.redo();
  }

  dispose() {
    this.map.setTarget(undefined);
  }
}
