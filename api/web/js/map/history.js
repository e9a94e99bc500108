// Undo/redo for the editor: snapshots of every feature (geometry and properties) after each change. A chip
// has at most a few hundred features, so a snapshot is small and restoring one is simple and exact.

const ol = window.ol;
const LIMIT = 200;
const KEEP = ["annotation_id", "version", "label_class", "marking", "attributes"];

function snapshot(source) {
  return source.getFeatures().map((feature) => ({
    uid: feature.get("uid"),
    geometry: feature.getGeometry().clone(),
    props: Object.fromEntries(KEEP.map((k) => [k, structuredClone(feature.get(k))])),
  }));
}

export class History {
  constructor(source, onRestore) {
    this.source = source;
    this.onRestore = onRestore;
    this.past = [snapshot(source)];
    this.future = [];
  }

  /** Record the state after a change. */
  record() {
    this.past.push(snapshot(this.source));
    if (this.past.length > LIMIT) this.past.shift();
    this.future = [];
  }

  /** Forget everything (after loading a task). */
  reset() {
    this.past = [snapshot(this.source)];
    this.future = [];
  }

  undo() {
    if (this.past.length < 2) return false;
    this.future.push(this.past.pop());
    this.restore(this.past[this.past.length - 1]);
    return true;
  }

  redo() {
    if (!this.future.length) return false;
    const state = this.future.pop();
    this.past.push(state);
    this.restore(state);
    return true;
  }

  restore(state) {
    this.source.clear(true);
    const features = state.map(({ uid, geometry, props }) => {
      const feature = new ol.Feature(geometry.clone());
      feature.setProperties({ uid, ...structuredClone(props) });
      return feature;
    });
    this.source.addFeatures(features);
    this.onRestore();
  }
}
