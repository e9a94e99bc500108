// Saving the labeler's work: the difference between the features on the map and what the server holds,
// sent as creates, PATCHes (If-Match the version last read) and DELETEs.

import { ApiError, api } from "../api.js";
import { lonLatGeometry } from "./workspace.js";

function bodyOf(feature, georef) {
  return {
    class: feature.get("label_class"),
    geometry: lonLatGeometry(feature, georef),
    marking: feature.get("marking"),
    attributes: feature.get("attributes") || {},
  };
}

export class Drafts {
  /** `annotations`: the caller's annotations as loaded (what the server holds now). */
  constructor(chipId, georef, annotations) {
    this.chipId = chipId;
    this.georef = georef;
    this.saved = new Map(); // annotation id -> {version, key: its body as last saved}
    for (const a of annotations) this.saved.set(a.id, { version: a.version, key: null });
  }

  /** Remember how loaded features serialise, so an untouched feature is never sent back. */
  baseline(features) {
    for (const feature of features) {
      const entry = this.saved.get(feature.get("annotation_id"));
      if (entry) entry.key = JSON.stringify(bodyOf(feature, this.georef));
    }
  }

  /** An annotation the server made (a suggestion accepted), now on the map as `feature`: held, not new. */
  adopt(annotation, feature) {
    this.saved.set(annotation.id, { version: annotation.version, key: JSON.stringify(bodyOf(feature, this.georef)) });
  }

  dirty(features) {
    const present = new Set(features.map((f) => f.get("annotation_id")).filter(Boolean));
    if ([...this.saved.keys()].some((id) => !present.has(id))) return true;
    return features.some((f) => {
      const entry = this.saved.get(f.get("annotation_id"));
      return !entry || entry.key !== JSON.stringify(bodyOf(f, this.georef));
    });
  }

  /** Send every change; returns the number of requests made. */
  async save(features) {
    let requests = 0;
    const present = new Set(features.map((f) => f.get("annotation_id")).filter(Boolean));
    for (const [id, entry] of [...this.saved]) {
      if (present.has(id)) continue;
      await api(`annotations/${id}`, { method: "DELETE", headers: { "If-Match": `"${entry.version}"` } }).catch(
        (error) => {
          if (!(error instanceof ApiError && error.status === 404)) throw error;
        },
      );
      this.saved.delete(id);
      requests += 1;
    }
    for (const feature of features) {
      const body = bodyOf(feature, this.georef);
      const key = JSON.stringify(body);
      const id = feature.get("annotation_id");
      const entry = id ? this.saved.get(id) : null;
      if (entry && entry.key === key) continue;
      let result;
      if (entry) {
        result = await api(`annotations/${id}`, {
          method: "PATCH",
          json: body,
          headers: { "If-Match": `"${entry.version}"` },
        });
      } else {
        // New, or restored by undo after its deletion was saved: create it again.
        result = await api("annotations", { method: "POST", json: { chip_id: this.chipId, ...body } });
      }
      feature.setProperties({ annotation_id: result.id, version: result.version }, true);
      this.saved.set(result.id, { version: result.version, key });
      requests += 1;
    }
    return requests;
  }
}
