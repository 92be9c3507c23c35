// The polygon tool, for what SAM gets wrong: click vertices, close the polygon (on
// its first vertex, with Enter or a double-click), and it becomes the mask being
// made ("new"), is added to it ("add") or cut out of it ("cut"). Shift on the
// closing click (or Enter) adds and Ctrl cuts whatever the mode; M cycles the mode.
// Like the brush, add and cut on a selected saved mask open it for editing, and
// Enter then stores a new version. Each closed polygon is one undo step.
import { Mask } from "./mask.js";
import { combine, fillRings } from "./rasterise.js";
import { currentMask, newCurrent, round1 } from "./state.js";
import { isTyping } from "./tools.js";
import { GRAB, drawOpenPolygon } from "./vector_marks.js";

export const POLYGON_MODES = ["new", "add", "cut"];
const MODE_TEXT = { new: "new mask", add: "add to the mask", cut: "cut from the mask" };
const DOUBLE_MS = 400; // a second press this soon, on the same spot, closes
const DOUBLE_SLOP = 5; // CSS px
const FALLBACK_MAX_VERTICES = 2000; // until hello brings the server's bound

/**
 * @param {{state: object, root: HTMLElement, viewer: import("./viewer.js").Viewer,
 *   undo: ReturnType<import("./undo.js").createUndo>,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   requireAnnotate: () => boolean, clearHover: () => void}} page
 */
export function createPolygon({ state, root, viewer, undo, ui, requireAnnotate, clearHover }) {
  let vertices = []; // [[x, y], ...] image pixels
  let cursor = null; // where the rubber band ends
  let mode = "new";
  let held = null; // "add" | "cut" while Shift | Ctrl is held: the preview shows it
  let lastPress = { at: 0, sx: 0, sy: 0 };

  viewer.painters.push((ctx) => {
    if (state.tool === "polygon") drawOpenPolygon(ctx, viewer, vertices, cursor, held || mode);
  });

  const maxVertices = () => state.limits.max_polygon_vertices ?? FALLBACK_MAX_VERTICES;
  const clampPoint = (x, y) => [round1(Math.max(0, Math.min(state.width, x))), round1(Math.max(0, Math.min(state.height, y)))];

  function changed() {
    root.dataset.polygonVertices = String(vertices.length);
    viewer.redraw();
  }

  /** A press on the canvas in the polygon tool: "handled", or null to let the page's
   * usual handling (Alt+click selects) have it. */
  function down(x, y, event, sx, sy) {
    if (event.altKey) return null;
    if (event.button === 2) {
      removeLast();
      return "handled";
    }
    if (event.button !== 0 || !requireAnnotate()) return "handled";
    clearHover();
    const now = performance.now();
    const again = now - lastPress.at < DOUBLE_MS && Math.hypot(sx - lastPress.sx, sy - lastPress.sy) < DOUBLE_SLOP;
    lastPress = { at: now, sx, sy };
    if (vertices.length >= 3) {
      const [fx, fy] = viewer.toScreen(vertices[0][0], vertices[0][1]);
      if (again || Math.hypot(sx - fx, sy - fy) <= GRAB) {
        close(modifierMode(event));
        lastPress.at = 0; // a third press starts a new polygon, not another close
        return "handled";
      }
    }
    if (again) return "handled"; // a double-click with too few vertices: not twice the same one
    if (vertices.length >= maxVertices()) {
      ui.say(`A polygon can have at most ${maxVertices()} vertices: close it (Enter).`, "warn");
      return "handled";
    }
    vertices.push(clampPoint(x, y));
    if (vertices.length === 1) ui.say("Polygon: click more vertices; close on the first one, with Enter or a double-click. Backspace removes the last, Esc cancels.");
    changed();
    return "handled";
  }

  function move(x, y) {
    cursor = x === null ? null : clampPoint(x, y);
    if (vertices.length) viewer.redraw();
  }

  function removeLast() {
    if (!vertices.length) return;
    vertices.pop();
    changed();
  }

  function cancel() {
    const had = vertices.length > 0;
    vertices = [];
    changed();
    return had;
  }

  const modifierMode = (event) => (event && (event.ctrlKey || event.metaKey) ? "cut" : event && event.shiftKey ? "add" : mode);

  /** Close the polygon and apply it to the mask being made, in mode `how`. */
  function close(how) {
    if (vertices.length < 3) {
      ui.say("A polygon needs at least 3 vertices.", "warn");
      return;
    }
    const shape = fillRings([vertices], state.width, state.height);
    const count = vertices.length;
    cancel();
    if (!shape.area()) {
      ui.say("That polygon covers no pixel: draw it larger.", "warn");
      return;
    }
    apply(shape, how, count);
  }

  function apply(shape, how, count) {
    const { width, height } = state;
    if (how === "new") {
      undo.remember();
      state.current = newCurrent();
      state.current.edited = shape;
      state.current.clicks = count;
      state.promptSeq = null; // a reply still on its way must not replace the polygon
      ui.select(null);
      ui.refreshCurrent();
      ui.say(`Polygon: a new mask of ${shape.area().toLocaleString()} px. Enter accepts it.`);
      return;
    }
    let opened = false;
    let base;
    if (!state.current && state.selected !== null && state.annotations.has(state.selected)) {
      // Add to or cut from a saved mask: open it for editing, as the brush does.
      const ann = state.annotations.get(state.selected);
      undo.remember();
      state.current = newCurrent({ id: ann.id, version: ann.version });
      state.category = ann.category;
      ui.renderCategory();
      base = Mask.fromRLE(ann.rle);
      opened = true;
    } else if (!state.current) {
      if (how === "cut") {
        ui.say("Nothing to cut from: make a mask or select a saved one first.", "warn");
        return;
      }
      undo.remember();
      state.current = newCurrent();
      base = new Mask(width, height);
    } else {
      undo.remember();
      const mask = currentMask(state);
      base = mask ? mask.resized(width, height) : new Mask(width, height);
    }
    const next = combine(base, shape, how);
    if (sameBytes(next.data, base.data)) {
      undo.dropLast();
      if (opened) state.current = null;
      else if (!currentMask(state) && !state.current.points.length && !state.current.box) state.current = null;
      ui.refreshCurrent();
      ui.say(how === "cut" ? "The cut removed nothing: the polygon lies outside the mask." : "The polygon added nothing: it lies inside the mask.", "warn");
      return;
    }
    const c = state.current;
    c.edited = next;
    c.dirty = true;
    c.clicks += count;
    state.promptSeq = null;
    ui.refreshCurrent();
    ui.say(`Polygon ${how === "cut" ? "cut" : "added"}: the mask is now ${next.area().toLocaleString()} px. Enter accepts it.`);
  }

  function setMode(next) {
    mode = next;
    for (const button of root.querySelectorAll("[data-polygon-mode]")) {
      button.setAttribute("aria-pressed", String(button.dataset.polygonMode === mode));
    }
    root.dataset.polygonMode = mode;
    viewer.redraw();
  }

  function cycleMode() {
    setMode(POLYGON_MODES[(POLYGON_MODES.indexOf(mode) + 1) % POLYGON_MODES.length]);
    ui.say(`Polygon mode: ${MODE_TEXT[mode]} (M changes it).`);
  }

  /** Enter, Esc, Backspace and Delete belong to the polygon while one is being drawn. */
  function onKey(event) {
    if (event.key === "Shift" || event.key === "Control" || event.key === "Meta") {
      trackHeld(event);
      return;
    }
    if (state.tool !== "polygon" || !vertices.length) return;
    if (root.querySelector("#help").open || isTyping(event.target)) return;
    const key = event.key;
    if (key === "Enter") close(modifierMode(event));
    else if (key === "Escape") { cancel(); ui.say("Polygon cancelled."); }
    else if (key === "Backspace" || key === "Delete") removeLast();
    else return;
    event.preventDefault();
    event.stopImmediatePropagation(); // not also accept, discard or delete a mask
  }

  function trackHeld(event) {
    const next = event.ctrlKey || event.metaKey ? "cut" : event.shiftKey ? "add" : null;
    if (next !== held) {
      held = next;
      if (vertices.length) viewer.redraw();
    }
  }

  function wire() {
    for (const button of root.querySelectorAll("[data-polygon-mode]")) {
      button.addEventListener("click", () => setMode(button.dataset.polygonMode));
    }
    // Capture: this runs before the page's shortcuts (commands.js) and can keep them out.
    window.addEventListener("keydown", onKey, true);
    window.addEventListener("keyup", trackHeld, true);
    window.addEventListener("blur", () => { held = null; });
    setMode(mode);
    changed();
  }

  /** The tool changed: a polygon half drawn in another tool would be a surprise later. */
  function toolChanged(tool) {
    if (tool !== "polygon" && cancel()) ui.say("The unfinished polygon was dropped.");
    if (tool === "polygon") ui.say(`Polygon (${MODE_TEXT[mode]}): click the vertices. M or the buttons change the mode; Shift adds, Ctrl cuts.`);
  }

  return { down, move, cycleMode, setMode, toolChanged, wire, drawing: () => vertices.length > 0 };
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
