// "Edit outline" of a selected saved mask: the server traces it into simplified rings
// (docs/protocol.md, `outline`), holes as rings of their own; the page shows them
// with draggable vertices. Clicking an edge adds a vertex, Alt+click or a right click
// removes one, Ctrl+Z takes back the last change. Enter fills the rings with the
// even-odd rule (holes stay holes) and stores the result as a new version of the mask
// through the ordinary edit (`update`), so someone else's newer version is a conflict
// as for any brush edit; Esc leaves the mask as it was.
import { fillRings, ringArea2 } from "./rasterise.js";
import { hasUnacceptedMask, newCurrent, round1 } from "./state.js";
import { isTyping } from "./tools.js";
import { EDGE_GRAB, GRAB, drawOutline } from "./vector_marks.js";

const FALLBACK_MAX_VERTICES = 2000;
const STEPS_KEPT = 100;

/**
 * @param {{state: object, root: HTMLElement, viewer: import("./viewer.js").Viewer,
 *   socket: import("./socket.js").LabelSocket,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   saving: ReturnType<import("./saving.js").createSaving>,
 *   requireAnnotate: () => boolean}} page
 */
export function createOutlineEdit({ state, root, viewer, socket, ui, saving, requireAnnotate }) {
  const $ = (selector) => root.querySelector(selector);
  let pending = null; // {seq, id} while the server traces the outline
  let edit = null; // {id, version, rings, holes, changed, steps, active: [ring, index] | null}
  let drag = null; // [ring, index] of the vertex being dragged

  viewer.painters.push((ctx) => {
    if (!edit) return;
    const active = edit.active ? edit.rings[edit.active[0]][edit.active[1]] : null;
    drawOutline(ctx, viewer, edit.rings, edit.holes, active);
  });

  const maxVertices = () => state.limits.max_polygon_vertices ?? FALLBACK_MAX_VERTICES;
  const vertexCount = () => (edit ? edit.rings.reduce((n, ring) => n + ring.length, 0) : 0);

  function show() {
    root.dataset.outlineEditing = edit ? "true" : "false";
    root.dataset.outlineVertices = String(vertexCount());
    root.dataset.outlineRings = edit ? String(edit.rings.length) : "0";
    $("#outline-panel").hidden = !edit;
    if (edit) $("#outline-title").textContent = `Editing the outline of mask #${edit.id}`;
    viewer.redraw();
  }

  /** Ask the server for the selected mask's outline. */
  function start() {
    if (!requireAnnotate()) return;
    const ann = state.selected === null ? null : state.annotations.get(state.selected);
    if (!ann) {
      ui.say("Select a saved mask first (click it with V, or J / K), then Edit outline (U).", "warn");
      return;
    }
    if (edit && edit.id === ann.id) return;
    if (state.current && hasUnacceptedMask(state)) {
      ui.say("Accept (Enter) or discard (Esc) the mask being made before editing an outline.", "warn");
      return;
    }
    if (edit) cancel(true);
    const seq = socket.send({ type: "outline", id: ann.id });
    if (seq === null) {
      ui.say("Offline: reconnecting… try again in a moment.", "error");
      return;
    }
    pending = { seq, id: ann.id };
    ui.say(`Tracing the outline of mask #${ann.id}…`);
  }

  /** The reply to our `outline` request (or its error); false for any other message. */
  function onReply(message) {
    if (!pending || message.seq !== pending.seq) return false;
    pending = null;
    if (message.type === "error") {
      ui.say(`${message.detail} (${message.code})`, "error");
      return true;
    }
    if (message.type !== "outline") return true;
    const ann = state.annotations.get(message.id);
    if (!ann) {
      ui.say(`Mask #${message.id} was deleted meanwhile.`, "warn");
      return true;
    }
    const rings = [];
    for (const flat of message.rings) {
      const ring = [];
      for (let i = 0; i + 1 < flat.length; i += 2) ring.push([flat[i], flat[i + 1]]);
      rings.push(ring);
    }
    // The tracer walks outlines one way round and holes the other: the sign says which.
    const holes = rings.map((ring) => ringArea2(ring) < 0);
    edit = { id: message.id, version: message.version, rings, holes, changed: false, steps: [], active: null };
    state.current = null; // nothing being made: Enter and Esc are the outline's now
    ui.refreshCurrent();
    show();
    const holeCount = holes.filter(Boolean).length;
    ui.say(`Outline of mask #${edit.id}: ${vertexCount()} vertices${holeCount ? `, ${holeCount} hole(s) (dashed blue)` : ""}${message.tolerance > 1 ? `, simplified at ${message.tolerance} px` : ""}. Drag vertices; Enter saves, Esc cancels.`);
    return true;
  }

  function remember() {
    edit.steps.push(edit.rings.map((ring) => ring.map((p) => p.slice())));
    if (edit.steps.length > STEPS_KEPT) edit.steps.shift();
  }

  function undoStep() {
    const last = edit.steps.pop();
    if (!last) {
      ui.say("Nothing to undo in this outline.");
      return;
    }
    edit.rings = last;
    edit.active = null;
    edit.changed = edit.steps.length > 0;
    show();
  }

  /** The vertex within GRAB CSS px of screen point (sx, sy): [ring, index] or null. */
  function vertexAt(sx, sy) {
    let best = null;
    let bestD = GRAB;
    edit.rings.forEach((ring, r) => ring.forEach(([x, y], i) => {
      const [px, py] = viewer.toScreen(x, y);
      const d = Math.hypot(px - sx, py - sy);
      if (d <= bestD) { best = [r, i]; bestD = d; }
    }));
    return best;
  }

  /** The edge within EDGE_GRAB CSS px: {ring, after (index of its first vertex)}. */
  function edgeAt(sx, sy) {
    let best = null;
    let bestD = EDGE_GRAB;
    edit.rings.forEach((ring, r) => ring.forEach((a, i) => {
      const b = ring[(i + 1) % ring.length];
      const [ax, ay] = viewer.toScreen(a[0], a[1]);
      const [bx, by] = viewer.toScreen(b[0], b[1]);
      const dx = bx - ax;
      const dy = by - ay;
      const len2 = dx * dx + dy * dy;
      const t = len2 ? Math.max(0, Math.min(1, ((sx - ax) * dx + (sy - ay) * dy) / len2)) : 0;
      const d = Math.hypot(ax + t * dx - sx, ay + t * dy - sy);
      if (d <= bestD) { best = { ring: r, after: i }; bestD = d; }
    }));
    return best;
  }

  const clampPoint = (x, y) => [round1(Math.max(0, Math.min(state.width, x))), round1(Math.max(0, Math.min(state.height, y)))];

  /** A press while editing: every press is ours (no selecting or painting meanwhile). */
  function down(x, y, event, sx, sy) {
    const hit = vertexAt(sx, sy);
    if (hit && (event.button === 2 || event.altKey)) {
      removeVertex(hit);
      return "handled";
    }
    if (event.button !== 0) return "handled";
    if (hit) {
      remember();
      drag = hit;
      edit.active = hit;
      return "drag";
    }
    const edge = edgeAt(sx, sy);
    if (edge) {
      if (vertexCount() >= maxVertices()) {
        ui.say(`An outline can have at most ${maxVertices()} vertices.`, "warn");
        return "handled";
      }
      remember();
      edit.rings[edge.ring].splice(edge.after + 1, 0, clampPoint(x, y));
      drag = [edge.ring, edge.after + 1];
      edit.active = drag;
      edit.changed = true;
      show();
      return "drag";
    }
    edit.active = null;
    viewer.redraw();
    return "handled";
  }

  function dragTo(x, y) {
    if (!drag) return;
    edit.rings[drag[0]][drag[1]] = clampPoint(x, y);
    edit.changed = true;
    viewer.redraw();
  }

  function up() {
    drag = null;
    show();
  }

  function removeVertex([r, i]) {
    const ring = edit.rings[r];
    if (ring.length <= 3) {
      ui.say(edit.holes[r] ? "A hole needs 3 vertices; to fill it, save and paint it with the brush." : "A ring needs at least 3 vertices.", "warn");
      return;
    }
    remember();
    ring.splice(i, 1);
    edit.active = null;
    edit.changed = true;
    show();
  }

  /** Fill the rings and store them as the mask's next version. */
  function save() {
    if (!edit.changed) {
      const { id } = edit;
      cancel(true);
      ui.say(`The outline of mask #${id} is unchanged; nothing was saved.`);
      return;
    }
    const mask = fillRings(edit.rings, state.width, state.height);
    if (!mask.area()) {
      ui.say("The outline encloses no pixel: move the vertices apart, or Esc.", "warn");
      return;
    }
    const ann = state.annotations.get(edit.id);
    if (!ann) {
      ui.say(`Mask #${edit.id} was deleted meanwhile; the edit cannot be saved.`, "error");
      cancel(true);
      return;
    }
    // The version the outline was read at: if someone saved since, this is a conflict.
    state.current = newCurrent({ id: edit.id, version: edit.version });
    state.current.edited = mask;
    state.current.dirty = true;
    if (ann.category !== null || state.category === null) state.category = ann.category;
    ui.renderCategory();
    edit = null;
    show();
    saving.accept();
  }

  function cancel(quiet = false) {
    if (!edit) return;
    const id = edit.id;
    edit = null;
    drag = null;
    show();
    if (!quiet) ui.say(`Outline edit of mask #${id} cancelled; the mask is unchanged.`);
  }

  function onKey(event) {
    if (!edit || root.querySelector("#help").open || isTyping(event.target)) return;
    const key = event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    if (key === "Enter") save();
    else if (key === "Escape") cancel();
    else if ((key === "Backspace" || key === "Delete") && edit.active) removeVertex(edit.active);
    else if (key === "Backspace" || key === "Delete") ui.say("Click a vertex first, or Alt+click / right-click it to remove it.");
    else if (ctrl && key.toLowerCase() === "z" && !event.shiftKey) undoStep();
    else return;
    event.preventDefault();
    event.stopImmediatePropagation(); // not also accept, discard, delete or undo a mask
  }

  function wire() {
    window.addEventListener("keydown", onKey, true);
    $("#edit-outline").addEventListener("click", start);
    $("#outline-save").addEventListener("click", () => { if (edit) save(); });
    $("#outline-cancel").addEventListener("click", () => cancel());
    show();
  }

  /** A saved mask changed or went away while its outline is open. */
  function annotationsChanged() {
    if (edit && !state.annotations.has(edit.id)) {
      ui.say(`Mask #${edit.id} was deleted while you edited its outline.`, "warn");
      cancel(true);
    }
  }

  return {
    start, onReply, down, dragTo, up, wire, cancel, annotationsChanged,
    active: () => edit !== null,
    changed: () => edit !== null && edit.changed,
  };
}
