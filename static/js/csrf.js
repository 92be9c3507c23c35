// Django's CSRF token, read from the form the page renders (works even if the
// cookie is HttpOnly).
export function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}
