// Pending sends: shown at once, sent over Socket.IO one at a time in order,
// and, after a failure that may pass (a dropped connection, a timeout, a rate
// limit), sent again with the same client_id, so the server stores it once.
import { $, avatar, button, el } from "./dom.js";
import { handle } from "./labels.js";
import { insertMessage, regroup, scrollToBottom } from "./message-list.js";
import { markRead } from "./reads.js";
import { isMine, login } from "./login.js";
import { connection, emitAck } from "./socket.js";
import { currentRoom, isOpen, timeline } from "./state.js";
import { onReset } from "./reset.js";

const RETRY_MS = 1000;
const RATE_LIMITED_RETRY_MS = 1500;
const RETRIED = new Set(["disconnected", "timeout", "rate_limited", "unavailable", "internal_error"]);

let pending = [];      // [{clientId, room, body, status: queued|sending|failed, error, el}]
let flushing = false;
let retryTimer = null;

export function uuid() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  // randomUUID needs a secure context; getRandomValues does not.
  const bytes = new Uint8Array(16);
  if (window.crypto && window.crypto.getRandomValues) {
    window.crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20),
    hex.slice(20)].join("-");
}

function pendingElement(p) {
  if (p.el) p.el.remove();   // one element per pending message, ever
  const me = login.me;
  const li = el("li", "msg own pending");
  li.dataset.clientId = p.clientId;
  li.dataset.author = me.username;
  li.appendChild(avatar(me));
  const main = el("div", "msg-main");
  const meta = el("div", "msg-meta");
  meta.append(el("span", "msg-author", me.display_name), el("span", "msg-handle", handle(me)));
  main.append(meta, el("p", "msg-body", p.body));
  if (p.attachments.length) {
    main.append(el("p", "msg-files", p.attachments.map((a) => a.name).join(", ")));
  }
  main.append(el("p", "msg-status"));
  li.appendChild(main);
  p.el = li;
  renderStatus(p);
  return li;
}

function renderStatus(p) {
  if (!p.el) return;
  const status = p.el.querySelector(".msg-status");
  status.textContent = "";
  p.el.classList.toggle("failed", p.status === "failed");
  if (p.status !== "failed") {
    status.textContent = connection.connected ? "Sending…" : "Waiting for the connection…";
    return;
  }
  const retry = button("link-btn", "Retry");
  retry.addEventListener("click", () => {
    p.status = "queued";
    renderStatus(p);
    flushPending();
  });
  const discard = button("link-btn", "Discard");
  discard.addEventListener("click", () => drop(p));
  status.append(el("span", null, "Not sent: " + (p.error || "error") + " "), retry,
    document.createTextNode(" · "), discard);
}

// The connection came or went: "Sending…" or "Waiting for the connection…".
export function renderPendingStatuses() { pending.forEach(renderStatus); }

// Shows my unsent messages of `room` (just opened) at the end of the list.
export function renderPendingOf(room) {
  pending.forEach((p) => {
    if (p.room !== room) return;
    $("messages").appendChild(pendingElement(p));
    $("empty-room").hidden = true;
  });
}

function drop(p) {
  pending = pending.filter((q) => q !== p);
  if (p.el) {
    const next = p.el.nextElementSibling;
    p.el.remove();
    regroup(next);
  }
  p.el = null;
}

// If `m` is the server's copy of one of my pending messages, the pending one
// goes (the caller shows `m`). True if it did.
export function settlePending(m) {
  if (!m.client_id || !isMine(m)) return false;
  const p = pending.find((q) => q.clientId === m.client_id && q.room === m.room);
  if (!p) return false;
  drop(p);
  return true;
}

export function send(body, attachments = []) {
  const room = currentRoom();
  if (!room || !room.member) return;
  const p = { clientId: uuid(), room: room.name, body, attachments, status: "queued", error: null,
    el: null };
  pending.push(p);
  $("messages").appendChild(pendingElement(p));
  regroup(p.el);
  $("empty-room").hidden = true;
  scrollToBottom();
  flushPending();
}

function sent(message) {
  settlePending(message);
  if (!isOpen(message.room)) return;
  insertMessage(message);
  if (timeline.live) timeline.syncAfter = Math.max(timeline.syncAfter, message.id);
  markRead();
}

// Sends queued messages one at a time, in order, while connected.
export async function flushPending() {
  if (flushing) return;
  clearTimeout(retryTimer);
  flushing = true;
  try {
    for (;;) {
      const p = pending.find((q) => q.status === "queued");
      if (!p || !connection.connected) return;
      p.status = "sending";
      renderStatus(p);
      const payload = { room: p.room, body: p.body, client_id: p.clientId };
      if (p.attachments.length) payload.attachments = p.attachments.map((a) => a.id);
      const res = await emitAck("send", payload);
      if (!pending.includes(p)) continue;   // the broadcast got here first
      if (res && res.ok) { sent(res.message); continue; }
      const code = res && res.error ? res.error.code : "disconnected";
      if (RETRIED.has(code)) {
        p.status = "queued";
        renderStatus(p);
        if (connection.connected) {
          retryTimer = setTimeout(flushPending,
            code === "rate_limited" ? RATE_LIMITED_RETRY_MS : RETRY_MS);
        }
        return;
      }
      p.status = "failed";
      p.error = res.error.message;
      renderStatus(p);
    }
  } finally {
    flushing = false;
  }
}

export function resetPending() {
  clearTimeout(retryTimer);
  pending = [];
}

onReset(resetPending);
