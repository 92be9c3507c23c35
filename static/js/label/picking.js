// Which saved masks lie under the pointer, topmost first: what a click in the select
// tool (or an Alt+click in any tool) selects and what hovering highlights. A mask is
// tested from its RLE at the one pixel, after a bbox check, so no mask is decoded;
// the RLE's counts are parsed once per stored version (a WeakMap on the annotation
// object, which a save or a push replaces).
import { rleCounts } from "./rle.js";

const counts = new WeakMap();

/** Ids of the drawn saved masks covering image pixel (x, y), the topmost first. */
export function masksAt(state, x, y, visible) {
  const px = Math.floor(x);
  const py = Math.floor(y);
  const hits = [];
  for (const ann of state.annotations.values()) {
    if (!visible(ann.id)) continue;
    const [bx, by, bw, bh] = ann.bbox;
    if (px < bx || py < by || px >= bx + bw || py >= by + bh) continue;
    if (contains(ann, px, py)) hits.push(ann.id);
  }
  return hits.reverse(); // drawn in map order, so the last drawn is on top
}

/** Is pixel (x, y) set in the annotation's column-major COCO RLE? */
function contains(ann, x, y) {
  let runs = counts.get(ann);
  if (!runs) {
    runs = rleCounts(ann.rle);
    counts.set(ann, runs);
  }
  const height = ann.rle.size[0];
  const index = x * height + y;
  let pos = 0;
  for (let i = 0; i < runs.length; i += 1) {
    pos += runs[i];
    if (index < pos) return i % 2 === 1; // runs alternate, starting with background
  }
  return false;
}

/**
 * The mask a click at (x, y) selects: the topmost; with `cycle`, the one below the
 * current selection (wrapping), so repeated Alt+clicks walk through overlapping masks.
 */
export function pickAt(hits, selected, cycle) {
  if (!hits.length) return null;
  if (!cycle) return hits[0];
  const at = hits.indexOf(selected);
  return hits[(at + 1) % hits.length]; // not selected yet (-1): the topmost
}
