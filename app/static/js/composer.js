// The message box: Enter sends, Shift+Enter starts a line, ↑ in an empty box
// edits my last message; typing is announced while it has text.
import { $, autosize, flash } from "./dom.js";
import { editLastOwn } from "./edit.js";
import { send } from "./pending.js";
import { noteTyping, stopTyping } from "./typing.js";
import { clearUploads, readyAttachments, uploadsInProgress } from "./uploads.js";

const BODY_MAX = 4000;

function submit(input) {
  const body = input.value.trim();
  const files = readyAttachments();
  if (!body && !files.length) return;
  if (uploadsInProgress()) {
    flash("Wait for the uploads to finish, or cancel them.");
    return;
  }
  if (body.length > BODY_MAX) {
    flash("A message can be at most " + BODY_MAX + " characters.");
    return;
  }
  input.value = "";
  autosize(input);
  stopTyping();
  send(body, files);
  clearUploads();
  input.focus();
}

// The box's label and placeholder name the open room.
export function labelComposer(label) {
  $("composer-label").textContent = "Message " + label;
  $("composer-input").placeholder = "Message " + label;
}

export function wireComposer() {
  const input = $("composer-input");
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); submit(input); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    } else if (e.key === "ArrowUp" && !input.value) {
      if (editLastOwn()) e.preventDefault();
    }
  });
  input.addEventListener("input", () => {
    autosize(input);
    noteTyping(Boolean(input.value.trim()));
  });
  input.addEventListener("blur", () => { if (!input.value.trim()) stopTyping(); });
}
