// Georeferencing a chip: image pixels <-> lon/lat.
//
// The map works in the image's own pixel grid (x = column, y = -row), so the chip preview and its neighbours
// from the same image line up exactly and a drawn vertex is a pixel position. The API gives each chip's
// footprint: the chip window's outline in EPSG:4326, densified. Its four corners are the lon/lat of the
// window's pixel corners; bilinear interpolation between them maps any pixel position to lon/lat. Over a chip
// (hundreds of pixels) the projection is smooth enough that this is far below a pixel (a UTM chip of 5 km
// departs from bilinear by centimetres).

/** A longitude moved into [-180, 180] by a multiple of 360 degrees. */
export function wrapLongitude(lon) {
  return lon > 180 || lon < -180 ? ((((lon + 180) % 360) + 360) % 360) - 180 : lon;
}

/**
 * The points of the footprint's outer rings, continuous in longitude. A footprint that crosses the antimeridian
 * is stored split into a part on each side of it (RFC 7946); moving the western longitudes (-179.9) east by 360
 * degrees (180.1) puts the whole chip on one side, where its corners and any point between them are what they
 * look like.
 */
export function outerPoints(geometry) {
  const rings = geometry.type === "Polygon" ? [geometry.coordinates[0]] : geometry.coordinates.map((polygon) => polygon[0]);
  const points = rings.flat();
  const lons = points.map((p) => p[0]);
  const crosses = Math.max(...lons) - Math.min(...lons) > 180;
  return crosses ? points.map(([lon, lat]) => [lon < 0 ? lon + 360 : lon, lat]) : points;
}

/**
 * The corners of a near-north-up footprint: on the ring, the extreme points along the two diagonals of its
 * bounding box (after scaling it to a unit square) are the window's corners, whatever the ring's start,
 * orientation or densification.
 */
export function footprintCorners(geometry) {
  const ring = outerPoints(geometry);
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  const [minLon, maxLon, minLat, maxLat] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const sx = (lon) => (lon - minLon) / (maxLon - minLon || 1);
  const sy = (lat) => (lat - minLat) / (maxLat - minLat || 1);
  const best = (score) => ring.reduce((a, b) => (score(b) > score(a) ? b : a));
  return {
    topLeft: best((p) => sy(p[1]) - sx(p[0])),
    topRight: best((p) => sx(p[0]) + sy(p[1])),
    bottomRight: best((p) => sx(p[0]) - sy(p[1])),
    bottomLeft: best((p) => -sx(p[0]) - sy(p[1])),
  };
}

/** pixel <-> lon/lat for one chip: `toLonLat([x, y])` takes map coordinates (x = column, y = -row). */
export function chipGeoref(chip) {
  const c = footprintCorners(chip.geometry);
  const { col_off: col, row_off: row, width, height } = chip;

  function bilinear(s, t) {
    const lerp = (a, b, f) => [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f];
    const top = lerp(c.topLeft, c.topRight, s);
    const bottom = lerp(c.bottomLeft, c.bottomRight, s);
    return lerp(top, bottom, t);
  }

  // The chip's middle longitude, continuous with its corners (it may pass 180 for a chip across it).
  const middle = (c.topLeft[0] + c.topRight[0] + c.bottomLeft[0] + c.bottomRight[0]) / 4;

  /** Map coordinates to lon/lat, the longitude in [-180, 180] (as the API takes positions). */
  function toLonLat([x, y]) {
    const [lon, lat] = bilinear((x - col) / width, (-y - row) / height);
    return [wrapLongitude(lon), lat];
  }

  /** Newton's method on the bilinear map: converges in a few steps for a near-parallelogram. */
  function fromLonLat([anyLon, lat]) {
    const lon = anyLon + 360 * Math.round((middle - anyLon) / 360); // the chip's side of the antimeridian
    let s = 0.5;
    let t = 0.5;
    for (let i = 0; i < 20; i++) {
      const [fx, fy] = bilinear(s, t);
      const ex = fx - lon;
      const ey = fy - lat;
      const h = 1e-6;
      const [ax, ay] = bilinear(s + h, t);
      const [bx, by] = bilinear(s, t + h);
      const j11 = (ax - fx) / h;
      const j21 = (ay - fy) / h;
      const j12 = (bx - fx) / h;
      const j22 = (by - fy) / h;
      const det = j11 * j22 - j12 * j21;
      if (!det) break;
      const ds = (j22 * ex - j12 * ey) / det;
      const dt = (-j21 * ex + j11 * ey) / det;
      s -= ds;
      t -= dt;
      if (Math.abs(ds) < 1e-12 && Math.abs(dt) < 1e-12) break;
    }
    return [col + s * width, -(row + t * height)];
  }

  /** The chip's extent in map coordinates [minx, miny, maxx, maxy]. */
  const extent = [col, -(row + height), col + width, -row];
  return { toLonLat, fromLonLat, extent };
}

/** Map a GeoJSON geometry's coordinates with `fn` ([x, y] -> [x, y]), at any nesting depth. */
export function mapCoordinates(geometry, fn) {
  const walk = (value) => (typeof value[0] === "number" ? fn(value) : value.map(walk));
  return { type: geometry.type, coordinates: walk(geometry.coordinates) };
}
