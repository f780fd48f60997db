// A draft per room: what is typed in the message box is kept in localStorage
// (`chat.draft.<username>.<room>`) as it is typed, put back when the room
// opens again (after a reload too), and dropped when it is sent. Logging out
// forgets every draft.
import { $, autosize } from "./dom.js";
import { login } from "./login.js";
import { current } from "./state.js";
import { onReset } from "./reset.js";

const PREFIX = "chat.draft.";

function draftKey(room) {
  return login.me && room ? PREFIX + login.me.username + "." + room : null;
}

export function draftOf(room) {
  const key = draftKey(room);
  return key ? localStorage.getItem(key) || "" : "";
}

// The box shows the draft of the room just opened (empty if none).
export function restoreDraft(room) {
  const input = $("composer-input");
  input.value = draftOf(room);
  autosize(input);
}

// Keeps the box's text as the open room's draft; an empty box has none.
export function saveDraft() {
  const key = draftKey(current.name);
  if (!key) return;
  const text = $("composer-input").value;
  try {
    if (text.trim()) localStorage.setItem(key, text);
    else localStorage.removeItem(key);
  } catch (err) {
    // Storage full or refused: the draft lives in the box only.
  }
}

// After wireComposer: its submit handler has emptied the box by the time
// this one runs, so a sent message leaves no draft (a refused one stays).
export function wireDrafts() {
  $("composer-input").addEventListener("input", saveDraft);
  $("composer").addEventListener("submit", saveDraft);
}

export function forgetDrafts() {
  for (let i = localStorage.length - 1; i >= 0; i--) {
    const key = localStorage.key(i);
    if (key && key.startsWith(PREFIX)) localStorage.removeItem(key);
  }
}

onReset(forgetDrafts);
onReset(() => { $("composer-input").value = ""; }, "redraw");
