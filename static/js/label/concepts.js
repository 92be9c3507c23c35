// The Find box (SAM 3 concept prompts, docs/protocol.md "concept"): a category chip
// or a typed phrase, and optional example boxes dragged on the canvas, go out as one
// `concept` frame; every instance of `concept_results` is shown as a candidate, on
// the canvas (tinted, outlined) and in a list with its score. The threshold slider
// filters what is shown here (and is sent with the next query). Accept all / Accept
// selected save the shown instances through saving.js's outbox as ordinary `accept`
// frames with the pixels, so a saved mask is never changed by a result. Only the
// latest query is shown: the server drops the older ones, and so does this page.
import { colourOf } from "./annotations.js";
import { createFindCanvas, firstPixel } from "./find_canvas.js";
import { takeInstance } from "./find_refine.js";
import { Mask } from "./mask.js";
import { overlayFromRLE } from "./overlay.js";

const MAX_EXEMPLARS = 8; // the server's bound (inference/concepts MAX_EXEMPLARS)
const CANDIDATE_COLOUR = "#00e5ff";
const SELECTED_COLOUR = "#ffd400";

const ERRORS = {
  concepts_unavailable: "Concept prompts are unavailable",
  concept_failed: "The search failed",
  concept_timeout: "No answer in time",
  invalid: "The query was refused",
};

/**
 * @param {{state: object, root: HTMLElement, viewer: import("./viewer.js").Viewer,
 *   socket: import("./socket.js").LabelSocket,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   saving: ReturnType<import("./saving.js").createSaving>,
 *   undo: ReturnType<import("./undo.js").createUndo>, pointTool: () => void,
 *   requireAnnotate: () => boolean}} page
 */
export function createConcepts({ state, root, viewer, socket, ui, saving, undo, pointTool, requireAnnotate }) {
  const panel = root.querySelector("#find");
  const available = Boolean(panel) && panel.dataset.available === "true";
  const $ = (selector) => panel.querySelector(selector);
  let query = null; // {seq, phrase, category} of the query shown or awaited
  let found = []; // [{rle, box, score, area, overlay, selected}]
  let exemplars = []; // [[x1, y1, x2, y2, positive]]

  const threshold = () => Number($("#find-threshold").value);
  const shown = () => found.filter((f) => f.score >= threshold());
  const exemplarMode = () => available && $("#find-exemplars").checked;
  const canvas = createFindCanvas({ state, viewer }, {
    shown, toggle, exemplarMode, exemplars: () => exemplars, addExemplar,
  });

  /** The categories as chips (from each hello: they can change between connects). */
  function setCategories(categories) {
    if (!available) return;
    const chips = $("#find-chips");
    chips.replaceChildren();
    for (const category of categories) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.dataset.category = String(category.id);
      chip.textContent = category.name;
      chip.style.borderColor = colourOf(category.id, categories);
      chip.title = `Find every ${category.name} (saved as ${category.name})`;
      chip.addEventListener("click", () => {
        $("#find-phrase").value = category.name;
        find(category.id);
      });
      chips.append(chip);
    }
  }

  /** The category a typed phrase saves as: a category of that name, else the picker's. */
  function categoryForPhrase(phrase) {
    const named = state.categories.find((c) => c.name.toLowerCase() === phrase.toLowerCase());
    return named ? named.id : state.category;
  }

  /** Send the query: the phrase box's text and the example boxes. */
  function find(category = undefined) {
    if (!available || !requireAnnotate()) return;
    const phrase = $("#find-phrase").value.trim().replace(/\s+/g, " ");
    if (!phrase && !exemplars.length) {
      status("Pick a category, type what to find, or drag an example box (X).", "warn");
      $("#find-phrase").focus();
      return;
    }
    const message = { type: "concept", phrases: phrase ? [phrase] : [], exemplars, threshold: threshold() };
    const seq = socket.send(message);
    if (seq === null) {
      status("Offline: reconnecting… try again in a moment.", "error");
      return;
    }
    query = { seq, phrase, category: category === undefined ? categoryForPhrase(phrase) : category };
    panel.dataset.state = "finding";
    status(`Finding${phrase ? ` “${phrase}”` : ""}…`, "busy");
    markChips();
  }

  /** A socket message: true when it was this module's (the reply to a query). */
  function onReply(message) {
    if (message.type === "hello") {
      setCategories(message.categories);
      if (query && panel.dataset.state === "finding") {
        // The connection that was to answer is gone; its query went with it.
        query = null;
        panel.dataset.state = "idle";
        status("The connection dropped while finding: press Find again.", "warn");
      }
      return false;
    }
    if (!available || !query || message.seq !== query.seq) return false;
    if (message.type === "concept_queued") return true;
    if (message.type === "concept_results") {
      showResults(message.instances);
      return true;
    }
    if (message.type === "error") {
      found = [];
      panel.dataset.state = "error";
      panel.dataset.error = message.code;
      status(`${ERRORS[message.code] || "Find failed"}: ${message.detail || message.code}`, "error");
      render();
      return true;
    }
    return false;
  }

  function showResults(instances) {
    const colour = CANDIDATE_COLOUR;
    found = instances.map((instance) => {
      const [x1, y1, x2, y2] = instance.box;
      const bbox = [x1, y1, x2 - x1, y2 - y1];
      return {
        ...instance,
        bbox,
        overlay: overlayFromRLE(instance.rle, bbox, colour, colour),
        picked: overlayFromRLE(instance.rle, bbox, SELECTED_COLOUR, SELECTED_COLOUR),
        selected: false,
        pixel: firstPixel(instance.rle),
      };
    });
    panel.dataset.state = "results";
    delete panel.dataset.error;
    render();
  }

  /** The list, the counts, the buttons and the canvas, from `found` and the slider. */
  function render() {
    const list = $("#find-list");
    list.replaceChildren();
    const visible = shown();
    visible.forEach((item, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "find-instance";
      button.setAttribute("aria-pressed", String(item.selected));
      button.dataset.score = item.score.toFixed(3);
      button.dataset.pixel = item.pixel.join(","); // one pixel of it: where a click selects it
      button.textContent = `${i + 1}. score ${item.score.toFixed(2)} · ${item.area} px`;
      button.title = "Select / unselect for Accept selected (or click it on the image)";
      button.addEventListener("click", () => toggle(item));
      const refineButton = document.createElement("button");
      refineButton.type = "button";
      refineButton.className = "find-refine";
      refineButton.textContent = "Refine";
      refineButton.title = "Make it the current mask and refine it with clicks (I: the selected one)";
      refineButton.addEventListener("click", () => refine(item));
      li.append(button, refineButton);
      list.append(li);
    });
    const selected = visible.filter((f) => f.selected).length;
    $("#find-accept-all").disabled = !visible.length;
    $("#find-accept-selected").disabled = !selected;
    $("#find-clear").disabled = !found.length && !exemplars.length;
    $("#find-threshold-value").textContent = threshold().toFixed(2);
    $("#find-examples-count").textContent = exemplars.length
      ? `${exemplars.length} example box${exemplars.length === 1 ? "" : "es"}` : "";
    panel.dataset.shown = String(visible.length);
    if (panel.dataset.state === "results") {
      const hidden = found.length - visible.length;
      const name = query && query.category !== null
        ? state.categories.find((c) => c.id === query.category)?.name : null;
      status(`${visible.length} found${hidden ? ` (${hidden} below the threshold)` : ""}${visible.length
        ? `; they save as ${name || "no category"}. Click one to select it.` : "."}`, "ok");
    }
    viewer.redraw();
  }

  function toggle(item) {
    item.selected = !item.selected;
    render();
  }

  /** Save instances as new masks, each its own `accept` through the outbox. */
  function accept(which) {
    if (!requireAnnotate() || !query) return;
    const items = shown().filter((f) => which === "all" || f.selected);
    if (!items.length) return;
    for (const item of items) saving.acceptMask(Mask.fromRLE(item.rle), query.category);
    // The saved copies are drawn by the outbox (and then as saved masks): not twice.
    found = found.filter((f) => !items.includes(f));
    ui.renderList();
    ui.renderLayers();
    render();
    ui.say(`Saving ${items.length} mask${items.length === 1 ? "" : "s"} from Find…`, "ok");
  }

  /** Take an instance into refinement (find_refine.js); I takes the selected one. */
  function refine(item = shown().find((f) => f.selected)) {
    if (!available || !requireAnnotate()) return;
    if (!item) {
      status("Select one instance first (click it), then press I or its Refine button.", "warn");
      return;
    }
    found = found.filter((f) => f !== item); // drawn as the current mask from now on
    takeInstance({ state, undo, ui, pointTool }, item, query ? query.category : null);
    render();
  }

  function addExemplar(box) {
    if (exemplars.length >= MAX_EXEMPLARS) {
      status(`At most ${MAX_EXEMPLARS} example boxes: Clear, then draw again.`, "warn");
      viewer.redraw();
      return;
    }
    exemplars.push(box);
    render();
    find(query ? query.category : undefined);
  }

  function clear() {
    found = [];
    exemplars = [];
    query = null;
    panel.dataset.state = "idle";
    status("");
    markChips();
    render();
  }

  function markChips() {
    for (const chip of $("#find-chips").children) {
      chip.setAttribute("aria-pressed", String(Boolean(query) && Number(chip.dataset.category) === query.category
        && chip.textContent.toLowerCase() === query.phrase.toLowerCase()));
    }
  }

  function status(text, tone = "info") {
    const el = $("#find-status");
    el.textContent = text;
    el.dataset.tone = tone;
  }

  // ---------------------------------------------------------------- wiring
  function wire() {
    if (!available) return;
    $("#find-form").addEventListener("submit", (event) => {
      event.preventDefault();
      $("#find-phrase").blur(); // hand the keyboard back to the canvas shortcuts
      find();
    });
    $("#find-threshold").addEventListener("input", render);
    $("#find-exemplars").addEventListener("change", (event) => {
      if (event.target.checked) status("Drag a box around a good example; Shift+drag marks a wrong hit.");
      root.dataset.findExemplars = String(event.target.checked);
    });
    $("#find-accept-all").addEventListener("click", () => accept("all"));
    $("#find-accept-selected").addEventListener("click", () => accept("selected"));
    $("#find-clear").addEventListener("click", clear);
    render();
  }

  /** F: into the Find box (or why there is none). */
  function focus() {
    if (!panel) return;
    if (!available) {
      ui.say(panel.querySelector("#find-unavailable")?.textContent || "Find is not available here.", "warn");
      return;
    }
    panel.scrollIntoView({ block: "nearest" });
    $("#find-phrase").focus();
    $("#find-phrase").select();
  }

  /** X: example boxes on / off. */
  function toggleExemplars() {
    if (!available) return;
    const box = $("#find-exemplars");
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change"));
  }

  return { wire, onReply, pointer: canvas.pointer, focus, toggleExemplars, refine: () => refine() };
}
