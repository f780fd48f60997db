// The room list: public and private rooms, DMs, unread counts, the page title.
import { api } from "./api.js";
import { $, avatar, el } from "./dom.js";
import { roomLabel, roomName } from "./labels.js";
import { isMine } from "./session.js";
import { currentRoom, isOpen, rooms } from "./state.js";

export async function loadRooms() {
  const data = await api("GET", "/api/rooms");
  rooms.clear();
  data.rooms.forEach((room) => {
    if (isOpen(room.name)) room.unread = 0;
    rooms.set(room.name, room);
  });
  renderRooms();
}

export function putRoom(room) {
  rooms.set(room.name, room);
}

// Messages by others that are unread in the rooms not open (members only).
function unreadElsewhere() {
  let total = 0;
  rooms.forEach((r) => { if (r.member && !isOpen(r.name)) total += r.unread || 0; });
  return total;
}

// A live message arrived for a room that is not open.
export function countUnread(m) {
  const room = rooms.get(m.room);
  if (!room || isMine(m) || m.deleted) return;
  room.unread = (room.unread || 0) + 1;
  renderRooms();
}

// A message of a room that is not open was deleted: if it was one of that
// room's unread ones (by someone else, after my last read), it no longer is.
export function uncountUnread(m) {
  const room = rooms.get(m.room);
  if (!room || !room.member || isMine(m) || !(room.unread > 0)) return;
  if (m.id <= (room.last_read_id || 0)) return;
  room.unread -= 1;
  renderRooms();
}

// The server took my read marker for `name` up to `id`.
export function noteRead(name, id) {
  const room = rooms.get(name);
  if (room && !(room.last_read_id >= id)) room.last_read_id = id;
}

export function markOpened(room) {
  room.unread = 0;
  renderRooms();
}

function roomItem(room) {
  const li = el("li");
  const a = el("a", "room-link");
  a.href = "#" + room.name;
  a.dataset.room = room.name;
  if (isOpen(room.name)) a.setAttribute("aria-current", "page");
  if (room.kind === "dm") {
    a.appendChild(avatar(room.peer || { username: room.name, display_name: room.name }));
  } else {
    const mark = el("span", "room-mark", room.private ? "" : "#");
    if (room.private) mark.classList.add("room-mark-private");
    mark.setAttribute("aria-hidden", "true");
    a.appendChild(mark);
  }
  a.appendChild(el("span", "room-name", roomName(room)));
  if (room.private && room.kind !== "dm") a.appendChild(el("span", "visually-hidden", " (private)"));
  if (!room.member) {
    a.classList.add("not-member");
    a.appendChild(el("span", "room-join", "join"));
  } else if (room.unread > 0 && !isOpen(room.name)) {
    a.classList.add("has-unread");
    const badge = el("span", "badge", room.unread > 99 ? "99+" : room.unread);
    badge.setAttribute("aria-label", room.unread + " unread");
    a.appendChild(badge);
  }
  li.appendChild(a);
  return li;
}

function fillList(list, items, emptyText) {
  list.textContent = "";
  items.forEach((r) => list.appendChild(roomItem(r)));
  if (!items.length && emptyText) list.appendChild(el("li", "side-empty", emptyText));
}

export function renderRooms() {
  const all = Array.from(rooms.values());
  const channels = all.filter((r) => r.kind !== "dm")
    .sort((a, b) => (b.member - a.member) || a.name.localeCompare(b.name));
  const dms = all.filter((r) => r.kind === "dm" && r.member)
    .sort((a, b) => roomName(a).localeCompare(roomName(b)));
  fillList($("room-list"), channels);
  fillList($("dm-list"), dms, "No conversations yet");
  $("sidebar-unread").hidden = unreadElsewhere() === 0;
  updateTitle();
}

export function updateTitle() {
  const unread = unreadElsewhere();
  const room = currentRoom();
  document.title = (unread ? "(" + unread + ") " : "") + (room ? roomLabel(room) : "Chat") + " · Chat";
}
