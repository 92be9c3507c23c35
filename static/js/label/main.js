// The labeling page's boot: make the state, the viewer and the socket, wire the
// modules together, draw the first frame, then load the image and connect.
// Protocol: docs/protocol.md. Coordinates are always image pixels of the displayed
// (EXIF-rotated) image, which is what the display view serves.
//
// Modules and what they own (none imports another of these; each gets what it calls):
//   state.js      the one state object and its accessors
//   rendering.js  the canvas layers, mask list, candidates, status bar (`ui`)
//   undo.js       undo / redo: the mask being made, and saved changes (server writes)
//   prompting.js  points, boxes, candidates, refinement, the hover preview
//   brush.js      brush and eraser strokes
//   saving.js     accept, the outbox, updates, deletes, conflicts
//   messages.js   the socket's hello, replies and pushes
//   commands.js   keyboard shortcuts, buttons, the pointer
//   picking.js    which saved mask lies under the pointer (select, Alt+click cycling)
//   perf.js       click-to-paint timing (window.__anymaskPerf)
//   polygon.js    the polygon tool: a new mask, or added to / cut from the current one
//   outline_edit.js  a saved mask's outline as draggable vertices, saved as a new version
//   concepts.js   the Find box: SAM 3 concept queries, their instances, accepting them
//   find_canvas.js  the Find box on the canvas: instances drawn and clicked, example boxes
//   find_refine.js  a Find instance taken into refinement: the click model's next prompt
import { createBrush } from "./brush.js";
import { attachChangelog } from "./changelog.js";
import { createCommands } from "./commands.js";
import { createConcepts } from "./concepts.js";
import { createMessages } from "./messages.js";
import { createPerf } from "./perf.js";
import { createOutlineEdit } from "./outline_edit.js";
import { createPolygon } from "./polygon.js";
import { createPrompting } from "./prompting.js";
import { createRendering } from "./rendering.js";
import { createSaving } from "./saving.js";
import { LabelSocket } from "./socket.js";
import { createState } from "./state.js";
import { createUndo } from "./undo.js";
import { Viewer } from "./viewer.js";
import { renderModelBanner } from "../model_banner.js";

const root = document.getElementById("label-app");
const info = root.dataset;
const changelog = attachChangelog(document.getElementById("history"));
const state = createState(info);
const viewer = new Viewer(root.querySelector("#canvas"));
const perf = createPerf();
// Capture phase: the press is timed before any tool handles it.
viewer.canvas.addEventListener("pointerdown", (event) => perf.pointerDown(event.timeStamp), { capture: true });

// The list's and the candidates' buttons act through modules made below; the arrows
// look them up when clicked, by which time every one exists.
const ui = createRendering({ state, root, viewer }, {
  pickCandidate: (index) => prompting.pickCandidate(index),
  setCategoryOf: (id, category) => saving.setCategoryOf(id, category),
  removeAnnotation: (id) => saving.removeAnnotation(id),
  setStatusOf: (id, status) => saving.setStatusOf(id, status),
  acceptProposal: (id) => saving.acceptProposal(id),
});
const undo = createUndo(state, ui.refreshCurrent, {
  request: (message, context) => saving.request(message, context),
  onChange: (next, again) => commands.showUndo(next, again),
});

const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
const socket = new LabelSocket(`${proto}//${window.location.host}${info.wsPath}`, {
  onFrame: perf.frameArrived,
  onMessage: (message) => concepts.onReply(message) || messages.onMessage(message),
  onState: (stateName, wait) => messages.onConnection(stateName, wait),
});

const prompting = createPrompting({ state, root, socket, undo, ui, perf });
const { requireAnnotate, clearHover } = prompting;
const brush = createBrush({ state, undo, ui, requireAnnotate, clearHover });
const saving = createSaving({ state, root, socket, undo, ui, changelog, requireAnnotate });
const polygon = createPolygon({ state, root, viewer, undo, ui, requireAnnotate, clearHover });
const outline = createOutlineEdit({ state, root, viewer, socket, ui, saving, requireAnnotate });
const pointTool = () => commands.setTool("point"); // commands is made below; called later
const concepts = createConcepts({ state, root, viewer, socket, ui, saving, undo, pointTool, requireAnnotate });
const messages = createMessages({ state, root, ui, undo, prompting, saving, changelog, outline });
// The pointer goes to an outline being edited, else to Find's instances and example
// boxes when shown, else to the polygon tool when chosen.
const vector = {
  pointer: () => (outline.active() ? outline : concepts.pointer(state.tool === "polygon" ? polygon : null)),
  toolChanged: (tool) => {
    if (outline.active()) ui.say("Finish the outline first: Enter saves it, Esc cancels.", "warn");
    polygon.toolChanged(tool);
  },
  // Work a reload would lose: a polygon with vertices, an outline with edits.
  unsaved: () => polygon.drawing() || outline.changed(),
  actions: {
    "polygon-mode": polygon.cycleMode, "edit-outline": outline.start,
    find: concepts.focus, "find-examples": concepts.toggleExemplars, "find-refine": concepts.refine,
  },
};
const commands = createCommands({ state, root, viewer, socket, undo, ui, prompting, brush, saving, vector });

async function loadImage() {
  const img = new Image();
  img.src = info.imageUrl;
  try {
    // decode() off the main thread, so a 50 MP image does not freeze the page.
    await img.decode();
  } catch {
    ui.say("The image could not be loaded. Reload the page to try again.", "error");
    return;
  }
  viewer.setImage(img, state.width, state.height);
  root.dataset.imageLoaded = "true";
  ui.renderLayers();
}

commands.wire();
polygon.wire();
outline.wire();
concepts.wire();
commands.setTool("point");
commands.setBrush(state.brush);
commands.showUndo(null, null);
ui.setEmbedding(state.embedding);
ui.refreshCurrent();
ui.renderList();
loadImage();
socket.connect();
watchModel();

/** Keep the model banner current: often while the model is not usable, rarely after. */
function watchModel() {
  const banner = document.getElementById("model-banner");
  const url = root.dataset.modelStatusUrl;
  if (!banner || !url) return;
  const settled = () => banner.dataset.state === "ready"
    || (banner.dataset.state === "unknown" && banner.dataset.onDisk === "true");
  let last = 0;
  setInterval(async () => {
    if (document.hidden || Date.now() - last < (settled() ? 15000 : 1500)) return;
    last = Date.now();
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) renderModelBanner(banner, await response.json());
    } catch {
      // offline for a moment: the next tick tries again
    }
  }, 500);
}
