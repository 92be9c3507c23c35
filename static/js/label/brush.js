// The brush and the eraser: painting into the mask being made, or into a selected
// saved mask (decoded at full size for the edit). A stroke is one undo step that
// keeps only the bytes of the rectangle it touched (undo.js); the canvas is redrawn
// at most once an animation frame while painting.
import { Mask } from "./mask.js";
import { currentMask, newCurrent } from "./state.js";

/**
 * @param {{state: object, undo: ReturnType<import("./undo.js").createUndo>,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   requireAnnotate: () => boolean, clearHover: () => void}} page
 */
export function createBrush({ state, undo, ui, requireAnnotate, clearHover }) {
  let strokeFrame = 0;

  function strokeStart(x, y, erase) {
    if (!requireAnnotate()) return;
    clearHover();
    if (!state.current && state.selected !== null) {
      // Edit a saved mask: decode it at full size once, for the duration of the edit.
      const ann = state.annotations.get(state.selected);
      undo.remember(erase ? "eraser stroke" : "brush stroke");
      state.current = newCurrent({ id: ann.id, version: ann.version });
      state.current.edited = Mask.fromRLE(ann.rle);
      state.category = ann.category;
      ui.renderCategory();
    } else if (!state.current) {
      if (erase) {
        ui.say("Nothing to erase: select a mask in the list, or make one first.", "warn");
        return;
      }
      undo.remember(erase ? "eraser stroke" : "brush stroke");
      state.current = newCurrent();
      state.current.edited = new Mask(state.width, state.height);
    }
    const c = state.current;
    if (!c.edited) {
      undo.remember(erase ? "eraser stroke" : "brush stroke");
      const base = currentMask(state);
      c.edited = base ? base.resized(state.width, state.height) : new Mask(state.width, state.height);
    }
    state.stroke = { mask: c.edited, copy: c.edited.data.slice(), value: erase ? 0 : 1, x, y, box: [x, y, x, y] };
    c.clicks += 1;
    paintTo(x, y);
  }

  function paintTo(x, y) {
    const s = state.stroke;
    if (!s) return;
    s.mask.stroke(s.x, s.y, x, y, state.brush, s.value);
    s.box = [Math.min(s.box[0], x), Math.min(s.box[1], y), Math.max(s.box[2], x), Math.max(s.box[3], y)];
    s.x = x;
    s.y = y;
    scheduleStrokeRefresh();
  }

  function scheduleStrokeRefresh() {
    if (strokeFrame) return;
    strokeFrame = requestAnimationFrame(() => {
      strokeFrame = 0;
      ui.refreshCurrent();
    });
  }

  function strokeEnd() {
    const s = state.stroke;
    if (!s) return;
    state.stroke = null;
    const r = s.mask.clip(s.box[0] - state.brush - 1, s.box[1] - state.brush - 1,
      s.box[2] + state.brush + 2, s.box[3] + state.brush + 2);
    const before = r ? new Mask(s.mask.width, s.mask.height, s.copy).getRect(r) : null;
    const after = r ? s.mask.getRect(r) : null;
    if (!r || sameBytes(before, after)) {
      // Nothing changed: no undo step, and an edit this stroke opened is closed again,
      // so Enter does not store an identical new version of the saved mask.
      const c = state.current;
      if (c && c.target && !c.dirty) {
        state.current = null;
        undo.dropLast(); // the step strokeStart remembered for opening the edit
      }
      ui.say(s.value ? "The brush added nothing: those pixels were already in the mask."
        : "The eraser changed nothing: no pixels of the mask were under it.", "warn");
      ui.refreshCurrent();
      return;
    }
    state.current.dirty = true;
    undo.pushStroke(s.mask, r, before, after, s.value ? "brush stroke" : "eraser stroke");
    ui.refreshCurrent();
  }

  return { strokeStart, paintTo, strokeEnd };
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
