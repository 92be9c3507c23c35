// Pointer input on the canvas, turned into tool actions in image coordinates.
// Panning (space-drag or the middle button) and wheel zoom work in every tool.
// A vector tool (the polygon, an outline being edited) takes presses first:
// `actions.vector()` returns it or null; its `down` answers "drag" (then `dragTo` and
// `up` follow), "handled", or null to leave the press to the usual tools.

const CLICK_SLOP = 4; // px a press may move and still count as a click

export function attachPointer(viewer, actions) {
  const canvas = viewer.canvas;
  let spaceHeld = false;
  let drag = null; // {mode, startX, startY, lastX, lastY}

  const local = (event) => {
    const r = canvas.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  };

  window.addEventListener("keydown", (event) => {
    if (event.code === "Space" && !isTyping(event.target)) {
      spaceHeld = true;
      canvas.classList.add("panning");
      event.preventDefault(); // no page scroll
    }
  });
  window.addEventListener("keyup", (event) => {
    if (event.code === "Space") {
      spaceHeld = false;
      canvas.classList.remove("panning");
    }
  });

  canvas.addEventListener("contextmenu", (event) => event.preventDefault());

  canvas.addEventListener("pointerdown", (event) => {
    canvas.focus({ preventScroll: true });
    const [sx, sy] = local(event);
    const [ix, iy] = viewer.toImage(sx, sy);
    canvas.setPointerCapture(event.pointerId);
    if (event.button === 1 || (event.button === 0 && spaceHeld)) {
      drag = { mode: "pan", lastX: sx, lastY: sy };
      event.preventDefault();
      return;
    }
    const vector = actions.vector ? actions.vector() : null;
    const taken = vector ? vector.down(ix, iy, event, sx, sy) : null;
    if (taken === "drag") drag = { mode: "vector", vector };
    if (taken) return;
    const tool = actions.tool();
    const negative = event.button === 2 || event.shiftKey;
    if (event.button === 0 && (tool === "select" || event.altKey)) {
      // Select a saved mask: a click takes the topmost, Alt+click the next one down.
      actions.pick(ix, iy, event.altKey);
    } else if (tool === "point") {
      if (event.button === 0 || event.button === 2) actions.point(ix, iy, negative ? 0 : 1);
    } else if (tool === "box") {
      drag = { mode: "box", startX: sx, startY: sy, ix, iy, negative };
    } else if (event.button === 0) {
      drag = { mode: "stroke" };
      actions.strokeStart(ix, iy, tool === "eraser");
    }
  });

  canvas.addEventListener("pointermove", (event) => {
    const [sx, sy] = local(event);
    const [ix, iy] = viewer.toImage(sx, sy);
    actions.hover(ix, iy);
    const vector = actions.vector ? actions.vector() : null;
    if (vector && vector.move) vector.move(ix, iy);
    if (!drag) return;
    if (drag.mode === "pan") {
      viewer.panBy(sx - drag.lastX, sy - drag.lastY);
      drag.lastX = sx;
      drag.lastY = sy;
    } else if (drag.mode === "box") {
      viewer.marks.drag = [Math.min(drag.ix, ix), Math.min(drag.iy, iy), Math.max(drag.ix, ix), Math.max(drag.iy, iy)];
      viewer.redraw();
    } else if (drag.mode === "stroke") {
      actions.strokeMove(ix, iy);
    } else if (drag.mode === "vector") {
      drag.vector.dragTo(ix, iy);
    }
  });

  const finish = (event) => {
    if (!drag) return;
    const [sx, sy] = local(event);
    const [ix, iy] = viewer.toImage(sx, sy);
    if (drag.mode === "box") {
      viewer.marks.drag = null;
      if (Math.hypot(sx - drag.startX, sy - drag.startY) < CLICK_SLOP) {
        actions.point(drag.ix, drag.iy, drag.negative ? 0 : 1);
      } else {
        actions.box([Math.min(drag.ix, ix), Math.min(drag.iy, iy), Math.max(drag.ix, ix), Math.max(drag.iy, iy)]);
      }
      viewer.redraw();
    } else if (drag.mode === "stroke") {
      actions.strokeEnd();
    } else if (drag.mode === "vector") {
      drag.vector.up(ix, iy);
    }
    drag = null;
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  canvas.addEventListener("pointerleave", () => {
    actions.hover(null, null);
    const vector = actions.vector ? actions.vector() : null;
    if (vector && vector.move) vector.move(null, null);
  });

  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [sx, sy] = local(event);
    // Trackpads send many small deltas, mice a few large ones: scale continuously.
    const delta = event.deltaMode === 1 ? event.deltaY * 33 : event.deltaY;
    viewer.zoomAt(sx, sy, Math.exp(-delta * 0.0015));
  }, { passive: false });
}

export function isTyping(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))
    && !(target instanceof HTMLInputElement && ["range", "checkbox", "button"].includes(target.type));
}
