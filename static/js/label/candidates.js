// The candidates of a `masks` reply, as the page keeps them. Only the one shown is
// decoded to a full Mask, when something first asks for it (drawing it, a brush
// edit, accept); the others keep their RLE, whose runs give their pixel count and
// thumbnail, so a reply with three candidates decodes one mask, not three.
import { Mask } from "./mask.js";
import { forEachRun, rleCounts, runsBounds } from "./rle.js";

const THUMB_SIDE = 64;
const THUMB_ON = [255, 212, 0, 255];
const THUMB_OFF = [40, 48, 62, 255];

export class Candidate {
  constructor({ rle, score, area, suggestion }) {
    this.rle = rle;
    this.score = score;
    this.area = area; // full-image pixels, from the server
    this.suggestion = suggestion || null; // the project classifier's category, if any
    this.runs = rleCounts(rle);
    const b = runsBounds(this.runs, rle.size[0]);
    this.pixels = b ? b.area : 0; // pixels of the RLE (the preview's, for a large image)
    this.decoded = null;
  }

  /** The candidate as a Mask, decoded once. */
  get mask() {
    if (!this.decoded) this.decoded = Mask.fromRLE(this.rle);
    return this.decoded;
  }

  /**
   * Draw the thumbnail (the mask in yellow on slate, at most 64 px a side, from the
   * runs) into `canvas`, which the caller keeps across replies: a new canvas per
   * candidate per reply costs more than drawing one.
   */
  thumbnail(canvas = document.createElement("canvas")) {
    const [height, width] = this.rle.size;
    const s = Math.min(1, THUMB_SIDE / Math.max(width, height));
    const w = Math.max(1, Math.round(width * s));
    const h = Math.max(1, Math.round(height * s));
    const image = new ImageData(w, h);
    const px = new Uint32Array(image.data.buffer);
    px.fill(word(THUMB_OFF));
    const on = word(THUMB_ON);
    forEachRun(this.runs, height, (x, y0, y1) => {
      const dx = Math.min(w - 1, Math.floor(x * s));
      const d1 = Math.min(h - 1, Math.floor((y1 - 1) * s));
      for (let dy = Math.floor(y0 * s); dy <= d1; dy += 1) px[dy * w + dx] = on;
    });
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    canvas.getContext("2d").putImageData(image, 0, 0);
    return canvas;
  }
}

function word(rgba) {
  return new Uint32Array(new Uint8Array(rgba).buffer)[0];
}
