// The model banner (templates/labeling/_model_banner.html), shared by the project
// and labeling pages: where the project's model stands, from the `model` object of
// the status feed. Failed: the reason and the shell commands that fix it;
// downloading: a progress bar with bytes and a rough time left; loading: a line.

function bytes(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} bytes`;
}

function timeLeft(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `, about ${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `, about ${Math.round(seconds / 60)} min left`;
  return `, about ${(seconds / 3600).toFixed(1)} h left`;
}

const TITLES = {
  failed: (name) => `The model ${name} is unavailable, so images cannot be encoded and clicks give no masks.`,
  downloading: (name) => `Downloading the model ${name}; images wait for it.`,
  loading: (name) => `Loading the model ${name}…`,
  unknown: (name) => `The model ${name} is not downloaded yet: it downloads when the first image is encoded.`,
};

/** Whether images are waiting for the model itself (not for their own encode). */
export function waitingForModel(model) {
  return Boolean(model) && (model.state === "downloading" || model.state === "loading");
}

/** Redraw `banner` (the #model-banner section) from a status feed's `model`. */
export function renderModelBanner(banner, model) {
  if (!banner || !model) return;
  const part = (name) => banner.querySelector(`[data-part="${name}"]`);
  banner.dataset.state = model.state;
  banner.dataset.onDisk = String(model.on_disk);
  banner.setAttribute("role", model.state === "failed" ? "alert" : "status");
  banner.hidden = model.state === "ready" || (model.state === "unknown" && model.on_disk);
  part("title").textContent = (TITLES[model.state] || TITLES.unknown)(model.name);
  const progress = part("progress");
  progress.hidden = model.state !== "downloading";
  if (model.state === "downloading") {
    const bar = progress.querySelector("progress");
    bar.max = Math.max(1, model.bytes_total);
    bar.value = model.bytes_done;
    part("figures").textContent =
      `${bytes(model.bytes_done)} of ${bytes(model.bytes_total)}${timeLeft(model.seconds_left)}`;
  }
  part("reason").hidden = !model.error;
  part("reason").textContent = model.error || "";
  const fix = part("fix");
  fix.hidden = !model.fix.length;
  fix.querySelector("p").textContent = model.state === "failed"
    ? "To fix it, run these in the Anymask checkout (where the hub is reachable); this banner clears once the model loads:"
    : "To download it now, run in the Anymask checkout:";
  fix.querySelector("code").textContent = model.fix.join("\n");
}
