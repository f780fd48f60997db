// Which handler each Socket.IO server event goes to: the one table to extend
// when the server announces something new.
import { receive } from "./history.js";
import { insertMessage } from "./message-list.js";
import { settlePending } from "./pending.js";
import { onPresence } from "./presence.js";
import { countUnread, loadRooms, uncountUnread } from "./rooms.js";
import { isOpen, rooms } from "./state.js";
import { onTyping } from "./typing.js";

// A new message: shown if its room is open, else counted as unread there.
function onMessage(m) {
  if (isOpen(m.room)) { receive([m], false); return; }
  if (settlePending(m)) return;
  if (!rooms.has(m.room)) {   // e.g. a new DM someone started with me
    loadRooms().catch(() => {});
    return;
  }
  countUnread(m);
}

// An edit or a deletion: the open room shows it; another room's unread count
// drops if a deleted message was unread there.
function onMessageEdited(m) {
  if (isOpen(m.room)) insertMessage(m);
}

function onMessageDeleted(m) {
  if (isOpen(m.room)) insertMessage(m);
  else uncountUnread(m);
}

export const serverEvents = {
  message: onMessage,
  message_edited: onMessageEdited,
  message_deleted: onMessageDeleted,
  typing: onTyping,
  presence: onPresence,
};
