// Model quality page: while a run is queued or running, poll the runs and move its
// progress bar; once it finishes, reload so the server draws its figures.
const table = document.getElementById("runs");
const POLL_MS = 1000;

function busy() {
  return table && table.querySelector('tr[data-status="queued"], tr[data-status="running"]') !== null;
}

function update(run) {
  const row = table.querySelector(`tr[data-run="${run.id}"]`);
  if (!row) return false;
  const bar = row.querySelector("progress");
  bar.max = Math.max(1, run.total);
  bar.value = run.done;
  row.querySelector(".state").textContent = run.status;
  row.querySelector(".count").textContent = `${run.done}/${run.total}`;
  const finished = row.dataset.status !== run.status && !["queued", "running"].includes(run.status);
  row.dataset.status = run.status;
  return finished;
}

async function poll() {
  try {
    const response = await fetch(table.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const { runs } = await response.json();
      const finished = runs.map(update).some(Boolean);
      if (finished) {
        window.location.reload();
        return;
      }
    }
  } catch {
    // A dropped request: try again at the next tick.
  }
  if (busy()) setTimeout(poll, POLL_MS);
}

if (busy()) setTimeout(poll, POLL_MS);
