// The annotation list beside the canvas: one row per saved mask, with its colour,
// category, area and author, and buttons to show/hide and delete. Rows are rebuilt
// from state on every change (a few dozen rows; simpler than patching them).

export function renderAnnotationList(list, { annotations, pending, categories, hidden, selected, hovered, canEdit, canReview }, on) {
  list.replaceChildren();
  const rows = [...annotations.values()].sort((a, b) => a.id - b.id);
  for (const ann of rows) {
    const li = document.createElement("li");
    li.dataset.annotationId = ann.id;
    li.className = "ann";
    if (ann.id === selected) li.classList.add("selected");
    if (ann.id === hovered) li.classList.add("hovered");
    if (hidden.has(ann.id)) li.classList.add("hidden-mask");
    li.tabIndex = -1;
    // Pointing at a row highlights its mask on the canvas, as pointing at the mask does.
    li.addEventListener("mouseenter", () => on.hover(ann.id));
    li.addEventListener("mouseleave", () => on.hover(null));

    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colourOf(ann.category, categories);
    const name = document.createElement("button");
    name.type = "button";
    name.className = "ann-name";
    name.textContent = `#${ann.id}`;
    name.title = `Select #${ann.id} (brush and eraser then edit it)`;
    name.addEventListener("click", () => on.select(ann.id));

    const select = document.createElement("select");
    select.setAttribute("aria-label", `Category of mask #${ann.id}`);
    select.disabled = !canEdit;
    select.append(new Option("(no category)", ""));
    for (const c of categories) select.append(new Option(c.name, String(c.id)));
    select.value = ann.category == null ? "" : String(ann.category);
    select.addEventListener("change", () => on.category(ann.id, select.value ? Number(select.value) : null));

    const meta = document.createElement("span");
    meta.className = "ann-meta";
    meta.textContent = `${ann.area.toLocaleString()} px · ${ann.created_by || "?"}`;
    meta.title = `${ann.status}, version ${ann.version}`;
    if (ann.status === "proposed" && ann.category_confidence != null) {
      // A pre-filled proposal's category is the classifier's guess: say how sure it was.
      meta.textContent += ` · suggested ${Math.round(ann.category_confidence * 100)}%`;
    }

    const eye = document.createElement("button");
    eye.type = "button";
    eye.className = "icon";
    eye.textContent = hidden.has(ann.id) ? "Show" : "Hide";
    eye.setAttribute("aria-pressed", String(hidden.has(ann.id)));
    eye.addEventListener("click", () => on.toggle(ann.id));

    const del = document.createElement("button");
    del.type = "button";
    del.className = "icon danger";
    del.textContent = "Delete";
    del.disabled = !canEdit;
    del.addEventListener("click", () => on.remove(ann.id));

    const status = document.createElement("span");
    status.className = `ann-status status-${ann.status}`;
    status.textContent = ann.status;
    li.append(swatch, name, select, meta, status, eye, del);
    if (ann.status === "proposed" && canEdit) {
      // A machine proposal: accepting makes it a draft with the chosen category.
      const take = document.createElement("button");
      take.type = "button";
      take.className = "icon accept-proposal";
      take.textContent = "Accept";
      take.title = `Accept proposal #${ann.id} with its category (Delete discards it)`;
      take.addEventListener("click", () => on.acceptProposal(ann.id));
      li.append(take);
    }
    if (canReview) {
      // A reviewer's verdict on this one mask; pressing the current one again is a no-op.
      for (const [verdict, label] of [["approved", "Approve"], ["rejected", "Reject"]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = `icon review-${verdict}`;
        button.textContent = label;
        button.setAttribute("aria-pressed", String(ann.status === verdict));
        button.title = `${label} mask #${ann.id}`;
        button.addEventListener("click", () => { if (ann.status !== verdict) on.review(ann.id, verdict); });
        li.append(button);
      }
    }
    if (ann.review_comment) {
      const note = document.createElement("p");
      note.className = "ann-comment";
      note.textContent = `Reviewer: ${ann.review_comment}`;
      li.append(note);
    }
    list.append(li);
  }
  for (const item of pending) {
    const li = document.createElement("li");
    li.className = "ann saving";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colourOf(item.category, categories);
    const text = document.createElement("span");
    text.textContent = "Saving…";
    li.append(swatch, text);
    list.append(li);
  }
  if (!rows.length && !pending.length) {
    const li = document.createElement("li");
    li.className = "empty-list";
    li.textContent = "No masks yet. Click on an object to start.";
    list.append(li);
  }
}

export function colourOf(categoryId, categories) {
  const category = categories.find((c) => c.id === categoryId);
  return category ? category.color : "#9aa4b2";
}
