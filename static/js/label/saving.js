// Storing masks: accept (a new mask, or the edit of a saved one), the outbox that
// keeps new masks under their idempotency keys until the server says "saved" and
// resends them after a reconnect, updates (category, status, accepting a proposal,
// a review verdict), deletes, and the replies: saved, conflict, deleted, error. Each
// confirmed change becomes an undo step (undo.js), and undo's own writes are answered
// here too. Also the page's copy of the saved masks (upsert / forget), which pushes
// change too.
import { currentMask, newCurrent } from "./state.js";

/**
 * @param {{state: object, root: HTMLElement, socket: import("./socket.js").LabelSocket,
 *   undo: ReturnType<import("./undo.js").createUndo>,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   changelog: {refresh: Function}, requireAnnotate: () => boolean}} page
 */
export function createSaving({ state, root, socket, undo, ui, changelog, requireAnnotate }) {
  const $ = (selector) => root.querySelector(selector);

  function accept() {
    if (!requireAnnotate()) return;
    const c = state.current;
    const mask = currentMask(state);
    if (!c || !mask) {
      ui.say("Nothing to accept yet: click on an object first.", "warn");
      return;
    }
    if (!mask.area()) {
      ui.say("The mask is empty (0 pixels) and cannot be accepted: pick another candidate, draw or click to add to it, or press Esc.", "warn");
      return;
    }
    const saved = c.target ? state.annotations.get(c.target.id) : null;
    if (saved && !c.dirty && saved.category === state.category) {
      // Opening a saved mask for editing changes nothing by itself: store no new version.
      state.current = null;
      undo.clearLocal();
      ui.refreshCurrent();
      ui.say(`Mask #${saved.id} is unchanged; nothing was saved.`);
      return;
    }
    if (state.categories.length && state.category === null) {
      ui.say("Pick a category first (Alt+1…9 or the list).", "warn");
      $("#category").focus();
      return;
    }
    if (c.target) {
      // Only a changed mask sends its pixels; a new category alone is a smaller change.
      const shape = c.dirty ? { rle: mask.resized(state.width, state.height).toRLE() } : {};
      // Strokes on a saved mask (a machine proposal being fixed) add to its clicks.
      request({ type: "update", id: c.target.id, version: c.target.version, ...shape, category: state.category, clicks: c.clicks },
        { kind: "update", id: c.target.id, done: c.dirty ? "Saved the edit of mask #{id}." : "Changed the category of mask #{id}.",
          undo: c.dirty ? "edit of mask #{id}" : "re-categorise of mask #{id}" });
    } else {
      const key = crypto.randomUUID();
      const viaCandidate = c.fromServer && !c.edited;
      // Pixels say where they came from (a Find instance: "concept"); a candidate is SAM's.
      const source = !viaCandidate && c.source ? { source: c.source } : {};
      const base = { type: "accept", key, category: state.category, clicks: c.clicks,
        seconds: Math.round((performance.now() - c.started) / 100) / 10, ...source };
      const full = c.edited ? c.edited : null;
      const message = viaCandidate ? { ...base, candidate: c.chosen }
        : { ...base, rle: (full || mask.resized(state.width, state.height)).toRLE() };
      // Kept until the server confirms: a reconnect resends it under the same key.
      // `overlay` is drawn lazily by rendering.js.
      state.outbox.set(key, { base, mask, category: state.category, sent: message, overlay: null });
      const seq = socket.send(message);
      if (seq !== null) state.requests.set(seq, { kind: "accept", key });
      else ui.say("Offline: the mask will be saved when the connection is back.", "warn");
    }
    state.current = null;
    state.promptSeq = null;
    undo.clearLocal();
    ui.refreshCurrent();
    ui.renderList();
  }

  /** Save a Find instance as a new mask (source "concept"): kept in the outbox and
   * made an undo step on "saved", like any accept. */
  function acceptMask(mask, category) {
    const key = crypto.randomUUID();
    const base = { type: "accept", key, category, clicks: 0, seconds: 0, source: "concept" };
    const message = { ...base, rle: mask.toRLE() };
    state.outbox.set(key, { base, mask, category, sent: message, overlay: null });
    const seq = socket.send(message);
    if (seq !== null) state.requests.set(seq, { kind: "accept", key });
  }

  /** Send a request whose reply needs `context`; false (and says so) when offline. */
  function request(message, context) {
    const seq = socket.send(message);
    if (seq === null) {
      ui.say("Offline: reconnecting… try again in a moment.", "error");
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
    const ann = reply.annotation;
    if (context && context.kind === "accept" && state.outbox.delete(context.key)) {
      undo.pushSaved("accept", ann.id, ann.version, `accept of mask #${ann.id}`);
    } else if (context && context.undo) {
      undo.pushSaved("change", ann.id, ann.version, context.undo.replace("{id}", String(ann.id)));
    }
    upsert(ann); // redraws, now without the pending copy
    // Say what happened ("Approved mask #2"), from what the request was for.
    const done = context && context.kind === "accept" ? "Saved mask #{id}."
      : (context && context.done) || "Updated mask #{id}.";
    ui.say(done.replace("{id}", String(reply.annotation.id)), "ok");
    ui.renderList();
  }

  /** Someone else changed the mask first: an edit's conflict, and an undo's alike. */
  function onConflict(reply) {
    const context = state.requests.get(reply.seq);
    state.requests.delete(reply.seq);
    if (context && context.kind === "undo") undo.forget(context.entry);
    upsert(reply.annotation);
    ui.say(`Mask #${reply.annotation.id} was changed by ${reply.annotation.updated_by || "someone else"}; showing their version. Re-apply your change if it still makes sense.`, "error");
    ui.renderList();
  }

  function onDeleted(reply) {
    const context = state.requests.get(reply.seq);
    state.requests.delete(reply.seq);
    forget(reply.id);
    if (context && context.kind === "undo") {
      ui.say(context.done, "ok");
      return;
    }
    if (context && context.kind === "delete") undo.pushSaved("delete", reply.id, context.version, `delete of mask #${reply.id}`);
    ui.say(`Deleted mask #${reply.id}. Ctrl+Z brings it back.`, "ok");
  }

  function onError(reply) {
    const context = state.requests.get(reply.seq);
    state.requests.delete(reply.seq);
    if (context && context.kind === "undo") undo.forget(context.entry); // cannot be taken again
    if (reply.seq === state.promptSeq) {
      state.promptSeq = null;
      ui.setBusy(false);
    }
    if (context && context.kind === "accept") {
      // Never lose work: put the refused mask back so it can be fixed and re-sent.
      const item = state.outbox.get(context.key);
      state.outbox.delete(context.key);
      if (item && !state.current) {
        state.current = newCurrent();
        state.current.edited = item.mask.resized(state.width, state.height);
        state.current.source = item.base.source || null; // a Find instance stays one
        ui.refreshCurrent();
      }
    }
    ui.say(`${reply.detail || "The server refused that."} (${reply.code})`, "error");
    ui.renderList();
  }

  function setCategoryOf(id, category) {
    const ann = state.annotations.get(id);
    if (!ann || !requireAnnotate()) return;
    const name = state.categories.find((c) => c.id === category)?.name || "no category";
    request({ type: "update", id, version: ann.version, category },
      { kind: "update", id, done: `Mask #{id} is now ${name}.`, undo: "re-categorise of mask #{id}" });
  }

  function acceptProposal(id) {
    const ann = state.annotations.get(id);
    if (!ann || !requireAnnotate()) return;
    // Its own category (the classifier's suggestion, or one set in its row) stands;
    // the picker's fills in one that has none. Accepting is a click of work.
    const category = ann.category ?? state.category;
    const fields = { status: "draft", clicks: 1, ...(category ? { category } : {}) };
    request({ type: "update", id, version: ann.version, ...fields },
      { kind: "update", id, done: "Accepted proposal #{id} as a draft.", undo: "accept of proposal #{id}" });
  }

  /** A reviewer's verdict; a rejection asks for the reason the annotator will see. */
  function setStatusOf(id, status) {
    const ann = state.annotations.get(id);
    if (!ann || !state.canReview) return;
    const message = { type: "update", id, version: ann.version, status };
    if (status === "rejected") {
      // The annotator sees this next to the mask; cancelling the prompt changes nothing.
      const reason = window.prompt(`Why is mask #${id} rejected? Its annotator sees this.`, ann.review_comment || "");
      if (reason === null) return;
      // Cut to the server's limit (from hello); were it unknown, the server decides.
      message.review_comment = reason.slice(0, state.limits.max_review_comment ?? undefined);
    }
    const done = status === "approved" ? "Approved mask #{id}." : status === "rejected" ? "Rejected mask #{id}." : `Mask #{id} is now ${status}.`;
    const verb = status === "approved" ? "approve" : status === "rejected" ? "reject" : "status change";
    request(message, { kind: "update", id, done, undo: `${verb} of mask #{id}` });
  }

  function removeAnnotation(id) {
    const ann = state.annotations.get(id);
    if (!ann || !requireAnnotate()) return;
    // No "are you sure?": Ctrl+Z (or Undo) restores it.
    request({ type: "delete", id, version: ann.version }, { kind: "delete", id, version: ann.version });
  }

  /** A saved mask, new or changed (by this page or anyone else). */
  function upsert(ann) {
    state.annotations.set(ann.id, ann);
    ui.renderLayers();
    changelog.refresh();
  }

  /** A saved mask is gone (deleted here or by anyone else). */
  function forget(id) {
    changelog.refresh();
    state.annotations.delete(id);
    state.overlays.delete(id);
    state.hidden.delete(id);
    if (state.selected === id) state.selected = null;
    if (state.current && state.current.target && state.current.target.id === id) {
      ui.say(`Mask #${id} was deleted while you edited it; your edit is now a new mask.`, "warn");
      state.current.target = null;
    }
    ui.renderLayers();
    ui.renderList();
  }

  return {
    accept, acceptMask, request, resendOutbox, onSaved, onConflict, onDeleted, onError,
    setCategoryOf, acceptProposal, setStatusOf, removeAnnotation, upsert, forget,
  };
}
