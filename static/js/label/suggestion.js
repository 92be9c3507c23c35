// The project classifier's category suggestion for the candidate on show: it
// pre-selects that category in the picker, unless the annotator has chosen one for
// this mask themselves, and shows the name and confidence ("tree 87%") beside it.
// The server sends one suggestion per candidate (docs/protocol.md) once the project
// has a classifier; without one the note stays hidden.

/** The suggestion of the chosen candidate of the mask being made, if any. */
function suggestionOf(state) {
  const c = state.current;
  if (!c || c.edited || !c.candidates.length) return null;
  const candidate = c.candidates[c.chosen];
  const s = candidate && candidate.suggestion;
  if (!s) return null;
  const category = state.categories.find((k) => k.id === s.category);
  return category ? { category, confidence: s.confidence } : null;
}

/**
 * Pre-select the suggested category (when the candidates change or another is
 * picked) and show it; `ui.renderCategory` redraws the picker.
 */
export function applySuggestion(state, root, ui) {
  const found = suggestionOf(state);
  const c = state.current;
  if (found && c && !c.categoryChosen && state.category !== found.category.id) {
    state.category = found.category.id;
    ui.renderCategory();
  }
  showSuggestion(state, root, found);
}

/** The note beside the picker: "Suggested: tree 87%", or hidden. */
export function showSuggestion(state, root, found = suggestionOf(state)) {
  const note = root.querySelector("#suggestion");
  if (!note) return;
  note.hidden = !found;
  note.textContent = found ? `Suggested: ${found.category.name} ${Math.round(found.confidence * 100)}%` : "";
  root.dataset.suggestion = found ? String(found.category.id) : "";
}

/** The annotator chose a category by hand: suggestions no longer override it for this mask. */
export function markCategoryChosen(state) {
  if (state.current) state.current.categoryChosen = true;
}
