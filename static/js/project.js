// Project page: keep counts and per-image statuses current without a reload, by
// polling a small JSON endpoint (live websocket pushes arrive in a later release).
const counts = document.getElementById("counts");
// Embedded mode has no push from the worker: poll often enough that a status
// change shows within 2 s.
const POLL_MS = 1500;

const LABELS = {
  pending: "embedding pending", running: "embedding running", ready: "embedding ready",
  failed: "embedding failed",
  unlabeled: "Unlabeled", in_progress: "In progress", submitted: "Submitted",
  approved: "Approved", rejected: "Rejected",
};

function setBadge(badge, kind, value, title) {
  if (!badge) return;
  badge.className = `badge ${kind}-${value}`;
  badge.textContent = LABELS[value] || value;
  if (title) badge.title = title; else badge.removeAttribute("title");
}

async function refresh() {
  try {
    const response = await fetch(counts.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    for (const [key, value] of Object.entries(data.counts)) {
      const cell = counts.querySelector(`[data-count="${key}"]`);
      if (cell) cell.textContent = value;
    }
    for (const job of data.proposal_jobs || []) {
      const row = document.querySelector(`[data-job="${job.id}"]`);
      if (!row) continue;
      row.dataset.status = job.status;
      const bar = row.querySelector("progress");
      bar.max = Math.max(1, job.total);
      bar.value = job.done;
      row.querySelector(".state").textContent = job.status;
      row.querySelector(".count").textContent = `${job.done}/${job.total} images, ${job.proposals} proposals`;
    }
    for (const image of data.images) {
      const tile = document.querySelector(`[data-image-id="${image.id}"]`);
      if (!tile) continue;
      setBadge(tile.querySelector('[data-field="embedding"]'), "embedding", image.embedding, image.embedding_error);
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
  }
}

if (counts) {
  setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
}
