// A binary mask the user is working on: row-major bytes, one per pixel. Only the
// mask being edited lives at this resolution; accepted masks stay as RLE and are
// rasterised straight to display resolution (see overlay.js).
import { decodeMask, encodeMask } from "./rle.js";

export class Mask {
  constructor(width, height, data = new Uint8Array(width * height)) {
    this.width = width;
    this.height = height;
    this.data = data;
  }

  static fromRLE(rle) {
    const [height, width] = rle.size;
    return new Mask(width, height, decodeMask(rle));
  }

  clone() {
    return new Mask(this.width, this.height, this.data.slice());
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
    let n = 0;
    for (let i = 0; i < this.data.length; i += 1) n += this.data[i];
    return n;
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
    for (let y = 0; y < r.h; y += 1) {
      this.data.set(bytes.subarray(y * r.w, (y + 1) * r.w), (r.y + y) * this.width + r.x);
    }
  }

  /** Paint a round brush along the segment a→b (mask pixels); value 1 draws, 0 erases. */
  stroke(ax, ay, bx, by, radius, value) {
    const r = this.clip(Math.min(ax, bx) - radius, Math.min(ay, by) - radius,
      Math.max(ax, bx) + radius + 1, Math.max(ay, by) + radius + 1);
    if (!r) return;
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
