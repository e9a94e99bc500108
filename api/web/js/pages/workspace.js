// What the labeling and review views share: load a task with its chip, project, context and annotations,
// build the map, convert annotations between the API (lon/lat) and the map (image pixels), show the pointer's
// coordinates, and keep the banner equal to the roll-up of everything on screen.

import { forward as toMgrs } from "../../vendor/mgrs/mgrs.esm.js";
import { api } from "../api.js";
import { setPageMarkings } from "../banner.js";
import { h, mount } from "../dom.js";
import { contextBox, createChipMap, footprintBox } from "../map/chipmap.js";
import { mapCoordinates } from "../map/georef.js";
import { setClassOrder } from "../map/styles.js";

const ol = window.ol;
const geojson = new ol.format.GeoJSON();

/** Everything about a task the views show; 404 for a task that is missing or not the caller's to read. */
export async function loadTask(taskId) {
  const task = await api(`tasks/${taskId}`);
  const chip = task.chip;
  const [project, nearby, annotations, onThisChip] = await Promise.all([
    api(`projects/${task.project_id}`),
    api(`chips?project=${task.project_id}&bbox=${contextBox(chip)}&limit=48`),
    api(`annotations?chip=${chip.id}&limit=1000`),
    api(`annotations?image=${chip.image_id}&bbox=${footprintBox(chip)}&limit=1000`),
  ]);
  setClassOrder(project.classes.map((c) => c.name));
  return {
    task,
    chip,
    project,
    neighbours: nearby.items.filter((c) => c.id !== chip.id),
    annotations: annotations.items,
    // Readable labels drawn on the neighbouring chips of the same image that reach onto this one.
    overlapping: onThisChip.items.filter((a) => a.chip_id !== chip.id),
  };
}

/** The map for a loaded task, in `target`. */
export async function buildMap(target, loaded) {
  const chipMap = await createChipMap(target, { chip: loaded.chip, neighbours: loaded.neighbours });
  chipMap.contextSource.addFeatures(loaded.overlapping.map((a) => featureOf(a, chipMap.georef)));
  target.dataset.overlapLabels = String(loaded.overlapping.length);
  exposeChipBox(target, chipMap);
  return chipMap;
}

/**
 * The chip's box on screen (CSS pixels, relative to the map element) as data-chip-box, kept current: a
 * stable, documented hook for the browser tests, which click at known chip pixels.
 */
function exposeChipBox(target, { map, georef }) {
  const update = () => {
    const [x0, y0, x1, y1] = georef.extent;
    const topLeft = map.getPixelFromCoordinate([x0, y1]);
    const bottomRight = map.getPixelFromCoordinate([x1, y0]);
    if (topLeft && bottomRight) target.dataset.chipBox = JSON.stringify([...topLeft, ...bottomRight]);
  };
  map.on("rendercomplete", update);
  map.on("moveend", update);
}

/** An API annotation as a map feature (geometry in image pixels). */
export function featureOf(annotation, georef) {
  const geometry = geojson.readGeometry(mapCoordinates(annotation.geometry, georef.fromLonLat));
  const feature = new ol.Feature(geometry);
  feature.setProperties({
    annotation_id: annotation.id,
    version: annotation.version,
    label_class: annotation.class,
    marking: annotation.marking,
    attributes: annotation.attributes || {},
  });
  return feature;
}

/** A map feature's geometry as GeoJSON in lon/lat (EPSG:4326), as the API stores it. */
export function lonLatGeometry(feature, georef) {
  const pixels = geojson.writeGeometryObject(feature.getGeometry());
  const round = (v) => Math.round(v * 1e9) / 1e9;
  return mapCoordinates(pixels, (p) => georef.toLonLat(p).map(round));
}

/**
 * The pointer's position in lat/lon and MGRS, in `el`. Pointer moves come faster than frames: the readout is
 * computed and written at most once per animation frame, into two text nodes made once (no new elements, no
 * layout of the panel per move).
 */
export function showPointer(chipMap, el) {
  const latlon = h("div", { dataset: { latlon: "" } });
  const mgrs = h("div", { dataset: { mgrs: "" } });
  let mounted = false;
  let pending = null;
  let frame = 0;
  const paint = () => {
    frame = 0;
    const [lon, lat] = chipMap.georef.toLonLat(pending);
    let grid = "";
    try {
      grid = toMgrs([lon, lat], 5);
    } catch {
      grid = "outside MGRS";
    }
    const latlonText = `${lat.toFixed(6)}, ${lon.toFixed(6)}`;
    const mgrsText = `MGRS ${grid}`;
    if (!mounted) {
      mount(el, latlon, mgrs);
      mounted = true;
    }
    if (latlon.textContent !== latlonText) latlon.textContent = latlonText;
    if (mgrs.textContent !== mgrsText) mgrs.textContent = mgrsText;
  };
  chipMap.map.on("pointermove", (event) => {
    pending = event.coordinate;
    if (!frame) frame = requestAnimationFrame(paint);
  });
}

/**
 * Keep the banner equal to the roll-up of what the view shows: the project, the task, the chip, the context
 * chips that are displayed, every feature's marking and `extra()`'s (the suggestions). Coalesces bursts.
 */
export function bannerUpdater(loaded, chipMap, extra = () => []) {
  let timer = null;
  const fixed = [
    loaded.project.marking,
    loaded.task.marking,
    loaded.chip.marking,
    ...chipMap.neighbourMarkings,
    ...loaded.overlapping.map((a) => a.marking),
  ];
  const update = () => {
    const features = chipMap.source.getFeatures().map((f) => f.get("marking"));
    return setPageMarkings([...fixed, ...features, ...extra()]).catch(() => {});
  };
  return {
    now: update,
    soon() {
      clearTimeout(timer);
      timer = setTimeout(update, 120);
    },
  };
}
