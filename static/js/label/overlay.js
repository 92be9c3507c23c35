// Mask overlays for the canvas. Each overlay is a small canvas cropped to the
// mask's bounding box at *display* resolution (the image's longest side capped at
// OVERLAY_MAX_SIDE), so a 50-megapixel image with dozens of masks costs a few MB,
// and drawing a frame is one drawImage per mask with the view transform.
import { forEachRun, rleCounts } from "./rle.js";

export const OVERLAY_MAX_SIDE = 3072;

export function overlayScale(width, height) {
  return Math.min(1, OVERLAY_MAX_SIDE / Math.max(width, height));
}

// One RGBA pixel as a 32-bit word in the platform's byte order, so a fill is a
// single store per pixel into a Uint32Array view of the ImageData.
function pixel(hex, alpha = 255) {
  const n = parseInt(hex.replace("#", ""), 16);
  const bytes = new Uint8Array([(n >> 16) & 255, (n >> 8) & 255, n & 255, alpha]);
  return new Uint32Array(bytes.buffer)[0];
}

/**
 * The canvas and pixel buffer kept for an overlay that is redrawn often (the mask
 * being made). Making a canvas, or first writing a fresh multi-megabyte ImageData,
 * costs more than painting a mask, so each redraw paints into the same buffer, sized
 * to the whole display raster once, and puts only the union of the new box and the
 * last one. Fill and outline share that one buffer, the fill's alpha baked into its
 * pixels: one raster pass, one putImageData and one drawImage per reply instead of
 * two of each (the opacity slider repaints it). The result says `baked`.
 */
export class OverlaySurface {
  constructor() {
    this.canvas = document.createElement("canvas");
    this.data = null;
    this.scratch = new Uint8Array(0); // the cropped raster, rewritten in full each time
    this.drawn = null; // [x, y, w, h] painted last time
  }

  /** A raster buffer of n bytes (contents undefined: callers write all of it). */
  raster(n) {
    if (this.scratch.length < n) this.scratch = new Uint8Array(n);
    return this.scratch.subarray(0, n);
  }

  /** Paint raster (cw × ch) at (x, y) of a width × height display raster. */
  paint(raster, cw, ch, x, y, width, height, color, outlineColor, alpha) {
    if (!this.data || this.data.width !== width || this.data.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.data = new ImageData(width, height);
      this.px = new Uint32Array(this.data.data.buffer);
      this.drawn = null;
    }
    let [ux0, uy0, ux1, uy1] = [x, y, x + cw, y + ch];
    if (this.drawn) {
      // Clear only what the new box does not cover: the new box is written in full
      // (background pixels as 0), and a mask refined by a click mostly keeps its box.
      const [px, py, pw, ph] = this.drawn;
      for (let row = py; row < py + ph; row += 1) {
        const base = row * width;
        if (row < y || row >= y + ch) {
          this.px.fill(0, base + px, base + px + pw);
          continue;
        }
        const left = Math.min(px + pw, x);
        if (left > px) this.px.fill(0, base + px, base + left);
        const right = Math.max(px, x + cw);
        if (px + pw > right) this.px.fill(0, base + right, base + px + pw);
      }
      ux0 = Math.min(ux0, px); uy0 = Math.min(uy0, py);
      ux1 = Math.max(ux1, px + pw); uy1 = Math.max(uy1, py + ph);
    }
    const on = pixel(color, Math.round(255 * Math.min(1, Math.max(0, alpha))));
    rasterise(raster, cw, ch, this.px, this.px, width, x, y, on, pixel(outlineColor || color));
    this.canvas.getContext("2d").putImageData(this.data, 0, 0, ux0, uy0, ux1 - ux0, uy1 - uy0);
    this.drawn = [x, y, cw, ch];
    return { fill: this.canvas, edge: null, baked: true, alpha, sx: x, sy: y, sw: cw, sh: ch };
  }
}

/**
 * Paint a display-resolution raster (w × h, 1 byte per pixel) into the fill (drawn
 * with the opacity slider's alpha) and outline (always opaque, so masks stay visible
 * on grayscale or busy images) pixels, 32-bit RGBA words of rows `stride` long, at
 * (ox, oy). A pixel on the raster's border counts as outline; callers crop with a
 * pixel of background around the mask, so that is only ever the image's own border.
 */
function rasterise(raster, w, h, fillPx, edgePx, stride, ox, oy, on, line) {
  // Every pixel of the box is written, background as 0, so a reused buffer needs no
  // clearing first. A run of background or of interior is written with one native
  // fill; only the pixels next to a change, or under or over one, are looked at.
  // With one buffer for both (fillPx === edgePx), an interior pixel keeps the fill.
  const inner = fillPx === edgePx ? on : 0;
  for (let y = 0; y < h; y += 1) {
    const row = y * w;
    const out = (oy + y) * stride + ox;
    const rim = y === 0 || y === h - 1;
    let x = 0;
    while (x < w) {
      const v = raster[row + x];
      let end = x + 1;
      while (end < w && raster[row + end] === v) end += 1;
      if (!v) {
        fillPx.fill(0, out + x, out + end);
        if (edgePx !== fillPx) edgePx.fill(0, out + x, out + end);
      } else {
        fillPx.fill(on, out + x, out + end);
        if (rim) {
          edgePx.fill(line, out + x, out + end);
        } else {
          // The run's ends are outline (a background pixel or the raster's side is
          // next to them); between them, a pixel is outline where the row above or
          // below is background there.
          edgePx[out + x] = line;
          edgePx[out + end - 1] = line;
          const up = row - w;
          const down = row + w;
          for (let i = x + 1; i < end - 1; i += 1) {
            edgePx[out + i] = raster[up + i] && raster[down + i] ? inner : line;
          }
        }
      }
      x = end;
    }
  }
}

/** As rasterise, onto fresh canvases of the raster's size (source rect: all of it). */
function paint(raster, w, h, color, outlineColor) {
  const fill = new ImageData(w, h);
  const edge = new ImageData(w, h);
  rasterise(raster, w, h, new Uint32Array(fill.data.buffer), new Uint32Array(edge.data.buffer),
    w, 0, 0, pixel(color), pixel(outlineColor || color));
  return { fill: toCanvas(fill), edge: toCanvas(edge), sx: 0, sy: 0, sw: w, sh: h, pixels: w * h };
}

function toCanvas(imageData) {
  const canvas = document.createElement("canvas");
  canvas.width = imageData.width;
  canvas.height = imageData.height;
  canvas.getContext("2d").putImageData(imageData, 0, 0);
  return canvas;
}

/**
 * Overlay for a stored annotation, rasterised from its RLE without decoding it at
 * full size. `bbox` is COCO [x, y, w, h] in image pixels.
 */
export function overlayFromRLE(rle, bbox, color, outlineColor) {
  const [height, width] = rle.size;
  const s = overlayScale(width, height);
  // Pad by a pixel so the outline of a mask touching its box edge is drawn.
  const bx = Math.max(0, Math.floor(bbox[0]) - 1);
  const by = Math.max(0, Math.floor(bbox[1]) - 1);
  const bx1 = Math.min(width, Math.ceil(bbox[0] + bbox[2]) + 1);
  const by1 = Math.min(height, Math.ceil(bbox[1] + bbox[3]) + 1);
  const w = Math.max(1, Math.ceil((bx1 - bx) * s));
  const h = Math.max(1, Math.ceil((by1 - by) * s));
  const raster = new Uint8Array(w * h);
  forEachRun(rleCounts(rle), height, (x, y0, y1) => {
    const dx = Math.min(w - 1, Math.floor((x - bx) * s));
    if (dx < 0) return;
    const d0 = Math.max(0, Math.floor((y0 - by) * s));
    const d1 = Math.min(h - 1, Math.floor((y1 - 1 - by) * s));
    for (let dy = d0; dy <= d1; dy += 1) raster[dy * w + dx] = 1;
  });
  return { ...paint(raster, w, h, color, outlineColor), x: bx, y: by, w: bx1 - bx, h: by1 - by };
}

/**
 * Overlay for the mask being edited (a Mask at full or preview resolution), over the
 * image extent (imageWidth × imageHeight) by nearest sampling, as Mask.resized does.
 * Only the display pixels around the mask's bounding box are rasterised and painted:
 * a candidate covering a tenth of the image costs about a tenth of the work. With a
 * `surface` (OverlaySurface), the pixels go into its canvas instead of new ones, the
 * fill at `alpha` (baked: the viewer draws it opaque).
 */
export function overlayFromMask(mask, imageWidth, imageHeight, color, outlineColor, surface = null, alpha = 1) {
  const s = overlayScale(imageWidth, imageHeight);
  const w = Math.max(1, Math.round(imageWidth * s));
  const h = Math.max(1, Math.round(imageHeight * s));
  const kx = imageWidth / w; // image pixels per display pixel
  const ky = imageHeight / h;
  const b = mask.bounds();
  if (!b) {
    return { ...paint(new Uint8Array(1), 1, 1, color, outlineColor), x: 0, y: 0, w: kx, h: ky };
  }
  // Display pixel d samples mask pixel floor((d + 0.5) * sx); widen the box by two
  // display pixels so every sampled foreground pixel and a rim of background fit.
  const sx = mask.width / w;
  const sy = mask.height / h;
  const dx0 = Math.max(0, Math.floor(b.x0 / sx) - 2);
  const dy0 = Math.max(0, Math.floor(b.y0 / sy) - 2);
  const dx1 = Math.min(w, Math.ceil(b.x1 / sx) + 2);
  const dy1 = Math.min(h, Math.ceil(b.y1 / sy) + 2);
  const cw = dx1 - dx0;
  const ch = dy1 - dy0;
  const data = mask.data;
  const at = { x: dx0 * kx, y: dy0 * ky, w: cw * kx, h: ch * ky, pixels: cw * ch };
  if (sx === 1 && sy === 1 && cw === mask.width) {
    // Whole rows at display size: the mask's own bytes are the raster, no copy.
    const rows = data.subarray(dy0 * cw, (dy0 + ch) * cw);
    if (!surface) return { ...paint(rows, cw, ch, color, outlineColor), ...at };
    return { ...surface.paint(rows, cw, ch, dx0, dy0, w, h, color, outlineColor, alpha), ...at };
  }
  const raster = surface ? surface.raster(cw * ch) : new Uint8Array(cw * ch);
  const cols = new Int32Array(cw);
  for (let x = 0; x < cw; x += 1) cols[x] = Math.min(mask.width - 1, Math.floor((dx0 + x + 0.5) * sx));
  for (let y = 0; y < ch; y += 1) {
    const src = Math.min(mask.height - 1, Math.floor((dy0 + y + 0.5) * sy)) * mask.width;
    const dst = y * cw;
    if (sx === 1) {
      raster.set(data.subarray(src + dx0, src + dx1), dst); // same size: a row copy
    } else {
      for (let x = 0; x < cw; x += 1) raster[dst + x] = data[src + cols[x]];
    }
  }
  if (!surface) return { ...paint(raster, cw, ch, color, outlineColor), ...at };
  return { ...surface.paint(raster, cw, ch, dx0, dy0, w, h, color, outlineColor, alpha), ...at };
}
