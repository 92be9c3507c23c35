// Click-to-paint timing of the labeling page, always on and cheap: for each prompt,
// when the pointer went down, when its `masks` reply arrived and when the canvas
// draw that shows it returned (plus, as `frame`, when the browser has rendered the
// next frame, which is when software canvas draws are actually rasterised). The last RING entries are kept in window.__anymaskPerf, which
// bench/browser_clicks.py and the browser tests read; each step is also a
// performance mark and measure, so DevTools' performance panel shows them, and the
// previous click's are cleared so the timeline stays bounded on a long session.

const RING = 256;
const NAMES = ["anymask:pointerdown", "anymask:reply", "anymask:painted"];
const MEASURES = ["anymask:click-to-reply", "anymask:reply-to-painted"];

export function createPerf(win = window) {
  const entries = [];
  let pending = null; // the press whose prompt has not been sent yet
  const bySeq = new Map(); // seq -> entry, until its reply is painted
  let received = 0; // when the message being handled arrived (socket.js sets it)

  function clearTimeline() {
    for (const name of NAMES) performance.clearMarks(name);
    for (const name of MEASURES) performance.clearMeasures(name);
  }

  const perf = {
    /** A press on the canvas that may become a prompt; `at` is its event.timeStamp. */
    pointerDown(at) {
      clearTimeline();
      pending = { seq: null, down: at, sent: 0, reply: 0, painted: 0, frame: 0, pixels: 0 };
      performance.mark("anymask:pointerdown", { startTime: at });
    },
    /** The prompt that press made went out as `seq`. */
    sent(seq) {
      if (!pending || seq === null) return;
      pending.seq = seq;
      pending.sent = performance.now();
      bySeq.set(seq, pending);
      pending = null;
      if (bySeq.size > RING) bySeq.delete(bySeq.keys().next().value); // never answered
    },
    /** The socket got a frame (before parsing it), so parse time counts as the page's. */
    frameArrived() {
      received = performance.now();
    },
    /** The `masks` reply for `seq` has been drawn; `pixels` were rasterised for it. */
    painted(seq, pixels) {
      const entry = bySeq.get(seq);
      if (!entry) return;
      bySeq.delete(seq);
      entry.reply = received;
      entry.painted = performance.now();
      entry.pixels = pixels;
      performance.mark("anymask:reply", { startTime: entry.reply });
      performance.mark("anymask:painted", { startTime: entry.painted });
      performance.measure("anymask:click-to-reply", { start: entry.down, end: entry.reply });
      performance.measure("anymask:reply-to-painted", { start: entry.reply, end: entry.painted });
      entries.push(entry);
      if (entries.length > RING) entries.shift();
      // The frame that shows it: a task posted from the next animation frame runs
      // once that frame's rendering (style, layout, canvas flush) is done.
      requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => { entry.frame = performance.now(); channel.port1.close(); };
        channel.port2.postMessage(null);
      });
    },
  };

  win.__anymaskPerf = {
    /** Finished clicks, oldest first: times in ms on the performance.now() clock. */
    entries: () => entries.map((e) => ({ ...e })),
    clear: () => { entries.length = 0; },
  };
  return perf;
}
