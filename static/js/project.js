// Project page: keep counts and per-image statuses current without a reload.
// The project socket nudges the page on every change (a mask, a status, a claim,
// a viewer) and the page then fetches the small status JSON again. Polling stays as
// the safety net: often while the socket is down or cannot carry the worker's
// events (the embedded mode's in-memory layer), rarely when it can.
import {
  CLOSE_FORBIDDEN, CLOSE_RESTARTING, CLOSE_RETRY, RESTARTING_WINDOW_MS, restartingDelay,
} from "./close_codes.js";
import { plural } from "./human.js";
import { renderModelBanner, waitingForModel } from "./model_banner.js";

const counts = document.getElementById("counts");
const POLL_FAST_MS = 1500;
const POLL_SLOW_MS = 10000;
let pollMs = POLL_FAST_MS;
let lastRefresh = 0;
let inFlight = false;
let again = false;
// Until when a failed reconnect is retried without backoff (close_codes.js).
let restartingUntil = 0;

const LABELS = {
  pending: "embedding pending", running: "embedding running", ready: "embedding ready",
  failed: "embedding failed",
  unlabeled: "Unlabeled", in_progress: "In progress", submitted: "Submitted",
  approved: "Approved", rejected: "Rejected",
};

function setBadge(badge, kind, value, title, text) {
  if (!badge) return;
  badge.className = `badge ${kind}-${value}`;
  badge.textContent = text || LABELS[value] || value;
  if (title) badge.title = title; else badge.removeAttribute("title");
}

/** The overall embedding bar: ready of total, failures, time left; hidden when done. */
function renderEmbeddingProgress(progress) {
  const box = document.getElementById("embedding-progress");
  if (!box || !progress) return;
  box.hidden = progress.done;
  const bar = box.querySelector("progress");
  bar.max = Math.max(1, progress.total);
  bar.value = progress.ready;
  box.querySelector(".text").textContent = progress.text;
  box.dataset.secondsLeft = progress.seconds_left ?? "";
}

async function refresh() {
  // One request at a time; a nudge during one asks for one more after it.
  if (inFlight) { again = true; return; }
  inFlight = true;
  lastRefresh = Date.now();
  try {
    const response = await fetch(counts.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    for (const [key, value] of Object.entries(data.counts)) {
      const cell = counts.querySelector(`[data-count="${key}"]`);
      if (cell) cell.textContent = value;
    }
    renderEmbeddingProgress(data.embedding_progress);
    for (const job of data.proposal_jobs || []) {
      const row = document.querySelector(`[data-job="${job.id}"]`);
      if (!row) continue;
      row.dataset.status = job.status;
      const bar = row.querySelector("progress");
      bar.max = Math.max(1, job.total);
      bar.value = job.done;
      row.querySelector(".state").textContent = job.status;
      row.querySelector(".count").textContent =
        `${job.done}/${plural(job.total, "image")}, ${plural(job.proposals, "proposal")}`;
      row.querySelector(".where").textContent = job.where;
      row.querySelector(".why").replaceChildren(...job.why.map((line) => {
        const item = document.createElement("li");
        item.textContent = line;
        return item;
      }));
      const cancel = row.querySelector("form.cancel");
      if (cancel) cancel.hidden = job.status !== "queued" && job.status !== "running";
      row.querySelector(".error").textContent = job.error;
    }
    renderModelBanner(document.getElementById("model-banner"), data.model);
    const modelWait = waitingForModel(data.model);
    for (const image of data.images) {
      const tile = document.querySelector(`[data-image-id="${image.id}"]`);
      if (!tile) continue;
      const waits = modelWait && (image.embedding === "pending" || image.embedding === "running");
      setBadge(tile.querySelector('[data-field="embedding"]'), "embedding", image.embedding,
        image.embedding_error, waits ? "waiting for the model" : "");
      setBadge(tile.querySelector('[data-field="labeling"]'), "labeling", image.labeling);
      const viewers = tile.querySelector('[data-field="viewers"]');
      if (viewers) {
        viewers.hidden = !image.viewers.length;
        viewers.textContent = image.viewers.length ? `👁 ${image.viewers.join(", ")}` : "";
      }
      const claim = tile.querySelector('[data-field="claim"]');
      if (claim) {
        claim.hidden = !image.claimed_by;
        claim.textContent = image.claimed_by ? `✎ ${image.claimed_by}` : "";
      }
    }
  } catch {
    // Offline for a moment: the next poll tries again.
  } finally {
    inFlight = false;
    if (again) { again = false; refresh(); }
  }
}

/** The notice above the counts while live updates are down ("" hides it). */
function showLiveNotice(text) {
  const notice = document.getElementById("live-notice");
  if (!notice) return;
  notice.textContent = text;
  notice.hidden = !text;
}

function listen(delay = 1000) {
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${window.location.host}${counts.dataset.socketPath}`);
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "hello") {
      pollMs = message.worker_events ? POLL_SLOW_MS : POLL_FAST_MS;
      counts.dataset.live = "on";
      showLiveNotice("");
      delay = 1000;
      refresh(); // catch up on anything missed while disconnected
    } else if (message.type === "changed" && !document.hidden) {
      refresh();
    }
  });
  ws.addEventListener("close", (event) => {
    pollMs = POLL_FAST_MS;
    counts.dataset.live = "off";
    if (event.code === CLOSE_FORBIDDEN) return; // no longer a member: the next poll says so
    // This node is stopping; another one answers now: no backoff, and none for the
    // attempts that meet the stopping node while it still listens.
    if (event.code === CLOSE_RESTARTING) restartingUntil = performance.now() + RESTARTING_WINDOW_MS;
    if (event.code !== CLOSE_RETRY && performance.now() < restartingUntil) {
      setTimeout(() => listen(1000), restartingDelay());
      return;
    }
    if (event.code === CLOSE_RETRY) {
      counts.dataset.live = "unavailable";
      showLiveNotice(`Live updates are restarting on the server; reconnecting in ${Math.ceil(delay / 1000)} s (the page still refreshes itself).`);
    }
    // Jitter, so a server restart is not met by every page at the same instant.
    const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
    setTimeout(() => listen(Math.min(delay * 2, 30000)), wait);
  });
}

// The filters apply as soon as one changes (the Apply button is for keyboards and
// pages without scripts); a new filter starts again from the first page.
const filters = document.getElementById("grid-filters");
// The address keeps only what differs from the defaults, so it reads (and shares) well.
if (filters) {
  for (const select of filters.querySelectorAll("select")) {
    select.addEventListener("change", () => filters.requestSubmit());
  }
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(filters)) {
      if (value && value !== filters.dataset[`default${key[0].toUpperCase()}${key.slice(1)}`]) {
        params.set(key, value);
      }
    }
    const query = params.toString();
    window.location.assign(window.location.pathname + (query ? `?${query}` : ""));
  });
}

if (counts) {
  setInterval(() => {
    if (!document.hidden && Date.now() - lastRefresh >= pollMs) refresh();
  }, 500);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  listen();
}
