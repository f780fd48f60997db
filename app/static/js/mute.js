// Muting a room: the toggle in the room header (PUT /api/rooms/{name}/settings
// {muted}), and `room_updated`, which brings the setting (and the rest of the
// room as I see it) from my other tabs and devices. A muted room raises no
// notification (alerts.js) and shows its unread count dimmed (rooms.js).
import { api, roomPath } from "./api.js";
import { $, flash } from "./dom.js";
import { roomLabel } from "./labels.js";
import { putRoom, renderRooms } from "./rooms.js";
import { currentRoom, isOpen, rooms } from "./state.js";

// The header's toggle shows the open room's setting (members only).
export function renderMute() {
  const toggle = $("mute-toggle");
  const room = currentRoom();
  if (!room || !room.member) { toggle.hidden = true; return; }
  toggle.hidden = false;
  const muted = Boolean(room.muted);
  toggle.setAttribute("aria-pressed", String(muted));
  toggle.setAttribute("aria-label", (muted ? "Unmute " : "Mute ") + roomLabel(room));
  toggle.title = muted ? "Muted: no notifications from this room" : "Mute this room";
  $("mute-text").textContent = muted ? "Muted" : "Mute";
}

async function toggleMute() {
  const room = currentRoom();
  if (!room || !room.member) return;
  const toggle = $("mute-toggle");
  toggle.disabled = true;
  try {
    const view = await api("PUT", roomPath(room.name) + "/settings", { muted: !room.muted });
    onRoomUpdated(view);
  } catch (err) {
    flash(err.message);
  } finally {
    toggle.disabled = false;
  }
}

// Server event `room_updated`: the room as I see it now.
export function onRoomUpdated(view) {
  if (!view || !view.name || !rooms.has(view.name)) return;
  putRoom({ ...rooms.get(view.name), ...view });
  renderRooms();
  if (isOpen(view.name)) renderMute();
}

export function wireMute() {
  $("mute-toggle").addEventListener("click", toggleMute);
}
