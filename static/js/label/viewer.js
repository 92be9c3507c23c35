// The canvas view: an image drawn with a zoom/pan transform, mask overlays on top,
// and prompt marks (points, box, brush cursor) in screen space. Nothing here is
// allocated per frame at image resolution: the image is one drawImage call, and
// overlays are pre-rendered display-resolution canvases (overlay.js).

const MIN_SCALE = 0.01;
const MAX_SCALE = 40;

export class Viewer {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.image = null; // HTMLImageElement or ImageBitmap
    this.width = 0; // image size in pixels (as displayed, EXIF applied)
    this.height = 0;
    this.scale = 1;
    this.ox = 0; // screen offset of the image origin, CSS pixels
    this.oy = 0;
    this.layers = []; // [{overlay, alpha, outline}] drawn in order (overlay.js)
    this.marks = { points: [], labels: [], box: null, drag: null, cursor: null };
    // Extra marks drawn last, in screen space: (ctx, viewer) => void (polygon.js,
    // outline_edit.js), so a tool draws its own shapes without growing this file.
    this.painters = [];
    this.frame = 0;
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
  }

  setImage(image, width, height) {
    this.image = image;
    this.width = width;
    this.height = height;
    this.resize();
    this.fit();
  }

  resize() {
    const box = this.canvas.parentElement.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(box.width * dpr));
    this.canvas.height = Math.max(1, Math.round(box.height * dpr));
    this.canvas.style.width = `${box.width}px`;
    this.canvas.style.height = `${box.height}px`;
    this.redraw();
  }

  cssSize() {
    const dpr = window.devicePixelRatio || 1;
    return [this.canvas.width / dpr, this.canvas.height / dpr];
  }

  fit() {
    if (!this.width) return;
    const [cw, ch] = this.cssSize();
    const margin = 16;
    this.scale = Math.min((cw - 2 * margin) / this.width, (ch - 2 * margin) / this.height);
    this.scale = Math.max(MIN_SCALE, this.scale);
    this.ox = (cw - this.width * this.scale) / 2;
    this.oy = (ch - this.height * this.scale) / 2;
    this.redraw();
  }

  /** Zoom by `factor`, keeping the image point under (sx, sy) fixed on screen. */
  zoomAt(sx, sy, factor) {
    const next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = next;
    this.ox = sx - ix * next;
    this.oy = sy - iy * next;
    this.redraw();
  }

  zoomCentre(factor) {
    const [cw, ch] = this.cssSize();
    this.zoomAt(cw / 2, ch / 2, factor);
  }

  panBy(dx, dy) {
    this.ox += dx;
    this.oy += dy;
    this.redraw();
  }

  toImage(sx, sy) {
    return [(sx - this.ox) / this.scale, (sy - this.oy) / this.scale];
  }

  toScreen(ix, iy) {
    return [ix * this.scale + this.ox, iy * this.scale + this.oy];
  }

  /** Coalesce redraws to one per animation frame. */
  redraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draw now (tests and screenshots read pixels right after an update). */
  draw() {
    const { ctx } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.image) return;
    const k = dpr * this.scale;
    ctx.setTransform(k, 0, 0, k, dpr * this.ox, dpr * this.oy);
    // Smooth when shrinking; show crisp pixels when zoomed in for precise edits.
    ctx.imageSmoothingEnabled = this.scale < 2;
    ctx.drawImage(this.image, 0, 0, this.width, this.height);
    ctx.imageSmoothingEnabled = false;
    for (const layer of this.layers) {
      const o = layer.overlay;
      if (o.baked) {
        // Fill and outline in one canvas, the alpha in its pixels (OverlaySurface).
        ctx.globalAlpha = 1;
        ctx.drawImage(o.fill, o.sx, o.sy, o.sw, o.sh, o.x, o.y, o.w, o.h);
        continue;
      }
      ctx.globalAlpha = layer.alpha;
      // (sx, sy, sw, sh): the part of the overlay's canvases it occupies.
      ctx.drawImage(o.fill, o.sx, o.sy, o.sw, o.sh, o.x, o.y, o.w, o.h);
      if (layer.outline) {
        ctx.globalAlpha = 1;
        ctx.drawImage(o.edge, o.sx, o.sy, o.sw, o.sh, o.x, o.y, o.w, o.h);
        if (layer.highlight) {
          // A selected mask gets its outline thickened by drawing it offset.
          const d = 1.5 / this.scale;
          for (const [ex, ey] of [[d, 0], [-d, 0], [0, d], [0, -d]]) {
            ctx.drawImage(o.edge, o.sx, o.sy, o.sw, o.sh, o.x + ex, o.y + ey, o.w, o.h);
          }
        }
      }
    }
    ctx.globalAlpha = 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawMarks();
  }

  drawMarks() {
    const { ctx, marks } = this;
    const box = marks.drag || marks.box;
    if (box) {
      const [x0, y0] = this.toScreen(box[0], box[1]);
      const [x1, y1] = this.toScreen(box[2], box[3]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#000";
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([6, 4]);
      ctx.strokeStyle = "#ffd400";
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
    }
    marks.points.forEach(([px, py], i) => {
      const [x, y] = this.toScreen(px, py);
      ctx.beginPath();
      ctx.arc(x, y, 6, 0, Math.PI * 2);
      ctx.fillStyle = marks.labels[i] ? "#1fbf5b" : "#e5484d";
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      ctx.fillStyle = "#fff";
      ctx.fillRect(x - 3, y - 1, 6, 2); // minus sign, and with the bar below a plus
      if (marks.labels[i]) ctx.fillRect(x - 1, y - 3, 2, 6);
    });
    if (marks.cursor) {
      const [x, y] = this.toScreen(marks.cursor.x, marks.cursor.y);
      ctx.beginPath();
      ctx.arc(x, y, Math.max(1, marks.cursor.r * this.scale), 0, Math.PI * 2);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = marks.cursor.erase ? "#e5484d" : "#fff";
      ctx.stroke();
    }
    for (const paint of this.painters) paint(ctx, this);
  }
}
