// Every shortcut in one table: the key handler in commands.js dispatches on `id`, and
// the help overlay (?) is rendered from the same rows, so they cannot disagree.

export const SHORTCUTS = [
  { group: "Tools", keys: ["V"], id: "tool-select", text: "Select: click a saved mask to select it (the topmost); hovering highlights it" },
  { group: "Tools", keys: ["Alt+click"], id: null, text: "Select in any tool; again on the same spot: the next mask underneath" },
  { group: "Tools", keys: ["P"], id: "tool-point", text: "SAM points: click adds a positive point" },
  { group: "Tools", keys: ["Shift+click", "Right click"], id: null, text: "Negative point" },
  { group: "Tools", keys: ["B"], id: "tool-box", text: "SAM box: drag a box, then click to refine" },
  { group: "Tools", keys: ["D"], id: "tool-brush", text: "Brush (adds to the mask)" },
  { group: "Tools", keys: ["E"], id: "tool-eraser", text: "Eraser" },
  { group: "Tools", keys: ["[", "]"], id: null, text: "Brush smaller / larger" },
  { group: "Polygon", keys: ["G"], id: "tool-polygon", text: "Polygon: click vertices; close on the first vertex, with Enter or a double-click" },
  { group: "Polygon", keys: ["Backspace"], id: null, text: "Remove the last vertex (also right click)" },
  { group: "Polygon", keys: ["Esc"], id: null, text: "Cancel the polygon being drawn" },
  { group: "Polygon", keys: ["M"], id: "polygon-mode", text: "Mode: new mask → add to the mask → cut from it" },
  { group: "Polygon", keys: ["Shift+close", "Ctrl+close"], id: null, text: "Add / cut, whatever the mode (click the first vertex, Enter or double-click)" },
  { group: "Polygon", keys: ["U"], id: "edit-outline", text: "Edit outline of the selected saved mask: drag vertices, click an edge to add one" },
  { group: "Polygon", keys: ["Alt+click", "Right click"], id: null, text: "In an outline: remove a vertex (Ctrl+Z undoes a step)" },
  { group: "Polygon", keys: ["Enter", "Esc"], id: null, text: "In an outline: save it as a new version / cancel" },
  { group: "Mask", keys: ["Tab"], id: "cycle", text: "Next candidate (Shift+Tab: previous)" },
  { group: "Mask", keys: ["1", "2", "3"], id: null, text: "Pick candidate 1–3" },
  { group: "Mask", keys: ["Enter"], id: "accept", text: "Accept (save) the mask" },
  { group: "Mask", keys: ["Esc"], id: "discard", text: "Discard the current mask" },
  { group: "Mask", keys: ["Alt+1…9"], id: null, text: "Choose category 1–9" },
  { group: "Mask", keys: ["Ctrl+Z"], id: "undo", text: "Undo: a step of the mask, or an accept, delete, category, edit or verdict" },
  { group: "Mask", keys: ["Ctrl+Shift+Z", "Ctrl+Y"], id: "redo", text: "Redo what was undone" },
  { group: "Find", keys: ["F"], id: "find", text: "Find: type a phrase (or pick a category chip), Enter finds every instance" },
  { group: "Find", keys: ["X"], id: "find-examples", text: "Example boxes on / off: drag a good example, Shift+drag a wrong hit" },
  { group: "Find", keys: ["Click"], id: null, text: "On a found instance (or in the list): select it for Accept selected" },
  { group: "Find", keys: ["I"], id: "find-refine", text: "Refine the selected instance with clicks: its box and mask become SAM's prompt (or its Refine button)" },
  { group: "Masks", keys: ["Delete"], id: "delete", text: "Delete the selected saved mask" },
  { group: "Masks", keys: ["O"], id: "overlays", text: "Show / hide all saved masks" },
  { group: "Masks", keys: ["H"], id: "hover", text: "Hover preview on / off: the mask under the cursor" },
  { group: "Masks", keys: ["S"], id: "solo", text: "Show only the selected mask / all masks" },
  { group: "Review", keys: ["J", "↓"], id: "mask-next", text: "Select the next mask in the list" },
  { group: "Review", keys: ["K", "↑"], id: "mask-prev", text: "Select the previous mask in the list" },
  { group: "Review", keys: ["A"], id: "approve", text: "Approve the selected mask (reviewers)" },
  { group: "Review", keys: ["R"], id: "reject", text: "Reject the selected mask: asks for the comment its annotator sees" },
  { group: "Review", keys: ["."], id: null, text: "Next image" },
  { group: "View", keys: ["Wheel"], id: null, text: "Zoom around the cursor" },
  { group: "View", keys: ["Space+drag", "Middle drag"], id: null, text: "Pan" },
  { group: "View", keys: ["0"], id: "fit", text: "Fit to screen" },
  { group: "View", keys: ["+", "−"], id: null, text: "Zoom in / out" },
  { group: "Images", keys: [","], id: "prev", text: "Previous image" },
  { group: "Images", keys: ["."], id: "next", text: "Next image" },
  { group: "Images", keys: ["N"], id: "next-unlabeled", text: "Next unlabeled image" },
  { group: "Images", keys: ["Shift+Enter"], id: "submit", text: "Submit this image for review, go to the next" },
  { group: "Help", keys: ["?"], id: "help", text: "Show this help" },
];

/** Map a keydown event to a shortcut id (or a parametrised one), or null. */
export function shortcutFor(event) {
  const key = event.key;
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && !event.altKey) {
    const k = key.toLowerCase();
    if (k === "z") return event.shiftKey ? "redo" : "undo";
    if (k === "y") return "redo";
    return null;
  }
  // Alt+digit picks a category; read `code`, since Alt changes `key` on some layouts.
  if (event.altKey && /^Digit[1-9]$/.test(event.code)) return `category:${event.code.slice(5)}`;
  if (event.altKey) return null;
  switch (key) {
    case "v": case "V": return "tool-select";
    case "p": case "P": return "tool-point";
    case "b": case "B": return "tool-box";
    case "d": case "D": return "tool-brush";
    case "e": case "E": return "tool-eraser";
    case "g": case "G": return "tool-polygon";
    case "m": case "M": return "polygon-mode";
    case "u": case "U": return "edit-outline";
    case "[": return "brush-smaller";
    case "]": return "brush-larger";
    case "Tab": return event.shiftKey ? "cycle-back" : "cycle";
    case "1": case "2": case "3": return `candidate:${key}`;
    case "Enter": return event.shiftKey ? "submit" : "accept";
    case "Escape": return "discard";
    case "Delete": case "Backspace": return "delete";
    case "o": case "O": return "overlays";
    case "h": case "H": return "hover";
    case "s": case "S": return "solo";
    case "j": case "J": case "ArrowDown": return "mask-next";
    case "k": case "K": case "ArrowUp": return "mask-prev";
    case "a": case "A": return "approve";
    case "r": case "R": return "reject";
    case "f": case "F": return "find";
    case "x": case "X": return "find-examples";
    case "i": case "I": return "find-refine";
    case "0": return "fit";
    case "+": case "=": return "zoom-in";
    case "-": case "_": return "zoom-out";
    case ",": case "<": return "prev";
    case ".": case ">": return "next";
    case "n": case "N": return "next-unlabeled";
    case "?": return "help";
    default: return null;
  }
}

/** Fill the help dialog's body from SHORTCUTS. */
export function renderHelp(container) {
  container.replaceChildren();
  const groups = new Map();
  for (const row of SHORTCUTS) {
    if (!groups.has(row.group)) groups.set(row.group, []);
    groups.get(row.group).push(row);
  }
  for (const [name, rows] of groups) {
    const section = document.createElement("section");
    const title = document.createElement("h3");
    title.textContent = name;
    const list = document.createElement("dl");
    for (const row of rows) {
      const dt = document.createElement("dt");
      row.keys.forEach((k, i) => {
        if (i) dt.append(" / ");
        const kbd = document.createElement("kbd");
        kbd.textContent = k;
        dt.append(kbd);
      });
      const dd = document.createElement("dd");
      dd.textContent = row.text;
      list.append(dt, dd);
    }
    section.append(title, list);
    container.append(section);
  }
}
