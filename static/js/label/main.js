// The labeling page: state, socket messages, and the glue between the pieces.
// Protocol: docs/protocol.md. Coordinates are always image pixels of the displayed
// (EXIF-rotated) image, which is what the display view serves.
import { renderAnnotationList, colourOf } from "./annotations.js";
import { History } from "./history.js";
import { renderHelp, shortcutFor } from "./keys.js";
import { Mask } from "./mask.js";
import { overlayFromMask, overlayFromRLE } from "./overlay.js";
import { LabelSocket } from "./socket.js";
import { attachPointer, isTyping } from "./tools.js";
import { attachChangelog } from "./changelog.js";
import { Viewer } from "./viewer.js";

const root = document.getElementById("label-app");
const $ = (selector) => root.querySelector(selector);
const CURRENT_COLOUR = "#ffd400";
const PREVIEW_MAX_SIDE = 2048;
const PENDING_RETRY_MS = 3000;
const BRUSH_MIN = 1;
const BRUSH_MAX = 200;
const HOVER_COLOUR = "#7fd4ff";
const HOVER_REST_MS = 90; // the cursor rests this long before a preview is asked for
const HOVER_MAX_SIDE = 1024; // a preview need not be sharp
const HOVER_SETTING = "anymask.hoverPreview";
const HOVER_LOST_MS = 2000;

const info = root.dataset;
const changelog = attachChangelog(document.getElementById("history"));
const state = {
  width: Number(info.width),
  height: Number(info.height),
  canAnnotate: info.canAnnotate === "true",
  canReview: false, // set from the socket's hello
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
  current: null, // the mask being made or edited; see newCurrent()
  currentOverlay: null,
  promptSeq: null, // seq of the prompt whose reply we are waiting for
  awaitingEmbedding: false,
  embedding: info.embedding,
  outbox: new Map(), // idempotency key -> {message, mask, category} until "saved"
  requests: new Map(), // seq -> {kind, ...} for replies that need context
  stroke: null,
  connected: false,
  // Hover preview: the mask a click here would give, at most one request in flight.
  hover: { enabled: readSetting(HOVER_SETTING), at: null, seq: null, sentAt: 0, again: false, timer: 0, overlay: null },
};

const viewer = new Viewer($("#canvas"));
const history = new History(applyHistory);

// ---- The mask being made --------------------------------------------------------

function newCurrent(target = null) {
  return {
    points: [], labels: [], box: null,
    candidates: [], chosen: 0, edited: null,
    // True while `candidates` are this connection's latest `masks` reply, so the
    // server can refine from them and store a chosen one at full resolution.
    fromServer: false,
    target, // {id, version} when editing a saved mask
    clicks: 0, started: performance.now(),
  };
}

function currentMask() {
  const c = state.current;
  if (!c) return null;
  return c.edited || (c.candidates[c.chosen] && c.candidates[c.chosen].mask) || null;
}

function snapshot() {
  const c = state.current;
  if (!c) return null;
  return { ...c, points: c.points.slice(), labels: c.labels.slice() };
}

function restore(snap) {
  // Restored candidates are no longer the server's latest reply: accept sends an
  // RLE and the next prompt starts without refinement.
  state.current = snap ? { ...snap, points: snap.points.slice(), labels: snap.labels.slice(), fromServer: false } : null;
  state.promptSeq = null;
  state.awaitingEmbedding = false;
  refreshCurrent();
}

function remember() {
  history.push({ kind: "state", before: snapshot(), after: null });
}

function applyHistory(entry, direction) {
  if (entry.kind === "state") {
    if (direction === "undo") {
      entry.after = snapshot();
      restore(entry.before);
    } else {
      restore(entry.after);
    }
  } else if (entry.kind === "stroke") {
    entry.mask.putRect(entry.rect, direction === "undo" ? entry.before : entry.after);
    refreshCurrent();
  }
}

function refreshCurrent() {
  const mask = currentMask();
  const c = state.current;
  state.currentOverlay = mask
    ? overlayFromMask(mask, state.width, state.height, CURRENT_COLOUR, "#ffffff")
    : null;
  viewer.marks.points = c ? c.points : [];
  viewer.marks.labels = c ? c.labels : [];
  viewer.marks.box = c ? c.box : null;
  root.dataset.maskArea = mask ? String(mask.area()) : "0";
  root.dataset.maskWidth = mask ? String(mask.width) : "0"; // a preview's, for large images
  renderCandidates();
  renderLayers();
  updateAcceptButton();
}

// ---- Prompts --------------------------------------------------------------------

function requireAnnotate() {
  if (state.canAnnotate) return true;
  say("Your role can view this project but not draw masks.", "error");
  return false;
}

function addPoint(x, y, label) {
  if (!requireAnnotate() || !inside(x, y)) return;
  clearHover();
  remember();
  if (!state.current || state.current.target) startFresh();
  state.current.points.push([round1(x), round1(y)]);
  state.current.labels.push(label);
  state.current.clicks += 1;
  refreshCurrent();
  sendPrompt();
}

function setBox(box) {
  if (!requireAnnotate()) return;
  const clipped = [clampX(box[0]), clampY(box[1]), clampX(box[2]), clampY(box[3])].map(round1);
  if (clipped[2] - clipped[0] < 2 || clipped[3] - clipped[1] < 2) return;
  clearHover();
  remember();
  if (!state.current || state.current.target) startFresh();
  state.current.box = clipped;
  state.current.clicks += 1;
  refreshCurrent();
  sendPrompt();
}

function startFresh() {
  state.current = newCurrent();
  select(null);
}

function sendPrompt() {
  const c = state.current;
  if (!c || (!c.points.length && !c.box)) return;
  const message = {
    type: "prompt",
    points: c.points,
    labels: c.labels,
    refine: c.fromServer && !c.edited && c.candidates.length ? c.chosen : null,
    multimask: null,
    preview_max_side: PREVIEW_MAX_SIDE,
  };
  if (c.box) message.box = c.box;
  const seq = socket.send(message);
  state.promptSeq = seq;
  if (seq === null) {
    say("Offline: the mask will be computed when the connection is back.", "warn");
    return;
  }
  setBusy(true);
}

function onMasks(reply) {
  if (reply.seq !== state.promptSeq || !state.current) return; // stale or discarded
  state.promptSeq = null;
  state.awaitingEmbedding = false;
  setBusy(false);
  const c = state.current;
  c.candidates = reply.candidates.map((candidate) => ({
    mask: Mask.fromRLE(candidate.rle), score: candidate.score, area: candidate.area,
  }));
  c.chosen = 0;
  c.edited = null;
  c.fromServer = true;
  $("#decode-ms").textContent = `${Math.round(reply.decode_ms)} ms`;
  if (!c.candidates.length) say("The model found no mask there; try another point.", "warn");
  else say("");
  refreshCurrent();
}

function onPending(reply) {
  if (reply.seq !== state.promptSeq) return;
  state.awaitingEmbedding = true;
  setEmbedding(reply.embedding || "running");
  say("Preparing image… your click will be answered as soon as it is ready.", "warn");
  // The embedding push normally triggers the resend; retry on a timer as well, in
  // case the push was missed (e.g. across a reconnect).
  clearTimeout(state.pendingTimer);
  state.pendingTimer = setTimeout(() => {
    if (state.awaitingEmbedding) sendPrompt();
  }, PENDING_RETRY_MS);
}

function pickCandidate(index) {
  const c = state.current;
  if (!c || !c.candidates[index]) return;
  if (index === c.chosen && !c.edited) return;
  remember();
  c.chosen = index;
  c.edited = null;
  refreshCurrent();
}

function cycleCandidate(step) {
  const c = state.current;
  if (!c || c.candidates.length < 2) return;
  pickCandidate((c.chosen + step + c.candidates.length) % c.candidates.length);
}

function discard() {
  if (!state.current) {
    select(null);
    return;
  }
  remember();
  state.current = null;
  state.promptSeq = null;
  state.awaitingEmbedding = false;
  setBusy(false);
  refreshCurrent();
  say("Mask discarded (Ctrl+Z brings it back).");
}

// ---- Hover preview ----------------------------------------------------------------
// With the toggle on, resting the cursor shows the mask a click there would give.
// The server never keeps a hover reply as the latest masks, and never lets one push
// out a real prompt, so previews cannot change what a click refines or accept saves.

function hoverWanted() {
  return state.hover.enabled && state.tool === "point" && !state.current && !state.stroke
    && state.canAnnotate && state.embedding === "ready" && state.connected;
}

function hoverAt(x, y) {
  const h = state.hover;
  if (x === null || !inside(x, y) || !hoverWanted()) {
    clearHover();
    return;
  }
  h.at = [round1(x), round1(y)];
  clearTimeout(h.timer);
  h.timer = setTimeout(sendHover, HOVER_REST_MS);
}

function sendHover() {
  const h = state.hover;
  if (!h.at || !hoverWanted()) return;
  // One in flight at a time; one unanswered for long (its frame was rate-limited,
  // which the server answers without a seq) no longer counts.
  if (h.seq !== null && performance.now() - h.sentAt < HOVER_LOST_MS) {
    h.again = true; // ask for the newest position when the one in flight answers
    return;
  }
  h.again = false;
  h.sentAt = performance.now();
  h.seq = socket.send({
    type: "prompt", points: [h.at], labels: [1], multimask: false, hover: true,
    preview_max_side: HOVER_MAX_SIDE,
  });
}

function onHoverReply(reply) {
  const h = state.hover;
  h.seq = null;
  if (reply.type === "masks" && h.at && hoverWanted()) {
    const best = reply.candidates[0];
    h.overlay = best ? overlayFromMask(Mask.fromRLE(best.rle), state.width, state.height, HOVER_COLOUR) : null;
    root.dataset.hoverArea = String(best ? best.area : 0);
    renderLayers();
  }
  if (h.again) sendHover();
}

function clearHover() {
  const h = state.hover;
  clearTimeout(h.timer);
  h.at = null;
  h.again = false;
  if (h.overlay) {
    h.overlay = null;
    root.dataset.hoverArea = "0";
    renderLayers();
  }
}

function setHover(enabled) {
  state.hover.enabled = enabled;
  $("#hover-preview").checked = enabled;
  writeSetting(HOVER_SETTING, enabled);
  if (!enabled) clearHover();
  say(enabled ? "Hover preview on: rest the cursor on an object to see its mask." : "Hover preview off.");
}

// ---- Brush and eraser -----------------------------------------------------------

function strokeStart(x, y, erase) {
  if (!requireAnnotate()) return;
  clearHover();
  if (!state.current && state.selected !== null) {
    // Edit a saved mask: decode it at full size once, for the duration of the edit.
    const ann = state.annotations.get(state.selected);
    remember();
    state.current = newCurrent({ id: ann.id, version: ann.version });
    state.current.edited = Mask.fromRLE(ann.rle);
    state.category = ann.category;
    renderCategory();
  } else if (!state.current) {
    if (erase) {
      say("Nothing to erase: select a mask in the list, or make one first.", "warn");
      return;
    }
    remember();
    state.current = newCurrent();
    state.current.edited = new Mask(state.width, state.height);
  }
  const c = state.current;
  if (!c.edited) {
    remember();
    const base = currentMask();
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

let strokeFrame = 0;
function scheduleStrokeRefresh() {
  if (strokeFrame) return;
  strokeFrame = requestAnimationFrame(() => {
    strokeFrame = 0;
    refreshCurrent();
  });
}

function strokeEnd() {
  const s = state.stroke;
  if (!s) return;
  state.stroke = null;
  const r = s.mask.clip(s.box[0] - state.brush - 1, s.box[1] - state.brush - 1,
    s.box[2] + state.brush + 2, s.box[3] + state.brush + 2);
  if (r) {
    const before = new Mask(s.mask.width, s.mask.height, s.copy).getRect(r);
    history.push({ kind: "stroke", mask: s.mask, rect: r, before, after: s.mask.getRect(r) });
  }
  refreshCurrent();
}

// ---- Accept, update, delete -----------------------------------------------------

function accept() {
  if (!requireAnnotate()) return;
  const c = state.current;
  const mask = currentMask();
  if (!c || !mask) {
    say("Nothing to accept yet: click on an object first.", "warn");
    return;
  }
  if (!mask.area()) {
    say("The mask is empty; draw or click to add to it, or press Esc.", "warn");
    return;
  }
  if (state.categories.length && state.category === null) {
    say("Pick a category first (Alt+1…9 or the list).", "warn");
    $("#category").focus();
    return;
  }
  if (c.target) {
    const rle = mask.resized(state.width, state.height).toRLE();
    request({ type: "update", id: c.target.id, version: c.target.version, rle, category: state.category },
      { kind: "update", id: c.target.id });
  } else {
    const key = crypto.randomUUID();
    const base = { type: "accept", key, category: state.category, clicks: c.clicks,
      seconds: Math.round((performance.now() - c.started) / 100) / 10 };
    const full = c.edited ? c.edited : null;
    const message = c.fromServer && !c.edited ? { ...base, candidate: c.chosen }
      : { ...base, rle: (full || mask.resized(state.width, state.height)).toRLE() };
    // Kept until the server confirms: a reconnect resends it under the same key.
    state.outbox.set(key, { base, mask, category: state.category, sent: message });
    const seq = socket.send(message);
    if (seq !== null) state.requests.set(seq, { kind: "accept", key });
    else say("Offline: the mask will be saved when the connection is back.", "warn");
  }
  state.current = null;
  state.promptSeq = null;
  history.clear();
  refreshCurrent();
  renderList();
}

function request(message, context) {
  const seq = socket.send(message);
  if (seq === null) {
    say("Offline: reconnecting… try again in a moment.", "error");
    return false;
  }
  state.requests.set(seq, context);
  return true;
}

function resendOutbox() {
  for (const [key, item] of state.outbox) {
    // A new connection has no `masks` reply to pick from, so send the pixels.
    const rle = item.mask.resized(state.width, state.height).toRLE();
    const seq = socket.send({ ...item.base, rle });
    if (seq !== null) state.requests.set(seq, { kind: "accept", key });
  }
}

function onSaved(reply) {
  const context = state.requests.get(reply.seq);
  state.requests.delete(reply.seq);
  if (context && context.kind === "accept") state.outbox.delete(context.key);
  upsert(reply.annotation); // redraws, now without the pending copy
  say(context && context.kind === "accept" ? `Saved mask #${reply.annotation.id}.` : `Updated mask #${reply.annotation.id}.`, "ok");
  renderList();
}

function onConflict(reply) {
  state.requests.delete(reply.seq);
  upsert(reply.annotation);
  say(`Mask #${reply.annotation.id} was changed by ${reply.annotation.updated_by || "someone else"}; showing their version. Re-apply your change if it still makes sense.`, "error");
  renderList();
}

function onError(reply) {
  const context = state.requests.get(reply.seq);
  state.requests.delete(reply.seq);
  if (reply.seq === state.promptSeq) {
    state.promptSeq = null;
    setBusy(false);
  }
  if (context && context.kind === "accept") {
    // Never lose work: put the refused mask back so it can be fixed and re-sent.
    const item = state.outbox.get(context.key);
    state.outbox.delete(context.key);
    if (item && !state.current) {
      state.current = newCurrent();
      state.current.edited = item.mask.resized(state.width, state.height);
      refreshCurrent();
    }
  }
  say(`${reply.detail || "The server refused that."} (${reply.code})`, "error");
  renderList();
}

function setCategoryOf(id, category) {
  const ann = state.annotations.get(id);
  if (!ann || !requireAnnotate()) return;
  request({ type: "update", id, version: ann.version, category }, { kind: "update", id });
}

function acceptProposal(id) {
  const ann = state.annotations.get(id);
  if (!ann || !requireAnnotate()) return;
  const fields = { status: "draft", ...(state.category ? { category: state.category } : {}) };
  request({ type: "update", id, version: ann.version, ...fields }, { kind: "update", id });
}

function setStatusOf(id, status) {
  const ann = state.annotations.get(id);
  if (!ann || !state.canReview) return;
  const message = { type: "update", id, version: ann.version, status };
  if (status === "rejected") {
    // The annotator sees this next to the mask; cancelling the prompt changes nothing.
    const reason = window.prompt(`Why is mask #${id} rejected? Its annotator sees this.`, ann.review_comment || "");
    if (reason === null) return;
    message.review_comment = reason.slice(0, 2000);
  }
  request(message, { kind: "update", id });
}

function removeAnnotation(id) {
  const ann = state.annotations.get(id);
  if (!ann || !requireAnnotate()) return;
  if (!window.confirm(`Delete mask #${id}? This cannot be undone.`)) return;
  request({ type: "delete", id, version: ann.version }, { kind: "delete", id });
}

function upsert(ann) {
  state.annotations.set(ann.id, ann);
  renderLayers();
  changelog.refresh();
}

function forget(id) {
  changelog.refresh();
  state.annotations.delete(id);
  state.overlays.delete(id);
  state.hidden.delete(id);
  if (state.selected === id) state.selected = null;
  if (state.current && state.current.target && state.current.target.id === id) {
    say(`Mask #${id} was deleted while you edited it; your edit is now a new mask.`, "warn");
    state.current.target = null;
  }
  renderLayers();
  renderList();
}

// ---- Server pushes ----------------------------------------------------------------

function onHello(hello) {
  state.categories = hello.categories;
  state.annotations = new Map(hello.annotations.map((a) => [a.id, a]));
  state.overlays.clear();
  state.requests.clear();
  state.canAnnotate = hello.user.role === "admin" || hello.user.role === "annotator";
  state.canReview = hello.user.role === "admin" || hello.user.role === "reviewer";
  state.username = hello.user.username;
  setEmbedding(hello.image.embedding);
  if (state.selected !== null && !state.annotations.has(state.selected)) state.selected = null;
  if (state.category !== null && !state.categories.some((c) => c.id === state.category)) state.category = null;
  if (state.category === null && state.categories.length) state.category = state.categories[0].id;
  if (state.current) {
    // The new connection has no logits to refine from; recompute from the prompts.
    state.current.fromServer = false;
    if (state.current.target) {
      const ann = state.annotations.get(state.current.target.id);
      if (!ann) state.current.target = null;
    }
    if (!state.current.edited && (state.current.points.length || state.current.box)) sendPrompt();
  }
  resendOutbox();
  renderCategory();
  renderLayers();
  renderList();
  root.dataset.ready = "true";
}

function onMessage(message) {
  if (message.seq !== undefined && message.seq !== null && message.seq === state.hover.seq) {
    onHoverReply(message); // masks, superseded or an error: never shown as the mask
    return;
  }
  switch (message.type) {
    case "hello": onHello(message); break;
    case "masks": onMasks(message); break;
    case "pending": onPending(message); break;
    case "superseded": break; // a newer prompt is on its way
    case "saved": onSaved(message); break;
    case "conflict": onConflict(message); break;
    case "deleted":
      state.requests.delete(message.seq);
      forget(message.id);
      say(`Deleted mask #${message.id}.`, "ok");
      break;
    case "error": onError(message); break;
    case "presence": showPresence(message.viewers); break;
    case "embedding":
      setEmbedding(message.status, message.error);
      if (message.status === "ready" && state.awaitingEmbedding) sendPrompt();
      break;
    case "annotation.created":
    case "annotation.updated":
      upsert(message.annotation);
      renderList();
      break;
    case "annotation.deleted": forget(message.id); break;
    case "annotation.imported":
      for (const ann of message.annotations) state.annotations.set(ann.id, ann);
      renderLayers(); // once for the batch, not once a mask
      changelog.refresh();
      renderList();
      say(`${message.annotations.length} mask(s) imported by ${message.by || "an import"}.`, "ok");
      break;
    default: break; // pong, and anything newer than this page
  }
}

// ---- Rendering --------------------------------------------------------------------

function renderLayers() {
  const layers = [];
  const editing = state.current && state.current.target ? state.current.target.id : null;
  if (state.showSaved) {
    for (const ann of state.annotations.values()) {
      if (state.hidden.has(ann.id) || ann.id === editing) continue;
      const colour = colourOf(ann.category, state.categories);
      const key = `${ann.version}:${colour}`;
      let cached = state.overlays.get(ann.id);
      if (!cached || cached.key !== key) {
        cached = { key, overlay: overlayFromRLE(ann.rle, ann.bbox, colour) };
        state.overlays.set(ann.id, cached);
      }
      layers.push({ overlay: cached.overlay, alpha: state.opacity, outline: true, highlight: ann.id === state.selected });
    }
  }
  for (const item of state.outbox.values()) {
    // Masks waiting for the server stay drawn, so nothing seems lost while offline.
    if (!item.overlay) item.overlay = overlayFromMask(item.mask, state.width, state.height, colourOf(item.category, state.categories));
    layers.push({ overlay: item.overlay, alpha: state.opacity, outline: true });
  }
  if (state.currentOverlay) {
    layers.push({ overlay: state.currentOverlay, alpha: Math.max(0.35, state.opacity), outline: true });
  } else if (state.hover.overlay) {
    layers.push({ overlay: state.hover.overlay, alpha: 0.3, outline: true });
  }
  viewer.layers = layers;
  viewer.draw();
  root.dataset.annotations = String(state.annotations.size);
}

function renderList() {
  renderAnnotationList($("#annotation-list"), {
    annotations: state.annotations,
    pending: [...state.outbox.values()],
    categories: state.categories,
    hidden: state.hidden,
    selected: state.selected,
    canEdit: state.canAnnotate,
    canReview: state.canReview,
  }, {
    select: (id) => select(state.selected === id ? null : id),
    category: setCategoryOf,
    toggle: (id) => {
      if (state.hidden.has(id)) state.hidden.delete(id); else state.hidden.add(id);
      renderLayers();
      renderList();
    },
    remove: removeAnnotation,
    review: setStatusOf,
    acceptProposal,
  });
  $("#annotation-count").textContent = String(state.annotations.size);
}

function select(id) {
  state.selected = id;
  renderLayers();
  renderList();
  if (id !== null) say(`Mask #${id} selected: brush (D) or eraser (E) edit it, Delete removes it.`);
}

function renderCandidates() {
  const box = $("#candidates");
  box.replaceChildren();
  const c = state.current;
  const list = c ? c.candidates : [];
  list.forEach((candidate, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "candidate";
    button.setAttribute("aria-pressed", String(i === c.chosen && !c.edited));
    button.title = `Candidate ${i + 1} (key ${i + 1})`;
    button.append(thumbnail(candidate.mask));
    const label = document.createElement("span");
    label.textContent = `${i + 1} · ${candidate.score.toFixed(2)}`;
    button.append(label);
    button.addEventListener("click", () => pickCandidate(i));
    box.append(button);
  });
  $("#candidates-empty").hidden = list.length > 0;
  $("#edited-note").hidden = !(c && c.edited);
}

function thumbnail(mask) {
  const side = 64;
  const s = side / Math.max(mask.width, mask.height);
  const w = Math.max(1, Math.round(mask.width * s));
  const h = Math.max(1, Math.round(mask.height * s));
  const small = mask.width > w ? mask.resized(w, h) : mask;
  const canvas = document.createElement("canvas");
  canvas.width = small.width;
  canvas.height = small.height;
  const image = new ImageData(small.width, small.height);
  for (let i = 0; i < small.data.length; i += 1) {
    const on = small.data[i];
    image.data.set(on ? [255, 212, 0, 255] : [40, 48, 62, 255], i * 4);
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
  return canvas;
}

function renderCategory() {
  const select = $("#category");
  select.replaceChildren(new Option("(no category)", ""));
  state.categories.forEach((c, i) => {
    select.append(new Option(`${i < 9 ? `${i + 1}. ` : ""}${c.name}`, String(c.id)));
  });
  select.value = state.category === null ? "" : String(state.category);
  const swatch = $("#category-swatch");
  swatch.style.background = colourOf(state.category, state.categories);
}

function updateAcceptButton() {
  $("#accept").disabled = !currentMask() || !state.canAnnotate;
  $("#discard").disabled = !state.current;
}

function setTool(tool) {
  state.tool = tool;
  for (const button of root.querySelectorAll("[data-tool]")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
  }
  viewer.canvas.dataset.tool = tool;
  if (tool !== "point") clearHover();
  if (tool !== "brush" && tool !== "eraser") viewer.marks.cursor = null;
  viewer.redraw();
}

function setBrush(size) {
  state.brush = Math.max(BRUSH_MIN, Math.min(BRUSH_MAX, Math.round(size)));
  $("#brush-size").value = String(state.brush);
  $("#brush-size-value").textContent = `${state.brush} px`;
}

function setBusy(busy) {
  root.classList.toggle("busy", busy);
  root.dataset.busy = String(busy);
}

const EMBEDDING_TEXT = {
  pending: "Image queued for the model", running: "Preparing image…",
  ready: "Model ready", failed: "Model failed on this image",
};

/** Who else has this image open (the socket pushes it as people come and go). */
function showPresence(viewers) {
  const others = viewers.filter((name) => name !== state.username);
  const el = $("#presence");
  el.hidden = others.length === 0;
  el.textContent = others.length ? `Also here: ${others.join(", ")}` : "";
}

function setEmbedding(status, error) {
  state.embedding = status;
  const el = $("#embedding-status");
  el.dataset.state = status;
  el.textContent = EMBEDDING_TEXT[status] || status;
  el.title = error || "";
  if (status === "failed") say(`The model could not process this image${error ? `: ${error}` : ""}. Brush and eraser still work.`, "error");
}

function setConnection(stateName, wait) {
  state.connected = stateName === "open";
  if (!state.connected) {
    state.hover.seq = null; // a request of the closed connection is never answered
    clearHover();
  }
  const el = $("#connection-status");
  el.dataset.state = stateName;
  root.dataset.connection = stateName;
  const text = {
    connecting: "Connecting…",
    open: "Connected",
    closed: `Offline, retrying in ${Math.ceil(wait / 1000)} s`,
    refused: "Access withdrawn: reload the page",
  };
  el.textContent = text[stateName];
  if (stateName === "closed" && (state.outbox.size || state.current)) {
    say("Connection lost. Your unsaved work is kept and will be sent when it is back.", "warn");
  }
  if (stateName === "refused") say("You no longer have access to this image.", "error");
}

let sayTimer = 0;
function say(text, tone = "info") {
  const el = $("#message");
  el.textContent = text;
  el.dataset.tone = tone;
  clearTimeout(sayTimer);
  if (text && tone !== "error") sayTimer = setTimeout(() => { el.textContent = ""; }, 6000);
}

// ---- Helpers ------------------------------------------------------------------------

const round1 = (v) => Math.round(v * 10) / 10;

// Preferences survive a reload; storage may be unavailable (private mode, policy).
function readSetting(name) {
  try { return window.localStorage.getItem(name) === "true"; } catch { return false; }
}
function writeSetting(name, value) {
  try { window.localStorage.setItem(name, String(value)); } catch { /* not kept */ }
}
const clampX = (x) => Math.max(0, Math.min(state.width - 0.01, x));
const clampY = (y) => Math.max(0, Math.min(state.height - 0.01, y));
const inside = (x, y) => x >= 0 && y >= 0 && x < state.width && y < state.height;

/** May the page leave this image now? Never with masks still being saved. */
function mayLeave() {
  if (state.outbox.size) {
    say("Still saving; the page will move on once your masks are stored.", "warn");
    return false;
  }
  return !state.current || window.confirm("Leave this image and discard the unsaved mask?");
}

function go(which) {
  const url = info[`${which}Url`];
  if (url && mayLeave()) window.location.assign(url);
}

function submitImage() {
  const form = $("#submit-image");
  if (form && mayLeave()) form.submit();
}

// ---- Keyboard -----------------------------------------------------------------------

function onKey(event) {
  const help = $("#help");
  if (help.open) return; // the dialog handles Esc itself
  if (isTyping(event.target) && event.key !== "Escape") return;
  const id = shortcutFor(event);
  if (!id) return;
  const [name, arg] = id.split(":");
  const actions = {
    "tool-point": () => setTool("point"),
    "tool-box": () => setTool("box"),
    "tool-brush": () => setTool("brush"),
    "tool-eraser": () => setTool("eraser"),
    "brush-smaller": () => setBrush(state.brush / 1.25),
    "brush-larger": () => setBrush(state.brush * 1.25 + 1),
    cycle: () => cycleCandidate(1),
    "cycle-back": () => cycleCandidate(-1),
    candidate: () => pickCandidate(Number(arg) - 1),
    category: () => chooseCategory(Number(arg) - 1),
    accept,
    discard: () => { if (isTyping(event.target)) event.target.blur(); discard(); },
    delete: () => { if (state.selected !== null) removeAnnotation(state.selected); },
    hover: () => setHover(!state.hover.enabled),
    overlays: () => { state.showSaved = !state.showSaved; $("#show-saved").checked = state.showSaved; renderLayers(); },
    fit: () => viewer.fit(),
    "zoom-in": () => viewer.zoomCentre(1.25),
    "zoom-out": () => viewer.zoomCentre(0.8),
    undo: () => { if (!history.undo()) say("Nothing to undo."); },
    redo: () => { if (!history.redo()) say("Nothing to redo."); },
    prev: () => go("prev"),
    next: () => go("next"),
    "next-unlabeled": () => go("nextUnlabeled"),
    submit: submitImage,
    help: () => help.showModal(),
  };
  const action = actions[name];
  if (!action) return;
  event.preventDefault();
  action();
}

function chooseCategory(index) {
  const category = state.categories[index];
  if (!category) return;
  state.category = category.id;
  renderCategory();
  say(`Category: ${category.name}`);
}

// ---- Wiring ---------------------------------------------------------------------

function wire() {
  for (const button of root.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => setTool(button.dataset.tool));
  }
  $("#brush-size").addEventListener("input", (e) => setBrush(Number(e.target.value)));
  $("#opacity").addEventListener("input", (e) => {
    state.opacity = Number(e.target.value) / 100;
    renderLayers();
  });
  $("#show-saved").addEventListener("change", (e) => { state.showSaved = e.target.checked; renderLayers(); });
  $("#hover-preview").checked = state.hover.enabled;
  $("#hover-preview").addEventListener("change", (e) => setHover(e.target.checked));
  $("#category").addEventListener("change", (e) => {
    state.category = e.target.value ? Number(e.target.value) : null;
    renderCategory();
    e.target.blur(); // hand the keyboard back to the canvas shortcuts
  });
  $("#accept").addEventListener("click", accept);
  $("#discard").addEventListener("click", discard);
  $("#undo").addEventListener("click", () => history.undo());
  $("#redo").addEventListener("click", () => history.redo());
  $("#fit").addEventListener("click", () => viewer.fit());
  $("#zoom-in").addEventListener("click", () => viewer.zoomCentre(1.25));
  $("#zoom-out").addEventListener("click", () => viewer.zoomCentre(0.8));
  $("#help-open").addEventListener("click", () => $("#help").showModal());
  $("#help-close").addEventListener("click", () => $("#help").close());
  $("#retry").addEventListener("click", () => socket.retryNow());
  for (const link of root.querySelectorAll("[data-go]")) {
    link.addEventListener("click", (event) => { event.preventDefault(); go(link.dataset.go); });
  }
  $("#submit-image")?.addEventListener("submit", (event) => { if (!mayLeave()) event.preventDefault(); });
  window.addEventListener("keydown", onKey);
  window.addEventListener("beforeunload", (event) => {
    if (state.outbox.size) event.preventDefault(); // unsaved masks: ask before leaving
  });
  attachPointer(viewer, {
    tool: () => state.tool,
    point: addPoint,
    box: setBox,
    strokeStart,
    strokeMove: paintTo,
    strokeEnd,
    hover: (x, y) => {
      const pos = $("#cursor-pos");
      if (x === null || !inside(x, y)) {
        pos.textContent = "";
        viewer.marks.cursor = null;
      } else {
        pos.textContent = `${Math.floor(x)}, ${Math.floor(y)}`;
        viewer.marks.cursor = state.tool === "brush" || state.tool === "eraser"
          ? { x, y, r: state.brush, erase: state.tool === "eraser" } : null;
      }
      if (state.tool === "brush" || state.tool === "eraser") viewer.redraw();
      hoverAt(x, y);
    },
  });
  // Show the zoom level without hooking every zoom call site.
  const zoom = $("#zoom-level");
  const drawn = viewer.draw.bind(viewer);
  viewer.draw = () => { drawn(); zoom.textContent = `${Math.round(viewer.scale * 100)}%`; };
}

async function loadImage() {
  const img = new Image();
  img.src = info.imageUrl;
  try {
    // decode() off the main thread, so a 50 MP image does not freeze the page.
    await img.decode();
  } catch {
    say("The image could not be loaded. Reload the page to try again.", "error");
    return;
  }
  viewer.setImage(img, state.width, state.height);
  root.dataset.imageLoaded = "true";
  renderLayers();
}

const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
const socket = new LabelSocket(`${proto}//${window.location.host}${info.wsPath}`, {
  onMessage,
  onState: setConnection,
});

renderHelp($("#help-body"));
wire();
setTool("point");
setBrush(state.brush);
setEmbedding(state.embedding);
refreshCurrent();
renderList();
loadImage();
socket.connect();
