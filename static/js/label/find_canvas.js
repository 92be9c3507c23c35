// The Find box's part of the canvas (concepts.js owns the rest): the found instances
// drawn tinted and outlined (selected ones in yellow), a click on one toggles it, and
// in example mode a drag is an example box (Shift: a wrong hit), drawn until cleared.
import { rleCounts } from "./rle.js";
import { round1 } from "./state.js";

const CLICK_SLOP = 4; // screen px: a press that moves less is a click, not a box

/**
 * @param {{state: object, viewer: import("./viewer.js").Viewer}} page
 * @param {{shown: () => object[], toggle: (item: object) => void, exemplarMode: () => boolean,
 *   exemplars: () => Array<Array<number | boolean>>, addExemplar: (box: Array<number | boolean>) => void}} find
 */
export function createFindCanvas({ state, viewer }, find) {
  let drawing = null; // {x, y, sx, sy, positive, to: [x, y]} while a box is dragged

  viewer.painters.push((ctx) => paint(ctx));

  /** The topmost shown instance under image pixel (x, y), or null. (SAM 3's boxes are
   * predicted apart from its masks, so the mask itself is asked, from its RLE.) */
  function instanceAt(x, y) {
    if (x < 0 || y < 0 || x >= state.width || y >= state.height) return null;
    const at = Math.floor(x) * state.height + Math.floor(y); // column-major, as COCO
    return find.shown().reverse().find((item) => covers(rleCounts(item.rle), at)) || null;
  }

  /** The canvas's presses go here first in example mode or with instances shown;
   * what this leaves goes to `next` (the polygon tool, or null: the usual tools). */
  function pointer(next) {
    // While a found instance is refined, clicks are its points, even on other instances.
    const refining = Boolean(state.current && state.current.seed);
    if (!find.exemplarMode() && (refining || !find.shown().length)) return next;
    if (!next) return canvasActions;
    return {
      down: (x, y, event, sx, sy) => canvasActions.down(x, y, event, sx, sy) || next.down(x, y, event, sx, sy),
      move: (x, y) => next.move && next.move(x, y),
      dragTo: (x, y) => (drawing ? canvasActions.dragTo(x, y) : next.dragTo && next.dragTo(x, y)),
      up: (x, y) => (drawing ? canvasActions.up(x, y) : next.up && next.up(x, y)),
    };
  }

  const canvasActions = {
    down(x, y, event, sx, sy) {
      if (event.altKey || event.button === 1) return null;
      if (find.exemplarMode() && event.button === 0) {
        drawing = { x, y, sx, sy, positive: !event.shiftKey, to: [x, y] };
        return "drag";
      }
      const item = event.button === 0 ? instanceAt(x, y) : null;
      if (!item) return null; // the usual tools have it
      find.toggle(item);
      return "handled";
    },
    dragTo(x, y) {
      if (!drawing) return;
      drawing.to = [x, y];
      viewer.redraw();
    },
    up(x, y) {
      const box = drawing;
      drawing = null;
      if (!box) return;
      const [sx, sy] = viewer.toScreen(x, y);
      if (Math.hypot(sx - box.sx, sy - box.sy) < CLICK_SLOP) {
        // A click in example mode still toggles the instance under it.
        const item = instanceAt(x, y);
        if (item) find.toggle(item); else viewer.redraw();
        return;
      }
      addExemplar(box.x, box.y, x, y, box.positive);
    },
  };

  function addExemplar(ax, ay, bx, by, positive) {
    const clampX = (v) => round1(Math.max(0, Math.min(state.width, v)));
    const clampY = (v) => round1(Math.max(0, Math.min(state.height, v)));
    const box = [clampX(Math.min(ax, bx)), clampY(Math.min(ay, by)), clampX(Math.max(ax, bx)), clampY(Math.max(ay, by))];
    if (box[2] - box[0] < 1 || box[3] - box[1] < 1) {
      viewer.redraw();
      return;
    }
    find.addExemplar([...box, positive]);
  }

  function paint(ctx) {
    const dpr = window.devicePixelRatio || 1;
    const visible = find.shown();
    if (visible.length && viewer.image) {
      const k = dpr * viewer.scale;
      ctx.save();
      ctx.setTransform(k, 0, 0, k, dpr * viewer.ox, dpr * viewer.oy);
      ctx.imageSmoothingEnabled = false;
      for (const item of visible) {
        const o = item.selected ? item.picked : item.overlay;
        ctx.globalAlpha = 0.3;
        ctx.drawImage(o.fill, o.x, o.y, o.w, o.h);
        ctx.globalAlpha = 1;
        ctx.drawImage(o.edge, o.x, o.y, o.w, o.h);
      }
      ctx.restore();
    }
    const boxes = find.exemplars().map((e) => ({ box: e, positive: e[4] }));
    if (drawing) boxes.push({ box: [drawing.x, drawing.y, ...drawing.to], positive: drawing.positive });
    for (const { box, positive } of boxes) {
      const [x0, y0] = viewer.toScreen(Math.min(box[0], box[2]), Math.min(box[1], box[3]));
      const [x1, y1] = viewer.toScreen(Math.max(box[0], box[2]), Math.max(box[1], box[3]));
      ctx.lineWidth = 2;
      ctx.setLineDash(positive ? [] : [5, 3]);
      ctx.strokeStyle = positive ? "#1fbf5b" : "#e5484d";
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
    }
  }

  return { pointer };
}

/** Is pixel `at` (column-major index) inside the mask of these RLE counts? */
function covers(counts, at) {
  let start = 0;
  for (let i = 0; i < counts.length; i += 1) {
    start += counts[i];
    if (at < start) return i % 2 === 1; // runs alternate 0s, 1s, starting with 0s
  }
  return false;
}

/** One pixel of a mask (its first in the RLE's column-major order), as [x, y]. */
export function firstPixel(rle) {
  const counts = rleCounts(rle);
  const at = counts[0] || 0;
  const height = rle.size[0];
  return [Math.floor(at / height), at % height];
}
