// The History panel: who changed which mask, and when (newest first). Loaded when
// the panel is opened, and again whenever a mask changes while it is open.
import { timeElement } from "../human.js";

function row(entry) {
  const li = document.createElement("li");
  const when = timeElement(entry.at); // "3 min ago", the full time in its tooltip
  const text = document.createElement("span");
  text.textContent = ` ${entry.by} · #${entry.annotation} ${entry.what.join(", ")}`;
  li.append(when, text);
  return li;
}

export function attachChangelog(panel) {
  const list = panel.querySelector("ol");
  let loading = false;
  async function load() {
    if (!panel.open || loading) return;
    loading = true;
    try {
      const response = await fetch(panel.dataset.url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      const { history } = await response.json();
      list.replaceChildren(...(history.length ? history.map(row) : [Object.assign(document.createElement("li"), { className: "muted", textContent: "No changes yet." })]));
    } catch {
      list.replaceChildren(Object.assign(document.createElement("li"), { className: "error", textContent: "Could not load the history; it retries when a mask changes." }));
    } finally {
      loading = false;
    }
  }
  panel.addEventListener("toggle", load);
  return { refresh: load };
}
