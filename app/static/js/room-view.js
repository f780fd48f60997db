// Opening a room: the header, its history, people, typing and my pending
// sends; deep links (/#room-name) and the last room open.
import { api, roomPath } from "./api.js";
import { $, flash } from "./dom.js";
import { labelComposer } from "./composer.js";
import { catchUp, clearHistoryTop, loadAround, loadLatest } from "./history.js";
import { roomLabel } from "./labels.js";
import { closeDrawers } from "./layout.js";
import { clearList, showEmpty } from "./message-list.js";
import { renderMute } from "./mute.js";
import { renderPendingOf } from "./pending.js";
import { renderPinsButton } from "./pins.js";
import { clearMembers, loadMembers } from "./presence.js";
import { renderRoomTools } from "./room-settings.js";
import { markOpened, putRoom, renderRooms, updateTitle } from "./rooms.js";
import { connection } from "./socket.js";
import { current, resetTimeline, rooms } from "./state.js";
import { closeThread } from "./thread-panel.js";
import { renderTyping, stopTyping } from "./typing.js";
import { restoreDraft } from "./drafts.js";
import { noteOpening, showUnread } from "./unread.js";

const LAST_ROOM_KEY = "chat.lastRoom";
const ROOM_NAME = /^[a-z0-9_-]{1,80}$/;

export function roomFromHash() {
  const name = decodeURIComponent(location.hash.replace(/^#/, ""));
  return ROOM_NAME.test(name) ? name : null;
}

// The room to open first: the link's, the last one open, #general, any
// (but not `except`, a room just left).
export function defaultRoom(except) {
  const wanted = [roomFromHash(), localStorage.getItem(LAST_ROOM_KEY), "general"];
  for (const name of wanted) {
    const room = name !== except && name && rooms.get(name);
    if (room && (room.member || !room.private)) return room.name;
  }
  const first = Array.from(rooms.values()).find((r) => r.member && r.name !== except);
  return first ? first.name : null;
}

export function navigate(name) {
  if (location.hash !== "#" + name) location.hash = name;  // hashchange opens it
  else openRoom(name);
}

function renderHeader(room) {
  $("room-title").textContent = roomLabel(room);
  renderRoomTools(room);   // subtitle, topic, settings
  renderPinsButton(room);
  renderMute();
  updateTitle();
}

// Catches the open room up over the socket; too far behind, it reloads it.
export async function goLive(name) {
  const { missed, complete } = await catchUp(name);
  if (!complete) openRoom(name, true);
  return missed;
}

// Not in the list yet (a DM someone just started, or a stale link): ask.
async function fetchAndOpen(name, around) {
  try {
    const room = await api("GET", roomPath(name));
    putRoom(room);
    renderRooms();
    openRoom(room.name, true, around);
  } catch (err) {
    flash(err.message);
  }
}

// Opens `name`: its newest messages, or, with `around` (a message id, from a
// search hit), the page of history around that message, highlighted.
export async function openRoom(name, force, around) {
  const room = rooms.get(name);
  if (!room) { fetchAndOpen(name, around); return; }
  if (name === current.name && !force) { closeDrawers(); return; }
  if (current.name && current.name !== name) { stopTyping(); closeThread(false); }
  current.name = name;
  current.generation += 1;
  resetTimeline();
  clearMembers();
  localStorage.setItem(LAST_ROOM_KEY, name);
  noteOpening(room);
  markOpened(room);
  renderHeader(room);
  renderTyping();
  clearList();
  clearHistoryTop();
  $("join-bar").hidden = room.member;
  $("composer").hidden = !room.member;
  labelComposer(roomLabel(room));
  restoreDraft(name);
  closeDrawers();
  loadMembers();
  if (!room.member) {
    showEmpty(room.private ? "This room is private." :
      "Join " + roomLabel(room) + " to read and send messages.");
    return;
  }
  renderPendingOf(name);   // my unsent messages stay last; history goes above them
  const shown = await (around ? loadAround(name, around) : loadLatest(name));
  if (shown) showUnread();
  if (shown && connection.connected) goLive(name);
}
