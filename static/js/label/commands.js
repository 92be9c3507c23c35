// What the user can do: the keyboard shortcuts (keys.js names them), the buttons and
// inputs of the tool bar, sidebar and status bar, the pointer on the canvas
// (tools.js), and leaving the image (previous / next / submit), which never drops
// masks still being saved. Each command calls into the module that does the work.
import { renderHelp, shortcutFor } from "./keys.js";
import { masksAt, pickAt } from "./picking.js";
import { hasUnacceptedMask, inside, isDrawn } from "./state.js";
import { markCategoryChosen } from "./suggestion.js";
import { attachPointer, isTyping } from "./tools.js";

const BRUSH_MIN = 1;
const BRUSH_MAX = 200;

/**
 * @param {{state: object, root: HTMLElement, viewer: import("./viewer.js").Viewer,
 *   socket: import("./socket.js").LabelSocket,
 *   undo: ReturnType<import("./undo.js").createUndo>,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   prompting: ReturnType<import("./prompting.js").createPrompting>,
 *   brush: ReturnType<import("./brush.js").createBrush>,
 *   saving: ReturnType<import("./saving.js").createSaving>,
 *   vector: {pointer: () => object | null, toolChanged: (tool: string) => void,
 *     unsaved: () => boolean,
 *     actions: Record<string, () => void>}}} page  vector: the polygon tools (main.js)
 */
export function createCommands({ state, root, viewer, socket, undo, ui, prompting, brush, saving, vector }) {
  const $ = (selector) => root.querySelector(selector);
  const info = root.dataset;
  let leaving = false; // the user already said yes: beforeunload must not ask again

  function setTool(tool) {
    state.tool = tool;
    for (const button of root.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    }
    viewer.canvas.dataset.tool = tool;
    if (tool !== "point") prompting.clearHover();
    if (tool !== "select") ui.setHovered(null);
    if (tool !== "brush" && tool !== "eraser") viewer.marks.cursor = null;
    vector.toolChanged(tool);
    viewer.redraw();
  }

  function setBrush(size) {
    state.brush = Math.max(BRUSH_MIN, Math.min(BRUSH_MAX, Math.round(size)));
    $("#brush-size").value = String(state.brush);
    $("#brush-size-value").textContent = `${state.brush} px`;
  }

  function chooseCategory(index) {
    const category = state.categories[index];
    if (!category) return;
    state.category = category.id;
    markCategoryChosen(state);
    ui.renderCategory();
    ui.say(`Category: ${category.name}`);
  }

  /** May the page leave this image now? Never with masks still being saved. */
  function mayLeave() {
    if (state.outbox.size) {
      ui.say("Still saving; the page will move on once your masks are stored.", "warn");
      return false;
    }
    leaving = !hasUnacceptedMask(state) || window.confirm("Leave this image and discard the mask you have not accepted?");
    return leaving;
  }

  /** Submitting an image with no masks is a statement ("nothing here"): ask first. */
  function maySubmit() {
    if (!mayLeave()) return false;
    if (state.annotations.size) return true;
    leaving = window.confirm("Submit this image with no masks? Reviewers will see it as having nothing to label.");
    return leaving;
  }

  function go(which) {
    const url = info[`${which}Url`];
    if (url && mayLeave()) window.location.assign(url);
  }

  function submitImage() {
    const form = $("#submit-image");
    if (form && maySubmit()) form.submit();
  }

  function onKey(event) {
    const help = $("#help");
    if (help.open) return; // the dialog handles Esc itself
    if (isTyping(event.target) && event.key !== "Escape") return;
    const id = shortcutFor(event);
    if (!id) return;
    const [name, arg] = id.split(":");
    const actions = {
      "tool-select": () => setTool("select"),
      "tool-point": () => setTool("point"),
      "tool-box": () => setTool("box"),
      "tool-brush": () => setTool("brush"),
      "tool-eraser": () => setTool("eraser"),
      "tool-polygon": () => setTool("polygon"),
      ...vector.actions,
      "brush-smaller": () => setBrush(state.brush / 1.25),
      "brush-larger": () => setBrush(state.brush * 1.25 + 1),
      cycle: () => prompting.cycleCandidate(1),
      "cycle-back": () => prompting.cycleCandidate(-1),
      candidate: () => prompting.pickCandidate(Number(arg) - 1),
      category: () => chooseCategory(Number(arg) - 1),
      accept: saving.accept,
      discard: () => { if (isTyping(event.target)) event.target.blur(); prompting.discard(); },
      delete: () => { if (state.selected !== null) saving.removeAnnotation(state.selected); },
      hover: () => prompting.setHover(!state.hover.enabled),
      solo: () => setSolo(!state.soloSelected),
      "mask-next": () => stepSelection(1),
      "mask-prev": () => stepSelection(-1),
      approve: () => judgeSelected("approved"),
      reject: () => judgeSelected("rejected"),
      overlays: () => { state.showSaved = !state.showSaved; $("#show-saved").checked = state.showSaved; ui.renderLayers(); },
      fit: () => viewer.fit(),
      "zoom-in": () => viewer.zoomCentre(1.25),
      "zoom-out": () => viewer.zoomCentre(0.8),
      undo: () => step("undo"),
      redo: () => step("redo"),
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

  /** Undo or redo one step. A saved change says what it did when the server confirms
   * ("Undid accept of mask #3."); a step of the mask being made says so at once. */
  function step(direction) {
    const entry = direction === "undo" ? undo.undo() : undo.redo();
    if (!entry) ui.say(direction === "undo" ? "Nothing to undo." : "Nothing to redo.");
    else if (entry.kind !== "saved") ui.say(`${direction === "undo" ? "Undid" : "Redid"} ${entry.label}.`);
  }

  /** The Undo and Redo buttons name what they would do, and are off when there is nothing. */
  function showUndo(next, again) {
    const [back, forth] = [$("#undo"), $("#redo")];
    back.disabled = !next;
    back.title = next ? `Undo ${next.label} (Ctrl+Z)` : "Nothing to undo (Ctrl+Z)";
    forth.disabled = !again;
    forth.title = again ? `Redo ${again.label} (Ctrl+Shift+Z or Ctrl+Y)` : "Nothing to redo (Ctrl+Shift+Z or Ctrl+Y)";
  }

  /** Select the next (+1) or previous (-1) saved mask in list order, wrapping. */
  function stepSelection(step) {
    const ids = [...state.annotations.keys()].sort((a, b) => a - b);
    if (!ids.length) {
      ui.say("No masks on this image yet.");
      return;
    }
    const at = ids.indexOf(state.selected);
    const next = at < 0 ? (step > 0 ? 0 : ids.length - 1) : (at + step + ids.length) % ids.length;
    ui.select(ids[next], ` (${next + 1} of ${ids.length})`);
  }

  /** A reviewer's verdict on the selected mask, from the keyboard. */
  function judgeSelected(status) {
    if (!state.canReview) {
      ui.say("Only reviewers can approve or reject masks.", "warn");
      return;
    }
    const ann = state.selected === null ? null : state.annotations.get(state.selected);
    if (!ann) {
      ui.say("Select a mask first: J / K, or click it with the select tool (V).", "warn");
      return;
    }
    if (ann.status === status) {
      ui.say(`Mask #${ann.id} is already ${status}.`);
      return;
    }
    saving.setStatusOf(ann.id, status);
  }

  function setSolo(on) {
    state.soloSelected = on;
    $("#solo-selected").checked = on;
    ui.renderLayers();
    if (on && state.selected === null) ui.say("Only the selected mask is shown: select one (J / K or click).");
  }

  /** The drawn saved masks under image pixel (x, y), topmost first. */
  const hitsAt = (x, y) => (x === null || !inside(state, x, y) ? []
    : masksAt(state, x, y, (id) => isDrawn(state, id)));

  /** A select click (or Alt+click) at (x, y): select the mask there, or none. */
  function pick(x, y, cycle) {
    const hits = hitsAt(x, y);
    const id = pickAt(hits, state.selected, cycle);
    if (id === null) {
      if (state.selected !== null) ui.say("No mask there: selection cleared.");
      ui.select(null);
      return;
    }
    const note = hits.length > 1 ? ` (${hits.indexOf(id) + 1} of ${hits.length} here; Alt+click for the next)` : "";
    ui.select(id, note);
  }

  /** The cursor moved to (x, y) in the image, or off it (x null). */
  function onPointerMove(x, y) {
    const pos = $("#cursor-pos");
    if (x === null || !inside(state, x, y)) {
      pos.textContent = "";
      viewer.marks.cursor = null;
    } else {
      pos.textContent = `${Math.floor(x)}, ${Math.floor(y)}`;
      viewer.marks.cursor = state.tool === "brush" || state.tool === "eraser"
        ? { x, y, r: state.brush, erase: state.tool === "eraser" } : null;
    }
    if (state.tool === "brush" || state.tool === "eraser") viewer.redraw();
    if (state.tool === "select") ui.setHovered(hitsAt(x, y)[0] ?? null);
    prompting.hoverAt(x, y);
  }

  /** Attach every listener: buttons, inputs, keys, the pointer, leaving the page. */
  function wire() {
    renderHelp($("#help-body"));
    for (const button of root.querySelectorAll("[data-tool]")) {
      button.addEventListener("click", () => setTool(button.dataset.tool));
    }
    $("#brush-size").addEventListener("input", (e) => setBrush(Number(e.target.value)));
    $("#opacity").addEventListener("input", (e) => {
      state.opacity = Number(e.target.value) / 100;
      // The mask being made has its alpha baked in (overlay.js): paint it again.
      if (state.currentOverlay) ui.refreshCurrent(); else ui.renderLayers();
    });
    $("#show-saved").addEventListener("change", (e) => { state.showSaved = e.target.checked; ui.renderLayers(); });
    $("#solo-selected").addEventListener("change", (e) => setSolo(e.target.checked));
    $("#hover-preview").checked = state.hover.enabled;
    $("#hover-preview").addEventListener("change", (e) => prompting.setHover(e.target.checked));
    $("#category").addEventListener("change", (e) => {
      state.category = e.target.value ? Number(e.target.value) : null;
      markCategoryChosen(state);
      ui.renderCategory();
      e.target.blur(); // hand the keyboard back to the canvas shortcuts
    });
    $("#accept").addEventListener("click", saving.accept);
    $("#discard").addEventListener("click", prompting.discard);
    $("#undo").addEventListener("click", () => step("undo"));
    $("#redo").addEventListener("click", () => step("redo"));
    $("#fit").addEventListener("click", () => viewer.fit());
    $("#zoom-in").addEventListener("click", () => viewer.zoomCentre(1.25));
    $("#zoom-out").addEventListener("click", () => viewer.zoomCentre(0.8));
    $("#help-open").addEventListener("click", () => $("#help").showModal());
    $("#help-close").addEventListener("click", () => $("#help").close());
    $("#retry").addEventListener("click", () => socket.retryNow());
    for (const link of root.querySelectorAll("[data-go]")) {
      link.addEventListener("click", (event) => { event.preventDefault(); go(link.dataset.go); });
    }
    $("#submit-image")?.addEventListener("submit", (event) => { if (!maySubmit()) event.preventDefault(); });
    window.addEventListener("keydown", onKey);
    window.addEventListener("beforeunload", (event) => {
      // Masks still being saved, one not accepted yet, a half-drawn polygon or an
      // edited outline not saved: the browser asks before leaving.
      if (leaving || !(state.outbox.size || hasUnacceptedMask(state) || vector.unsaved())) return;
      event.preventDefault();
      event.returnValue = ""; // older Chromium asks only when this is set
    });
    attachPointer(viewer, {
      tool: () => state.tool,
      vector: vector.pointer,
      pick,
      point: prompting.addPoint,
      box: prompting.setBox,
      strokeStart: brush.strokeStart,
      strokeMove: brush.paintTo,
      strokeEnd: brush.strokeEnd,
      hover: onPointerMove,
    });
    // Show the zoom level without hooking every zoom call site.
    const zoom = $("#zoom-level");
    const drawn = viewer.draw.bind(viewer);
    viewer.draw = () => { drawn(); zoom.textContent = `${Math.round(viewer.scale * 100)}%`; };
  }

  return { wire, setTool, setBrush, showUndo };
}
