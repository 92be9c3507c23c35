// The labeling page's state: one object, with every field declared here (and the
// object sealed, so no module can add one on the fly), and small accessors that read
// it. Modules change fields directly; nothing here touches the DOM or the socket.
// Coordinates are image pixels of the displayed (EXIF-rotated) image.

export const HOVER_SETTING = "anymask.hoverPreview";

/** The page's state before the socket's hello, from the label-app data attributes. */
export function createState(info) {
  return Object.seal({
    width: Number(info.width),
    height: Number(info.height),
    // From the page until the socket's hello, then from hello's abilities.
    canAnnotate: info.canAnnotate === "true",
    canReview: false,
    username: null, // set from hello; presence leaves this user out
    // The server's bounds, from hello (docs/protocol.md); unknown until then.
    limits: { max_points: null, max_frame_bytes: null, max_review_comment: null },
    tool: "point",
    brush: 12,
    opacity: 0.45,
    showSaved: true,
    category: null,
    categories: [],
    annotations: new Map(), // id -> ANNOTATION
    overlays: new Map(), // id -> {key, overlay}
    hidden: new Set(),
    selected: null,
    hovered: null, // the saved mask under the pointer (select tool) or the list's cursor
    soloSelected: false, // draw only the selected saved mask ("S")
    current: null, // the mask being made or edited; see newCurrent()
    currentOverlay: null,
    promptSeq: null, // seq of the prompt whose reply we are waiting for
    awaitingEmbedding: false,
    pendingTimer: 0, // retries a prompt answered "pending" (see prompting.js)
    embedding: info.embedding,
    // idempotency key -> {base, mask, category, sent, overlay} until "saved"
    outbox: new Map(),
    requests: new Map(), // seq -> {kind, ...} for replies that need context
    stroke: null, // the brush stroke in progress; see brush.js
    connected: false,
    // Hover preview: the mask a click here would give, at most one request in flight.
    hover: { enabled: readSetting(HOVER_SETTING), at: null, seq: null, sentAt: 0, again: false, timer: 0, overlay: null },
  });
}

/** A fresh mask being made; `target` is {id, version} when editing a saved mask. */
export function newCurrent(target = null) {
  return {
    points: [], labels: [], box: null,
    candidates: [], chosen: 0, edited: null,
    // True while `candidates` are this connection's latest `masks` reply, so the
    // server can refine from them and store a chosen one at full resolution.
    fromServer: false,
    target,
    // An edit of a saved mask starts as that mask: false until a stroke changes a pixel.
    dirty: target === null,
    clicks: 0, started: performance.now(),
    // The annotator picked this mask's category: suggestions no longer change it.
    categoryChosen: false,
    // A Find instance taken into refinement (find_refine.js): its RLE, sent as the
    // mask prompt until the model answers; `source` "concept" while it is still the
    // instance as found (a SAM answer clears it: accept saves "sam").
    seed: null,
    source: null,
  };
}

/** The mask being made: the edited one, else the chosen candidate; or null. */
export function currentMask(state) {
  const c = state.current;
  if (!c) return null;
  return c.edited || (c.candidates[c.chosen] && c.candidates[c.chosen].mask) || null;
}

/** Is saved mask `id` drawn? (Hidden ones and, in solo mode, all but the selected are not.) */
export function isDrawn(state, id) {
  if (!state.showSaved || state.hidden.has(id)) return false;
  return !state.soloSelected || state.selected === null || state.selected === id;
}

/** Is there a mask being made that leaving the page would throw away? */
export function hasUnacceptedMask(state) {
  const c = state.current;
  if (!c) return false;
  if (c.target) return c.dirty; // an untouched edit of a saved mask loses nothing
  const mask = currentMask(state);
  return Boolean(mask && mask.area()) || c.points.length > 0 || c.box !== null;
}

/** A copy of the mask being made, for undo. */
export function snapshot(state) {
  const c = state.current;
  if (!c) return null;
  return { ...c, points: c.points.slice(), labels: c.labels.slice() };
}

export const round1 = (v) => Math.round(v * 10) / 10;
export const clampX = (state, x) => Math.max(0, Math.min(state.width - 0.01, x));
export const clampY = (state, y) => Math.max(0, Math.min(state.height - 0.01, y));
export const inside = (state, x, y) => x >= 0 && y >= 0 && x < state.width && y < state.height;

// Preferences survive a reload; storage may be unavailable (private mode, policy).
export function readSetting(name) {
  try { return window.localStorage.getItem(name) === "true"; } catch { return false; }
}
export function writeSetting(name, value) {
  try { window.localStorage.setItem(name, String(value)); } catch { /* not kept */ }
}
