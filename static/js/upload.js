// Upload page: drag and drop or pick files; each file is sent in its own request so
// it gets its own progress bar, and the server's verdict is shown file by file.
import { csrfToken } from "./csrf.js";
import { plural } from "./human.js";

const zone = document.getElementById("dropzone");
const input = document.getElementById("file-input");
const list = document.getElementById("upload-list");
const summary = document.getElementById("upload-summary");
const uploadUrl = zone.dataset.uploadUrl;
const maxBytes = Number(zone.dataset.maxBytes);
const PARALLEL = 3; // enough to fill the pipe without starving the server
const totals = { accepted: 0, refused: 0, ignored: 0 };
const queue = [];
let active = 0;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function updateSummary() {
  const pending = queue.length + active;
  const parts = [`${totals.accepted} accepted`, `${totals.refused} refused`];
  if (totals.ignored) parts.push(`${totals.ignored} ignored`);
  summary.textContent = (pending ? `Uploading… ${plural(pending, "file")} left. ` : "Done. ") + parts.join(", ") + ".";
}

function addFiles(files) {
  for (const file of files) {
    const row = el("li", "pending");
    row.dataset.name = file.name;
    row.append(el("span", "name", file.name));
    const bar = el("progress");
    bar.max = 100;
    bar.value = 0;
    row.append(bar);
    row.append(el("span", "state muted", "waiting"));
    const outcome = el("ul", "outcome");
    row.append(outcome);
    list.prepend(row);
    queue.push({ file, row, bar, outcome });
  }
  updateSummary();
  pump();
}

function pump() {
  while (active < PARALLEL && queue.length) {
    active += 1;
    send(queue.shift()).finally(() => {
      active -= 1;
      updateSummary();
      pump();
    });
  }
}

function finish(job, results, error) {
  const { row, bar, outcome } = job;
  bar.value = 100;
  const state = row.querySelector(".state");
  if (error) {
    row.className = "refused";
    state.textContent = "refused";
    outcome.append(el("li", "refused", error));
    totals.refused += 1;
    return;
  }
  let accepted = 0;
  let refused = 0;
  for (const result of results) {
    totals[result.status] = (totals[result.status] || 0) + 1;
    if (result.status === "accepted") accepted += 1;
    if (result.status === "refused") refused += 1;
    const single = results.length === 1 && result.name === job.file.name;
    const prefix = single ? "" : `${result.name}: `;
    const text = result.status === "accepted"
      ? `${prefix}accepted (${result.image.width}×${result.image.height})`
      : `${prefix}${result.status}: ${result.reason}`;
    const item = el("li", result.status, text);
    item.dataset.status = result.status;
    outcome.append(item);
  }
  if (refused) row.className = accepted ? "accepted partial" : "refused";
  else row.className = accepted ? "accepted" : "ignored";
  if (results.length === 1) state.textContent = results[0].status;
  else state.textContent = `${accepted} of ${results.length} accepted`;
}

function send(job) {
  return new Promise((resolve) => {
    const done = (results, error) => {
      try { finish(job, results, error); } finally { resolve(); }
    };
    if (job.file.size > maxBytes) {
      done([], `larger than the ${(maxBytes / 2 ** 20).toFixed(0)} MiB limit`);
      return;
    }
    const body = new FormData();
    body.append("files", job.file, job.file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.responseType = "json";
    const state = job.row.querySelector(".state");
    state.textContent = "uploading";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) job.bar.value = Math.round((event.loaded / event.total) * 95);
    };
    // The bytes are there; the server now checks and stores them (zips take a while).
    xhr.upload.onload = () => { state.textContent = "processing…"; };
    xhr.onload = () => {
      const data = xhr.response || {};
      if (xhr.status === 200 && Array.isArray(data.results)) done(data.results);
      else done([], data.error || `the server answered ${xhr.status}; nothing was stored`);
    };
    xhr.onerror = () => done([], "network error: the upload did not reach the server");
    xhr.send(body);
  });
}

// A dropped folder arrives as a directory entry; walk it for its files.
async function filesFromEntry(entry) {
  if (entry.isFile) return [await new Promise((ok, fail) => entry.file(ok, fail))];
  if (!entry.isDirectory) return [];
  const reader = entry.createReader();
  const found = [];
  for (;;) {
    const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) break;
    for (const child of batch) found.push(...await filesFromEntry(child));
  }
  return found;
}

async function droppedFiles(transfer) {
  const entries = [...(transfer.items || [])]
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((entry) => !entry)) return [...transfer.files];
  const nested = await Promise.all(entries.map(filesFromEntry));
  return nested.flat();
}

input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  addFiles(await droppedFiles(event.dataTransfer));
});
zone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
});
zone.dataset.ready = "true"; // lets tests (and impatient users' scripts) know we listen

window.addEventListener("beforeunload", (event) => {
  if (queue.length + active) event.preventDefault(); // warn before abandoning uploads
});
