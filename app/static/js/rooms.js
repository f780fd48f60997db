// The room list: public and private rooms, DMs, unread and mention badges,
// membership changes as they happen, the page title.
import { api, roomPath } from "./api.js";
import { $, avatar, el } from "./dom.js";
import { handle, roomLabel, roomName } from "./labels.js";
import { setFaviconBadge } from "./favicon.js";
import { isMine } from "./login.js";
import { currentRoom, isOpen, rooms } from "./state.js";

// Membership changes (room_added / room_removed) heard while a list is being
// fetched: applied again on top of it, since the answer may predate them.
const loads = new Set();

function record(change) {
  loads.forEach((changes) => changes.push(change));
}

export async function loadRooms() {
  const changes = [];
  loads.add(changes);
  let data;
  try {
    data = await api("GET", "/api/rooms");
  } finally {
    loads.delete(changes);
  }
  rooms.clear();
  data.rooms.forEach(putRoom);
  changes.forEach((change) => change());
  renderRooms();
}

// The open room is being read: nothing in it counts as unread.
export function putRoom(room) {
  if (isOpen(room.name)) { room.unread = 0; room.mentions = 0; }
  rooms.set(room.name, room);
}

// A room's counts afresh from the server (e.g. after I read it on another tab).
export async function refreshRoom(name) {
  try {
    const room = await api("GET", roomPath(name));
    if (!rooms.has(name)) return;
    putRoom(room);
    renderRooms();
  } catch {
    // The next reload of the list has it.
  }
}

// Server event `room_added`: a room I became a member of (on another tab, or
// someone added me or opened a DM with me); my sockets already get its events.
export function addRoom(room) {
  if (!room || !room.name) return;
  putRoom(room);
  record(() => putRoom(room));
  renderRooms();
}

// Server event `room_removed` {room}: I left it (e.g. on another tab). A
// public room stays listed, to join again; a private room or DM goes.
export function removeRoom(name) {
  dropMembership(name);
  record(() => dropMembership(name));
  renderRooms();
}

function dropMembership(name) {
  const room = rooms.get(name);
  if (!room) return;
  if (room.kind === "public") {
    Object.assign(room, { member: false, unread: 0, mentions: 0, last_read_id: null });
  } else {
    rooms.delete(name);
  }
}

// Messages by others that are unread in the rooms not open (members only),
// muted rooms apart: `muted` is what those hold.
function unreadElsewhere(muted) {
  let total = 0;
  rooms.forEach((r) => {
    if (r.member && !isOpen(r.name) && Boolean(r.muted) === Boolean(muted)) total += r.unread || 0;
  });
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
  room.mentions = 0;
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
  if (room.kind === "dm" && room.peer) a.appendChild(el("span", "room-handle", handle(room.peer)));
  if (room.member && room.muted) {
    const mark = el("span", "room-muted", "muted");
    a.classList.add("muted");
    a.appendChild(mark);
  }
  if (room.private && room.kind !== "dm") a.appendChild(el("span", "visually-hidden", " (private)"));
  if (!room.member) {
    a.classList.add("not-member");
    a.appendChild(el("span", "room-join", "join"));
  } else if (!isOpen(room.name)) {
    if (room.mentions > 0) {
      const at = el("span", "badge badge-mention", "@" + (room.mentions > 99 ? "99+" : room.mentions));
      at.setAttribute("aria-label", room.mentions + (room.mentions === 1 ? " mention" : " mentions"));
      a.appendChild(at);
    }
    if (room.unread > 0) {
      a.classList.add(room.muted ? "has-unread-muted" : "has-unread");
      const badge = el("span", room.muted ? "badge badge-muted" : "badge",
        room.unread > 99 ? "99+" : room.unread);
      badge.setAttribute("aria-label", room.unread + " unread" + (room.muted ? ", muted" : ""));
      a.appendChild(badge);
    }
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
  $("sidebar-unread").hidden = unreadElsewhere() + unreadElsewhere(true) === 0;
  updateTitle();
}

export function updateTitle() {
  const unread = unreadElsewhere();
  const room = currentRoom();
  document.title = (unread ? "(" + unread + ") " : "") + (room ? roomLabel(room) : "Chat") + " · Chat";
  setFaviconBadge(unread, unreadElsewhere(true) > 0);
}
