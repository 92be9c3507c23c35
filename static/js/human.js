// Human wording shared by the pages: plurals ("1 image", "2 images") and times
// ("3 min ago", the full local time in the tooltip) instead of raw ISO strings.

/** "1 image", "2 images"; `many` for irregular plurals ("1 match", "2 matches"). */
export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

const UNITS = [
  [365 * 24 * 3600, "year"], [30 * 24 * 3600, "month"], [7 * 24 * 3600, "week"],
  [24 * 3600, "day"], [3600, "h"], [60, "min"],
];

/** "just now", "3 min ago", "2 h ago", "in 5 days": the largest whole unit. */
export function timeAgo(date, now = new Date()) {
  const seconds = Math.round((now.getTime() - date.getTime()) / 1000);
  const size = Math.abs(seconds);
  if (size < 60) return seconds >= 0 ? "just now" : "in under a minute";
  for (const [length, unit] of UNITS) {
    // A hair short of a unit still counts as one: "in 1 year" for a token made a
    // year ahead a moment ago, not "in 12 months".
    if (size >= length * 0.99) {
      const n = Math.max(1, Math.floor(size / length + 0.01));
      const amount = unit === "h" || unit === "min" ? `${n} ${unit}` : plural(n, unit);
      return seconds >= 0 ? `${amount} ago` : `in ${amount}`;
    }
  }
  return "just now";
}

/** A readable local date and time, for tooltips: "2 Dec 2026, 18:40". */
export function fullTime(date) {
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Fill a <time data-when datetime="ISO"> element: relative text, local tooltip. */
export function showTime(element) {
  const date = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(date.getTime())) return;
  element.textContent = timeAgo(date);
  element.title = fullTime(date);
}

/** A new <time> element for an ISO timestamp, filled as above (for JS-drawn lists). */
export function timeElement(iso) {
  const element = document.createElement("time");
  element.dateTime = iso;
  element.dataset.when = "";
  showTime(element);
  return element;
}

function refreshAll() {
  document.querySelectorAll("time[data-when]").forEach(showTime);
}

refreshAll();
setInterval(refreshAll, 30_000); // "just now" becomes "1 min ago" on an open page
