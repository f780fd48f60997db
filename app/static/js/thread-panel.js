// The thread panel beside the room: a message, its replies oldest first
// (GET /api/messages/{id}/thread, paged with `after`), live replies and counts
// (`message` with reply_to, `thread`), and a composer that sends with
// `reply_to`. Esc or the close button closes it; focus goes back where it was.
import { api, roomPath } from "./api.js";
import { $, avatar, el, flash } from "./dom.js";
import { personLabel } from "./labels.js";
import { messageMeta } from "./message-list.js";
import { bodyWithMentions } from "./mentions.js";
import { uuid } from "./pending.js";
import { onThreadChange, setThreadOpener } from "./replies.js";
import { onReset } from "./reset.js";
import { deletedText } from "./roles.js";
import { connection, emitAck } from "./socket.js";
import { current } from "./state.js";

const PAGE_SIZE = 50;
const BODY_MAX = 4000;

// The open thread: its room, its parent message, the replies shown (by id),
// whether later ones remain to be paged in, and where focus came from.
let open = null;   // {room, parent, ids: Set, hasMore, opener, generation}

function replyElement(m) {
  const li = el("li", "thread-reply");
  li.dataset.id = String(m.id);
  li.appendChild(avatar(m.author));
  const main = el("div", "msg-main");
  const meta = messageMeta(m);
  main.appendChild(meta);
  main.appendChild(m.deleted ? el("p", "msg-body msg-deleted", deletedText(m))
    : bodyWithMentions(m));
  li.appendChild(main);
  return li;
}

function renderParent(m) {
  const box = $("thread-parent");
  box.textContent = "";
  box.appendChild(el("p", "thread-parent-author", personLabel(m.author)));
  box.appendChild(m.deleted ? el("p", "msg-body msg-deleted", deletedText(m))
    : bodyWithMentions(m));
}

function renderCount(thread) {
  const n = thread ? thread.replies : 0;
  $("thread-status").textContent = n ? n + (n === 1 ? " reply" : " replies") : "No replies yet.";
}

// Adds replies in id order; an id already shown is replaced (an edit or a delete).
function addReplies(messages) {
  const list = $("thread-replies");
  messages.forEach((m) => {
    const node = replyElement(m);
    const old = list.querySelector('li[data-id="' + m.id + '"]');
    if (old) { old.replaceWith(node); return; }
    open.ids.add(m.id);
    const later = Array.from(list.children).find((n) => Number(n.dataset.id) > m.id);
    list.insertBefore(node, later || null);
  });
}

async function loadPage() {
  const state = open;
  const after = state.ids.size ? Math.max(...state.ids) : null;
  const more = $("thread-more");
  more.disabled = true;
  try {
    const page = await api("GET", "/api/messages/" + state.parent.id + "/thread?limit=" +
      PAGE_SIZE + (after !== null ? "&after=" + after : ""));
    if (open !== state) return;
    state.hasMore = page.has_more;
    addReplies(page.messages);
    more.hidden = !page.has_more;
  } catch (err) {
    if (open === state) flash(err.message);
  } finally {
    more.disabled = false;
  }
}

// Opens the thread of message `m` of the open room; `compose`: focus the box.
export function openThread(m, compose) {
  const panel = $("thread-panel");
  const opener = document.activeElement;
  open = { room: current.name, parent: m, ids: new Set(), hasMore: false, opener,
    generation: current.generation };
  $("thread-replies").textContent = "";
  $("thread-more").hidden = true;
  renderParent(m);
  renderCount(m.thread);
  panel.hidden = false;
  document.body.classList.add("thread-open");
  loadPage();
  if (compose) $("thread-input").focus();
  else $("thread-heading").focus();
}

export function closeThread(focusBack) {
  if (!open) return;
  const { opener } = open;
  open = null;
  $("thread-panel").hidden = true;
  document.body.classList.remove("thread-open");
  $("thread-input").value = "";
  if (focusBack && opener && document.contains(opener)) opener.focus();
}

// A message of any room, live: a reply to the open thread joins it (once the
// last page is in; paging brings it otherwise); an edit or delete of a shown
// reply or of the parent redraws it.
export function threadMessage(m) {
  if (!open || m.room !== open.room) return;
  if (m.id === open.parent.id) { open.parent = m; renderParent(m); return; }
  if (!m.reply_to || m.reply_to.id !== open.parent.id) return;
  if (open.ids.has(m.id) || !open.hasMore) addReplies([m]);
}

function onThread(data) {
  if (open && data.room === open.room && data.message_id === open.parent.id) {
    open.parent.thread = data.thread;
    renderCount(data.thread);
  }
}

async function sendReply(body) {
  const state = open;
  const payload = { room: state.room, body, client_id: uuid(), reply_to: state.parent.id };
  let message = null;
  if (connection.connected) {
    const res = await emitAck("send", payload);
    if (res && res.ok) message = res.message;
    else if (res && res.error && !["disconnected", "timeout"].includes(res.error.code)) {
      throw new Error(res.error.message);
    }
  }
  if (!message) {
    message = await api("POST", roomPath(state.room) + "/messages",
      { body, client_id: payload.client_id, reply_to: payload.reply_to });
  }
  if (open === state) threadMessage(message);
}

export function wireThreadPanel() {
  setThreadOpener(openThread);
  onThreadChange(onThread);
  const input = $("thread-input");
  $("thread-close").addEventListener("click", () => closeThread(true));
  $("thread-more").addEventListener("click", () => { if (open) loadPage(); });
  $("thread-composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = input.value.trim();
    if (!open || !body) return;
    if (body.length > BODY_MAX) { flash("A message can be at most " + BODY_MAX + " characters."); return; }
    input.value = "";
    try {
      await sendReply(body);
    } catch (err) {
      input.value = body;
      flash(err.message);
    }
    input.focus();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("thread-composer").requestSubmit();
    }
  });
  $("thread-panel").addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.stopPropagation(); closeThread(true); }
  });
}

onReset(() => closeThread(false));
