// Asking the model for a mask: positive and negative points, a box, the candidates
// it answers with (picking, cycling, discarding), refinement from the chosen one,
// waiting for the image's embedding, and the hover preview. Prompt steps are undoable
// (undo.js); what the server answers comes in through onMasks / onPending /
// onHoverReply, called by messages.js.
import { Candidate } from "./candidates.js";
import { Mask } from "./mask.js";
import { overlayFromMask } from "./overlay.js";
import { HOVER_SETTING, clampX, clampY, inside, newCurrent, round1, writeSetting } from "./state.js";
import { applySuggestion } from "./suggestion.js";

const PREVIEW_MAX_SIDE = 2048;
const PENDING_RETRY_MS = 3000;
const HOVER_COLOUR = "#7fd4ff";
const HOVER_REST_MS = 90; // the cursor rests this long before a preview is asked for
const HOVER_MAX_SIDE = 1024; // a preview need not be sharp
const HOVER_LOST_MS = 2000;

/**
 * @param {{state: object, root: HTMLElement, socket: import("./socket.js").LabelSocket,
 *   undo: ReturnType<import("./undo.js").createUndo>,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   perf: ReturnType<import("./perf.js").createPerf>}} page
 */
export function createPrompting({ state, root, socket, undo, ui, perf }) {
  const $ = (selector) => root.querySelector(selector);

  /** True if this user may draw masks; otherwise says why not. */
  function requireAnnotate() {
    if (state.canAnnotate) return true;
    ui.say("Your role can view this project but not draw masks.", "error");
    return false;
  }

  function addPoint(x, y, label) {
    if (!requireAnnotate() || !inside(state, x, y)) return;
    clearHover();
    undo.remember("point");
    if (!state.current || state.current.target) startFresh();
    state.current.points.push([round1(x), round1(y)]);
    state.current.labels.push(label);
    state.current.clicks += 1;
    ui.refreshCurrent();
    sendPrompt();
  }

  function setBox(box) {
    if (!requireAnnotate()) return;
    const clipped = [clampX(state, box[0]), clampY(state, box[1]), clampX(state, box[2]), clampY(state, box[3])].map(round1);
    if (clipped[2] - clipped[0] < 2 || clipped[3] - clipped[1] < 2) return;
    clearHover();
    undo.remember("box");
    if (!state.current || state.current.target) startFresh();
    state.current.box = clipped;
    state.current.clicks += 1;
    ui.refreshCurrent();
    sendPrompt();
  }

  function startFresh() {
    state.current = newCurrent();
    ui.select(null);
  }

  /** Ask for masks from the current prompts (again, after a reconnect or the embedding). */
  function sendPrompt() {
    const c = state.current;
    if (!c || (!c.points.length && !c.box)) return;
    const refinable = c.fromServer && !c.edited && c.candidates.length;
    const message = {
      type: "prompt",
      points: c.points,
      labels: c.labels,
      refine: refinable ? c.chosen : null,
      multimask: null,
      preview_max_side: PREVIEW_MAX_SIDE,
    };
    if (c.box) message.box = c.box;
    // A Find instance being refined: until the model has answered on this connection,
    // its pixels (brushed ones, if so) are the mask prompt, with its box.
    if (c.seed && !refinable) message.mask = !c.fromServer && c.edited ? c.edited.toRLE() : c.seed;
    const seq = socket.send(message);
    perf.sent(seq);
    state.promptSeq = seq;
    if (seq === null) {
      ui.say("Offline: the mask will be computed when the connection is back.", "warn");
      return;
    }
    ui.setBusy(true);
  }

  function onMasks(reply) {
    if (reply.seq !== state.promptSeq || !state.current) return; // stale or discarded
    state.promptSeq = null;
    state.awaitingEmbedding = false;
    ui.setBusy(false);
    const c = state.current;
    c.candidates = reply.candidates.map((candidate) => new Candidate(candidate));
    c.chosen = 0;
    c.edited = null;
    c.fromServer = true;
    c.source = null; // the click model's mask now, no longer the instance as found
    $("#decode-ms").textContent = `${Math.round(reply.decode_ms)} ms`;
    if (!c.candidates.length) ui.say("The model found no mask there; try another point.", "warn");
    else ui.say("");
    ui.refreshCurrent();
    perf.painted(reply.seq, state.currentOverlay ? state.currentOverlay.pixels : 0);
    applySuggestion(state, root, ui);
  }

  function onPending(reply) {
    if (reply.seq !== state.promptSeq) return;
    state.awaitingEmbedding = true;
    ui.setEmbedding(reply.embedding || "running");
    ui.say("Preparing image… your click will be answered as soon as it is ready.", "warn");
    // The embedding push normally triggers the resend; retry on a timer as well, in
    // case the push was missed (e.g. across a reconnect).
    clearTimeout(state.pendingTimer);
    state.pendingTimer = setTimeout(() => {
      if (state.awaitingEmbedding) sendPrompt();
    }, PENDING_RETRY_MS);
  }

  /** The image's embedding failed: a prompt waiting for it gets no masks, ever. */
  function stopWaiting() {
    if (!state.awaitingEmbedding) return;
    state.awaitingEmbedding = false;
    state.promptSeq = null;
    clearTimeout(state.pendingTimer);
    ui.setBusy(false);
  }

  function pickCandidate(index) {
    const c = state.current;
    if (!c || !c.candidates[index]) return;
    if (index === c.chosen && !c.edited) return;
    undo.remember("candidate choice");
    c.chosen = index;
    c.edited = null;
    ui.refreshCurrent();
    applySuggestion(state, root, ui);
  }

  function cycleCandidate(step) {
    const c = state.current;
    if (!c || c.candidates.length < 2) return;
    pickCandidate((c.chosen + step + c.candidates.length) % c.candidates.length);
  }

  function discard() {
    if (!state.current) {
      ui.select(null);
      return;
    }
    undo.remember("discard");
    state.current = null;
    state.promptSeq = null;
    state.awaitingEmbedding = false;
    ui.setBusy(false);
    ui.refreshCurrent();
    ui.say("Mask discarded (Ctrl+Z brings it back).");
  }

  // ---- Hover preview --------------------------------------------------------------
  // With the toggle on, resting the cursor shows the mask a click there would give.
  // The server never keeps a hover reply as the latest masks, and never lets one push
  // out a real prompt, so previews cannot change what a click refines or accept saves.

  function hoverWanted() {
    return state.hover.enabled && state.tool === "point" && !state.current && !state.stroke
      && state.canAnnotate && state.embedding === "ready" && state.connected;
  }

  /** The cursor is at (x, y) in the image, or off it (x null). */
  function hoverAt(x, y) {
    const h = state.hover;
    if (x === null || !inside(state, x, y) || !hoverWanted()) {
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

  /** Any reply to the hover request in flight: masks, superseded or an error. */
  function onHoverReply(reply) {
    const h = state.hover;
    h.seq = null;
    if (reply.type === "masks" && h.at && hoverWanted()) {
      const best = reply.candidates[0];
      h.overlay = best ? overlayFromMask(Mask.fromRLE(best.rle), state.width, state.height, HOVER_COLOUR) : null;
      root.dataset.hoverArea = String(best ? best.area : 0);
      ui.renderLayers();
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
      ui.renderLayers();
    }
  }

  function setHover(enabled) {
    state.hover.enabled = enabled;
    $("#hover-preview").checked = enabled;
    writeSetting(HOVER_SETTING, enabled);
    if (!enabled) clearHover();
    ui.say(enabled ? "Hover preview on: rest the cursor on an object to see its mask." : "Hover preview off.");
  }

  return {
    requireAnnotate, addPoint, setBox, sendPrompt, onMasks, onPending, stopWaiting,
    pickCandidate, cycleCandidate, discard,
    hoverAt, onHoverReply, clearHover, setHover,
  };
}
