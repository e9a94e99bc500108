// The map of one chip: its preview and its neighbours' (context) in the image's pixel grid, and one vector
// layer (one source, canvas-rendered into a cached image: hundreds of features cost no DOM and no per-frame
// redraw) for the annotations.

import { imageDataUrl } from "../api.js";
import { chipGeoref, outerPoints, wrapLongitude } from "./georef.js";
import { styleFor } from "./styles.js";

const ol = window.ol;

/** Pixel extent of a chip of another image: its footprint's corners placed through this chip's georeferencing. */
function foreignExtent(neighbour, georef) {
  const ring = neighbour.geometry.type === "Polygon"
    ? neighbour.geometry.coordinates[0]
    : neighbour.geometry.coordinates.flatMap((polygon) => polygon[0]);
  const points = ring.map((lonLat) => georef.fromLonLat(lonLat));
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function imageLayer(url, extent, projection, className) {
  return new ol.layer.Image({
    className,
    source: new ol.source.ImageStatic({ url, imageExtent: extent, projection, interpolate: true }),
  });
}

/**
 * Build the map in `target`. `chip` is the API's chip; `neighbours` other readable chips around it (each with
 * its preview fetched here). Returns {map, source, georef, projection, neighbourMarkings}.
 */
export async function createChipMap(target, { chip, neighbours }) {
  const georef = chipGeoref(chip);
  const [x0, y0, x1, y1] = georef.extent;
  const pad = 4 * Math.max(chip.width, chip.height);
  const projection = new ol.proj.Projection({
    code: "geolabel:image-pixels",
    units: "pixels",
    extent: [x0 - pad, y0 - pad, x1 + pad, y1 + pad],
  });
  const [chipUrl, ...neighbourUrls] = await Promise.all([
    imageDataUrl(chip.preview_url),
    ...neighbours.map((n) => imageDataUrl(n.preview_url).catch(() => null)),
  ]);
  const context = neighbours
    .map((n, i) => ({ chip: n, url: neighbourUrls[i] }))
    .filter((n) => n.url !== null);
  const contextLayers = context.map(({ chip: n, url }) => {
    const extent = n.image_id === chip.image_id ? chipGeoref(n).extent : foreignExtent(n, georef);
    const layer = imageLayer(url, extent, projection, "ol-layer neighbour");
    layer.setOpacity(0.55);
    return layer;
  });
  const outline = new ol.source.Vector({ features: [new ol.Feature(ol.geom.Polygon.fromExtent(georef.extent))] });
  const source = new ol.source.Vector();
  // Labels of the neighbouring chips that lie on this one (the overlap): shown, never edited, snapped to.
  const contextSource = new ol.source.Vector();
  const contextVector = new ol.layer.VectorImage({ source: contextSource, style: neighbourLabelStyle(), imageRatio: 1.5 });
  // VectorImage, not Vector: the features are drawn once into an image, which every later frame only copies
  // (and, while panning or zooming, transforms) until the features or the view's resolution change. A Vector
  // layer replays every feature on every frame: with hundreds of features each pointer move while drawing
  // (the sketch changes, the whole map is rendered) and each frame of a pan cost a full redraw. The image is
  // half as large again as the viewport, so a pan shows features beyond the edge before it is redrawn.
  const vector = new ol.layer.VectorImage({
    source,
    style: (feature) => styleFor(feature, false),
    imageRatio: 1.5,
  });
  const map = new ol.Map({
    target,
    layers: [
      ...contextLayers,
      imageLayer(chipUrl, georef.extent, projection, "ol-layer chip"),
      new ol.layer.Vector({ source: outline, style: chipOutlineStyle() }),
      contextVector,
      vector,
    ],
    view: new ol.View({ projection, minResolution: 1 / 16, maxResolution: 64, constrainResolution: false }),
    controls: ol.control.defaults.defaults({ attribution: false, rotate: false }),
    interactions: ol.interaction.defaults.defaults({ doubleClickZoom: false }),
  });
  map.getView().fit(georef.extent, { padding: [24, 24, 24, 24] });
  return {
    map,
    source,
    vector,
    contextSource,
    georef,
    projection,
    neighbourMarkings: context.map((n) => n.chip.marking),
    neighbourIds: context.map((n) => n.chip.id),
  };
}

function neighbourLabelStyle() {
  const stroke = new ol.style.Stroke({ color: "rgba(255, 255, 255, 0.85)", width: 1.5, lineDash: [3, 3] });
  return new ol.style.Style({
    stroke,
    fill: new ol.style.Fill({ color: "rgba(255, 255, 255, 0.08)" }),
    image: new ol.style.Circle({ radius: 4, stroke }),
  });
}

function chipOutlineStyle() {
  return new ol.style.Style({
    stroke: new ol.style.Stroke({ color: "rgba(255, 214, 0, 0.9)", width: 1.5, lineDash: [6, 4] }),
  });
}

/** Readable chips of the project whose footprints touch a box around this chip (its context). */
export function contextBox(chip) {
  return boxAround(chip, 0.5);
}

/** The chip's own box: the labels of other chips found in it lie (at least partly) on this chip. */
export function footprintBox(chip) {
  return boxAround(chip, 0);
}

function boxAround(chip, margin) {
  // Across the antimeridian the points are continuous (east of it); the box then has west > east (RFC 7946 5.2).
  const points = outerPoints(chip.geometry);
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  const [minLon, maxLon, minLat, maxLat] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const dx = (maxLon - minLon) * margin;
  const dy = (maxLat - minLat) * margin;
  const west = wrapLongitude(minLon - dx);
  const east = wrapLongitude(maxLon + dx);
  return [west, Math.max(minLat - dy, -90), east, Math.min(maxLat + dy, 90)].map((v) => v.toFixed(9)).join(",");
}
