// Feature styles: one colour per class (stable), a heavier stroke when selected. Styles are cached: with
// hundreds of features the style function must not allocate per feature per frame.

const ol = window.ol;
const PALETTE = ["#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#bf5af2", "#ff9f0a", "#64d2ff", "#ff2d55"];
const cache = new Map();
let classOrder = [];

export function setClassOrder(names) {
  classOrder = names;
  cache.clear();
}

export function colourOf(name) {
  const index = classOrder.indexOf(name);
  return PALETTE[(index < 0 ? classOrder.length : index) % PALETTE.length];
}

export function styleFor(feature, selected) {
  const name = feature.get("label_class") || "";
  const key = `${name}|${selected}`;
  if (!cache.has(key)) {
    const colour = colourOf(name);
    const stroke = new ol.style.Stroke({ color: selected ? "#ffffff" : colour, width: selected ? 3 : 2 });
    const fill = new ol.style.Fill({ color: `${colour}33` });
    cache.set(key, [
      new ol.style.Style({
        stroke,
        fill,
        image: new ol.style.Circle({ radius: selected ? 7 : 5, fill: new ol.style.Fill({ color: colour }), stroke }),
      }),
    ]);
  }
  return cache.get(key);
}
