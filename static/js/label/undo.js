// Undo and redo on the labeling page, on the one stack in history.js.
// - The mask being made: a prompt step (point, box, candidate choice, discard)
//   remembers a snapshot of state.current before it changes it; a brush stroke pushes
//   the bytes of the rectangle it touched. These are undone in the page alone.
// - Saved changes: an accept, a delete, a new category, a brush or eraser edit of a
//   saved mask, a reviewer's verdict. Undoing one is a new versioned write on the
//   server, never a rewrite of the history: a delete (of an accepted mask), a
//   `restore` (of a deleted one, same id), or a `revert` of the change that made a
//   version (redo reverts the revert). Each carries the version it expects, so if
//   someone changed the mask since, the server answers `conflict` and saving.js shows
//   it exactly as for an edit; the step is then dropped.
import { History } from "./history.js";
import { snapshot } from "./state.js";

/**
 * @param {object} state
 * @param {() => void} refreshCurrent redraws the mask being made after a local step
 * @param {{request: (message: object, context: object) => boolean,
 *   onChange: (nextUndo: object | null, nextRedo: object | null) => void}} page
 *   `request` sends a socket request whose reply needs `context` (saving.js)
 */
export function createUndo(state, refreshCurrent, page) {
  const history = new History(apply, (next, again) => page.onChange(next, again));

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
    } else {
      return applySaved(entry, direction);
    }
    return undefined;
  }

  /** Send the write that undoes (or redoes) a saved change; false when offline. */
  function applySaved(entry, direction) {
    const { id, version } = entry;
    const message = entry.op === "change" ? { type: "revert", id, version }
      : entry.present ? { type: "delete", id, version } : { type: "restore", id, version };
    const verb = direction === "undo" ? "Undid" : "Redid";
    if (!page.request(message, { kind: "undo", id, entry, done: `${verb} ${entry.label}.` })) return false;
    // What the write makes is known now, so a second Ctrl+Z can follow before the
    // reply: a revert makes the next version, a delete keeps the version it removed,
    // a restore comes back at the one after.
    if (entry.op === "change") entry.version += 1;
    else if (entry.present) entry.present = false;
    else { entry.present = true; entry.version += 1; }
    return undefined;
  }

  return {
    /** Call before a prompt step changes state.current; `label` names the step. */
    remember: (label = "step") => history.push({ kind: "state", label, before: snapshot(state), after: null }),
    /** A finished stroke on `mask`: the bytes of `rect` before and after it. */
    pushStroke: (mask, rect, before, after, label = "stroke") =>
      history.push({ kind: "stroke", label, mask, rect, before, after }),
    /**
     * A saved change, once the server confirmed it. `op` "accept" (mask `id` now at
     * `version`), "delete" (removed at `version`) or "change" (made `version`).
     */
    pushSaved: (op, id, version, label) =>
      history.push({ kind: "saved", op, id, version, present: op !== "delete", label }),
    /** Each returns the entry it undid (redid), or null when there was none. */
    undo: () => history.undo(),
    redo: () => history.redo(),
    /** The mask being made is gone (accepted, or its edit closed): forget its steps. */
    clearLocal: () => history.filter((entry) => entry.kind === "saved"),
    /** A saved step that failed (conflict, refusal) cannot be taken again. */
    forget: (entry) => history.filter((other) => other !== entry),
    clear: () => history.clear(),
    dropLast: () => history.dropLast(),
  };
}
