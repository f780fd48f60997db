// Form errors from the error shape: `message` above the form, each of
// `fields` under its input (tied to it with aria-invalid / aria-describedby).

export function clearErrors(form) {
  form.querySelectorAll("[data-field-error]").forEach((p) => { p.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
  const top = form.querySelector("[data-form-error]");
  if (top) { top.textContent = ""; top.hidden = true; }
}

export function showFormMessage(form, text) {
  const top = form.querySelector("[data-form-error]");
  if (!top) return;
  top.textContent = text;
  top.hidden = false;
}

export function showErrors(form, err) {
  clearErrors(form);
  const unplaced = [];
  let first = null;
  Object.entries(err.fields || {}).forEach(([name, value]) => {
    const text = Array.isArray(value) ? value.join(" ") : String(value);
    const slot = form.querySelector('[data-field-error="' + name + '"]');
    const input = form.querySelector('[name="' + name + '"]');
    if (!slot) { unplaced.push(name + ": " + text); return; }
    slot.textContent = text;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  });
  showFormMessage(form, [err.message].concat(unplaced).join(" "));
  if (first) first.focus();
}
