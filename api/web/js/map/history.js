// Undo/redo for the editor: snapshots of every feature (geometry and properties) after each change. A chip
// has at most a few hundred features, so a snapshot is small and restoring one is simple and exact.

const ol = window.ol;
const LIMIT = 200;
const KEEP = ["annotation_id", "version", "label_class", "marking", "attributes"];

/**
 * Each feature's latest snapshot entry with what it was taken from (the geometry object and its revision, the
 * property values): a change touches one feature, so a snapshot after it copies that one and shares the
 * others' entries (entries are never modified: restoring copies them again).
 */
const entries = new WeakMap();

function entryOf(feature) {
  const geometry = feature.getGeometry();
  const revision = geometry.getRevision();
  const uid = feature.get("uid");
  const values = KEEP.map((k) => feature.get(k));
  const cached = entries.get(feature);
  if (
    cached &&
    cached.geometry === geometry &&
    cached.revision === revision &&
    cached.entry.uid === uid &&
    cached.values.every((v, i) => v === values[i])
  ) {
    return cached.entry;
  }
  const entry = {
    uid,
    geometry: geometry.clone(),
    props: Object.fromEntries(KEEP.map((k, i) => [k, structuredClone(values[i])])),
  };
  entries.set(feature, { geometry, revision, values, entry });
  return entry;
}

function snapshot(source) {
  return source.getFeatures().map(entryOf);
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
