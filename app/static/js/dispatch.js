// Which handler each Socket.IO server event goes to: the one table to extend
// when the server announces something new.
import { alertFor, isMuted } from "./alerts.js";
import { onDelivery } from "./delivery-banner.js";
import { receive } from "./history.js";
import { personLabel, roomLabel } from "./labels.js";
import { countMention, uncountMention } from "./mentions.js";
import { insertMessage } from "./message-list.js";
import { notify } from "./notify.js";
import { settlePending } from "./pending.js";
import { onMemberRemoved, onRoomChanged, tellRemoval } from "./moderation.js";
import { notePin, onPinned } from "./pins.js";
import { onPresence } from "./presence.js";
import { onReaction } from "./reactions.js";
import { onThread, requote } from "./replies.js";
import { defaultRoom, navigate, openRoom } from "./room-view.js";
import {
  addRoom, countUnread, loadRooms, refreshRoom, removeRoom, uncountUnread,
} from "./rooms.js";
import { endLogin, isMe, loginEndedText } from "./login.js";
import { forgetJoin } from "./socket.js";
import { isOpen, rooms } from "./state.js";
import { threadMessage } from "./thread-panel.js";
import { onTyping } from "./typing.js";

// A new message: shown if its room is open, else counted as unread there.
function onMessage(m) {
  alertFor(m);
  threadMessage(m);
  if (isOpen(m.room)) { receive([m], false); return; }
  if (settlePending(m)) return;
  if (!rooms.has(m.room)) {   // a room whose room_added has not come (yet)
    loadRooms().catch(() => {});
    return;
  }
  countUnread(m);
}

// An edit or a deletion: the open room shows it; another room's unread count
// drops if a deleted message was unread there.
function onMessageEdited(m) {
  threadMessage(m);
  if (isOpen(m.room)) { insertMessage(m); requote(m); }
}

function onMessageDeleted(m) {
  threadMessage(m);
  notePin(m);   // a deleted message leaves the pinned list
  if (isOpen(m.room)) { insertMessage(m); requote(m); return; }
  uncountUnread(m);
  uncountMention(m);
}

// I became a member (another tab, or someone added me or opened a DM with
// me). If the room is open here as a non-member, it opens again as a member.
function onRoomAdded(room) {
  if (!room || !room.name) return;
  const was = rooms.get(room.name);
  addRoom(room);
  if (isOpen(room.name) && !(was && was.member)) openRoom(room.name, true);
}

// I left a room (e.g. on another tab): if it was open, another one opens.
function onRoomRemoved(data) {
  if (!data || !data.room) return;
  tellRemoval(data);   // kicked or banned: says so
  forgetJoin(data.room);
  removeRoom(data.room);
  if (!isOpen(data.room)) return;
  const next = defaultRoom(data.room);
  if (next) navigate(next);
}

// I read a room on another tab (or device): its unread and mention badges
// here are asked afresh.
function onRead(data) {
  if (data && isMe(data.username) && !isOpen(data.room) && rooms.has(data.room)) {
    refreshRoom(data.room);
  }
}

// Someone named me: a badge on the room; a notification if the tab is hidden.
function onMention(data) {
  if (!data || !data.message) return;
  countMention(data);
  const m = data.message;
  const room = rooms.get(data.room);
  if (isMuted(data.room)) return;   // counted, never raised
  notify(personLabel(m.author) + " mentioned you in " + (room ? roomLabel(room) : "#" + data.room),
    m.body, "mention-" + m.id, () => navigate(data.room));
}

export const serverEvents = {
  message: onMessage,
  message_edited: onMessageEdited,
  message_deleted: onMessageDeleted,
  typing: onTyping,
  presence: onPresence,
  read: onRead,
  reaction: onReaction,
  room_added: onRoomAdded,
  room_removed: onRoomRemoved,
  mention: onMention,
  thread: onThread,
  room_updated: onRoomChanged,
  pinned: onPinned,
  member_removed: onMemberRemoved,
  delivery: onDelivery,
  session_ended: (data) => endLogin(loginEndedText(data && data.reason)),
};
