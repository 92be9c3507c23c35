// The undo/redo stack of the labeling page: prompt steps (points, box, candidate
// choice) are snapshots of the editing state; brush strokes store only the bytes of
// the rectangle they touched, before and after; saved changes (accept, delete,
// category, edit, verdict) are server operations (undo.js). The stack is linear, so
// restoring strokes into the same Mask objects in reverse order is always consistent.
// It lives as long as the page: a reload or another image starts it afresh.

const LIMIT = 200;

export class History {
  /**
   * @param {(entry: object, direction: "undo" | "redo") => (void | false)} apply
   *   false: the step could not be taken now (offline) and stays where it was
   * @param {(nextUndo: object | null, nextRedo: object | null) => void} onChange
   */
  constructor(apply, onChange = () => {}) {
    this.apply = apply;
    this.onChange = onChange;
    this.done = [];
    this.undone = [];
  }

  get nextUndo() { return this.done.at(-1) ?? null; }
  get nextRedo() { return this.undone.at(-1) ?? null; }

  changed() { this.onChange(this.nextUndo, this.nextRedo); }

  push(entry) {
    this.done.push(entry);
    if (this.done.length > LIMIT) this.done.shift();
    this.undone = [];
    this.changed();
  }

  /** The entry undone (or kept, if it could not be), or null when there was none. */
  undo() { return this.move(this.done, this.undone, "undo"); }
  redo() { return this.move(this.undone, this.done, "redo"); }

  move(from, to, direction) {
    const entry = from.pop();
    if (!entry) return null;
    if (this.apply(entry, direction) === false) from.push(entry);
    else to.push(entry);
    this.changed();
    return entry;
  }

  /** Forget the latest step without applying it (it turned out to change nothing). */
  dropLast() {
    this.done.pop();
    this.changed();
  }

  /** Keep only the entries `keep` accepts, on both stacks. */
  filter(keep) {
    this.done = this.done.filter(keep);
    this.undone = this.undone.filter(keep);
    this.changed();
  }

  clear() {
    this.done = [];
    this.undone = [];
    this.changed();
  }
}
