// A binary mask the user is working on: row-major bytes, one per pixel. Only the
// mask being edited lives at this resolution; accepted masks stay as RLE and are
// rasterised straight to display resolution (see overlay.js).
//
// A mask decoded from RLE knows its pixel count and bounding box from the runs, so
// painting it and the page's area checks never scan it; a brush edit (stroke,
// putRect) forgets both, and the next ask scans once. Code that writes `data`
// itself does so before anything asks (a new Mask or a clone), or sets `known`
// back to undefined.
import { decodeMask, encodeMask, rleCounts, runsBounds } from "./rle.js";

export class Mask {
  constructor(width, height, data = new Uint8Array(width * height)) {
    this.width = width;
    this.height = height;
    this.data = data;
    this.known = undefined; // {area, x0, y0, x1, y1} | null (empty) | undefined (not worked out)
  }

  static fromRLE(rle) {
    const [height, width] = rle.size;
    const mask = new Mask(width, height, decodeMask(rle));
    mask.known = runsBounds(rleCounts(rle), height);
    return mask;
  }

  clone() {
    // Bounds not carried over: callers write a clone's bytes directly (rasterise.js).
    return new Mask(this.width, this.height, this.data.slice());
  }

  /** Pixel count and bounding box {area, x0, y0, x1, y1} (ends exclusive); null if empty. */
  bounds() {
    if (this.known === undefined) this.known = scanBounds(this.data, this.width, this.height);
    return this.known;
  }

  /** Nearest-neighbour resize: previews come downscaled, edits and saves are full size. */
  resized(width, height) {
    if (width === this.width && height === this.height) return this.clone();
    const out = new Uint8Array(width * height);
    const sx = this.width / width;
    const sy = this.height / height;
    const cols = new Int32Array(width);
    for (let x = 0; x < width; x += 1) cols[x] = Math.min(this.width - 1, Math.floor((x + 0.5) * sx));
    for (let y = 0; y < height; y += 1) {
      const row = Math.min(this.height - 1, Math.floor((y + 0.5) * sy)) * this.width;
      const base = y * width;
      for (let x = 0; x < width; x += 1) out[base + x] = this.data[row + cols[x]];
    }
    return new Mask(width, height, out);
  }

  toRLE() {
    return encodeMask(this.data, this.width, this.height);
  }

  area() {
    const b = this.bounds();
    return b ? b.area : 0;
  }

  /** Clip a rectangle to the mask; null when nothing is left. */
  clip(x0, y0, x1, y1) {
    const rx0 = Math.max(0, Math.floor(x0));
    const ry0 = Math.max(0, Math.floor(y0));
    const rx1 = Math.min(this.width, Math.ceil(x1));
    const ry1 = Math.min(this.height, Math.ceil(y1));
    if (rx1 <= rx0 || ry1 <= ry0) return null;
    return { x: rx0, y: ry0, w: rx1 - rx0, h: ry1 - ry0 };
  }

  getRect(r) {
    const out = new Uint8Array(r.w * r.h);
    for (let y = 0; y < r.h; y += 1) {
      const start = (r.y + y) * this.width + r.x;
      out.set(this.data.subarray(start, start + r.w), y * r.w);
    }
    return out;
  }

  putRect(r, bytes) {
    this.known = undefined;
    for (let y = 0; y < r.h; y += 1) {
      this.data.set(bytes.subarray(y * r.w, (y + 1) * r.w), (r.y + y) * this.width + r.x);
    }
  }

  /** Paint a round brush along the segment a→b (mask pixels); value 1 draws, 0 erases. */
  stroke(ax, ay, bx, by, radius, value) {
    const r = this.clip(Math.min(ax, bx) - radius, Math.min(ay, by) - radius,
      Math.max(ax, bx) + radius + 1, Math.max(ay, by) + radius + 1);
    if (!r) return;
    this.known = undefined;
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const r2 = radius * radius;
    for (let y = r.y; y < r.y + r.h; y += 1) {
      const py = y + 0.5;
      for (let x = r.x; x < r.x + r.w; x += 1) {
        const px = x + 0.5;
        // Distance from the pixel centre to the segment: a capsule, so fast strokes
        // leave no gaps between mouse events.
        let t = len2 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
        t = Math.max(0, Math.min(1, t));
        const ex = ax + t * dx - px;
        const ey = ay + t * dy - py;
        if (ex * ex + ey * ey <= r2) this.data[y * this.width + x] = value;
      }
    }
  }
}

function scanBounds(data, width, height) {
  let area = 0;
  let x0 = width; let y0 = height; let x1 = 0; let y1 = 0;
  for (let y = 0; y < height; y += 1) {
    const row = y * width;
    let first = -1;
    let last = -1;
    for (let x = 0; x < width; x += 1) {
      if (data[row + x]) {
        area += 1;
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first >= 0) {
      if (first < x0) x0 = first;
      if (last + 1 > x1) x1 = last + 1;
      if (y < y0) y0 = y;
      y1 = y + 1;
    }
  }
  return area ? { area, x0, y0, x1, y1 } : null;
}
