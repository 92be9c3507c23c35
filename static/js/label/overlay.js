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
function pixel(hex) {
  const n = parseInt(hex.replace("#", ""), 16);
  const bytes = new Uint8Array([(n >> 16) & 255, (n >> 8) & 255, n & 255, 255]);
  return new Uint32Array(bytes.buffer)[0];
}

/**
 * Turn a display-resolution raster (1 byte per pixel) into two canvases: the fill
 * (drawn with the opacity slider's alpha) and the outline (always opaque, so masks
 * stay visible on grayscale or busy images). A pixel on the raster's border counts
 * as outline; callers crop with a pixel of background around the mask, so that is
 * only ever the image's own border.
 */
function paint(raster, w, h, color, outlineColor) {
  const fill = new ImageData(w, h);
  const edge = new ImageData(w, h);
  const fillPx = new Uint32Array(fill.data.buffer);
  const edgePx = new Uint32Array(edge.data.buffer);
  const on = pixel(color);
  const line = pixel(outlineColor || color);
  for (let y = 0; y < h; y += 1) {
    const row = y * w;
    const rim = y === 0 || y === h - 1;
    for (let x = 0; x < w; x += 1) {
      const i = row + x;
      if (!raster[i]) continue;
      fillPx[i] = on;
      if (rim || x === 0 || x === w - 1 || !raster[i - 1] || !raster[i + 1] || !raster[i - w] || !raster[i + w]) {
        edgePx[i] = line;
      }
    }
  }
  return { fill: toCanvas(fill), edge: toCanvas(edge), pixels: w * h };
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
 * a candidate covering a tenth of the image costs about a tenth of the work.
 */
export function overlayFromMask(mask, imageWidth, imageHeight, color, outlineColor) {
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
  const raster = new Uint8Array(cw * ch);
  const cols = new Int32Array(cw);
  for (let x = 0; x < cw; x += 1) cols[x] = Math.min(mask.width - 1, Math.floor((dx0 + x + 0.5) * sx));
  const data = mask.data;
  for (let y = 0; y < ch; y += 1) {
    const src = Math.min(mask.height - 1, Math.floor((dy0 + y + 0.5) * sy)) * mask.width;
    const dst = y * cw;
    if (sx === 1) {
      raster.set(data.subarray(src + dx0, src + dx1), dst); // same size: a row copy
    } else {
      for (let x = 0; x < cw; x += 1) raster[dst + x] = data[src + cols[x]];
    }
  }
  return {
    ...paint(raster, cw, ch, color, outlineColor),
    x: dx0 * kx, y: dy0 * ky, w: cw * kx, h: ch * ky,
  };
}
