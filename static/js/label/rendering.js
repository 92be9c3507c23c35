// Drawing the page from state: the canvas layers (saved masks, masks still being
// saved, the mask being made, the hover preview), the mask list, the candidate
// thumbnails, the category picker, and the status bar (connection, embedding,
// presence, messages). It changes no state but what it draws from (the selection,
// the embedding status, overlay caches); what a click in the list or on a candidate
// does is the caller's, passed in as `on`.
import { renderAnnotationList, colourOf } from "./annotations.js";
import { OverlaySurface, overlayFromMask, overlayFromRLE } from "./overlay.js";
import { currentMask, isDrawn } from "./state.js";
import { showSuggestion } from "./suggestion.js";

const CURRENT_COLOUR = "#ffd400";
const MESSAGE_MS = 6000; // how long a message other than an error stays

const EMBEDDING_TEXT = {
  pending: "Image queued for the model", running: "Preparing image…",
  ready: "Model ready", failed: "Model failed on this image",
};

/**
 * @param {{state: object, root: HTMLElement, viewer: import("./viewer.js").Viewer}} page
 * @param {{pickCandidate: Function, setCategoryOf: Function, removeAnnotation: Function,
 *   setStatusOf: Function, acceptProposal: Function}} on what the page's controls do
 */
export function createRendering({ state, root, viewer }, on) {
  const $ = (selector) => root.querySelector(selector);
  let sayTimer = 0;
  const currentSurface = new OverlaySurface(); // redrawn on every reply and stroke
  const thumbnails = []; // one canvas per candidate slot, kept across replies
  const shown = []; // the candidate each of those canvases shows, so it is drawn once

  /** The mask being made shows at the opacity slider's alpha, never fainter than 0.35. */
  function currentAlpha() {
    return Math.max(0.35, state.opacity);
  }

  /** Redraw everything that shows the mask being made. */
  function refreshCurrent() {
    const mask = currentMask(state);
    const c = state.current;
    state.currentOverlay = mask
      ? overlayFromMask(mask, state.width, state.height, CURRENT_COLOUR, "#ffffff", currentSurface, currentAlpha())
      : null;
    viewer.marks.points = c ? c.points : [];
    viewer.marks.labels = c ? c.labels : [];
    viewer.marks.box = c ? c.box : null;
    root.dataset.maskArea = mask ? String(mask.area()) : "0";
    root.dataset.maskWidth = mask ? String(mask.width) : "0"; // a preview's, for large images
    renderCandidates();
    renderLayers();
    updateAcceptButton();
    showSuggestion(state, root);
  }

  function renderLayers() {
    let drawn = 0; // saved masks drawn, for the page and its tests
    const layers = [];
    const editing = state.current && state.current.target ? state.current.target.id : null;
    for (const ann of state.annotations.values()) {
      if (!isDrawn(state, ann.id) || ann.id === editing) continue;
      const colour = colourOf(ann.category, state.categories);
      const key = `${ann.version}:${colour}`;
      let cached = state.overlays.get(ann.id);
      if (!cached || cached.key !== key) {
        cached = { key, overlay: overlayFromRLE(ann.rle, ann.bbox, colour) };
        state.overlays.set(ann.id, cached);
      }
      drawn += 1;
      const marked = ann.id === state.selected || ann.id === state.hovered;
      layers.push({ overlay: cached.overlay, alpha: state.opacity, outline: true, highlight: marked });
    }
    for (const item of state.outbox.values()) {
      // Masks waiting for the server stay drawn, so nothing seems lost while offline.
      if (!item.overlay) item.overlay = overlayFromMask(item.mask, state.width, state.height, colourOf(item.category, state.categories));
      layers.push({ overlay: item.overlay, alpha: state.opacity, outline: true });
    }
    if (state.currentOverlay) {
      layers.push({ overlay: state.currentOverlay, alpha: currentAlpha(), outline: true });
    } else if (state.hover.overlay) {
      layers.push({ overlay: state.hover.overlay, alpha: 0.3, outline: true });
    }
    viewer.layers = layers;
    viewer.draw();
    root.dataset.annotations = String(state.annotations.size);
    root.dataset.drawnMasks = String(drawn);
    root.dataset.selected = state.selected === null ? "" : String(state.selected);
    root.dataset.hovered = state.hovered === null ? "" : String(state.hovered);
  }

  /** Highlight saved mask `id` (or none) on the canvas and in the list, in step. */
  function setHovered(id) {
    if (state.hovered === id) return;
    state.hovered = id;
    for (const li of $("#annotation-list").querySelectorAll(".ann[data-annotation-id]")) {
      li.classList.toggle("hovered", Number(li.dataset.annotationId) === id);
    }
    renderLayers();
  }

  function renderList() {
    renderAnnotationList($("#annotation-list"), {
      annotations: state.annotations,
      pending: [...state.outbox.values()],
      categories: state.categories,
      hidden: state.hidden,
      selected: state.selected,
      hovered: state.hovered,
      canEdit: state.canAnnotate,
      canReview: state.canReview,
    }, {
      select: (id) => select(state.selected === id ? null : id),
      hover: setHovered,
      category: on.setCategoryOf,
      toggle: (id) => {
        if (state.hidden.has(id)) state.hidden.delete(id); else state.hidden.add(id);
        renderLayers();
        renderList();
      },
      remove: on.removeAnnotation,
      review: on.setStatusOf,
      acceptProposal: on.acceptProposal,
    });
    $("#annotation-count").textContent = String(state.annotations.size);
  }

  function select(id, note = "") {
    state.selected = id;
    renderLayers();
    renderList();
    if (id !== null) {
      $(`#annotation-list [data-annotation-id="${id}"]`)?.scrollIntoView({ block: "nearest" });
      say(`Mask #${id} selected${note}: brush (D) or eraser (E) edit it, Delete removes it.`);
    }
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
      thumbnails[i] ||= document.createElement("canvas");
      if (shown[i] !== candidate) candidate.thumbnail(thumbnails[i]);
      shown[i] = candidate;
      button.append(thumbnails[i]);
      const label = document.createElement("span");
      const empty = !candidate.pixels;
      label.textContent = empty ? `${i + 1} · empty` : `${i + 1} · ${candidate.score.toFixed(2)}`;
      if (empty) {
        button.classList.add("empty");
        button.title = `Candidate ${i + 1} is empty (0 pixels) and cannot be accepted`;
      }
      button.append(label);
      button.addEventListener("click", () => on.pickCandidate(i));
      box.append(button);
    });
    $("#candidates-empty").hidden = list.length > 0;
    $("#edited-note").hidden = !(c && c.edited);
    const mask = currentMask(state);
    $("#empty-note").hidden = !(mask && !mask.area());
  }

  function renderCategory() {
    const picker = $("#category");
    picker.replaceChildren(new Option("(no category)", ""));
    state.categories.forEach((c, i) => {
      picker.append(new Option(`${i < 9 ? `${i + 1}. ` : ""}${c.name}`, String(c.id)));
    });
    picker.value = state.category === null ? "" : String(state.category);
    const swatch = $("#category-swatch");
    swatch.style.background = colourOf(state.category, state.categories);
  }

  function updateAcceptButton() {
    const mask = currentMask(state);
    $("#accept").disabled = !mask || !mask.area() || !state.canAnnotate;
    $("#discard").disabled = !state.current;
  }

  function setBusy(busy) {
    root.classList.toggle("busy", busy);
    root.dataset.busy = String(busy);
  }

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

  /** The connection pill: "connecting" | "open" | "closed" or "unavailable" (retry in
   * `wait` ms) | "refused". */
  function showConnection(stateName, wait) {
    const el = $("#connection-status");
    el.dataset.state = stateName;
    root.dataset.connection = stateName;
    const text = {
      connecting: "Connecting…",
      open: "Connected",
      closed: `Offline, retrying in ${Math.ceil(wait / 1000)} s`,
      unavailable: `Server busy, retrying in ${Math.ceil(wait / 1000)} s`,
      refused: "Access withdrawn: reload the page",
    };
    el.textContent = text[stateName];
  }

  /** A status-bar message; tone "info" | "ok" | "warn" | "error" (errors stay). */
  function say(text, tone = "info") {
    const el = $("#message");
    el.textContent = text;
    el.dataset.tone = tone;
    clearTimeout(sayTimer);
    if (text && tone !== "error") sayTimer = setTimeout(() => { el.textContent = ""; }, MESSAGE_MS);
  }

  return {
    refreshCurrent, renderLayers, renderList, select, setHovered, renderCategory,
    setBusy, showPresence, setEmbedding, showConnection, say,
  };
}
