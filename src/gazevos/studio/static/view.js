// The frame view: the frame, the tracked masks, the prompt preview, the gaze point with its
// tolerance circle and the fixation, and the prompt's points / box being drawn.

export class FrameView {
  constructor(canvas, width, height) {
    this.canvas = canvas;
    canvas.width = width;
    canvas.height = height;
    this.ctx = canvas.getContext("2d");
    this.frame = null;    // ImageBitmap
    this.mask = null;     // ImageBitmap (object colours, background transparent)
    this.preview = null;  // ImageBitmap of the prompt's mask
    this.gaze = null;     // [x, y, tol, fixation_id]
    this.fixation = null; // {fixation_id, object}
    this.points = [];     // [x, y, positive]
    this.box = null;      // [x0, y0, x1, y1]
    this.brush = null;    // an offscreen canvas with the brushed pixels
    this.maskAlpha = 0.45;
  }

  // Canvas pixel coordinates of a mouse event.
  toFrame(ev) {
    const r = this.canvas.getBoundingClientRect();
    const x = ((ev.clientX - r.left) / r.width) * this.canvas.width;
    const y = ((ev.clientY - r.top) / r.height) * this.canvas.height;
    return [Math.max(0, Math.min(this.canvas.width - 1, x)),
            Math.max(0, Math.min(this.canvas.height - 1, y))];
  }

  draw() {
    const { ctx, canvas } = this;
    // s: canvas pixels per screen pixel, so that marks and text keep their screen size
    const w = canvas.width, h = canvas.height, s = w / (canvas.clientWidth || w);
    ctx.globalAlpha = 1;
    if (this.frame) ctx.drawImage(this.frame, 0, 0);
    else { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h); }
    if (this.mask) {
      ctx.globalAlpha = this.maskAlpha;
      ctx.drawImage(this.mask, 0, 0);
    }
    if (this.preview) {
      ctx.globalAlpha = 0.6;
      ctx.drawImage(this.preview, 0, 0);
    }
    if (this.brush) {
      ctx.globalAlpha = 0.5;
      ctx.drawImage(this.brush, 0, 0);
    }
    ctx.globalAlpha = 1;
    if (this.gaze) this.drawGaze(s);
    if (this.box) {
      const [x0, y0, x1, y1] = this.box;
      ctx.setLineDash([6 * s, 4 * s]);
      ctx.strokeStyle = "#ffd166";
      ctx.lineWidth = 2 * s;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
    }
    for (const [x, y, pos] of this.points) {
      ctx.beginPath();
      ctx.arc(x, y, 5 * s, 0, 2 * Math.PI);
      ctx.fillStyle = pos ? "#2ecc71" : "#e74c3c";
      ctx.fill();
      ctx.lineWidth = 1.5 * s;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    }
  }

  drawGaze(s) {
    const { ctx } = this;
    const [x, y, tol, fid] = this.gaze;
    ctx.lineWidth = 1.5 * s;
    ctx.strokeStyle = fid >= 0 ? "#00e5ff" : "rgba(0,229,255,0.7)";
    ctx.setLineDash(fid >= 0 ? [] : [4 * s, 3 * s]);
    ctx.beginPath();
    ctx.arc(x, y, Math.max(tol, 3 * s), 0, 2 * Math.PI);  // tolerance circle
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.arc(x, y, 3.5 * s, 0, 2 * Math.PI);
    ctx.fillStyle = "#00e5ff";
    ctx.fill();
    if (fid >= 0) {
      const label = this.fixation
        ? `fixation ${fid}: ${this.fixation.object || "nothing"}${this.fixation.override ? " (override)" : ""}`
        : `fixation ${fid}`;
      ctx.font = `bold ${14 * s}px system-ui, sans-serif`;
      const tw = ctx.measureText(label).width;
      const lx = Math.min(x + tol + 4 * s, this.canvas.width - tw - 4 * s);
      const ly = Math.max(y - tol, 14 * s);
      ctx.fillStyle = "rgba(0,0,0,0.6)";
      ctx.fillRect(lx - 3 * s, ly - 14 * s, tw + 6 * s, 19 * s);
      ctx.fillStyle = "#00e5ff";
      ctx.fillText(label, lx, ly);
    }
  }

  // Brush: paint a disc at (x, y) of radius r onto the offscreen brush canvas.
  paint(x, y, r, erase) {
    if (!this.brush) {
      this.brush = document.createElement("canvas");
      this.brush.width = this.canvas.width;
      this.brush.height = this.canvas.height;
    }
    const b = this.brush.getContext("2d");
    b.fillStyle = erase ? "rgba(231,76,60,1)" : "rgba(255,209,102,1)";
    b.beginPath();
    b.arc(x, y, r, 0, 2 * Math.PI);
    b.fill();
  }

  clearPrompt() {
    this.points = [];
    this.box = null;
    this.brush = null;
    this.preview = null;
  }
}
