// Pinned messages: the header's "Pinned" button opens the open room's list
// (GET /api/rooms/{name}/pins, newest pin first) in a dialog; `pinned`
// {room, message} keeps it, and the message in the room, up to date. Each
// entry jumps to its message; owners and admins can unpin from the list.
import { api, roomPath } from "./api.js";
import { closeDialog, showDialog, wireDialog } from "./dialogs.js";
import { $, avatar, button, el, flash } from "./dom.js";
import { roomLabel } from "./labels.js";
import { insertMessage, messageMeta } from "./message-list.js";
import { jumpTo } from "./replies.js";
import { canModerate } from "./roles.js";
import { currentRoom, isOpen, timeline } from "./state.js";

// The room whose pins the dialog shows, and them (newest pin first).
let shown = null;   // {room, messages: [message]}

function pinItem(m) {
  const li = el("li", "pin");
  li.dataset.id = String(m.id);
  li.appendChild(avatar(m.author));
  const main = el("div", "pin-main");
  const meta = messageMeta(m);
  main.appendChild(meta);
  main.appendChild(el("p", "pin-body", m.body));
  const actions = el("div", "pin-actions");
  const go = button("btn btn-small", "Show in the room");
  go.dataset.pinAction = "jump";
  go.setAttribute("aria-label", "Show in the room: message by " + m.author.display_name);
  actions.appendChild(go);
  if (canModerate(m.room)) {
    const unpin = button("btn btn-small", "Unpin");
    unpin.dataset.pinAction = "unpin";
    unpin.setAttribute("aria-label", "Unpin the message by " + m.author.display_name);
    actions.appendChild(unpin);
  }
  main.appendChild(actions);
  li.appendChild(main);
  return li;
}

function render() {
  const list = $("pins-list");
  list.textContent = "";
  if (!shown) return;
  shown.messages.forEach((m) => list.appendChild(pinItem(m)));
  $("pins-status").textContent = shown.messages.length ? "" : "No pinned messages yet.";
}

export async function openPins() {
  const room = currentRoom();
  if (!room || !room.member) return;
  shown = { room: room.name, messages: [] };
  const state = shown;
  $("pins-heading").textContent = "Pinned in " + roomLabel(room);
  $("pins-status").textContent = "Loading…";
  render();
  showDialog($("pins-dialog"));
  try {
    const data = await api("GET", roomPath(room.name) + "/pins");
    if (shown !== state) return;
    state.messages = (data.messages || []).filter((m) => !m.deleted);
    render();
  } catch (err) {
    if (shown === state) $("pins-status").textContent = err.message;
  }
}

// Closes the list (of `room` only, when given).
export function closePins(room) {
  if (!shown || (room && shown.room !== room)) return;
  closeDialog($("pins-dialog"), false);
}

// A message pinned, unpinned or deleted: the list follows.
export function notePin(m) {
  if (!shown || !m || m.room !== shown.room) return;
  const rest = shown.messages.filter((x) => x.id !== m.id);
  const had = rest.length !== shown.messages.length;
  if (m.pinned && !m.deleted) shown.messages = had ? shown.messages.map((x) => (x.id === m.id ? m : x))
    : [m, ...rest];
  else shown.messages = rest;
  render();
}

// A message of the open room shown again with its pin (only if it is loaded:
// an older one pinned is not pulled into the list out of its place).
function redraw(m) {
  if (isOpen(m.room) && timeline.messages.has(m.id)) insertMessage(m);
}

// Server event `pinned` {room, message}.
export function onPinned(data) {
  if (!data || !data.message) return;
  const m = { ...data.message, room: data.message.room || data.room };
  redraw(m);
  notePin(m);
}

async function unpin(id, node) {
  node.disabled = true;
  try {
    const m = await api("DELETE", roomPath(shown.room) + "/pins/" + id);
    redraw(m);
    notePin(m);
    const first = $("pins-list").querySelector("button");
    (first || $("pins-heading")).focus();
  } catch (err) {
    node.disabled = false;
    flash(err.message);
  }
}

// Shows the pins button for members of a room (not for people outside it).
export function renderPinsButton(room) {
  $("pins-toggle").hidden = !room || !room.member;
  if (shown && (!room || room.name !== shown.room)) closePins();
}

export function wirePins() {
  const dialog = $("pins-dialog");
  wireDialog(dialog, () => { shown = null; });
  $("pins-toggle").addEventListener("click", openPins);
  $("pins-list").addEventListener("click", (e) => {
    const node = e.target.closest("button[data-pin-action]");
    if (!node || !shown) return;
    const id = Number(node.closest("li.pin").dataset.id);
    if (node.dataset.pinAction === "unpin") { unpin(id, node); return; }
    closeDialog(dialog, false);
    jumpTo(id);
  });
}
