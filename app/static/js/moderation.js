// A moderator's actions in the open room (owners and admins, roles.js draws
// the buttons): pin and unpin a message (PUT / DELETE .../pins/{id}), remove
// someone else's message (DELETE /api/messages/{id}, which then says
// `deleted_by: "moderator"`); and what moderation sends everyone:
// `member_removed` (someone was kicked or banned) and the reason of my own
// `room_removed` (I was).
import { api, roomPath } from "./api.js";
import { $, announce, flash } from "./dom.js";
import { confirmDeleteIn } from "./edit.js";
import { handle, roomLabel } from "./labels.js";
import { insertMessage, messageElement, messageNode, replaceNode } from "./message-list.js";
import { onRoomUpdated } from "./mute.js";
import { closePins, notePin, renderPinsButton } from "./pins.js";
import { dropMember } from "./presence.js";
import {
  closeSettings, refreshPeople, reloadSettings, renderRoomTools, settingsRoom,
} from "./room-settings.js";
import { isOpen, rooms, timeline } from "./state.js";

async function pin(li, on) {
  const id = Number(li.dataset.id);
  const m = timeline.messages.get(id);
  if (!m) return;
  try {
    const message = await api(on ? "PUT" : "DELETE", roomPath(m.room) + "/pins/" + id);
    if (!message) return;
    insertMessage(message);
    notePin(message);
    announce(on ? "Message pinned." : "Message unpinned.");
    const again = messageNode(id);
    const next = again && again.querySelector('[data-action="' + (on ? "unpin" : "pin") + '"]');
    if (next) next.focus();
  } catch (err) {
    flash(err.message);
  }
}

// Removing someone's message asks first, in its actions bar (as for my own).
function confirmRemove(li) {
  confirmDeleteIn(li, {
    word: "Remove",
    question: "Remove this message for everyone?",
    back: "mod-delete",
    shown: (deleted) => {
      insertMessage(deleted);
      notePin(deleted);
    },
  });
}

export function wireModeration() {
  $("messages").addEventListener("click", (e) => {
    const action = e.target.closest("button[data-action]");
    if (!action) return;
    const li = action.closest("li.msg");
    if (!li) return;
    if (action.dataset.action === "pin") pin(li, true);
    else if (action.dataset.action === "unpin") pin(li, false);
    else if (action.dataset.action === "mod-delete") confirmRemove(li);
  });
}

// My role in the open room changed: its messages are drawn again, with or
// without the moderator's actions.
export function redrawActions() {
  timeline.messages.forEach((m, id) => {
    const node = messageNode(id);
    if (node && !node.classList.contains("editing") && !node.classList.contains("confirming")) {
      replaceNode(node, messageElement(m));
    }
  });
}

// Server event `room_updated`: the room as I see it now (its title, topic, my
// role or my settings changed): the list, the header, the open room's message
// actions and the settings dialog follow.
export function onRoomChanged(view) {
  if (!view || !view.name || !rooms.has(view.name)) return;
  const before = rooms.get(view.name).role;
  onRoomUpdated(view);   // the list and the mute toggle (mute.js)
  const room = rooms.get(view.name);
  if (isOpen(view.name)) {
    renderRoomTools(room);
    renderPinsButton(room);
    if (room.role !== before) redrawActions();
  }
  if (settingsRoom() === view.name && room.role !== before) reloadSettings();
}

// Server event `member_removed` {room, username, reason}: someone else was
// kicked or banned.
export function onMemberRemoved(data) {
  if (!data || !data.room || !data.username) return;
  if (isOpen(data.room)) {
    dropMember(data.username);
    announce(handle({ username: data.username }) +
      (data.reason === "banned" ? " was banned." : " was removed from the room."));
  }
  if (settingsRoom() === data.room) refreshPeople();
}

const REMOVED = {
  kicked: "You were removed from ROOM by a moderator.",
  banned: "You were banned from ROOM.",
};

// The reason of my own `room_removed` (kicked or banned), told in a toast;
// the room's panels close. (Leaving on another tab has no reason: nothing said.)
export function tellRemoval(data) {
  if (settingsRoom() === data.room) closeSettings(false);
  closePins(data.room);
  const text = REMOVED[data.reason];
  if (!text) return;
  const room = rooms.get(data.room);
  const said = text.replace("ROOM", room ? roomLabel(room) : "#" + data.room);
  flash(said);
  announce(said);
}
