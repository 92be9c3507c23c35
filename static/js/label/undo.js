// Undo and redo of the mask being made, on the stack in history.js: a prompt step
// (point, box, candidate choice, discard) remembers a snapshot of state.current
// before it changes it; a brush stroke pushes the bytes of the rectangle it touched.
import { History } from "./history.js";
import { snapshot } from "./state.js";

/** `refreshCurrent` redraws the mask being made after a step is undone or redone. */
export function createUndo(state, refreshCurrent) {
  const history = new History(apply);

  function restore(snap) {
    // Restored candidates are no longer the server's latest reply: accept sends an
    // RLE and the next prompt starts without refinement.
    state.current = snap ? { ...snap, points: snap.points.slice(), labels: snap.labels.slice(), fromServer: false } : null;
    state.promptSeq = null;
    state.awaitingEmbedding = false;
    refreshCurrent();
  }

  function apply(entry, direction) {
    if (entry.kind === "state") {
      if (direction === "undo") {
        entry.after = snapshot(state);
        restore(entry.before);
      } else {
        restore(entry.after);
      }
    } else if (entry.kind === "stroke") {
      entry.mask.putRect(entry.rect, direction === "undo" ? entry.before : entry.after);
      refreshCurrent();
    }
  }

  return {
    /** Call before a prompt step changes state.current. */
    remember: () => history.push({ kind: "state", before: snapshot(state), after: null }),
    /** A finished stroke on `mask`: the bytes of `rect` before and after it. */
    pushStroke: (mask, rect, before, after) => history.push({ kind: "stroke", mask, rect, before, after }),
    /** Each returns false when there was nothing to undo (redo). */
    undo: () => history.undo(),
    redo: () => history.redo(),
    clear: () => history.clear(),
    dropLast: () => history.dropLast(),
  };
}
