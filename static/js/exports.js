// Exports page: while an export is queued or running, poll its row and move its
// progress bar; when it finishes, show what it holds and its download link.
import { plural } from "./human.js";

const table = document.getElementById("exports");
const POLL_MS = 1000;

const imports = document.getElementById("imports");

function pending() {
  const busy = 'tr[data-status="queued"], tr[data-status="running"]';
  return table.querySelector(busy) !== null || (imports && imports.querySelector(busy) !== null);
}

// An import's outcome (counts or its list of problems) is drawn by the server:
// reload once it is known.
function updateImport(item) {
  const row = imports && imports.querySelector(`tr[data-import="${item.id}"]`);
  if (!row) return;
  const bar = row.querySelector("progress");
  bar.max = Math.max(1, item.total);
  bar.value = item.done;
  row.querySelector(".state").textContent = item.status;
  if (row.dataset.status !== item.status && (item.status === "done" || item.status === "failed")) {
    window.location.reload();
  }
}

function downloadUrl(id) {
  return table.dataset.downloadUrl.replace(/\/0\/download$/, `/${id}/download`);
}

function contents(item) {
  if (item.status === "failed") {
    const span = document.createElement("span");
    span.className = "error";
    span.textContent = item.error;
    return span;
  }
  if (item.status !== "done") return document.createTextNode("");
  let text = `${plural(item.images, "image")}, ${plural(item.annotations, "mask")}`;
  if (item.skipped_uncategorized) text += `; ${item.skipped_uncategorized} without a category left out`;
  return document.createTextNode(text);
}

function update(item) {
  const row = table.querySelector(`tr[data-export="${item.id}"]`);
  if (!row) return;
  row.dataset.status = item.status;
  const bar = row.querySelector("progress");
  bar.max = Math.max(1, item.total);
  bar.value = item.status === "done" ? bar.max : item.done;
  row.querySelector(".state").textContent = item.status;
  row.querySelector(".contents").replaceChildren(contents(item));
  const cell = row.querySelector(".download");
  if (item.download && !cell.querySelector("a")) {
    const link = document.createElement("a");
    link.href = downloadUrl(item.id);
    link.download = "";
    link.textContent = "Download";
    cell.replaceChildren(link);
  }
}

async function poll() {
  if (pending()) {
    try {
      const response = await fetch(table.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        data.exports.forEach(update);
        (data.imports || []).forEach(updateImport);
      }
    } catch {
      // The next poll tries again; a dropped request must not stop the page.
    }
  }
  setTimeout(poll, POLL_MS);
}

poll();
