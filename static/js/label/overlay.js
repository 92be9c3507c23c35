// Mask overlays for the canvas. Each overlay is a small canvas cropped to the
// mask's bounding box at *display* resolution (the image's longest side capped at
// OVERLAY_MAX_SIDE), so a 50-megapixel image with dozens of masks costs a few MB,
// and drawing a frame is one drawImage per mask with the view transform.
import { forEachRun, rleCounts } from "./rle.js";

export const OVERLAY_MAX_SIDE = 3072;

export function overlayScale(width, height) {
  return Math.min(1, OVERLAY_MAX_SIDE / Math.max(width, height));
}

function rgb(hex) {
  const n = parseInt(hex.replace("#", ""), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/**
 * Turn a display-resolution raster (1 byte per pixel) into two canvases: the fill
 * (drawn with the opacity slider's alpha) and the outline (always opaque, so masks
 * stay visible on grayscale or busy images).
 */
function paint(raster, w, h, color, outlineColor) {
  const fill = new ImageData(w, h);
  const edge = new ImageData(w, h);
  const [r, g, b] = rgb(color);
  const [er, eg, eb] = rgb(outlineColor || color);
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      const i = y * w + x;
      if (!raster[i]) continue;
      const o = i * 4;
      fill.data[o] = r; fill.data[o + 1] = g; fill.data[o + 2] = b; fill.data[o + 3] = 255;
      const border = x === 0 || y === 0 || x === w - 1 || y === h - 1
        || !raster[i - 1] || !raster[i + 1] || !raster[i - w] || !raster[i + w];
      if (border) {
        edge.data[o] = er; edge.data[o + 1] = eg; edge.data[o + 2] = eb; edge.data[o + 3] = 255;
      }
    }
  }
  return { fill: toCanvas(fill), edge: toCanvas(edge) };
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
 * Overlay for the mask being edited (a Mask at full or preview resolution), drawn
 * over the whole image extent (imageWidth × imageHeight) by nearest sampling.
 */
export function overlayFromMask(mask, imageWidth, imageHeight, color, outlineColor) {
  const s = overlayScale(imageWidth, imageHeight);
  const w = Math.max(1, Math.round(imageWidth * s));
  const h = Math.max(1, Math.round(imageHeight * s));
  const raster = mask.resized(w, h).data; // nearest sampling, as the mask itself resizes
  return { ...paint(raster, w, h, color, outlineColor), x: 0, y: 0, w: imageWidth, h: imageHeight };
}
