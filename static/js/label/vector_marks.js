// Drawing polygons on the canvas, in screen space over the image (a Viewer painter):
// the polygon being drawn and the outline being edited. Handles keep their size at
// any zoom, so a vertex is as easy to grab zoomed out as zoomed in.

export const HANDLE = 4; // half a vertex handle's side, CSS px
export const GRAB = 8; // how near (CSS px) a press must be to take a vertex
export const EDGE_GRAB = 6; // ... or an edge

const FILL = "rgba(255, 212, 0, 0.22)";
const CUT_FILL = "rgba(229, 72, 77, 0.28)";
const LINE = "#ffd400";
const CUT_LINE = "#e5484d";
const HOLE_LINE = "#7fd4ff";

/** Trace rings (image pixels) as one screen path; `closed` joins each ring's ends. */
function path(ctx, viewer, rings, closed) {
  ctx.beginPath();
  for (const ring of rings) {
    ring.forEach(([x, y], i) => {
      const [sx, sy] = viewer.toScreen(x, y);
      if (i) ctx.lineTo(sx, sy); else ctx.moveTo(sx, sy);
    });
    if (closed && ring.length) ctx.closePath();
  }
}

function outlined(ctx, colour, dashed) {
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
  ctx.setLineDash([]);
  ctx.stroke();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = colour;
  if (dashed) ctx.setLineDash([5, 4]);
  ctx.stroke();
  ctx.setLineDash([]);
}

function handles(ctx, viewer, points, active) {
  for (const [x, y] of points) {
    const [sx, sy] = viewer.toScreen(x, y);
    ctx.fillStyle = "#fff";
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 1;
    ctx.fillRect(sx - HANDLE, sy - HANDLE, 2 * HANDLE, 2 * HANDLE);
    ctx.strokeRect(sx - HANDLE, sy - HANDLE, 2 * HANDLE, 2 * HANDLE);
  }
  if (active) {
    const [sx, sy] = viewer.toScreen(active[0], active[1]);
    ctx.strokeStyle = LINE;
    ctx.lineWidth = 2;
    ctx.strokeRect(sx - HANDLE - 2, sy - HANDLE - 2, 2 * HANDLE + 4, 2 * HANDLE + 4);
  }
}

/** The polygon being drawn: its vertices, and a rubber band to the cursor. */
export function drawOpenPolygon(ctx, viewer, vertices, cursor, mode) {
  if (!vertices.length) return;
  const cut = mode === "cut";
  const live = cursor ? [...vertices, cursor] : vertices;
  if (live.length >= 3) {
    path(ctx, viewer, [live], true);
    ctx.fillStyle = cut ? CUT_FILL : FILL;
    ctx.fill("evenodd");
  }
  path(ctx, viewer, [live], false);
  outlined(ctx, cut ? CUT_LINE : LINE, false);
  handles(ctx, viewer, vertices, vertices[0]); // the first vertex closes the polygon
}

/** The outline being edited: the fill as it will be saved, holes dashed in blue. */
export function drawOutline(ctx, viewer, rings, holes, active) {
  path(ctx, viewer, rings, true);
  ctx.fillStyle = FILL;
  ctx.fill("evenodd");
  rings.forEach((ring, i) => {
    path(ctx, viewer, [ring], true);
    outlined(ctx, holes[i] ? HOLE_LINE : LINE, holes[i]);
  });
  for (const ring of rings) handles(ctx, viewer, ring, null);
  if (active) handles(ctx, viewer, [], active);
}
