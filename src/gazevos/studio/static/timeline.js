// The timeline: one lane per object, one column per frame: visible (the object's colour),
// low confidence (orange), lost (red), keyframe (white), not tracked (grey).  A click jumps
// to that frame; the cursor marks the current frame.

const LANE = 18;
const LABEL = 90;
const STATE_COLOURS = { c: "#f0a030", l: "#000000", k: "#ffffff", "-": "#3a3a3a" };

export class Timeline {
  constructor(canvas, nFrames, onJump) {
    this.canvas = canvas;
    this.n = nFrames;
    this.lanes = {};     // object id -> state string
    this.objects = [];   // [{id, name, colour}]
    this.current = 0;
    canvas.addEventListener("click", (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = (ev.clientX - r.left) * (canvas.width / r.width);
      if (x < LABEL) return;
      const f = Math.floor(((x - LABEL) / (canvas.width - LABEL)) * this.n);
      onJump(Math.max(0, Math.min(this.n - 1, f)));
    });
  }

  set(objects, lanes) {
    this.objects = objects;
    this.lanes = lanes;
    this.draw();
  }

  // The frames of a lane's doubtful stretches (low confidence or lost), for jumping.
  doubtful(id) {
    const lane = this.lanes[id] || "";
    const out = [];
    for (let i = 0; i < lane.length; i++) {
      if ((lane[i] === "c" || lane[i] === "l") && (i === 0 || lane[i - 1] !== lane[i])) out.push(i);
    }
    return out;
  }

  draw() {
    const c = this.canvas;
    const width = Math.max(200, c.clientWidth || 600);
    c.width = width;
    c.height = Math.max(1, this.objects.length) * LANE + 4;
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#15171a";
    ctx.fillRect(0, 0, c.width, c.height);
    const span = width - LABEL;
    const px = span / this.n;
    this.objects.forEach((o, row) => {
      const y = row * LANE + 2;
      ctx.fillStyle = "#ccc";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText(o.name.slice(0, 12), 4, y + 13);
      const lane = this.lanes[o.id] || "";
      // draw runs of equal state as one rectangle each
      let i = 0;
      while (i < lane.length) {
        let j = i;
        while (j < lane.length && lane[j] === lane[i]) j++;
        ctx.fillStyle = lane[i] === "v" ? o.colour : STATE_COLOURS[lane[i]] || "#444";
        const x0 = LABEL + i * px;
        ctx.fillRect(x0, y, Math.max(lane[i] === "k" ? 2 : 1, (j - i) * px), LANE - 4);
        i = j;
      }
    });
    if (!this.objects.length) {
      ctx.fillStyle = "#888";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText("no objects yet: click on one in the frame", LABEL, 14);
      return;   // no lanes: no playhead across the hint
    }
    const x = LABEL + (this.current + 0.5) * px;
    ctx.fillStyle = "#4aa3ff";
    ctx.fillRect(x - 1, 0, 2, c.height);
  }

  cursor(frame) {
    this.current = frame;
    this.draw();
  }
}
