// Editing and deleting my own messages (PATCH / DELETE /api/messages/{id}).
import { api } from "./api.js";
import { $, button, el, flash } from "./dom.js";
import { messageElement, replaceNode } from "./message-list.js";
import { timeline } from "./state.js";

function editForm(body) {
  const form = el("form", "edit-form");
  const label = el("label", "visually-hidden", "Edit your message");
  const area = el("textarea", "edit-input");
  area.id = "edit-" + body.id;
  label.htmlFor = area.id;
  area.value = body.text;
  area.rows = Math.min(8, Math.max(1, body.text.split("\n").length));
  const error = el("p", "field-error");
  error.setAttribute("role", "alert");
  const save = el("button", "btn btn-primary btn-small", "Save");
  save.type = "submit";
  const cancel = button("btn btn-small", "Cancel");
  const actions = el("div", "form-actions");
  actions.append(save, cancel, el("span", "edit-hint", "Enter to save · Esc to cancel"));
  form.append(label, area, error, actions);
  return { form, area, error, save, cancel };
}

export function startEdit(li) {
  const id = Number(li.dataset.id);
  const m = timeline.messages.get(id);
  if (!m || li.classList.contains("editing")) return;
  li.classList.add("editing");
  const body = li.querySelector(".msg-body");
  const { form, area, error, save, cancel } = editForm({ id, text: m.body });
  body.hidden = true;
  body.after(form);

  const finish = (message) => {
    li.classList.remove("editing");
    const fresh = messageElement(message || timeline.messages.get(id));
    replaceNode(li, fresh);
    const edit = fresh.querySelector('[data-action="edit"]');
    if (edit) edit.focus();
  };
  const submit = async () => {
    const text = area.value.trim();
    if (!text) { error.textContent = "The message is empty; delete it instead."; return; }
    if (text === m.body) { finish(); return; }
    save.disabled = true;
    try {
      const updated = await api("PATCH", "/api/messages/" + id, { body: text });
      timeline.messages.set(updated.id, updated);
      finish(updated);
    } catch (err) {
      save.disabled = false;
      error.textContent = err.fields && err.fields.body ? String(err.fields.body) : err.message;
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  cancel.addEventListener("click", () => finish());
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); finish(); }
    else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
}

// Up in the empty message box edits my last message. True if there was one.
export function editLastOwn() {
  const mine = $("messages").querySelectorAll("li.msg.own[data-id]:not(.deleted)");
  if (!mine.length) return false;
  startEdit(mine[mine.length - 1]);
  return true;
}

// Deleting a message asks first, in its actions bar: `word` on the button,
// `question` beside it, `back` the action whose button takes the focus again
// when kept; `shown` gets the deleted message from the server.
export function confirmDeleteIn(li, { word, question, back, shown }) {
  const id = Number(li.dataset.id);
  const actions = li.querySelector(".msg-actions");
  if (!actions || actions.dataset.confirming) return;
  actions.dataset.confirming = "1";
  const saved = Array.from(actions.childNodes);
  const yes = button("msg-action danger", word);
  const no = button("msg-action", "Keep");
  actions.textContent = "";
  actions.append(el("span", "confirm-text", question), yes, no);
  li.classList.add("confirming");
  const restore = () => {
    li.classList.remove("confirming");
    actions.textContent = "";
    actions.append(...saved);
    delete actions.dataset.confirming;
    const again = actions.querySelector(`[data-action="${back}"]`);
    if (again) again.focus();
  };
  no.addEventListener("click", restore);
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      shown(await api("DELETE", "/api/messages/" + id));
      $("composer-input").focus();
    } catch (err) {
      restore();
      flash(err.message);
    }
  });
  yes.focus();
}

function confirmDelete(li) {
  confirmDeleteIn(li, {
    word: "Delete",
    question: "Delete this message?",
    back: "delete",
    shown: (deleted) => {
      timeline.messages.set(deleted.id, deleted);
      replaceNode(li, messageElement(deleted));
    },
  });
}

export function wireMessageActions() {
  $("messages").addEventListener("click", (e) => {
    const action = e.target.closest("button[data-action]");
    if (!action) return;
    const li = action.closest("li.msg");
    if (action.dataset.action === "edit") startEdit(li);
    else if (action.dataset.action === "delete") confirmDelete(li);
  });
}
