// The labeling websocket (docs/protocol.md): numbered requests, pushes, and
// reconnection with exponential backoff. The socket knows nothing of masks; the
// page decides what to resend after a reconnect (see messages.js, on "hello").
import {
  CLOSE_FORBIDDEN, CLOSE_RESTARTING, CLOSE_RETRY, RESTARTING_WINDOW_MS, restartingDelay,
} from "../close_codes.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const PING_MS = 20000;

export class LabelSocket {
  /**
   * @param {string} url ws(s) URL of the image's socket
   * @param {{onMessage: Function, onState: Function, onFrame?: Function}} handlers
   *   onFrame is called as a frame arrives, before it is parsed; onState gets
   *   "connecting" | "open" | "closed" | "unavailable" (the server said: retry
   *   later) | "refused", and the retry delay in ms.
   */
  constructor(url, { onMessage, onState, onFrame = () => {} }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onFrame = onFrame;
    this.onState = onState;
    this.seq = 0;
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.pinger = 0;
    this.stopped = false;
    // Until when (performance.now()) a failed reconnect is retried without backoff:
    // the node that sent CLOSE_RESTARTING may still answer for a moment.
    this.restartingUntil = 0;
  }

  connect() {
    clearTimeout(this.timer);
    this.onState("connecting", 0);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.onState("open", 0);
      // Keep idle proxies from dropping the socket while someone studies an image.
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
    });
    ws.addEventListener("message", (event) => {
      this.onFrame();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON; ignore anything else
      }
      this.onMessage(message);
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      // Access was withdrawn. Retrying cannot help; the user must act.
      if (event.code === CLOSE_FORBIDDEN) {
        this.onState("refused", 0);
        return;
      }
      // This node is stopping; another one answers now: no backoff, and none for the
      // attempts that meet the stopping node while it still listens.
      if (event.code === CLOSE_RESTARTING) {
        this.restartingUntil = performance.now() + RESTARTING_WINDOW_MS;
      }
      if (event.code !== CLOSE_RETRY && performance.now() < this.restartingUntil) {
        this.attempt = 0;
        const wait = restartingDelay();
        this.onState("connecting", wait);
        this.timer = setTimeout(() => this.connect(), wait);
        return;
      }
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      // Jitter, so a server restart is not met by every page at the same instant.
      const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
      this.onState(event.code === CLOSE_RETRY ? "unavailable" : "closed", wait);
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a request with the next sequence number; returns it, or null if offline. */
  send(message) {
    if (!this.open) return null;
    this.seq += 1;
    this.ws.send(JSON.stringify({ ...message, seq: this.seq }));
    return this.seq;
  }

  /** Reconnect now (the user pressed "retry"), skipping the backoff wait. */
  retryNow() {
    if (this.ws) return;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close();
  }
}
