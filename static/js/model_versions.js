// Model versions page: while a training run is queued or running, poll the runs and
// move its progress (step, loss, time left); reload when a run finishes, since the
// server draws its figures and any new version.
const table = document.getElementById("training-runs");
const POLL_MS = 1500;

function busy() {
  return table.querySelector('tr[data-status="queued"], tr[data-status="running"]') !== null;
}

function details(job) {
  if (job.status !== "running") return "";
  let text = job.phase;
  if (job.loss !== null) text += ` · step ${job.done} · loss ${job.loss.toFixed(4)}`;
  if (job.remaining_seconds !== null) text += ` · ${Math.round(job.remaining_seconds)} s left`;
  return text;
}

function update(job) {
  const row = table.querySelector(`tr[data-run="${job.id}"]`);
  if (!row) return false;
  const finished = row.dataset.status !== job.status && !["queued", "running"].includes(job.status);
  row.dataset.status = job.status;
  const bar = row.querySelector("progress");
  bar.max = Math.max(1, job.total);
  bar.value = job.done;
  row.querySelector(".state").textContent =
    job.status === "queued" && job.waiting ? "waiting" : job.status;
  row.querySelector(".details").textContent = details(job);
  return finished;
}

async function poll() {
  if (!busy()) return;
  try {
    const response = await fetch(table.dataset.statusUrl, { credentials: "same-origin" });
    if (response.ok) {
      const data = await response.json();
      if (data.jobs.map(update).some(Boolean)) {
        window.location.reload();
        return;
      }
    }
  } catch (error) {
    // A blip in the connection: try again at the next tick.
  }
  setTimeout(poll, POLL_MS);
}

setTimeout(poll, POLL_MS);
