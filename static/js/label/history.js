// Undo/redo for the mask being made: prompt steps (points, box, candidate choice)
// are snapshots of the editing state; brush strokes store only the bytes of the
// rectangle they touched, before and after. The stack is linear, so restoring
// strokes into the same Mask objects in reverse order is always consistent.

const LIMIT = 200;

export class History {
  constructor(apply) {
    this.apply = apply; // (entry, direction "undo" | "redo") => void
    this.done = [];
    this.undone = [];
  }

  push(entry) {
    this.done.push(entry);
    if (this.done.length > LIMIT) this.done.shift();
    this.undone = [];
  }

  undo() {
    const entry = this.done.pop();
    if (!entry) return false;
    this.apply(entry, "undo");
    this.undone.push(entry);
    return true;
  }

  redo() {
    const entry = this.undone.pop();
    if (!entry) return false;
    this.apply(entry, "redo");
    this.done.push(entry);
    return true;
  }

  /** Forget the latest step without applying it (it turned out to change nothing). */
  dropLast() {
    this.done.pop();
  }

  clear() {
    this.done = [];
    this.undone = [];
  }
}
