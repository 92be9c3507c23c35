// Polygons to pixels: closed rings filled with the even-odd rule (a pixel is inside
// when a ray from its centre crosses the rings an odd number of times), so a hole
// ring cuts a hole and an island inside a hole is filled again. The same algorithm,
// operation for operation, is inference/outlines.py's rings_to_mask, which the tests
// compare against. Also combining a drawn shape with a mask: add or cut.
import { Mask } from "./mask.js";

/** Rings [[x, y], ...] (image pixels) → a width × height Mask. */
export function fillRings(rings, width, height) {
  const mask = new Mask(width, height);
  const edges = []; // x0, y0, x1, y1 for every non-horizontal edge
  let minY = Infinity;
  let maxY = -Infinity;
  for (const ring of rings) {
    if (ring.length < 3) continue;
    for (let i = 0; i < ring.length; i += 1) {
      const a = ring[i];
      const b = ring[(i + 1) % ring.length];
      if (a[1] === b[1]) continue; // crosses no scanline
      edges.push(a[0], a[1], b[0], b[1]);
      minY = Math.min(minY, a[1], b[1]);
      maxY = Math.max(maxY, a[1], b[1]);
    }
  }
  if (!edges.length) return mask;
  const first = Math.max(0, Math.floor(minY));
  const last = Math.min(height, Math.ceil(maxY) + 1);
  const xs = [];
  for (let row = first; row < last; row += 1) {
    const yc = row + 0.5;
    xs.length = 0;
    for (let e = 0; e < edges.length; e += 4) {
      const y0 = edges[e + 1];
      const y1 = edges[e + 3];
      // Half-open in y: a vertex exactly on the scanline is crossed once, not twice.
      if (Math.min(y0, y1) <= yc && yc < Math.max(y0, y1)) {
        xs.push(edges[e] + (yc - y0) * (edges[e + 2] - edges[e]) / (y1 - y0));
      }
    }
    xs.sort((a, b) => a - b);
    const base = row * width;
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // Pixels whose centre lies in [xa, xb).
      const a = clampInt(Math.ceil(xs[k] - 0.5), width);
      const b = clampInt(Math.ceil(xs[k + 1] - 0.5), width);
      if (b > a) mask.data.fill(1, base + a, base + b);
    }
  }
  return mask;
}

const clampInt = (v, high) => Math.max(0, Math.min(high, v));

/** A new Mask: `base` with `shape` added ("add") or cut out ("cut"); same size. */
export function combine(base, shape, mode) {
  const out = base.clone();
  const d = out.data;
  const s = shape.data;
  if (mode === "cut") {
    for (let i = 0; i < d.length; i += 1) if (s[i]) d[i] = 0;
  } else {
    for (let i = 0; i < d.length; i += 1) if (s[i]) d[i] = 1;
  }
  return out;
}

/** Twice the signed (shoelace) area of a ring: its sign tells outline from hole. */
export function ringArea2(ring) {
  let sum = 0;
  for (let i = 0; i < ring.length; i += 1) {
    const [x0, y0] = ring[i];
    const [x1, y1] = ring[(i + 1) % ring.length];
    sum += x0 * y1 - x1 * y0;
  }
  return sum;
}
