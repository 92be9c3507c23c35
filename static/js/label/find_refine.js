// Refining a Find instance with clicks: the instance becomes the mask being made (its
// pixels shown as the current mask, its box drawn), and the next click goes to the
// click model with the instance's box and its mask as the prompt (`mask` in
// docs/protocol.md); later clicks refine the model's answer as usual. Accepted
// before any click, it is saved as found (source "concept").
import { Mask } from "./mask.js";
import { clampX, clampY, newCurrent, round1 } from "./state.js";

/**
 * @param {{state: object, undo: ReturnType<import("./undo.js").createUndo>,
 *   ui: ReturnType<import("./rendering.js").createRendering>, pointTool: () => void}} page
 * @param {{rle: object, box: number[]}} item  a found instance
 * @param {number | null} category  the category its query saves as
 */
export function takeInstance({ state, undo, ui, pointTool }, item, category) {
  undo.remember("refine of a found instance");
  const [x0, y0, x1, y1] = item.box;
  const c = newCurrent();
  c.box = [clampX(state, x0), clampY(state, y0), clampX(state, x1), clampY(state, y1)].map(round1);
  c.edited = Mask.fromRLE(item.rle);
  c.seed = item.rle;
  c.source = "concept";
  state.current = c;
  state.promptSeq = null;
  if (category !== null && category !== undefined) {
    state.category = category;
    c.categoryChosen = true; // the chip's category: a click's suggestion does not replace it
    ui.renderCategory();
  }
  ui.select(null);
  pointTool();
  ui.refreshCurrent();
  ui.say("Refining the found instance: click to add to it, Shift+click to cut; Enter accepts.", "ok");
}
